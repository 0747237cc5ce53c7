"""Lazy layers: ``LazyConv2d``, ``LazyLinear``, ``LazyBatchNorm1d``/``2d`` leave out the input size
and read it from the first batch, as PyTorch's do (d2l writes every CNN this way)::

    net = nn.Sequential(nn.LazyConv2d(6, 5, padding=2), nn.Sigmoid(), ..., nn.LazyLinear(10))
    optimizer = mt.optim.SGD(net.parameters(), lr=0.1)   # before any call: still trains them
    net(X)                                                # in_channels, in_features set here

Until the first call the weights are :class:`UninitializedParameter` placeholders. The first call
(1) sets the missing size from the input (``in_channels = C`` of ``(N, C, H, W)``), (2) gives each
placeholder its array in place, which turns it into an ordinary ``Parameter`` (the same object the
optimiser holds), (3) turns the layer into the eager class (``LazyConv2d`` -> ``Conv2d``) and
(4) draws the weights with that class's ``reset_parameters``: afterwards it is indistinguishable
from a layer built with the size given. ``load_state_dict`` before the first call does (1)-(3)
with the checkpoint's shapes instead, as in PyTorch.
"""

from __future__ import annotations

import itertools

from .conv import Conv2d
from .linear import Linear
from .module import UninitializedBuffer, UninitializedParameter, is_uninitialized
from .normalization import BatchNorm1d, BatchNorm2d


class LazyModuleMixin:
    """The first-call machinery shared by the lazy layers.

    A lazy class names its eager class (``cls_to_become``) and says three things:
    ``_sizes_from_input(x)`` (the missing size attribute read from the first input),
    ``_sizes_from_shapes()`` (the same read back from materialised parameters, after
    ``load_state_dict``) and ``_shapes(**sizes)`` (every placeholder's shape for those sizes).
    """

    cls_to_become = None

    def has_uninitialized_params(self):
        """Whether some parameter or buffer of this layer still has no shape."""
        return any(is_uninitialized(t) for t in itertools.chain(self._parameters.values(), self._buffers.values()))

    def reset_parameters(self):
        """Nothing to draw yet: the shapes come with the first call, which draws as the eager
        layer does. (The eager constructor calls this on its placeholder weights.)"""

    def forward(self, x, *args, **kwargs):
        # Everything is checked before anything changes: a bad first input leaves the layer lazy.
        sizes = self._sizes_from_input(x)
        shapes = self._shapes(**sizes)
        tensors = [(name, t) for name, t in itertools.chain(self._parameters.items(), self._buffers.items())
                   if t is not None and name in shapes]
        for name, t in tensors:
            if not is_uninitialized(t) and t.shape != shapes[name]:
                raise ValueError(f"{name} loaded with shape {t.shape} does not fit input of shape {tuple(x.shape)}, "
                                 f"which needs {shapes[name]}")
        fresh = self.has_uninitialized_params()
        for name, t in tensors:
            if is_uninitialized(t):
                t.materialize(shapes[name])
        for name, value in sizes.items():
            setattr(self, name, value)
        self._become_eager(fresh)
        # The eager class's forward from now on, this call included.
        return self.forward(x, *args, **kwargs)

    def _become_eager(self, fresh):
        """Turn into ``cls_to_become``; ``fresh``: draw the weights it would have drawn."""
        for name, value in self._sizes_from_shapes().items():
            setattr(self, name, value)
        self.__class__ = self.cls_to_become
        if fresh:
            self.reset_parameters()


def _size(x, ndims, layout, axis):
    if len(x.shape) not in ndims:
        raise ValueError(f"expected a {layout} input, got shape {tuple(x.shape)}")
    return x.shape[axis]


class LazyConv2d(LazyModuleMixin, Conv2d):
    """``Conv2d`` whose ``in_channels`` is the ``C`` of the first input ``(N, C, H, W)``.

    Args: those of :class:`Conv2d` without ``in_channels`` (PyTorch's order: ``out_channels,
    kernel_size, stride, padding, dilation, groups, bias``); keyword ones such as ``method`` pass
    through. ``repr`` shows ``in_channels`` as 0 until the first call, as PyTorch's does.
    """

    cls_to_become = Conv2d

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True, **kwargs):
        # Conv2d checks in_channels against groups; ``groups`` passes, and the placeholder
        # weights replace what it allocates.
        super().__init__(groups, out_channels, kernel_size, stride, padding, dilation, groups, bias, **kwargs)
        self.in_channels = 0
        self.weight = UninitializedParameter()
        self.bias = UninitializedParameter() if bias else None

    def _sizes_from_input(self, x):
        C = _size(x, (4,), "4-D (N, C, H, W)", 1)
        if C % self.groups:
            raise ValueError(f"expected input channels divisible by groups={self.groups}, got input of shape "
                             f"{tuple(x.shape)}")
        return {"in_channels": C}

    def _sizes_from_shapes(self):
        return {"in_channels": self.weight.shape[1] * self.groups}

    def _shapes(self, in_channels):
        kh, kw = self.kernel_size
        return {"weight": (self.out_channels, in_channels // self.groups, kh, kw), "bias": (self.out_channels,)}


class LazyLinear(LazyModuleMixin, Linear):
    """``Linear`` whose ``in_features`` is the last axis of the first input (``(N, in_features)``).

    ``repr`` shows ``in_features=0`` until the first call, as PyTorch's does.
    """

    cls_to_become = Linear

    def __init__(self, out_features, bias=True):
        super().__init__(1, out_features, bias)
        self.in_features = 0
        self.weight = UninitializedParameter()
        self.bias = UninitializedParameter() if bias else None

    def _sizes_from_input(self, x):
        if len(x.shape) < 1:
            raise ValueError(f"expected an input (..., in_features), got shape {tuple(x.shape)}")
        return {"in_features": x.shape[-1]}

    def _sizes_from_shapes(self):
        return {"in_features": self.weight.shape[1]}

    def _shapes(self, in_features):
        return {"weight": (self.out_features, in_features), "bias": (self.out_features,)}


class _LazyBatchNorm(LazyModuleMixin):
    """Batch norm whose ``num_features`` is the ``C`` of the first input; with ``affine`` and
    ``track_running_stats`` (the defaults) the scale, shift and running statistics all wait."""

    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, freeze_stats=False):
        super().__init__(1, eps, momentum, affine, track_running_stats, freeze_stats)
        self.num_features = 0
        if affine:
            self.weight, self.bias = UninitializedParameter(), UninitializedParameter()
        if track_running_stats:
            self.running_mean, self.running_var = UninitializedBuffer(), UninitializedBuffer()

    def _sizes_from_shapes(self):
        own = self.weight if self.affine else self.running_mean
        return {"num_features": own.shape[0]} if own is not None else {}

    def _shapes(self, num_features):
        C = num_features
        return {"weight": (C,), "bias": (C,), "running_mean": (C,), "running_var": (C,)}


class LazyBatchNorm1d(_LazyBatchNorm, BatchNorm1d):
    """``BatchNorm1d`` whose ``num_features`` is the ``C`` of the first ``(N, C)`` or ``(N, C, L)`` input."""

    cls_to_become = BatchNorm1d

    def _sizes_from_input(self, x):
        return {"num_features": _size(x, (2, 3), "2-D (N, C) or 3-D (N, C, L)", 1)}


class LazyBatchNorm2d(_LazyBatchNorm, BatchNorm2d):
    """``BatchNorm2d`` whose ``num_features`` is the ``C`` of the first ``(N, C, H, W)`` input."""

    cls_to_become = BatchNorm2d

    def _sizes_from_input(self, x):
        return {"num_features": _size(x, (4,), "4-D (N, C, H, W)", 1)}
