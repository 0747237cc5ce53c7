"""Activation functions: relu, leaky_relu, tanh, sigmoid, silu, softmax and log_softmax.

Each backward is the local derivative times the incoming gradient. Most of them reuse the
forward's output ``y`` (``tanh' = 1 - y**2``, ``sigmoid' = y (1 - y)``), so the forward saves
``y`` rather than recomputing it.
"""

from __future__ import annotations

from ..autograd import Function
from ..backend import array_namespace
from .sizes import check_floating


def _check_axis(x, axis, op):
    ndim = len(x.shape)
    if isinstance(axis, bool) or not isinstance(axis, int) or not -ndim <= axis < ndim:
        raise ValueError(
            f"{op}: expected axis in [{-ndim}, {ndim}) for an input of shape {tuple(x.shape)}, got {axis!r}"
        )


def _times_slope(grad, slope):
    """``grad * slope`` for the ReLU family. A zero slope must block the gradient entirely, but
    ``0 * inf`` is nan: an inf or nan in ``grad`` takes ``where`` instead, which passes exactly 0
    there, as PyTorch does."""
    xp = array_namespace(grad)
    if bool(xp.all(xp.isfinite(grad))):
        return grad * slope
    return xp.where(slope == 0, xp.zeros_like(grad), grad * slope)


class ReLU(Function):
    """``y = max(x, 0)``;  ``dy/dx = 1`` where ``x > 0``, else ``0`` (also at ``x = 0``)."""

    @staticmethod
    def forward(ctx, x):
        xp = array_namespace(x)
        # The slope as 0.0/1.0 in x's dtype: the backward is then one multiply, which NumPy runs
        # 10x faster than where(x > 0, grad, 0) (0.7 ms against 7 ms for 1M float32 values).
        ctx.save_for_backward(xp.astype(x > 0, x.dtype))
        # maximum, unlike where(x > 0, x, 0), lets a NaN through, so a diverging net stays visible.
        return xp.maximum(x, 0.0)

    @staticmethod
    def backward(ctx, grad):
        (slope,) = ctx.saved_tensors
        return _times_slope(grad, slope)


class LeakyReLU(Function):
    """``y = x`` where ``x > 0``, else ``a x``;  ``dy/dx = 1`` where ``x > 0``, else ``a`` (also at 0)."""

    @staticmethod
    def forward(ctx, x, negative_slope):
        xp = array_namespace(x)
        # The local slope, 1 or a, as an array in x's dtype: forward and backward are then one
        # multiply each (as in ReLU, NumPy's where is 10x slower than a multiply). Written so that
        # both values come out exact: 1 + a*0 and 0 + a*1.
        positive = xp.astype(x > 0, x.dtype)
        slope = positive + negative_slope * (1 - positive)
        ctx.save_for_backward(slope)
        return x * slope

    @staticmethod
    def backward(ctx, grad):
        (slope,) = ctx.saved_tensors
        return _times_slope(grad, slope), None


class Tanh(Function):
    """``y = tanh(x)``;  ``dy/dx = 1 - y**2``."""

    @staticmethod
    def forward(ctx, x):
        y = array_namespace(x).tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (1 - y * y)


def _sigmoid(x):
    """Raw-array logistic ``1 / (1 + exp(-x))`` that never overflows.

    ``exp(-x)`` overflows for ``x`` around -710 in float64 (-89 in float32). With ``e = exp(-|x|)``,
    which always lies in (0, 1], the two algebraically equal forms ``1 / (1 + e)`` (for x >= 0)
    and ``e / (1 + e)`` (for x < 0) stay finite everywhere.
    """
    xp = array_namespace(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(Function):
    """``y = 1 / (1 + exp(-x))``;  ``dy/dx = y (1 - y)``."""

    @staticmethod
    def forward(ctx, x):
        y = _sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y * (1 - y)


class SiLU(Function):
    """``y = x s`` with ``s = sigmoid(x)``;  ``dy/dx = s + x s (1 - s) = s (1 + x (1 - s))``."""

    @staticmethod
    def forward(ctx, x):
        s = _sigmoid(x)
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, grad):
        x, s = ctx.saved_tensors
        return grad * s * (1 + x * (1 - s))


class Softmax(Function):
    """``y_i = exp(x_i) / sum_j exp(x_j)`` along ``axis``.

    Jacobian ``dy_i/dx_j = y_i (delta_ij - y_j)``, so the vector-Jacobian product needs no matrix:
    ``dx_j = sum_i g_i y_i (delta_ij - y_j) = y_j (g_j - sum_i g_i y_i)``.
    """

    @staticmethod
    def forward(ctx, x, axis):
        xp = array_namespace(x)
        # softmax(x) = softmax(x - c) for any c; with c = max, every exp is <= 1 and cannot overflow.
        e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
        y = e / xp.sum(e, axis=axis, keepdims=True)
        ctx.save_for_backward(y, axis)
        return y

    @staticmethod
    def backward(ctx, grad):
        y, axis = ctx.saved_tensors
        xp = array_namespace(grad)
        return y * (grad - xp.sum(grad * y, axis=axis, keepdims=True))


