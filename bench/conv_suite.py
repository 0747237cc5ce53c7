"""conv2d: every method on the layer shapes of issue 6, against PyTorch and against plain GEMMs.

For each shape, two rows per method: ``forward`` (under ``no_grad``) and ``forward+backward``
(the forward, then ``dL/dx`` and ``dL/dw`` from a fixed random ``dL/dy``). Beside the methods,
each row times the GEMMs the gemm method performs (one per chunk of images), as plain
``numpy.matmul`` calls on operands of the same shapes and memory layouts: ``gemm_share = GEMM time / method time`` is
the fraction of what BLAS alone achieves on this machine.

With ``--peers``, tinygrad (:mod:`bench.peers`) runs the same convolution in the same rounds; its
row gives its time over ours (the method ``auto`` picks) and over PyTorch's.
"""

from __future__ import annotations

import numpy as np

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn.engine import auto, conv as engine_conv
from minitorch_cnn.functional.sizes import conv2d_output_shape, pair

from . import peers
from .timing import measure, ratio

#: name -> (N, C, F, H, kernel, stride, padding, groups); square images and kernels.
SHAPES = {
    "tiny": (2, 3, 4, 8, 3, 1, 1, 1),
    "lenet_c1": (64, 1, 6, 32, 5, 1, 0, 1),
    "alexnet_conv1": (16, 3, 96, 227, 11, 4, 0, 1),
    "resnet_64": (32, 64, 64, 56, 3, 1, 1, 1),
    "resnet_128": (32, 128, 128, 28, 3, 1, 1, 1),
    "bottleneck_1x1": (32, 256, 64, 56, 1, 1, 0, 1),
    "depthwise_3x3": (32, 128, 128, 56, 3, 1, 1, 128),
}

#: The naive seven loops take minutes beyond this many multiply-adds.
NAIVE_MAX_MACS = 1e5

METHODS = ("naive", "im2col", "gemm", "direct", "numba")

#: Issue 6's targets: time ratio to PyTorch at most this, per (shape, mode).
TARGETS = {
    **{(s, "forward"): 1.5 for s in ("alexnet_conv1", "resnet_64", "resnet_128", "bottleneck_1x1")},
    **{(s, "forward+backward"): 2.0 for s in ("alexnet_conv1", "resnet_64", "resnet_128", "bottleneck_1x1")},
    ("depthwise_3x3", "forward+backward"): 3.0,
}
#: The GEMM-based path must reach at least this share of plain matmul throughput.
GEMM_SHARE_TARGET = 0.7


def _geometry(name, quick):
    N, C, Fo, H, k, s, p, g = SHAPES[name]
    if quick:
        N, H = 1, min(H, 16)
    return dict(N=N, C=C, F=Fo, H=H, kernel=k, stride=s, padding=p, groups=g)


