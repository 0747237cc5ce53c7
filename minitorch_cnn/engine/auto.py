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

The depthwise row is per layer, with the kernels' old parallel loops. It was measured again
where those layers run, inside whole training steps (``python -m bench.numba_steps``, float32;
ms per step for ``"numba"`` / ``"direct"`` / ``"gemm"`` on every depthwise conv):

===================================  ==================  ==================
network (batch, image)               2 threads           1 thread
===================================  ==================  ==================
MobileNetV2 (16, 64x64)              238 / 265 / 287     242 / 253 / 260
MobileNetV2 (8, 224x224)             925 / 895 / 995     729 / 844 / 952
MobileNetV3-small (16, 96x96)        198 / 235 / 219     145 / 190 / 198
EfficientNet-B0 (16, 64x64)          400 / 498 / 513     409 / 488 / 535
===================================  ==================  ==================

``"numba"`` wins or ties (MobileNetV2 at 224x224 and 2 threads: 0.96x here, 1.14x and 1.16x
in two earlier runs). It does so only because the adapters run the kernels on one Numba
thread (``engine/compiled.py``). With their parallel loops the 64x64 MobileNetV2 step took 541 ms.
One layer at a time, 2 threads, ``"direct"`` now beats the one-thread kernel on 3x3, 128
channels at 56x56 (119 against 198 ms forward plus backward). The steps decide. MobileNetV3's
5x5 depthwise convs (16 images, 96 to 576 channels at 14x14 and 7x7) take 9 to 19 ms forward
plus backward with Numba, 16 to 56 ms with gemm and 13 to 73 ms with direct.

**max_pool2d**: the Numba kernel on float NumPy arrays. On AlexNet's 3x3/2 pooling of a
(16, 96, 55, 55) batch, forward plus backward, it took 0.96x PyTorch's time where the lesson's
``"slices"`` took 2.40x (``python -m bench --suite layers``, parallel loops; on one thread
1.59x against 4.50x). Everywhere else (CuPy: not
measured; array_api_strict; integer arrays; any ``dilation`` other than 1, which the kernels do not
have) ``"slices"``, which works on every backend. Inside an AlexNet training step (batch 16,
224x224, 2 threads, cProfile) the three pools took 58.7 ms with ``"numba"`` and 142.4 ms with
``"slices"``.
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
