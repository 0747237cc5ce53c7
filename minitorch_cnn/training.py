"""The training loop: ``fit`` and ``evaluate``, with progress bars, top-k error and a history.

One epoch is the textbook loop::

    for images, labels in loader:
        loss = cross_entropy(model(images), labels)
        optimizer.zero_grad(); loss.backward(); optimizer.step()

A NaN or infinite loss stops training at once with a clear message; the last checkpoint written
before it (after the last good epoch) stays on disk untouched.

Interruption and resuming: with a ``checkpoint``, the first SIGINT (Ctrl-C) or SIGTERM lets the
step in progress finish, writes a mid-epoch checkpoint and raises :class:`TrainingInterrupted`;
a second one stops at once (``KeyboardInterrupt``), leaving the last checkpoint as it was.
``fit(..., resume=path)`` continues from any checkpoint ``fit`` wrote, mid-epoch ones included,
and ends with the same parameters, bitwise, as a run that was never stopped.

Several processes (``mpiexec -n R``, see :mod:`minitorch_cnn.distributed`): pass the model
wrapped in ``DistributedDataParallel`` and a training loader with a ``DistributedSampler``. Every
rank runs ``fit``; losses and accuracies are summed over the ranks, so the history is the one of
the whole epoch, the same on every rank. Only rank 0 shows progress bars and writes the
checkpoint, which holds every rank's random state and loader position; all ranks resume from it.
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
import warnings

import numpy as np
# The text bar, which a notebook shows too: tqdm.auto's widget bar needs ipywidgets and warns without it.
from tqdm import tqdm

from . import functional as F
from .autograd import no_grad
from .backend import get_rng_state, set_rng_state
from .distributed import comm
from .distributed.ddp import DistributedDataParallel
from .engine import keep_freed_memory
from .serialization import load, partial_saves, save, save_figure

#: Scheduler entries that say how far along the schedule is; the others are its settings, which
#: on resume stay those of the scheduler passed to ``fit``.
_SCHEDULER_PROGRESS = ("last_epoch", "_last_lr", "best", "num_bad_epochs", "cooldown_counter")


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


class ResumeError(ValueError):
    """``fit(..., resume=path)`` cannot continue from ``path``; the message says why."""


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped :func:`fit` after a step; ``checkpoint`` holds the state to resume.

    Attributes: ``signal_number``, ``checkpoint`` and ``where``, e.g. ``"after batch 3 of 12 of
    epoch 2/4"`` or ``"at the end of epoch 2/4"``.
    """

    def __init__(self, signal_number, checkpoint, where):
        self.signal_number = signal_number
        self.checkpoint = os.fspath(checkpoint)
        self.where = where
        name = signal.Signals(signal_number).name
        super().__init__(f"fit: stopped by {name} {where}; {self.checkpoint} holds the state: "
                         f"fit(..., resume={self.checkpoint!r}) continues from there")


