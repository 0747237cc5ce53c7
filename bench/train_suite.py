"""Training throughput: images/s of one full SGD step (forward, loss, backward, update).

LeNet-5 on a fixed batch of the scikit-learn digits (resized to 32x32), and ResNet-20 on
synthetic 32x32 RGB images, each against the same model written in PyTorch
(:mod:`bench.torch_models`). Both frameworks train on identical batches with SGD, momentum 0.9.
"""

from __future__ import annotations

import numpy as np

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import models, optim
from minitorch_cnn.data import digits
from minitorch_cnn.engine import keep_freed_memory

from . import torch_models
from .timing import measure, ratio

#: name -> batch size (full run, quick run)
BATCH = {"lenet5_digits": (64, 8), "resnet20_synthetic": (64, 2)}
#: A LeNet-5 step must reach at least this fraction of PyTorch's images/s.
TARGETS = {"lenet5_digits": 0.5}


def _batch(case, N, rng):
    if case == "lenet5_digits":
        data = digits("train")
        return data.images[:N], data.labels[:N]
    return rng.standard_normal((N, 3, 32, 32), dtype=np.float32), rng.integers(0, 10, N)


def _ours(case, images, labels):
    model = models.create("lenet5" if case == "lenet5_digits" else "resnet20")
    model.train()
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = mt.tensor(images), mt.tensor(labels)

    def step():
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return step


def _torch(torch, case, images, labels):
    model = torch_models.lenet5(torch) if case == "lenet5_digits" else torch_models.resnet20(torch)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))

    def step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return step


def run(cases, repeats, quick, max_seconds, torch, log):
    keep_freed_memory()  # as training.fit does: a step reuses the buffers the last one freed
    rows = []
    rng = np.random.default_rng(0)
    for case in cases:
        if case == "resnet20_synthetic" and "resnet20" not in models.list_models():
            log({"suite": "train", "case": case, "skipped": "resnet20 is not registered in minitorch_cnn.models"})
            continue
        N = BATCH[case][1 if quick else 0]
        images, labels = _batch(case, N, rng)
        candidates = {"minitorch_cnn": _ours(case, images, labels)}
        if torch is not None:
            candidates["torch"] = _torch(torch, case, images, labels)
        results = measure(candidates, repeats, max_seconds)
        entry = results["minitorch_cnn"]
        row = {
            "suite": "train", "case": case, "mode": "train step", "method": "auto", "geometry": {"batch": N},
            "median_s": entry["median_s"], "runs_s": entry["runs_s"], "over_budget": entry["over_budget"],
            "images_per_s": N / entry["median_s"],
            "vs_torch": ratio(results, "minitorch_cnn", "torch") if "torch" in results else None,
            "torch_s": results["torch"]["median_s"] if "torch" in results else None,
            "target": TARGETS.get(case),
        }
        if row["vs_torch"] is not None:
            # Throughput ratio (our images/s over PyTorch's): the inverse of the time ratio.
            row["throughput_vs_torch"] = 1.0 / row["vs_torch"]
        rows.append(row)
        log(row)
    return rows
