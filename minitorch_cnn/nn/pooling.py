"""Pooling layers: ``MaxPool2d`` (and its partial inverse ``MaxUnpool2d``), ``AvgPool2d``,
``AdaptiveAvgPool2d`` and ``AdaptiveMaxPool2d``. They hold no parameters; the arithmetic is in
:mod:`minitorch_cnn.functional.pooling`."""

from __future__ import annotations

from .. import functional as F
from ..functional.sizes import pair
from .module import Module


class MaxPool2d(Module):
    """Largest value of each ``kh x kw`` window; ``stride`` defaults to ``kernel_size``.

    See :func:`~minitorch_cnn.functional.max_pool2d` (ties send the gradient to the first maximum;
    ``dilation`` spaces the taps; ``ceil_mode`` keeps a last window that hangs over the edge;
    ``return_indices=True`` makes the layer return ``(y, indices)`` for :class:`MaxUnpool2d`).
    The arguments are in PyTorch's order.

    ``method`` (keyword only) is passed to ``max_pool2d``: ``"auto"`` (default: the compiled
    kernel for float NumPy arrays without dilation, ``"slices"`` elsewhere and inside
    ``mt.reference_mode()``), the lesson's ``"slices"`` (one strided slice per kernel tap, plain
    Python a debugger can step through) or the engine room's ``"numba"`` (compiled kernels,
    NumPy or CuPy arrays, no dilation).
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False, *,
                 method="auto"):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode
        self.method = method

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, ceil_mode=self.ceil_mode,
                            return_indices=self.return_indices, method=self.method)

    def extra_repr(self):
        # PyTorch's text (which leaves out return_indices), then our method when one is forced.
        text = (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")
        return text + (f", method={self.method!r}" if self.method != "auto" else "")


class MaxUnpool2d(Module):
    """Partial inverse of :class:`MaxPool2d`: ``forward(x, indices, output_size=None)`` puts each
    value back where its maximum came from, zeros elsewhere; see
    :func:`~minitorch_cnn.functional.max_unpool2d` (ZFNet's deconvnet)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        # Pairs, as PyTorch stores (and prints) them.
        self.kernel_size = pair(kernel_size, "kernel_size", "MaxUnpool2d")
        self.stride = pair(kernel_size if stride is None else stride, "stride", "MaxUnpool2d")
        self.padding = pair(padding, "padding", "MaxUnpool2d")

    def forward(self, x, indices, output_size=None):
        return F.max_unpool2d(x, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(Module):
    """Mean of each ``kh x kw`` window (LeNet-5's subsampling layers S2 and S4, without their
    trainable coefficient); ``stride`` defaults to ``kernel_size``."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, ceil_mode=self.ceil_mode,
                            count_include_pad=self.count_include_pad)

    def extra_repr(self):
        text = f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
        text += ", ceil_mode=True" if self.ceil_mode else ""
        return text + (", count_include_pad=False" if not self.count_include_pad else "")


class AdaptiveAvgPool2d(Module):
    """Average to a fixed ``output_size`` whatever the input size; ``1`` is global average pooling."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Max to a fixed ``output_size`` whatever the input size; ``1`` is global max pooling.
    ``return_indices=True`` makes the layer return ``(y, indices)``, as :class:`MaxPool2d`."""

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, x):
        return F.adaptive_max_pool2d(x, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}" + (", return_indices=True" if self.return_indices else "")
