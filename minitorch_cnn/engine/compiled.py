"""Engine room: method ``"numba"`` for conv2d and max_pool2d, adapters to the compiled kernels.

The kernels live in the top-level ``kernels`` package (:mod:`kernels.cpu`, Numba ``njit`` for
NumPy arrays; :mod:`kernels.cuda`, ``numba.cuda`` for CuPy arrays), which depends on nothing in
minitorch_cnn: these adapters hand them the output size from
:func:`~minitorch_cnn.functional.sizes.conv2d_output_shape`, the one place that computes it.
The kernels are imported on first use, so importing minitorch_cnn never imports Numba.

The CPU kernels run here on one Numba thread (:func:`one_numba_thread`), although they are
written with ``prange``: in a training step every depthwise conv and max pool sits between
GEMMs, and on 2 cores a parallel region right after a GEMM meets OpenBLAS's worker still
spinning (about 0.1 s, see ``bench.timing.PAUSE_S``), then leaves OpenMP's worker spinning
in the next GEMM's way. A MobileNetV2 step (batch 16, 64x64, 2 threads) took 504 ms with
parallel kernels, 215 ms with serial ones and 229 ms with depthwise ``"direct"``
(BENCHMARKS.md, "Numba kernels inside training steps").
"""

from __future__ import annotations

import contextlib

from ..autograd import Function
from ..backend import array_namespace, device_name
from ..functional.conv import ConvMethod
from ..functional.sizes import conv2d_output_shape
from ..methods import register


def kernels_for(x, op):
    """The compiled kernels for array ``x``: :mod:`kernels.cpu` for NumPy, :mod:`kernels.cuda` for CuPy."""
    device = device_name(x)
    if device == "cpu":
        from kernels import cpu

        return cpu
    if device == "cuda":
        from kernels import cuda

        return cuda
    raise TypeError(f"{op}: method='numba' needs NumPy or CuPy arrays, got {array_namespace(x).__name__} arrays")


@contextlib.contextmanager
def one_numba_thread(kernels):
    """Run the block on one Numba thread when ``kernels`` is :mod:`kernels.cpu` (the module
    docstring says why); ``numba.set_num_threads`` is per calling thread, so other threads keep theirs."""
    if kernels.__name__ != "kernels.cpu":
        yield
        return
    import numba

    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(threads)


def _forward(x, w, stride, padding, dilation, groups):
    out_size = conv2d_output_shape(x.shape[2], x.shape[3], tuple(w.shape[2:]), stride, padding, dilation)
    kernels = kernels_for(x, "conv2d")
    with one_numba_thread(kernels):
        return kernels.conv2d_forward(x, w, stride, padding, dilation, groups, out_size=out_size)


def _backward_input(grad, w, x_shape, stride, padding, dilation, groups):
    kernels = kernels_for(grad, "conv2d")
    with one_numba_thread(kernels):
        return kernels.conv2d_backward_input(grad, w, x_shape, stride, padding, dilation, groups)


def _backward_weight(x, grad, w_shape, stride, padding, dilation, groups):
    kernels = kernels_for(x, "conv2d")
    with one_numba_thread(kernels):
        return kernels.conv2d_backward_weight(x, grad, w_shape, stride, padding, dilation, groups)


class NumbaMaxPool2d(Function):
    """The lesson's max pooling (``functional.pooling.MaxPool2d``) by compiled kernels: one pass
    over the windows that also records each winner's flat index ``h*W + w`` (what
    ``return_indices=True`` returns), the same first-maximum rule, and a backward that adds each
    gradient at its winner's index. The kernels have no dilation."""

    @staticmethod
    def forward(ctx, x, kh, kw, sh, sw, ph, pw, ceil_mode=False, dilation=(1, 1), indices=None):
        if tuple(dilation) != (1, 1):
            raise ValueError(
                f"max_pool2d: method='numba' expected dilation 1 (the compiled kernels have none), got dilation "
                f"{tuple(dilation)}; use method='slices' or 'auto'"
            )
        kernels = kernels_for(x, "max_pool2d")
        out_size = conv2d_output_shape(x.shape[2], x.shape[3], (kh, kw), (sh, sw), (ph, pw), op="max_pool2d",
                                       ceil_mode=ceil_mode)
        with one_numba_thread(kernels):
            y, winner = kernels.max_pool2d_forward(x, (kh, kw), (sh, sw), (ph, pw), out_size=out_size)
        if indices is not None:
            indices.append(winner)
        ctx.save_for_backward(kernels, winner, tuple(x.shape), (kh, kw, sh, sw, ph, pw))
        return y

    @staticmethod
    def backward(ctx, grad):
        kernels, winner, x_shape, (kh, kw, sh, sw, ph, pw) = ctx.saved_tensors
        with one_numba_thread(kernels):
            return kernels.max_pool2d_backward(grad, winner, x_shape, (kh, kw), (sh, sw), (ph, pw))


register("conv2d", "numba", ConvMethod(_forward, _backward_input, _backward_weight))
register("max_pool2d", "numba", NumbaMaxPool2d)
