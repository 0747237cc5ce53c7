"""``python -m bench.numba_steps``: training steps with ``method="auto"`` against the same step
with the Numba choices swapped (issue 19, BENCHMARKS.md "Numba kernels inside training steps").

``auto`` sends every depthwise conv and max pool of a float NumPy network to the Numba kernels
(:mod:`minitorch_cnn.engine.auto`), a rule first measured one layer at a time. Here each case
times whole SGD steps (:func:`bench.train_suite._ours`: forward, cross-entropy, backward,
update) of one network several ways in the same rounds of :func:`bench.timing.measure`: as
``auto`` runs it; with every depthwise conv set to ``"direct"`` and to ``"gemm"`` (the modules'
own ``method=``); with every ``nn.MaxPool2d`` set to ``"slices"``; and, with ``--parallel``, with
the kernels' parallel loops on all threads (the adapters run them on one, see
:mod:`minitorch_cnn.engine.compiled`).

    python -m bench.numba_steps --threads 2 --repeats 7 mobilenet_v2_64 alexnet_224
"""

from __future__ import annotations

import argparse
import contextlib
import os

#: case -> (zoo model or ``vgg16_bn_cifar``, batch, image side)
CASES = {
    "mobilenet_v2_64": ("mobilenet_v2", 16, 64),
    "mobilenet_v2_224": ("mobilenet_v2", 8, 224),
    "mobilenet_v3_small_96": ("mobilenet_v3_small", 16, 96),
    "efficientnet_b0_64": ("efficientnet_b0", 16, 64),
    "resnet18_64": ("resnet18", 32, 64),
    "vgg16_bn_cifar_32": ("vgg16_bn_cifar", 32, 32),
    "alexnet_224": ("alexnet", 16, 224),
}


def set_methods(model, depthwise=None, pool=None):
    """Set ``method=`` on every depthwise ``nn.Conv2d`` (``groups == in_channels > 1``) and every
    ``nn.MaxPool2d`` of ``model`` (None: leave them); returns how many of each it found."""
    from minitorch_cnn import nn

    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups == m.in_channels > 1]
    pools = [m for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    for modules, method in ((convs, depthwise), (pools, pool)):
        for m in modules if method else ():
            m.method = method
    return len(convs), len(pools)


def _parallel(step):
    """``step`` with the Numba kernels' parallel loops on every Numba thread (no one-thread pin)."""
    from minitorch_cnn.engine import compiled

    def run():
        pinned = compiled.one_numba_thread
        compiled.one_numba_thread = lambda kernels: contextlib.nullcontext()
        try:
            step()
        finally:
            compiled.one_numba_thread = pinned
    return run


def run_case(case, repeats, parallel):
    """One line: the median of each variant and its per-round time ratio to ``auto``."""
    import numpy as np

    from . import train_suite
    from .timing import measure, ratio

    name, N, size = CASES[case]
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((N, 3, size, size), dtype=np.float32), rng.integers(0, 10, N)
    convs, pools = set_methods(train_suite.build(name))
    variants = {"auto": {}}
    if convs:
        variants.update({"depthwise direct": {"depthwise": "direct"}, "depthwise gemm": {"depthwise": "gemm"}})
    if pools:
        variants["max pool slices"] = {"pool": "slices"}
    steps = {}
    for variant, methods in variants.items():
        model = train_suite.build(name)
        set_methods(model, **methods)
        steps[variant] = train_suite._ours(model, x, y)
    if parallel:
        steps["parallel kernels"] = _parallel(train_suite._ours(train_suite.build(name), x, y))
    results = measure(steps, repeats)
    times = ", ".join(f"{v} {results[v]['median_s'] * 1e3:.0f} ms" for v in steps)
    ratios = ", ".join(f"{v} {ratio(results, v, 'auto'):.2f}x" for v in steps if v != "auto")
    return (f"{case} (batch {N}, {size}x{size}; {convs} depthwise convs, {pools} max pools; load "
            f"{os.getloadavg()[0]:.2f}): {times} | time over auto: {ratios}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.numba_steps", description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="+", choices=CASES)
    parser.add_argument("--threads", type=int, default=2, help="threads for BLAS, OpenMP and Numba (2)")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds after the warm-up (7)")
    parser.add_argument("--parallel", action="store_true", help="also time the kernels on every Numba thread")
    args = parser.parse_args(argv)
    from .__main__ import _set_threads

    _set_threads(args.threads)  # before NumPy and Numba load
    import numba
    from threadpoolctl import threadpool_limits

    from minitorch_cnn.engine import keep_freed_memory

    threadpool_limits(args.threads)
    numba.set_num_threads(args.threads)
    keep_freed_memory()
    for case in args.cases:
        print(f"{args.threads} threads: " + run_case(case, args.repeats, args.parallel), flush=True)


if __name__ == "__main__":
    main()
