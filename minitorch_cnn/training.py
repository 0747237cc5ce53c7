"""The training loop: ``fit`` and ``evaluate``, with progress bars, top-k error and a history.

One epoch is the textbook loop::

    for images, labels in loader:
        loss = cross_entropy(model(images), labels)
        optimizer.zero_grad(); loss.backward(); optimizer.step()

A NaN or infinite loss stops training at once with a clear message; the last checkpoint written
before it (after the last good epoch) stays on disk untouched.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
from tqdm.auto import tqdm

from . import functional as F
from .autograd import no_grad
from .engine import keep_freed_memory
from .serialization import save


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


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


def evaluate(model, loader, progress=False, desc="eval"):
    """Mean loss, top-1/top-5 accuracy and error of ``model`` on ``loader``, in eval mode.

    Returns a dict with ``loss``, ``accuracy``, ``top1_error``, ``top5_error`` and ``count``.
    The model's train/eval mode is restored afterwards.
    """
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
):
    """Train ``model`` for ``epochs`` epochs and return the history (one dict per epoch).

    Args:
        train_loader, test_loader: :class:`minitorch_cnn.data.DataLoader` s.
        optimizer: an ``optim`` optimiser over ``model``'s parameters.
        scheduler: stepped once per epoch; ``ReduceLROnPlateau`` is given the test (else train) loss.
        checkpoint: path of an ``.npz`` rewritten (atomically) after every good epoch, holding
            the model, the optimiser state, ``metadata`` and the history.
        aux_weight: weight of auxiliary classifier losses (GoogLeNet used 0.3).

    Each history entry has ``epoch``, ``train_loss``, ``train_accuracy``, ``images_per_s``,
    ``lr`` and, with a test loader, ``test_loss``, ``test_accuracy``, ``test_top1_error``,
    ``test_top5_error``.

    Calls :func:`~minitorch_cnn.engine.keep_freed_memory` first: every step frees and allocates
    the same buffers, which glibc would otherwise fault back in page by page.
    """
    keep_freed_memory()
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        seen, loss_sum, correct, start = 0, 0.0, 0, time.perf_counter()
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{epochs}", disable=not progress, leave=True)
        for images, labels in bar:
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
        elapsed = time.perf_counter() - start
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
            save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "metadata": dict(metadata or {}),
                    "history": history,
                },
                checkpoint,
            )
    return history


def plot_history(history, path, title=None):
    """Save loss and accuracy curves (train and, if present, test) to a PNG."""
    # A bare Figure needs no pyplot backend, so saving curves never changes a notebook's backend.
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
    fig.savefig(path, dpi=100)
