"""Fully connected layers and the pieces around them: ``Linear``, ``Flatten`` (the bridge from
conv feature maps to a classifier) and ``Identity`` (a placeholder, e.g. a removed head)."""

from __future__ import annotations

import math

from .. import functional as F
from . import init
from .module import Module, Parameter, new_array


class Linear(Module):
    """``y = x W^T + b`` with ``W`` of shape ``(out_features, in_features)`` (PyTorch's layout).

    Args:
        in_features, out_features: sizes of the last axis of the input and the output.
        bias: learn a bias ``(out_features,)`` (default ``True``).

    Initialisation is PyTorch's default: ``kaiming_uniform_(weight, a=sqrt(5))``, i.e. uniform
    in ``[-1/sqrt(in_features), 1/sqrt(in_features)]``, and the bias in the same range.
    """

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Linear: expected {name} to be a positive int, got {value!r}")
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(new_array((out_features, in_features)))
        self.bias = Parameter(new_array((out_features,))) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        """Draw fresh weights: PyTorch's default, uniform in ``+-1/sqrt(in_features)``."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Flatten(Module):
    """Merge the axes from ``start_dim`` to ``end_dim``: ``(N, C, H, W) -> (N, C*H*W)`` by default."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x):
        return F.flatten(x, start_dim=self.start_dim, end_dim=self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input unchanged."""

    def forward(self, x):
        return x
