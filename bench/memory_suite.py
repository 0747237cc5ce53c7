"""Training memory (issue 19): what building a model and two training steps add to a process's
peak resident memory, for minitorch_cnn and PyTorch, each measurement in a process of its own
(``python -m bench.memory_suite`` is the worker).

A worker imports its framework and uses it once (a 1x1 linear layer: the modules imported on the
first array op take about 6 MB, as much as ResNet-20's weights), then measures two peaks, each
over the resident size just before
(``RSS`` is ``VmRSS``, the peak ``VmHWM`` of ``/proc/self/status``; the peak is lowered to the
current size with ``/proc/self/clear_refs`` before each phase)::

    build peak = peak RSS while the model is built          - RSS before building
    step peak  = peak RSS during two training steps          - RSS after building
                 (forward, cross-entropy, backward, optimiser step)

The optimiser is SGD with momentum 0.9, or Adam with PyTorch's defaults in the ``_adam`` cases
(``OPTIMIZERS``). The build peak is set against the bytes of the model's weights (parameters and
buffers): a model that draws each weight once, in place, peaks at about its weights. The step peak
is measured after the model, the batch and the optimizer exist; the optimiser's state (SGD's
momentum buffers, Adam's two moments) appears during the first step, in both frameworks. Our
worker calls ``keep_freed_memory()`` first, as ``training.fit`` does. Where the kernel refuses the
reset (``hwm_reset`` false, no ``/proc``) the peaks include everything before them.

PyTorch's models are torchvision's (``resnet50``, ``vgg16``) and :mod:`bench.torch_models`
(``resnet20``); without torch or torchvision the PyTorch side is skipped, with the reason.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from .timing import peak_rss, reset_peak_rss, rss

#: case -> (batch, input size): issue 19's three training cases, float32, and ResNet-50 with Adam.
CASES = {"resnet50": (16, 224), "vgg16": (8, 224), "resnet20": (64, 32), "resnet50_adam": (16, 224)}
#: --quick: small batches and images, for the tests.
QUICK = {"resnet20": (4, 32), "resnet50": (1, 64), "resnet50_adam": (1, 64)}
#: case -> (model, optimiser) where the optimiser is not SGD; every other case is a model's name.
OPTIMIZERS = {"resnet50_adam": ("resnet50", "adam")}
#: Targets of issue 19: step peak at most this times PyTorch's (ResNet-50); build peak at most
#: this times the weights' bytes (every model).
STEP_TARGET = {"resnet50": 1.3}
BUILD_TARGET = 1.5
STEPS = 2


def run(cases, repeats, quick, max_seconds, torch, log):
    """One row per model: our build and step peaks beside PyTorch's, each from a fresh worker.

    ``repeats`` and ``max_seconds`` do not apply (two steps, measured once)."""
    table = QUICK if quick else CASES
    rows = []
    for name in cases or list(table):
        batch, size = table.get(name, (1, 32))
        model, optimizer = OPTIMIZERS.get(name, (name, "sgd"))
        ours = _launch("minitorch_cnn", model, batch, size, optimizer)
        row = {
            "suite": "memory", "case": name, "mode": f"batch {batch}, {size}x{size}",
            "method": "train step", "optimizer": optimizer,
            "geometry": {"batch": batch, "input": [3, size, size]},
            "median_s": statistics.median(ours["steps_s"]), "runs_s": ours["steps_s"], "over_budget": False,
            "vs_torch": None, "step_target": STEP_TARGET.get(name), "build_target": BUILD_TARGET,
            **{k: ours[k] for k in ("build_bytes", "weights_bytes", "step_bytes", "hwm_reset")},
            "torch": None,
        }
        if torch is None:
            row["torch_skipped"] = "PyTorch is not installed (or --no-torch)"
        else:
            try:
                row["torch"] = _launch("torch", model, batch, size, optimizer)
            except RuntimeError as exc:
                row["torch_skipped"] = str(exc).splitlines()[-1]
        if row["torch"]:
            row["step_vs_torch"] = row["step_bytes"] / row["torch"]["step_bytes"]
        rows.append(row)
        log(row)
    return rows


def _launch(framework, name, batch, size, optimizer):
    command = [sys.executable, "-m", "bench.memory_suite", framework, name, "--batch", str(batch),
               "--size", str(size), "--optimizer", optimizer]
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"memory benchmark {framework} {name} at batch {batch} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _mib(b):
    return f"{b / 2**20:,.0f}"


def line(row):
    """A progress line: both peaks, ours and PyTorch's."""
    torch = row["torch"]
    theirs = f" (torch {_mib(torch['step_bytes'])})" if torch else f" (torch skipped: {row['torch_skipped']})"
    return (f"memory {row['case']:10} {row['mode']:18} step +{_mib(row['step_bytes'])} MiB{theirs}, "
            f"build +{_mib(row['build_bytes'])} MiB for {_mib(row['weights_bytes'])} MiB of weights")


