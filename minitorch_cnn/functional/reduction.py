"""Reductions over some or all dims: ``sum``, ``mean``, ``amax``/``amin``, ``max``/``min`` with
indices, ``argmax``/``argmin``, ``var`` and ``std``.

Arguments follow PyTorch: ``dim`` (an int, a tuple, or ``None`` for every dim) and ``keepdim``.
Our older names ``axis=`` and ``keepdims=`` are accepted too. A ``dim`` outside the tensor raises
``IndexError`` naming the op; a 0-d tensor accepts ``dim`` 0 and -1, as in PyTorch.
"""

from __future__ import annotations

import builtins
from collections import namedtuple

from ..autograd import Function
from ..backend import array_namespace

#: What ``max(x, dim)`` and ``min(x, dim)`` return, as ``torch.return_types.max`` does.
ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _dims(op, dim, ndim):
    """``dim`` (None, an int or a sequence) as a tuple of non-negative dims, checked against ``ndim``.

    A 0-d tensor has no dim to reduce, but PyTorch accepts 0 and -1 there (and reduces nothing).
    """
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    size = builtins.max(ndim, 1)
    out = []
    for d in dims:
        if not isinstance(d, int) or isinstance(d, bool):
            raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {dim!r}")
        if not -size <= d < size:
            raise IndexError(
                f"{op}: dim {d} is out of range for a {ndim}-D tensor: expected a dim in [{-size}, {size - 1}]"
            )
        out.append(d % size)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dim {dim!r} names the same dim twice")
    return tuple(out) if ndim else ()


def _options(op, dim, keepdim, axis, keepdims):
    """Merge PyTorch's ``dim``/``keepdim`` with our ``axis``/``keepdims``; one name per argument."""
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{op}: got both dim={dim!r} and axis={axis!r}; pass one")
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    return dim, bool(keepdim)


def _expand(grad, shape, axes, keepdim):
    """Reshape a reduced gradient so it broadcasts against the input's ``shape``."""
    if keepdim:
        return grad
    kept = tuple(1 if i in axes else s for i, s in enumerate(shape))
    return array_namespace(grad).reshape(grad, kept)


def _count(shape, axes):
    count = 1
    for a in axes:
        count *= shape[a]
    return count