class LogSoftmax(Function):
    """``y_i = x_i - log sum_j exp(x_j)`` along ``axis``.

    ``dy_i/dx_j = delta_ij - softmax(x)_j``, so ``dx_j = g_j - softmax(x)_j sum_i g_i``, where
    ``softmax(x) = exp(y)``.
    """

    @staticmethod
    def forward(ctx, x, axis):
        xp = array_namespace(x)
        # Shifting by the max keeps exp from overflowing, and the largest term is exp(0) = 1, so
        # the log never sees 0 (computing log(softmax(x)) directly would give log(0) = -inf).
        z = x - xp.max(x, axis=axis, keepdims=True)
        y = z - xp.log(xp.sum(xp.exp(z), axis=axis, keepdims=True))
        ctx.save_for_backward(y, axis)
        return y

    @staticmethod
    def backward(ctx, grad):
        y, axis = ctx.saved_tensors
        xp = array_namespace(grad)
        return grad - xp.exp(y) * xp.sum(grad, axis=axis, keepdims=True)


def relu(x):
    """Rectified linear unit ``relu(x) = max(x, 0)``, element-wise (Nair & Hinton, 2010).

    Convention: the derivative at exactly ``x = 0`` is taken as 0 (as in PyTorch), so a unit
    sitting at 0 passes no gradient.

    Args:
        x: Tensor of any shape, floating point. Returns a Tensor of the same shape.
    """
    check_floating(x, "relu")
    return ReLU.apply(x)


def leaky_relu(x, negative_slope=0.01):
    """Leaky ReLU ``y = x`` for ``x > 0``, ``negative_slope * x`` otherwise (Maas et al., 2013).

    Convention: the derivative at exactly ``x = 0`` is ``negative_slope`` (as in PyTorch).

    Args:
        x: Tensor of any shape, floating point.
        negative_slope: slope ``a`` for negative inputs; default 0.01.
    Returns a Tensor of the same shape.
    """
    check_floating(x, "leaky_relu")
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float)):
        raise TypeError(f"leaky_relu: expected a number for negative_slope, got {negative_slope!r}")
    return LeakyReLU.apply(x, float(negative_slope))


def tanh(x):
    """Hyperbolic tangent ``tanh(x) = (e^x - e^-x) / (e^x + e^-x)``, element-wise, in (-1, 1).

    Args:
        x: Tensor of any shape, floating point. Returns a Tensor of the same shape.
    """
    check_floating(x, "tanh")
    return Tanh.apply(x)


def sigmoid(x):
    """Logistic sigmoid ``sigmoid(x) = 1 / (1 + exp(-x))``, element-wise, in [0, 1].

    Computed without overflow for any ``|x|``: ``sigmoid(-1000)`` is exactly 0 with no warning.

    Args:
        x: Tensor of any shape, floating point. Returns a Tensor of the same shape.
    """
    check_floating(x, "sigmoid")
    return Sigmoid.apply(x)


def silu(x):
    """Sigmoid-weighted linear unit ``silu(x) = x * sigmoid(x)``, element-wise.

    Also called Swish (Ramachandran, Zoph & Le, 2017, "Searching for Activation Functions");
    introduced as SiLU by Hendrycks & Gimpel (2016, "Gaussian Error Linear Units").

    Args:
        x: Tensor of any shape, floating point. Returns a Tensor of the same shape.
    """
    check_floating(x, "silu")
    return SiLU.apply(x)


def softmax(x, axis=-1):
    """``softmax(x)_i = exp(x_i) / sum_j exp(x_j)`` along ``axis``: probabilities that sum to 1.

    Numerically stable: the max along ``axis`` is subtracted first, so ``softmax([1000, 0])`` is
    ``[1, 0]`` rather than ``nan``.

    Args:
        x: Tensor of any shape with at least one axis, floating point, e.g. logits (N, K).
        axis: the axis that sums to 1; default -1 (the classes of (N, K) logits).
    Returns a Tensor of the same shape.
    """
    check_floating(x, "softmax")
    _check_axis(x, axis, "softmax")
    return Softmax.apply(x, axis=axis)


def log_softmax(x, axis=-1):
    """``log_softmax(x)_i = x_i - log sum_j exp(x_j)`` along ``axis`` (log-probabilities).

    Numerically stable through the max shift (log-sum-exp trick); finite wherever ``x`` is, even
    where ``softmax`` itself underflows to 0.

    Args:
        x: Tensor of any shape with at least one axis, floating point, e.g. logits (N, K).
        axis: the axis normalised over; default -1.
    Returns a Tensor of the same shape.
    """
    check_floating(x, "log_softmax")
    _check_axis(x, axis, "log_softmax")
    return LogSoftmax.apply(x, axis=axis)
