"""``Conv2d``: a learnable bank of ``F`` filters of shape ``(C/groups, kh, kw)``.

The arithmetic (forward and backward) is :func:`minitorch_cnn.functional.conv2d`; this layer
owns the weight ``(F, C/groups, kh, kw)`` and the bias ``(F,)`` and initialises them.
"""

from __future__ import annotations

import math

from .. import functional as F
from ..functional.sizes import pair
from . import init
from .module import Module, Parameter, new_array


class Conv2d(Module):
    """2-D convolution layer: ``y = conv2d(x, weight, bias)`` for ``x`` of shape ``(N, C, H, W)``.

    Args:
        in_channels: ``C``. out_channels: ``F``, the number of filters.
        kernel_size: ``kh`` or ``(kh, kw)``.
        stride, padding, dilation: ints or ``(h, w)`` pairs (defaults 1, 0, 1); ``padding`` may
            also be ``"same"`` (stride 1 only, checked here as PyTorch does) or ``"valid"``.
        groups: split channels and filters into independent groups (AlexNet, ResNeXt, MobileNet).
        bias: learn a per-filter bias (default ``True``).
        method: keyword only, passed to :func:`~minitorch_cnn.functional.conv2d`: ``"auto"``
            (default: the engine room's measured fastest, ``"im2col"`` inside
            ``mt.reference_mode()``), the lesson's ``"naive"`` (seven loops) and ``"im2col"``
            (textbook columns, one matmul), or the engine room's ``"gemm"`` (columns a few
            images at a time), ``"direct"`` (one product per kernel tap) and ``"numba"``
            (compiled kernels, NumPy or CuPy arrays).

    Initialisation is PyTorch's default: ``kaiming_uniform_(weight, a=sqrt(5))``, i.e. uniform
    in ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]`` with ``fan_in = C/groups * kh * kw``, and the bias
    uniform in the same range.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, *, method="auto"):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Conv2d: expected {name} to be a positive int, got {value!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"Conv2d: expected groups={groups} to divide in_channels={in_channels} and out_channels={out_channels}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = pair(stride, "stride", "Conv2d")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Conv2d: expected padding 'same', 'valid', an int or an (h, w) pair, got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"Conv2d: padding='same' expected stride 1 (as in PyTorch), got stride {self.stride}")
            self.padding = padding
        else:
            self.padding = pair(padding, "padding", "Conv2d")
        self.dilation = pair(dilation, "dilation", "Conv2d")
        self.groups = groups
        self.method = method
        kh, kw = self.kernel_size
        self.weight = Parameter(new_array((out_channels, in_channels // groups, kh, kw)))
        self.bias = Parameter(new_array((out_channels,))) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        """Draw fresh weights: PyTorch's default, uniform in ``+-1/sqrt(fan_in)``."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding,
                        dilation=self.dilation, groups=self.groups, method=self.method)

    def extra_repr(self):
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            text += f", padding={self.padding}"  # "same" unquoted, as PyTorch prints it
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.method != "auto":
            text += f", method={self.method!r}"
        return text