class _StopSignals:
    """While active (in the main thread), the first SIGINT or SIGTERM only records its number in
    ``signal_number`` for the loop to check after the step; a second one raises
    ``KeyboardInterrupt`` at once. The previous handlers come back on exit."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, enabled):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.signal_number = None
        self._previous = {}

    def agree(self):
        """With several ranks, a signal that reached any of them stops all of them after the same
        step (one small ``Allreduce``): a rank that stopped alone would leave the others waiting."""
        if not self.enabled or comm.get_world_size() == 1:
            return
        signals = np.zeros(comm.get_world_size(), dtype=np.int64)
        signals[comm.get_rank()] = self.signal_number or 0
        comm.all_reduce(signals)
        if self.signal_number is None and signals.any():
            self.signal_number = int(signals[signals > 0][0])

    def _handle(self, signal_number, frame):
        name = signal.Signals(signal_number).name
        if self.signal_number is not None:
            raise KeyboardInterrupt(f"second {name}: stopped at once")
        self.signal_number = signal_number
        # os.write, not print: the handler may run in the middle of a print to stderr (tqdm's).
        os.write(2, f"\n{name}: finishing this step, then writing a checkpoint (Ctrl-C again stops at once)\n"
                 .encode())

    def __enter__(self):
        if self.enabled:
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)


def _main_output(out):
    """Models with auxiliary heads (GoogLeNet in training mode) return ``(main, aux1, aux2)``."""
    return out[0] if isinstance(out, (tuple, list)) else out


def _loss_of(out, labels, aux_weight):
    if isinstance(out, (tuple, list)):
        loss = F.cross_entropy(out[0], labels)
        for aux in out[1:]:
            loss = loss + aux_weight * F.cross_entropy(aux, labels)
        return loss
    return F.cross_entropy(out, labels)


def topk_correct(logits, labels, ks=(1, 5)):
    """How many rows have their label among the ``k`` largest logits, for each ``k``."""
    scores = np.asarray(logits)
    labels = np.asarray(labels)
    order = np.argsort(-scores, axis=1, kind="stable")
    return {k: int(np.sum(np.any(order[:, : min(k, scores.shape[1])] == labels[:, None], axis=1))) for k in ks}


def _sharded(loader):
    """Whether ``loader`` sees one rank's shard (its sampler splits the data over several ranks)."""
    return getattr(getattr(loader, "sampler", None), "num_replicas", 1) > 1


def evaluate(model, loader, progress=False, desc="eval"):
    """Mean loss, top-1/top-5 accuracy and error of ``model`` on ``loader``, in eval mode.

    Returns a dict with ``loss``, ``accuracy``, ``top1_error``, ``top5_error`` and ``count``.
    The model's train/eval mode is restored afterwards.

    When the loader's sampler splits the data over the ranks (``InferenceSampler``), every rank
    must call ``evaluate``: the counts are summed over the ranks, so each sample counts once and
    every rank returns the result over the whole set. A ``DistributedSampler`` that pads the
    shards with repeated samples is refused: those would count twice.
    """
    if _sharded(loader) and getattr(loader.sampler, "total_size", 0) > len(loader.sampler.dataset):
        raise ValueError(f"evaluate: the loader's {type(loader.sampler).__name__} repeats samples to even out "
                         "the shards, which would count them twice; evaluate with an InferenceSampler")
    was_training = model.training
    model.eval()
    total, loss_sum, correct = 0, 0.0, {1: 0, 5: 0}
    try:
        with no_grad():
            for images, labels in tqdm(loader, desc=desc, disable=not progress, leave=False):
                logits = _main_output(model(images))
                n = labels.shape[0]
                loss_sum += F.cross_entropy(logits, labels).item() * n
                for k, c in topk_correct(logits.detach().numpy(), labels.detach().numpy()).items():
                    correct[k] += c
                total += n
    finally:
        model.train(was_training)
    if _sharded(loader):
        sums = comm.all_reduce(np.array([total, loss_sum, correct[1], correct[5]], dtype=np.float64))
        total, loss_sum, correct = int(sums[0]), sums[1], {1: int(sums[2]), 5: int(sums[3])}
    if total == 0:
        raise ValueError("evaluate: the loader produced no batches")
    return {
        "loss": loss_sum / total,
        "accuracy": correct[1] / total,
        "top1_error": 1 - correct[1] / total,
        "top5_error": 1 - correct[5] / total,
        "count": total,
    }


