"""Activation layers: thin modules around :mod:`minitorch_cnn.functional.activation`, so they
can sit in a ``Sequential`` and carry forward hooks."""

from __future__ import annotations

from .. import functional as F
from .module import Module


class ReLU(Module):
    """``max(x, 0)``; its derivative at 0 is taken as 0."""

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    """``x`` for ``x > 0``, ``negative_slope * x`` otherwise (default slope 0.01, as in PyTorch)."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Tanh(Module):
    """``tanh(x)``, LeNet-5's squashing function."""

    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    """``1 / (1 + exp(-x))``."""

    def forward(self, x):
        return F.sigmoid(x)


class SiLU(Module):
    """``x * sigmoid(x)`` (also called swish)."""

    def forward(self, x):
        return F.silu(x)


class Softmax(Module):
    """``exp(x) / sum(exp(x))`` along ``dim`` (default the last axis)."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, axis=self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"