def markdown(rows):
    """Step and build peaks (MiB) with their ratios to PyTorch and to the weights, and the targets."""
    out = ["| model | batch, input | step peak MiB | PyTorch | ratio | target | build peak MiB | weights MiB "
           "| build / weights | PyTorch build | target |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        torch = r["torch"]
        ratio = f"{r['step_vs_torch']:.2f}x" if torch else "(skipped)"
        target = "" if r["step_target"] is None or not torch else (
            f"<= {r['step_target']}x: {'yes' if r['step_vs_torch'] <= r['step_target'] else '**no**'}")
        build = r["build_bytes"] / r["weights_bytes"]
        met = "yes" if build <= r["build_target"] else "**no**"
        out.append(f"| {r['case']} | {r['mode']} | {_mib(r['step_bytes'])} | {_mib(torch['step_bytes']) if torch else ''}"
                   f" | {ratio} | {target} | {_mib(r['build_bytes'])} | {_mib(r['weights_bytes'])} | {build:.2f}x | "
                   f"{_mib(torch['build_bytes']) if torch else ''} | <= {r['build_target']}x: {met} |")
    return "\n".join(out)


def _phase(fn):
    """Run ``fn`` and return (its result, the peak RSS it reached over the RSS before, reset ok)."""
    reset = reset_peak_rss()
    before = rss()
    out = fn()
    return out, peak_rss() - before, reset


def _optimizer(optim, params, name):
    """``name``'s optimiser from ``optim`` (``minitorch_cnn.optim`` or ``torch.optim``: the same calls)."""
    return optim.Adam(params, lr=1e-3) if name == "adam" else optim.SGD(params, lr=0.01, momentum=0.9)


def _ours(name, batch, size, optimizer_name):
    import numpy as np

    import minitorch_cnn as mt
    import minitorch_cnn.functional as F
    from minitorch_cnn import models, nn, optim
    from minitorch_cnn.engine import keep_freed_memory

    keep_freed_memory()
    nn.Linear(1, 1)(mt.zeros(1, 1))  # first use: the array library's lazy imports, not the model's memory
    mt.manual_seed(0)
    model, build_bytes, reset = _phase(lambda: models.create(name))
    model.train()
    weights = sum(t.array.nbytes for t in list(model.parameters()) + list(model.buffers()))
    x, y = _batch(np, name, batch, size)
    x, y = mt.tensor(x), mt.tensor(y)
    optimizer = _optimizer(optim, model.parameters(), optimizer_name)

    def step():
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return build_bytes, weights, step, reset


def _torch(name, batch, size, optimizer_name):
    import numpy as np
    import torch

    from . import torch_models

    if name == "resnet20":
        build = lambda: torch_models.resnet20(torch)  # noqa: E731
    else:
        build = getattr(torch_models.torchvision_models(torch), name)
    torch.nn.Linear(1, 1)(torch.zeros(1, 1))
    torch.manual_seed(0)
    model, build_bytes, reset = _phase(build)
    model.train()
    weights = sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))
    x, y = _batch(np, name, batch, size)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    # On the CPU PyTorch's Adam updates one parameter at a time (foreach and fused are for GPUs).
    optimizer = _optimizer(torch.optim, model.parameters(), optimizer_name)

    def step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return build_bytes, weights, step, reset


def _batch(np, name, batch, size):
    rng = np.random.default_rng(0)
    classes = 10 if name == "resnet20" else 1000  # CIFAR's ResNet-20, ImageNet's others
    return (rng.standard_normal((batch, 3, size, size), dtype=np.float32),
            rng.integers(0, classes, batch).astype(np.int64))


def _worker(framework, name, batch, size, optimizer="sgd", steps=STEPS):
    """Build ``name`` and run ``steps`` training steps on a batch, printing one JSON line with the peaks."""
    build = _ours if framework == "minitorch_cnn" else _torch
    build_bytes, weights, step, build_reset = build(name, batch, size, optimizer)
    times = []

    def train():
        for _ in range(steps):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
    _, step_bytes, step_reset = _phase(train)
    print(json.dumps({"framework": framework, "build_bytes": build_bytes, "weights_bytes": weights,
                      "step_bytes": step_bytes, "steps_s": times, "hwm_reset": build_reset and step_reset}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=_worker.__doc__.splitlines()[0])
    parser.add_argument("framework", choices=("minitorch_cnn", "torch"))
    parser.add_argument("name")
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",
                        help="SGD with momentum 0.9 (default) or Adam with PyTorch's defaults")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"training steps ({STEPS}; 0: the build peak only)")
    options = parser.parse_args()
    _worker(options.framework, options.name, options.batch, options.size, options.optimizer, options.steps)