def fit(
    model,
    train_loader,
    optimizer,
    epochs,
    test_loader=None,
    scheduler=None,
    checkpoint=None,
    progress=True,
    aux_weight=0.3,
    metadata=None,
    resume=None,
):
    """Train ``model`` until ``epochs`` epochs are done and return the history (one dict per epoch).

    Args:
        train_loader, test_loader: :class:`minitorch_cnn.data.DataLoader` s.
        optimizer: an ``optim`` optimiser over ``model``'s parameters.
        scheduler: stepped once per epoch; ``ReduceLROnPlateau`` is given the test (else train) loss.
        checkpoint: path of an ``.npz`` rewritten (atomically) after every good epoch, and after
            the step in progress when SIGINT or SIGTERM arrives (then :class:`TrainingInterrupted`
            is raised). It holds the model, the optimiser and scheduler states, ``metadata``,
            the history, the epoch and batch reached, the framework's random state (which drives
            initialisation, dropout, augmentation and shuffling) and the loader's epoch order.
        aux_weight: weight of auxiliary classifier losses (GoogLeNet used 0.3).
        metadata: a dict of JSON values describing the run (architecture, dataset, options).
        resume: path of a checkpoint written by ``fit`` to continue from. ``model``, ``optimizer``,
            ``scheduler`` and the loaders must be built as for the run that wrote it;
            :class:`ResumeError` names the difference when an entry of ``metadata``, the
            model, optimiser or scheduler class or the training loader's size, batch size,
            shuffling or ``drop_last`` differ. Only ``epochs`` may change: the scheduler's
            progress comes from the checkpoint, its settings from ``scheduler``, so a schedule
            planned over the epochs (cosine's ``T_max``) follows the new total from the next
            epoch on. Partial files left by a killed save are reported (a warning) and removed.

    Each history entry has ``epoch``, ``train_loss``, ``train_accuracy``, ``images_per_s``,
    ``lr`` and, with a test loader, ``test_loss``, ``test_accuracy``, ``test_top1_error``,
    ``test_top5_error``.

    With several ranks (see the module's docstring) the model must be a ``DistributedDataParallel``
    and the training loader's sampler must split the data over the ranks (``DistributedSampler``,
    whose ``set_epoch`` ``fit`` calls before each epoch). The checkpoint then holds the wrapped
    model's state (loadable in one process) and ``world_size`` in its metadata; resume with the
    same number of processes. ``progress`` applies to rank 0 only.

    Calls :func:`~minitorch_cnn.engine.keep_freed_memory` first: every step frees and allocates
    the same buffers, which glibc would otherwise fault back in page by page.
    """
    keep_freed_memory()
    metadata = dict(metadata or {})
    world = comm.get_world_size()
    if world > 1:
        _check_distributed(model, train_loader, world)
        # Only when distributed, so a one-process checkpoint keeps the metadata it always had.
        metadata["world_size"] = world
    progress = progress and comm.is_main()
    core = model.module if isinstance(model, DistributedDataParallel) else model
    run = {
        "model": type(model).__name__,
        "optimizer": type(optimizer).__name__,
        "scheduler": type(scheduler).__name__ if scheduler is not None else None,
        "train_samples": len(train_loader.dataset),
        "batch_size": train_loader.batch_size,
        "shuffle": train_loader.shuffle,
        "drop_last": train_loader.drop_last,
    }
    history, done, partial = [], 0, None
    if resume is not None:
        history, done, partial = _resume(resume, core, optimizer, scheduler, train_loader, metadata, run, epochs)

    def write_checkpoint(epochs_done, epoch_so_far=None):
        # Every rank's own state; rank 0's also at the top level, where one process keeps it.
        mine = {"epoch_so_far": epoch_so_far, "rng": get_rng_state(), "loader": train_loader.state_dict()}
        ranks = comm.all_gather_object(mine)
        if not comm.is_main():
            return
        training = {"run": run, "epochs_done": epochs_done, **mine}
        if world > 1:
            training["ranks"] = ranks
        save(
            {
                "model": core.state_dict(),
                "optimizer": optimizer.state_dict(),
                "metadata": metadata,
                "history": history,
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "training": training,
            },
            checkpoint,
        )

    with _StopSignals(enabled=checkpoint is not None) as stop:
        for epoch in range(done + 1, epochs + 1):
            model.train()
            so_far = partial or {"batches": 0, "seen": 0, "loss_sum": 0.0, "correct": 0, "seconds": 0.0}
            partial = None
            if hasattr(getattr(train_loader, "sampler", None), "set_epoch"):
                train_loader.sampler.set_epoch(epoch - 1)
            first, seen, loss_sum, correct = so_far["batches"], so_far["seen"], so_far["loss_sum"], so_far["correct"]
            start = time.perf_counter() - so_far["seconds"]
            # The epoch's iterator, not the loader: every iter() on the loader starts an epoch and draws
            # a shuffle order, and some bars (tqdm.auto's) call iter() on what they wrap twice.
            bar = tqdm(iter(train_loader), desc=f"epoch {epoch}/{epochs}", disable=not progress, leave=True,
                       initial=first, total=len(train_loader))
            for batch, (images, labels) in enumerate(bar, start=first + 1):
                out = model(images)
                loss = _loss_of(out, labels, aux_weight)
                value = loss.item()
                if not math.isfinite(value):
                    where = f"; the last good checkpoint is {checkpoint}" if checkpoint and os.path.exists(checkpoint) else ""
                    raise NonFiniteLossError(
                        f"fit: loss became {value} in epoch {epoch} after {seen} images "
                        f"(try a lower learning rate){where}"
                    )
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                n = labels.shape[0]
                seen += n
                loss_sum += value * n
                correct += topk_correct(_main_output(out).detach().numpy(), labels.detach().numpy(), ks=(1,))[1]
                rate = seen / max(time.perf_counter() - start, 1e-9)
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}", img_s=f"{rate:.0f}")
                stop.agree()
                # After the last batch the epoch is finished first, so a checkpoint is never
                # mid-epoch with no batch left.
                if stop.signal_number is not None and batch < len(train_loader):
                    bar.close()
                    write_checkpoint(epoch - 1, {"batches": batch, "seen": seen, "loss_sum": loss_sum,
                                                 "correct": correct, "seconds": time.perf_counter() - start})
                    raise TrainingInterrupted(stop.signal_number, checkpoint,
                                              f"after batch {batch} of {len(train_loader)} of epoch {epoch}/{epochs}")
            elapsed = time.perf_counter() - start
            if world > 1:
                sums = comm.all_reduce(np.array([seen, loss_sum, correct], dtype=np.float64))
                seen, loss_sum, correct = int(sums[0]), sums[1], int(sums[2])
            entry = {
                "epoch": epoch,
                "train_loss": loss_sum / seen,
                "train_accuracy": correct / seen,
                "images_per_s": seen / elapsed,
                "lr": optimizer.param_groups[0]["lr"],
            }
            if test_loader is not None:
                result = evaluate(model, test_loader)
                entry.update(
                    test_loss=result["loss"],
                    test_accuracy=result["accuracy"],
                    test_top1_error=result["top1_error"],
                    test_top5_error=result["top5_error"],
                )
            history.append(entry)
            if scheduler is not None:
                if type(scheduler).__name__ == "ReduceLROnPlateau":
                    scheduler.step(entry.get("test_loss", entry["train_loss"]))
                else:
                    scheduler.step()
            if checkpoint is not None:
                write_checkpoint(epoch)
            stop.agree()
            if stop.signal_number is not None and epoch < epochs:
                raise TrainingInterrupted(stop.signal_number, checkpoint, f"at the end of epoch {epoch}/{epochs}")
    return history


