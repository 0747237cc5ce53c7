"""Engine room: what ``method="auto"`` runs, as measured by ``python -m bench`` (BENCHMARKS.md).

**conv2d** (run after-5; float32, 2 threads, time relative to PyTorch's CPU conv on the same run,
forward plus backward / forward alone; the ``"gemm"`` rows were measured under its old name,
``"im2col"``):

===================================  ===============  ==========================================
geometry                             NumPy            measured
===================================  ===============  ==========================================
1x1 kernel, stride 1, no padding     ``"direct"``     bottleneck 256->64: 0.83x / 0.76x, gemm
                                                      0.98x / 1.01x: its one tap is a view of
                                                      the input, no column copy at all
depthwise (``groups == C > 1``)      ``"numba"``      3x3, 128 channels: numba 0.78x / 1.03x,
                                                      direct 2.80x / 4.31x, gemm 3.76x / 3.21x
anything else                        ``"gemm"``       AlexNet conv1 1.49x / 2.62x (numba 5.96x
                                                      / 14.6x, direct 6.8x / 43x); ResNet
                                                      64->64 1.92x / 2.21x (direct 2.17x /
                                                      2.85x, numba 5.81x / 6.00x), 128->128
                                                      1.91x / 2.02x (direct 2.13x / 2.10x,
                                                      numba 8.7x / 6.7x)
===================================  ===============  ==========================================

Numba wins where each output sums few products (LeNet C1, 1 channel and 5x5 taps: 0.73x
against gemm's 1.43x), but not in a LeNet-5 training step, which does not need C1's input
gradient: there ``auto`` stays with gemm (BENCHMARKS.md). On CuPy and array_api_strict (and
for integer arrays) the same table holds with ``"direct"`` for depthwise: the CUDA kernels are
not measured here (no GPU).

**max_pool2d**: the Numba kernel on float NumPy arrays. On AlexNet's 3x3/2 pooling of a
(16, 96, 55, 55) batch, forward plus backward, it took 0.96x PyTorch's time where the lesson's
``"slices"`` took 2.40x (``python -m bench --suite layers``). Everywhere else (CuPy: not
measured; array_api_strict; integer arrays; any ``dilation`` other than 1, which the kernels do not
have) ``"slices"``, which works on every backend.
"""

from __future__ import annotations

from ..backend import device_name, dtype_name
from ..methods import register_auto


def _numpy_float(x):
    return device_name(x) == "cpu" and dtype_name(x.dtype) in ("float32", "float64")


def conv2d_method(x, kernel, stride, padding, groups):
    """The table above: the method ``conv2d(method="auto")`` runs on raw array ``x``."""
    if kernel == (1, 1) and stride == (1, 1) and padding == (0, 0):
        return "direct"
    if groups > 1 and groups == x.shape[1]:
        return "numba" if _numpy_float(x) else "direct"
    return "gemm"


def max_pool2d_method(x, dilation=(1, 1)):
    """The method ``max_pool2d(method="auto")`` runs on raw array ``x``: the compiled kernels have
    no dilation, so a dilated window always takes the lesson's ``"slices"``."""
    return "numba" if _numpy_float(x) and tuple(dilation) == (1, 1) else "slices"


register_auto("conv2d", conv2d_method)
register_auto("max_pool2d", max_pool2d_method)