class Sum(Function):
    """``y = sum_i x_i`` over ``axes``;  ``dy/dx_i = 1``: the gradient is copied back to every element."""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.save_for_backward(tuple(x.shape), axes, keepdim)
        return array_namespace(x).sum(x, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        shape, axes, keepdim = ctx.saved_tensors
        return array_namespace(grad).broadcast_to(_expand(grad, shape, axes, keepdim), shape)


class Mean(Function):
    """``y = (1/M) sum_i x_i`` over ``axes`` (``M`` elements);  ``dy/dx_i = 1/M``."""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.save_for_backward(tuple(x.shape), axes, keepdim)
        return array_namespace(x).mean(x, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        shape, axes, keepdim = ctx.saved_tensors
        xp = array_namespace(grad)
        return xp.broadcast_to(_expand(grad, shape, axes, keepdim) / _count(shape, axes), shape)


class Var(Function):
    """``y = sum_i (x_i - m)^2 / (M - c)`` over ``axes``, ``m`` the mean, ``c`` the correction.

    ``dy/dx_i = 2 (x_i - m) / (M - c)`` (the terms through ``m`` sum to zero). ``c = 1`` is
    Bessel's unbiased estimate, PyTorch's default; ``c = 0`` the population variance.
    """

    @staticmethod
    def forward(ctx, x, axes, keepdim, correction):
        xp = array_namespace(x)
        xc = x - xp.mean(x, axis=axes, keepdims=True)
        # PyTorch divides by max(0, M - c): M <= c gives inf or nan, not an error.
        denominator = builtins.max(_count(x.shape, axes) - correction, 0)
        ctx.save_for_backward(xc, axes, keepdim, denominator)
        return xp.sum(xc * xc, axis=axes, keepdims=keepdim) / denominator

    @staticmethod
    def backward(ctx, grad):
        xc, axes, keepdim, denominator = ctx.saved_tensors
        return 2.0 * xc / denominator * _expand(grad, xc.shape, axes, keepdim)


class Extreme(Function):
    """``y = max_i x_i`` (or ``min``) over ``axes``: PyTorch's ``amax``/``amin``.

    Convention: when several elements tie for the extreme, the gradient is split equally among
    them, as in PyTorch's ``amax``, ``amin`` and ``max()`` without a dim. ``max(x, dim)`` instead
    sends it to the one index it returns; max-pooling sends it to the first maximum.
    """

    @staticmethod
    def forward(ctx, x, axes, keepdim, largest):
        xp = array_namespace(x)
        y = (xp.max if largest else xp.min)(x, axis=axes, keepdims=True)
        ctx.save_for_backward(x, y, axes, keepdim)
        return y if keepdim else xp.reshape(y, tuple(s for i, s in enumerate(x.shape) if i not in axes))

    @staticmethod
    def backward(ctx, grad):
        x, y, axes, keepdim = ctx.saved_tensors
        xp = array_namespace(grad)
        mask = xp.astype(x == y, x.dtype)
        mask = mask / xp.sum(mask, axis=axes, keepdims=True)
        return mask * _expand(grad, x.shape, axes, keepdim)


class Gather(Function):
    """``y[..., j, ...] = x[..., index[..., j, ...], ...]`` along ``dim`` (``torch.gather``).

    ``index`` has the input's number of dims. The gradient goes back to the gathered positions:
    ``dx = sum_j onehot(index_j) * dy_j``, built with a comparison against ``arange``, so it
    needs no scatter and runs on any Array-API library.
    """

    @staticmethod
    def forward(ctx, x, index, dim):
        ctx.save_for_backward(tuple(x.shape), index, dim)
        return array_namespace(x).take_along_axis(x, index, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        shape, index, dim = ctx.saved_tensors
        xp = array_namespace(grad)
        positions = [1] * (len(shape) + 1)
        positions[dim + 1] = shape[dim]
        arange = xp.reshape(xp.arange(shape[dim], device=getattr(grad, "device", None)), tuple(positions))
        # onehot[..., j, k, ...] = (index[..., j, ...] == k): axis dim holds j, axis dim+1 holds k
        onehot = xp.expand_dims(index, axis=dim + 1) == arange
        dx = xp.sum(xp.where(onehot, xp.expand_dims(grad, axis=dim + 1), 0.0), axis=dim)
        return xp.reshape(dx, shape), None


def _floating(op, x):
    """Mean, variance and deviation of integers have no integer result: PyTorch refuses them too."""
    from .arithmetic import _is_float

    if not _is_float(x):
        raise TypeError(f"{op}: expected a floating-point tensor, got dtype {x.dtype}; convert it with .float()")


def sum(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Sum over ``dim`` (an int, a tuple, or ``None`` for all), as ``torch.sum``."""
    dim, keepdim = _options("sum", dim, keepdim, axis, keepdims)
    return Sum.apply(x, _dims("sum", dim, x.ndim), keepdim)


def mean(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Mean over ``dim`` (an int, a tuple, or ``None`` for all), as ``torch.mean``."""
    dim, keepdim = _options("mean", dim, keepdim, axis, keepdims)
    _floating("mean", x)
    return Mean.apply(x, _dims("mean", dim, x.ndim), keepdim)


def var(x, dim=None, *, correction=1, keepdim=False, unbiased=None, axis=None, keepdims=None):
    """Variance ``sum (x - mean)^2 / (M - correction)`` over ``dim``, as ``torch.var``.

    ``correction=1`` (the default, Bessel's) is the unbiased estimate; ``unbiased=False`` is the
    older PyTorch spelling of ``correction=0``.
    """
    dim, keepdim = _options("var", dim, keepdim, axis, keepdims)
    _floating("var", x)
    if unbiased is not None:
        correction = 1 if unbiased else 0
    return Var.apply(x, _dims("var", dim, x.ndim), keepdim, correction)


def std(x, dim=None, *, correction=1, keepdim=False, unbiased=None, axis=None, keepdims=None):
    """Standard deviation ``sqrt(var(x, dim, correction))``, as ``torch.std``."""
    from .arithmetic import sqrt

    return sqrt(var(x, dim, correction=correction, keepdim=keepdim, unbiased=unbiased, axis=axis, keepdims=keepdims))


def std_mean(x, dim=None, *, correction=1, keepdim=False, unbiased=None, axis=None, keepdims=None):
    """``(std(x, dim), mean(x, dim))`` with the same options, as ``torch.std_mean``."""
    return (std(x, dim, correction=correction, keepdim=keepdim, unbiased=unbiased, axis=axis, keepdims=keepdims),
            mean(x, dim, keepdim, axis=axis, keepdims=keepdims))


def var_mean(x, dim=None, *, correction=1, keepdim=False, unbiased=None, axis=None, keepdims=None):
    """``(var(x, dim), mean(x, dim))`` with the same options, as ``torch.var_mean``."""
    return (var(x, dim, correction=correction, keepdim=keepdim, unbiased=unbiased, axis=axis, keepdims=keepdims),
            mean(x, dim, keepdim, axis=axis, keepdims=keepdims))


def amax(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Maximum over ``dim`` (an int, a tuple or ``None``); ties share the gradient equally."""
    dim, keepdim = _options("amax", dim, keepdim, axis, keepdims)
    return Extreme.apply(x, _dims("amax", dim, x.ndim), keepdim, True)


def amin(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Minimum over ``dim`` (an int, a tuple or ``None``); ties share the gradient equally."""
    dim, keepdim = _options("amin", dim, keepdim, axis, keepdims)
    return Extreme.apply(x, _dims("amin", dim, x.ndim), keepdim, False)


def _arg_extreme(op, x, dim, keepdim, largest):
    """Index of the first maximum (or minimum) along one ``dim``, or in the flattened tensor."""
    from ..tensor import Tensor

    xp = array_namespace(x.array)
    find = xp.argmax if largest else xp.argmin
    if dim is None:
        index = find(xp.reshape(x.array, (-1,)))
        return Tensor(xp.reshape(index, (1,) * x.ndim) if keepdim else index)
    if not isinstance(dim, int):
        raise TypeError(f"{op}: dim must be an int or None, got {dim!r}")
    dims = _dims(op, dim, x.ndim)
    if x.ndim == 0:  # the only element is the extreme
        return Tensor(xp.zeros((), dtype=xp.int64, device=getattr(x.array, "device", None)))
    return Tensor(find(x.array, axis=dims[0], keepdims=keepdim))


def argmax(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Index of the first maximum along ``dim`` (of the flattened tensor when ``None``), int64, no gradient."""
    dim, keepdim = _options("argmax", dim, keepdim, axis, keepdims)
    return _arg_extreme("argmax", x, dim, keepdim, True)


def argmin(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Index of the first minimum along ``dim`` (of the flattened tensor when ``None``), int64, no gradient."""
    dim, keepdim = _options("argmin", dim, keepdim, axis, keepdims)
    return _arg_extreme("argmin", x, dim, keepdim, False)


def _extreme(op, x, dim, keepdim, axis, keepdims, largest):
    from ..tensor import Tensor
    from .arithmetic import maximum, minimum

    if isinstance(dim, Tensor):  # torch.max(a, b) is the element-wise maximum
        return maximum(x, dim) if largest else minimum(x, dim)
    dim, keepdim = _options(op, dim, keepdim, axis, keepdims)
    if dim is None:
        return Extreme.apply(x, _dims(op, None, x.ndim), keepdim, largest)
    if not isinstance(dim, int):
        raise TypeError(f"{op}: dim must be one int (use amax/amin for several), got {dim!r}")
    if x.ndim == 0:
        _dims(op, dim, 0)
        return ValuesIndices(Extreme.apply(x, (), keepdim, largest), _arg_extreme(op, x, dim, keepdim, largest))
    (d,) = _dims(op, dim, x.ndim)
    index = _arg_extreme(op, x, d, True, largest).array
    values = Gather.apply(x, index, d)
    if not keepdim:
        from .shape import reshape

        kept = tuple(s for i, s in enumerate(x.shape) if i != d)
        values, index = reshape(values, kept), array_namespace(index).reshape(index, kept)
    return ValuesIndices(values, Tensor(index))


def max(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """``max(x)``: the largest value (ties share the gradient), as ``torch.max(input)``.

    ``max(x, dim)``: a ``(values, indices)`` namedtuple along one dim, as ``torch.max(input, dim)``;
    the gradient goes to the returned index (the first maximum). ``max(x, other)`` with a tensor
    ``other`` is :func:`~minitorch_cnn.functional.arithmetic.maximum`, as ``torch.max(input, other)``.
    """
    return _extreme("max", x, dim, keepdim, axis, keepdims, True)


def min(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """``min(x)``: the smallest value; ``min(x, dim)``: ``(values, indices)``; ``min(x, other)``:
    the element-wise minimum; as :func:`max`."""
    return _extreme("min", x, dim, keepdim, axis, keepdims, False)
