"""Training throughput: images/s of one full SGD step (forward, loss, backward, update), and
where our step's time goes (:func:`profile_step`).

LeNet-5 on a fixed batch of the scikit-learn digits (resized to 32x32); on synthetic 32x32 RGB
images (CIFAR-10's shape), ResNet-20 at batch 64 and 128, its plain twin plain-20 (lecture 8's
degradation experiment: the same layers without shortcuts) and VGG-16 with batch norm in its
CIFAR shape (:func:`vgg16_bn_cifar`); MobileNetV2 at batch 16 on synthetic 64x64 images, whose
depthwise convs run the Numba kernels between GEMMs. Each against the same model in PyTorch
(:mod:`bench.torch_models`), in the same rounds of :func:`bench.timing.measure`. Both frameworks
train on identical batches with SGD, momentum 0.9.

With ``--peers``, the ResNet-20 rows also time tinygrad's step (:mod:`bench.peers`) in the same
rounds, and report it as time ratios to ours and to PyTorch.
"""

from __future__ import annotations

import numpy as np

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import models, nn, optim
from minitorch_cnn.data import digits
from minitorch_cnn.engine import keep_freed_memory
from minitorch_cnn.functional.activation import ReLU
from minitorch_cnn.functional.normalization import BatchNorm
from minitorch_cnn.models.vgg import CONFIGS, make_features

from . import peers, torch_models
from .timing import measure, ratio

#: The calls a profiled step's time is summed into (:func:`profile_step`), by (file name ending,
#: function name, None for every function of the file): NumPy's GEMMs, the column copies of the
#: engine's im2col and the compiled Numba kernels (depthwise conv, max pooling), leaves of the
#: profile, counted by their own time. Batch norm and ReLU count as their Functions' forward and
#: backward with everything those call (:data:`PROFILED_LAYERS`).
PROFILED_CALLS = {
    "GEMMs (matmul)": ("_aliases.py", "matmul"),
    "im2col column copies (stack)": ("shape_base.py", "stack"),
    "row column copies (gemm at stride 1)": ("engine/conv.py", "_row_columns"),
    "padded channel-major input copies": ("conv.py", "_input_chunks"),
    "Numba kernels (kernels/cpu.py)": ("kernels/cpu.py", None),
}
PROFILED_LAYERS = {"batch norm": BatchNorm, "ReLU": ReLU}

#: case -> (model, batch size in a full run, in a quick run). The model is a zoo name or
#: ``vgg16_bn_cifar``; its PyTorch twin is the function of that name in bench.torch_models.
CASES = {
    "lenet5_digits": ("lenet5", 64, 8),
    "resnet20_synthetic": ("resnet20", 64, 2),
    "resnet20_synthetic_128": ("resnet20", 128, 4),
    "plain20_synthetic": ("plain20", 64, 2),
    "vgg16_bn_cifar_synthetic": ("vgg16_bn_cifar", 64, 2),
    "mobilenet_v2_synthetic": ("mobilenet_v2", 16, 2),
}
#: Image side of a synthetic case when it is not CIFAR-10's 32: MobileNetV2 halves its input five
#: times, so at 64 its last blocks still see 2x2 maps rather than one pixel.
IMAGE_SIZE = {"mobilenet_v2_synthetic": 64}
#: A LeNet-5 step must reach at least this fraction of PyTorch's images/s.
TARGETS = {"lenet5_digits": 0.5}
#: tinygrad schedules and compiles its ResNet-20 step for about 100 s on this machine's 2 cores
#: (tinygrad 0.14, both calls TinyJit needs); a smoke run skips it, with that reason.
PEER_QUICK_SKIP = ("--quick: scheduling and compiling tinygrad's ResNet-20 step takes about 100 s; "
                   "run without --quick")


def vgg16_bn_cifar(num_classes=10):
    """VGG-16 (configuration D of Simonyan & Zisserman 2015, Table 1) with batch norm, in the
    shape CIFAR-10 training uses: the thirteen 3x3 convs and five 2x2 max pools of our zoo's
    ``vgg16_bn`` take a 32x32 image to 512x1x1, and one Linear(512, 10) classifies it (no
    adaptive pool to 7x7, no 4096-wide layers: those would add 119M parameters for 1x1 maps).

    Shapes: input (N, 3, 32, 32), output (N, num_classes). 14,728,266 parameters at 10 classes.
    """
    features, channels = make_features(CONFIGS["D"], batch_norm=True)
    return nn.Sequential(features, nn.Flatten(), nn.Linear(channels, num_classes))


def build(name):
    """Our model ``name`` (a CASES model), or None when the zoo does not register it."""
    if name == "vgg16_bn_cifar":
        return vgg16_bn_cifar()
    return models.create(name) if name in models.list_models() else None