def _check_distributed(model, train_loader, world):
    if not isinstance(model, DistributedDataParallel):
        raise ValueError(f"fit: running on {world} processes, expected the model wrapped in "
                         f"distributed.DistributedDataParallel, got {type(model).__name__}")
    replicas = getattr(getattr(train_loader, "sampler", None), "num_replicas", 1)
    if replicas != world:
        raise ValueError(f"fit: running on {world} processes, expected a training loader whose sampler splits the "
                         f"data over them (DataLoader(..., sampler=DistributedSampler(dataset))), got a sampler over "
                         f"{replicas}; otherwise every process trains on the whole dataset")


def _resume(path, model, optimizer, scheduler, train_loader, metadata, run, epochs):
    """Load the checkpoint at ``path`` into the training objects, after checking it was written by
    the same run; returns ``(history, epochs_done, epoch_so_far)``."""
    path = os.fspath(path)
    # Rank 0 alone tidies up; the others could race it for the same file.
    for leftover in partial_saves(path) if comm.is_main() else ():
        warnings.warn(f"fit: removed {leftover}, a partial checkpoint left by a save that was killed "
                      f"while writing; {path} is the last complete one", stacklevel=3)
        os.remove(leftover)
    try:
        state = load(path)
    except (ValueError, FileNotFoundError) as exc:
        raise ResumeError(f"fit: cannot resume: {exc}") from exc
    if "training" not in state:
        raise ResumeError(f"fit: cannot resume from {path}: it holds no training state (it was not written by "
                          "fit, or was rewritten without it, e.g. as the final file of 'pretrain')")
    saved = state["training"]
    written, now = state.get("metadata", {}).get("world_size", 1), metadata.get("world_size", 1)
    if written != now:
        raise ResumeError(f"fit: cannot resume from {path}: it was written by a run on {written} process(es), "
                          f"this run has {now}; resume with mpiexec -n {written}" if written > 1 else
                          f"fit: cannot resume from {path}: it was written by a run in one process, this run "
                          f"has {now}; resume it in one process")
    if "ranks" in saved:
        saved = dict(saved, **saved["ranks"][comm.get_rank()])
    differences = _differences(state.get("metadata", {}), metadata) + _differences(saved["run"], run)
    if differences:
        raise ResumeError(f"fit: cannot resume from {path}: {'; '.join(differences)} "
                          "(only the number of epochs may change on resume)")
    if saved["epochs_done"] >= epochs:
        raise ResumeError(f"fit: nothing to resume: {path} has finished {saved['epochs_done']} epochs, "
                          f"and this run asks for {epochs}; ask for more epochs to continue training")
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    except ValueError as exc:
        raise ResumeError(f"fit: cannot resume from {path}: {exc}") from exc
    if scheduler is not None:
        settings = scheduler.state_dict()
        scheduler.load_state_dict(state["scheduler"])
        scheduler.load_state_dict({k: v for k, v in settings.items() if k not in _SCHEDULER_PROGRESS})
    set_rng_state(saved["rng"])
    train_loader.load_state_dict(saved["loader"])
    return list(state["history"]), saved["epochs_done"], saved["epoch_so_far"]


