"""Max-pool, batch norm and LRN, forward plus backward, against PyTorch.

Shapes are AlexNet's first pooling and LRN layers and a ResNet stage's batch norm.
"""

from __future__ import annotations

import numpy as np

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn.engine import auto
from minitorch_cnn.functional.normalization import LRN_ALPHA, LRN_BETA, LRN_K, LRN_SIZE

from .timing import measure, ratio

#: name -> input shape (N, C, H, W)
SHAPES = {
    "max_pool_3x3_s2": (16, 96, 55, 55),
    "batch_norm_train": (32, 64, 56, 56),
    "lrn_alexnet": (16, 96, 55, 55),
}


def _ours(layer, x, dy, method):
    image = mt.tensor(x, requires_grad=True)
    if layer == "batch_norm_train":
        C = x.shape[1]
        weight, bias = mt.tensor(np.ones(C, np.float32), requires_grad=True), mt.tensor(np.zeros(C, np.float32),
                                                                                         requires_grad=True)
        mean, var = mt.tensor(np.zeros(C, np.float32)), mt.tensor(np.ones(C, np.float32))

        def forward():
            return F.batch_norm(image, mean, var, weight, bias, training=True)
    elif layer == "lrn_alexnet":
        def forward():
            return F.local_response_norm(image)
    else:
        def forward():
            return F.max_pool2d(image, 3, 2, method=method)

    def run():
        image.grad = None
        forward().backward(dy)
    return run


def _torch(torch, layer, x, dy):
    image, grad = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(dy)
    if layer == "batch_norm_train":
        C = x.shape[1]
        weight, bias = torch.ones(C, requires_grad=True), torch.zeros(C, requires_grad=True)
        mean, var = torch.zeros(C), torch.ones(C)

        def forward():
            return torch.nn.functional.batch_norm(image, mean, var, weight, bias, training=True)
    elif layer == "lrn_alexnet":
        def forward():
            # PyTorch divides alpha by the window size; ours is the paper's formula.
            return torch.nn.functional.local_response_norm(image, LRN_SIZE, LRN_ALPHA * LRN_SIZE, LRN_BETA, LRN_K)
    else:
        def forward():
            return torch.nn.functional.max_pool2d(image, 3, 2)

    def run():
        image.grad = None
        forward().backward(grad)
    return run


def _auto_choice(layer, x):
    """The method ``"auto"`` runs for this layer and array (only max-pool has a choice)."""
    if layer != "max_pool_3x3_s2":
        return "closed-form"
    return auto.max_pool2d_method(x)


def _output_shape(layer, shape):
    if layer == "max_pool_3x3_s2":
        N, C, H, W = shape
        return (N, C, (H - 3) // 2 + 1, (W - 3) // 2 + 1)
    return shape


def run(layers, repeats, quick, max_seconds, torch, log):
    rows = []
    rng = np.random.default_rng(0)
    for layer in layers:
        shape = SHAPES[layer]
        if quick:
            shape = (1, shape[1], min(shape[2], 32), min(shape[3], 32))
        x = rng.standard_normal(shape, dtype=np.float32)
        dy = rng.standard_normal(_output_shape(layer, shape), dtype=np.float32)
        methods = ["slices", "numba"] if layer == "max_pool_3x3_s2" else ["closed-form"]
        picked = _auto_choice(layer, x)
        candidates = {m: _ours(layer, x, dy, m) for m in methods}
        if torch is not None:
            candidates["torch"] = _torch(torch, layer, x, dy)
        results = measure(candidates, repeats, max_seconds, trace_memory=methods)
        for method in methods:
            entry = results[method]
            row = {
                "suite": "layers", "case": layer, "mode": "forward+backward", "method": method,
                "auto_pick": method == picked,
                "geometry": {"shape": list(shape)}, "median_s": entry["median_s"], "runs_s": entry["runs_s"],
                "over_budget": entry["over_budget"], "peak_bytes": entry["peak_bytes"],
                "vs_torch": ratio(results, method, "torch") if "torch" in results else None,
                "torch_s": results["torch"]["median_s"] if "torch" in results else None,
            }
            rows.append(row)
            log(row)
    return rows