def _batch(case, N, rng):
    if case == "lenet5_digits":
        data = digits("train")
        return data.images[:N], data.labels[:N]
    size = IMAGE_SIZE.get(case, 32)
    return rng.standard_normal((N, 3, size, size), dtype=np.float32), rng.integers(0, 10, N)


def _ours(model, images, labels):
    model.train()
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = mt.tensor(images), mt.tensor(labels)

    def step():
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return step


def _torch(torch, name, images, labels):
    model = getattr(torch_models, name)(torch)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))

    def step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return step


def profile_step(step, steps=3):
    """Seconds per step spent in each part of :data:`PROFILED_CALLS` and :data:`PROFILED_LAYERS`,
    and ``"everything else"`` (the convolution's other copies, the loss, additions, the optimiser,
    autograd's bookkeeping, Python), from cProfile over ``steps`` calls of ``step``.

    The profiler's own overhead falls mostly on "everything else" (many small Python calls); the
    parts' times are those of a few large calls each, which it barely inflates.
    """
    import cProfile
    import pstats

    layers = {(m.__code__.co_filename, m.__code__.co_firstlineno): label
              for label, cls in PROFILED_LAYERS.items() for m in (cls.forward, cls.backward)}
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(steps):
        step()
    profile.disable()
    parts = dict.fromkeys([*PROFILED_CALLS, *PROFILED_LAYERS], 0.0)
    total = 0.0
    # pstats: (file, line, function) -> (calls, primitive calls, own time, cumulative time, callers)
    for (path, line, function), (_, _, own, cumulative, _) in pstats.Stats(profile).stats.items():
        if function == step.__name__ and path == step.__code__.co_filename:
            total = cumulative
        if (path, line) in layers:
            parts[layers[path, line]] += cumulative
        for label, (ending, name) in PROFILED_CALLS.items():
            if name in (function, None) and path.endswith(ending):
                parts[label] += own
    parts = {label: seconds / steps for label, seconds in parts.items()}
    parts["everything else"] = total / steps - sum(parts.values())
    return parts


def _peer_row(case, N, results):
    """The tinygrad row of a case: its images/s and its time over ours and over PyTorch's."""
    entry = results[peers.NAME]
    return {
        "suite": "train", "case": case, "mode": "train step", "method": peers.NAME, "peer": True,
        "geometry": {"batch": N}, "median_s": entry["median_s"], "runs_s": entry["runs_s"],
        "over_budget": entry["over_budget"], "images_per_s": N / entry["median_s"],
        "vs_ours": ratio(results, peers.NAME, "minitorch_cnn"),
        "vs_torch": ratio(results, peers.NAME, "torch") if "torch" in results else None,
        "torch_s": results["torch"]["median_s"] if "torch" in results else None,
    }


def run(cases, repeats, quick, max_seconds, torch, log, peer=None):
    """Measure every case. ``peer`` is :func:`bench.peers.load`'s ``(tinygrad, reason)`` when
    ``--peers`` asked for it: tinygrad joins the ResNet-20 rows, or one skipped row gives the reason."""
    keep_freed_memory()  # as training.fit does: a step reuses the buffers the last one freed
    rows = []

    def skip(case, reason, **keys):
        rows.append({"suite": "train", "case": case, **keys, "skipped": reason})
        log(rows[-1])

    tinygrad, reason = peer or (None, None)
    if reason:
        skip("peers", reason, method=peers.NAME)
    rng = np.random.default_rng(0)
    for case in cases:
        name, full, small = CASES[case]
        model = build(name)
        if model is None:
            skip(case, f"{name} is not registered in minitorch_cnn.models")
            continue
        N = small if quick else full
        images, labels = _batch(case, N, rng)
        candidates = {"minitorch_cnn": _ours(model, images, labels)}
        if torch is not None:
            candidates["torch"] = _torch(torch, name, images, labels)
        timed_peer = tinygrad is not None and name == "resnet20"
        if timed_peer and not quick:
            candidates[peers.NAME] = peers.resnet20_step(tinygrad, images, labels)
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
            row["torch_images_per_s"] = N / row["torch_s"]
        row["breakdown_s"] = profile_step(candidates["minitorch_cnn"])
        row["gemm_s"] = row["breakdown_s"]["GEMMs (matmul)"]
        row["gemm_share"] = row["gemm_s"] / sum(row["breakdown_s"].values())
        rows.append(row)
        log(row)
        if peers.NAME in results:
            rows.append(_peer_row(case, N, results))
            log(rows[-1])
        elif timed_peer:
            skip(case, PEER_QUICK_SKIP, method=peers.NAME)
    return rows