def _differences(saved, now):
    """One phrase for every entry of ``now`` that ``saved`` lacks or holds with another value,
    compared as JSON (the form they take in a checkpoint)."""
    saved, now = json.loads(json.dumps(saved)), json.loads(json.dumps(now))
    return [f"it was written with {key}={saved[key]!r}, this run has {key}={value!r}" if key in saved
            else f"it was written without {key}, this run has {key}={value!r}"
            for key, value in now.items() if key not in saved or saved[key] != value]


def plot_history(history, path=None, title=None):
    """Loss and accuracy curves (train and, if present, test) against the epoch, as a Figure.

    Saved as a PNG at ``path`` when given; returns the ``matplotlib.figure.Figure`` (a notebook
    shows it with ``IPython.display.display``).
    """
    # A bare Figure needs no pyplot backend, so plotting curves never changes a notebook's backend.
    from matplotlib.figure import Figure

    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(10, 4))
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(epochs, [h["train_loss"] for h in history], label="train")
    ax_acc.plot(epochs, [h["train_accuracy"] for h in history], label="train")
    if "test_loss" in history[0]:
        ax_loss.plot(epochs, [h["test_loss"] for h in history], label="test")
        ax_acc.plot(epochs, [h["test_accuracy"] for h in history], label="test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.legend()
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig
