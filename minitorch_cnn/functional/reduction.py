"""Reductions: ``sum``, ``mean`` and ``max`` over some or all axes."""

from __future__ import annotations

from ..autograd import Function
from ..backend import array_namespace


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(a % ndim for a in axis)


def _expand(grad, shape, axes, keepdims):
    """Reshape a reduced gradient so it broadcasts against the input's ``shape``."""
    if keepdims:
        return grad
    xp = array_namespace(grad)
    kept = tuple(1 if i in axes else s for i, s in enumerate(shape))
    return xp.reshape(grad, kept)


class Sum(Function):
    """``y = sum_i x_i`` over ``axis``;  ``dy/dx_i = 1``: the gradient is copied back to every element."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = _axes(axis, len(x.shape))
        ctx.save_for_backward(tuple(x.shape), axes, keepdims)
        return array_namespace(x).sum(x, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        shape, axes, keepdims = ctx.saved_tensors
        xp = array_namespace(grad)
        return xp.broadcast_to(_expand(grad, shape, axes, keepdims), shape)


class Mean(Function):
    """``y = (1/M) sum_i x_i`` over ``axis`` (``M`` elements);  ``dy/dx_i = 1/M``."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = _axes(axis, len(x.shape))
        ctx.save_for_backward(tuple(x.shape), axes, keepdims)
        return array_namespace(x).mean(x, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        shape, axes, keepdims = ctx.saved_tensors
        xp = array_namespace(grad)
        count = 1
        for a in axes:
            count *= shape[a]
        return xp.broadcast_to(_expand(grad, shape, axes, keepdims) / count, shape)


class Max(Function):
    """``y = max_i x_i`` over ``axis``.

    Convention: when several elements tie for the maximum, the gradient is split equally among
    them (PyTorch's ``amax``). Max-pooling instead sends it to the first maximum.
    """

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        xp = array_namespace(x)
        axes = _axes(axis, len(x.shape))
        y = xp.max(x, axis=axes, keepdims=True)
        ctx.save_for_backward(x, y, axes, keepdims)
        return y if keepdims else xp.reshape(y, tuple(s for i, s in enumerate(x.shape) if i not in axes))

    @staticmethod
    def backward(ctx, grad):
        x, y, axes, keepdims = ctx.saved_tensors
        xp = array_namespace(grad)
        mask = xp.astype(x == y, x.dtype)
        mask = mask / xp.sum(mask, axis=axes, keepdims=True)
        return mask * _expand(grad, x.shape, axes, keepdims)


def sum(x, axis=None, keepdims=False):
    """Sum over ``axis`` (an int, a tuple, or ``None`` for all)."""
    return Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis`` (an int, a tuple, or ``None`` for all)."""
    return Mean.apply(x, axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims=False):
    """Maximum over ``axis``; ties share the gradient equally."""
    return Max.apply(x, axis=axis, keepdims=keepdims)