def macs(geo):
    """Multiply-adds of one forward pass."""
    Ho, Wo = conv2d_output_shape(geo["H"], geo["H"], pair(geo["kernel"]), pair(geo["stride"]), pair(geo["padding"]))
    return geo["N"] * geo["F"] * Ho * Wo * (geo["C"] // geo["groups"]) * geo["kernel"] ** 2


def auto_choice(geo, array):
    """The name of the method ``method="auto"`` runs for this geometry and array."""
    return auto.conv2d_method(array, pair(geo["kernel"]), pair(geo["stride"]), pair(geo["padding"]), geo["groups"])


def columns_bytes(geo, itemsize=4):
    """Size of the textbook im2col method's column buffer ``(N, C*kh*kw, Ho*Wo)`` for this geometry."""
    Ho, Wo = conv2d_output_shape(geo["H"], geo["H"], pair(geo["kernel"]), pair(geo["stride"]), pair(geo["padding"]))
    return geo["C"] * geo["kernel"] ** 2 * geo["N"] * Ho * Wo * itemsize


def memory_table(rows):
    """Markdown: peak memory of forward plus backward per method, beside im2col's column buffer."""
    cases = {}
    for row in rows:
        if row.get("suite") == "conv" and row.get("mode") == "forward+backward" and row.get("peak_bytes") is not None:
            cases.setdefault(row["case"], {"geometry": row["geometry"]})[row["method"]] = row["peak_bytes"]
    if not cases:
        return ""
    methods = [m for m in METHODS if any(m in c for c in cases.values())]
    out = ["| case | input MiB | im2col columns MiB | " + " | ".join(f"{m} peak MiB" for m in methods) + " |",
           "|---|---|---|" + "---|" * len(methods)]
    for case, peaks in cases.items():
        geo = peaks["geometry"]
        x_bytes = geo["N"] * geo["C"] * geo["H"] ** 2 * 4
        cells = [f"{peaks[m] / 2**20:.1f}" if m in peaks else "" for m in methods]
        out.append(f"| {case} | {x_bytes / 2**20:.1f} | {columns_bytes(geo) / 2**20:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def _gemm_operands(geo, rng):
    """Random operands shaped like the gemm method's GEMMs, with its memory layouts and its
    chunks of images (``engine.conv._chunk_layouts``: one product per chunk, not one for the batch):
    ``w @ cols`` (forward), ``w^T @ g`` (dL/dcols) and ``cols @ g^T`` (dL/dw, transposed), per
    group. Returns ``w`` and, per chunk, its ``(cols, g)``; chunks of one size share operands, as
    the method's chunk buffer is reused, so the limit is timed on operands as warm as its own."""
    G = geo["groups"]
    Fg, K = geo["F"] // G, (geo["C"] // G) * geo["kernel"] ** 2
    geometry = pair(geo["kernel"]), pair(geo["stride"]), pair(geo["padding"]), (1, 1)
    x_shape = (geo["N"], geo["C"], geo["H"], geo["H"])
    w = rng.standard_normal((G, Fg, K), dtype=np.float32)
    by_size, chunks = {}, []
    for _, _, layout in engine_conv._chunk_layouts(x_shape, *geometry):
        M = layout.columns
        if M not in by_size:
            by_size[M] = (rng.standard_normal((G, K, M), dtype=np.float32),
                          rng.standard_normal((G, Fg, M), dtype=np.float32))
        chunks.append(by_size[M])
    return w, chunks


def _candidates(geo, mode, methods, torch, tinygrad, rng):
    x = rng.standard_normal((geo["N"], geo["C"], geo["H"], geo["H"]), dtype=np.float32)
    w = rng.standard_normal((geo["F"], geo["C"] // geo["groups"], geo["kernel"], geo["kernel"]), dtype=np.float32)
    Ho, Wo = conv2d_output_shape(geo["H"], geo["H"], pair(geo["kernel"]), pair(geo["stride"]), pair(geo["padding"]))
    dy = rng.standard_normal((geo["N"], geo["F"], Ho, Wo), dtype=np.float32)
    options = dict(stride=geo["stride"], padding=geo["padding"], groups=geo["groups"])
    candidates = {}

    def ours(method):
        if mode == "forward":
            image, filters = mt.tensor(x), mt.tensor(w)

            def run():
                with mt.no_grad():
                    F.conv2d(image, filters, method=method, **options)
        else:
            image, filters = mt.tensor(x, requires_grad=True), mt.tensor(w, requires_grad=True)
            grad = mt.tensor(dy)

            def run():
                image.grad = filters.grad = None
                F.conv2d(image, filters, method=method, **options).backward(grad.array)
        return run

    for method in methods:
        candidates[method] = ours(method)
    if torch is not None:
        tx, tw, tdy = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(dy)
        if mode == "forward":
            def run_torch():
                with torch.no_grad():
                    torch.nn.functional.conv2d(tx, tw, **options)
        else:
            tx.requires_grad_(True)
            tw.requires_grad_(True)

            def run_torch():
                tx.grad = tw.grad = None
                torch.nn.functional.conv2d(tx, tw, **options).backward(tdy)
        candidates["torch"] = run_torch
    gw, chunks = _gemm_operands(geo, rng)
    if mode == "forward":
        def gemms():
            for gcols, _ in chunks:
                np.matmul(gw, gcols)
    else:
        def gemms():
            for gcols, gg in chunks:
                np.matmul(gw, gcols)
                np.matmul(np.matrix_transpose(gw), gg)
                np.matmul(gcols, np.matrix_transpose(gg))
    candidates["blas"] = gemms  # the limit: plain matmuls, not a method
    if tinygrad is not None:
        candidates[peers.NAME] = peers.conv(tinygrad, x, w, dy, mode, **options)
    return candidates


def _peer_row(name, mode, geo, ours, results):
    """tinygrad's row: its time over ours (``ours``: the candidate that ran auto's method) and over PyTorch's."""
    entry = results[peers.NAME]
    return {
        "suite": "conv", "case": name, "mode": mode, "method": peers.NAME, "peer": True, "geometry": geo,
        "median_s": entry["median_s"], "runs_s": entry["runs_s"], "over_budget": entry["over_budget"],
        "vs_ours": ratio(results, peers.NAME, ours),
        "vs_torch": ratio(results, peers.NAME, "torch") if "torch" in results else None,
        "torch_s": results["torch"]["median_s"] if "torch" in results else None,
    }


def run(shapes, methods, repeats, quick, max_seconds, torch, log, peer=None):
    """Measure every (shape, mode, method) row; returns a list of row dicts. ``peer`` is
    :func:`bench.peers.load`'s ``(tinygrad, reason)`` when ``--peers`` asked for it: tinygrad
    joins every row's rounds, or one skipped row gives the reason."""
    rows = []
    tinygrad, reason = peer or (None, None)
    if reason:
        rows.append({"suite": "conv", "case": "peers", "method": peers.NAME, "skipped": reason})
        log(rows[-1])
    rng = np.random.default_rng(0)
    for name in shapes:
        geo = _geometry(name, quick)
        picked = auto_choice(geo, np.empty((0, geo["C"], 1, 1), dtype=np.float32))
        wanted = [m for m in methods if m != "naive" or macs(geo) <= NAIVE_MAX_MACS]
        if picked not in wanted:
            wanted.append("auto")
        for mode in ("forward", "forward+backward"):
            candidates = _candidates(geo, mode, wanted, torch, tinygrad, rng)
            traced = wanted if mode == "forward+backward" else ()
            results = measure(candidates, repeats, max_seconds, trace_memory=traced)
            for method in wanted:
                entry = results[method]
                label = picked if method == "auto" else method
                row = {
                    "suite": "conv", "case": name, "mode": mode, "method": label, "geometry": geo,
                    "auto_pick": label == picked, "median_s": entry["median_s"], "runs_s": entry["runs_s"],
                    "over_budget": entry["over_budget"], "peak_bytes": entry["peak_bytes"],
                    "gemm_share": ratio(results, "blas", method), "gemm_s": results["blas"]["median_s"],
                    "vs_torch": ratio(results, method, "torch") if "torch" in results else None,
                    "torch_s": results["torch"]["median_s"] if "torch" in results else None,
                    "target": TARGETS.get((name, mode)) if label == picked else None,
                }
                if label == "gemm":
                    row["gemm_target"] = GEMM_SHARE_TARGET
                rows.append(row)
                log(row)
            if peers.NAME in results:
                ours = "auto" if "auto" in results else picked
                rows.append(_peer_row(name, mode, geo, ours, results))
                log(rows[-1])
    return rows
