"""Activation functions: relu, leaky_relu, relu6, hardtanh, elu, gelu, softplus, hardswish, mish,
tanh, sigmoid, silu, softmax and log_softmax.

``inplace=True``, PyTorch's argument of relu, leaky_relu, relu6, hardtanh, elu, silu, hardswish,
hardsigmoid and mish, writes the result into ``x`` and returns ``x`` (``setitem.written_into``).

Each backward is the local derivative times the incoming gradient. Most of them reuse the
forward's output ``y`` (``tanh' = 1 - y**2``, ``sigmoid' = y (1 - y)``), so the forward saves
``y`` rather than recomputing it.
"""

from __future__ import annotations

import math

from ..autograd import Function
from ..backend import array_namespace
from .setitem import written_into
from .shape import reshape
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
        # maximum, unlike where(x > 0, x, 0), lets a NaN through, so a diverging net stays visible.
        y = xp.maximum(x, 0.0)
        # Saved: the output, which the next layer keeps for its own backward anyway (as in
        # PyTorch); y > 0 exactly where x > 0. A saved slope would be one more activation-sized array.
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        xp = array_namespace(y)
        # The slope as 0.0/1.0 in y's dtype: the backward is then one multiply, which NumPy runs
        # 10x faster than where(y > 0, grad, 0) (0.7 ms against 7 ms for 1M float32 values).
        return _times_slope(grad, xp.astype(y > 0, y.dtype))


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


class Hardtanh(Function):
    """``y = clip(x, lo, hi)``;  ``dy/dx = 1`` where ``lo < x < hi``, else ``0`` (also at lo and hi)."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        xp = array_namespace(x)
        # The slope as 0.0/1.0 in x's dtype, as in ReLU: the backward is one multiply.
        ctx.save_for_backward(xp.astype((x > lo) & (x < hi), x.dtype))
        return xp.clip(x, lo, hi)

    @staticmethod
    def backward(ctx, grad):
        (slope,) = ctx.saved_tensors
        return _times_slope(grad, slope), None, None


class ELU(Function):
    """``y = x`` where ``x > 0``, else ``a (e^x - 1)``;  ``dy/dx = 1`` where ``x > 0``, else
    ``a e^x = y + a`` (also at 0)."""

    @staticmethod
    def forward(ctx, x, alpha):
        xp = array_namespace(x)
        # exp of min(x, 0): the branch that where() discards must not overflow for large x either.
        negative = alpha * xp.expm1(xp.minimum(x, 0.0))
        positive = x > 0
        ctx.save_for_backward(positive, negative + alpha)
        return xp.where(positive, x, negative)

    @staticmethod
    def backward(ctx, grad):
        positive, slope_below = ctx.saved_tensors
        xp = array_namespace(grad)
        return xp.where(positive, grad, grad * slope_below), None


#: beyond |z| = 6, erf(z) is +-1 to within 2e-17, below float64's resolution near 1.
_ERF_SATURATION = 6.0


def _erf(z):
    """Raw-array error function ``erf(z) = 2/sqrt(pi) int_0^z exp(-t^2) dt``.

    The Array API has no erf, so it is summed here from the series whose terms are all positive
    (Abramowitz & Stegun 7.1.6)::

        erf(z) = 2/sqrt(pi) exp(-z^2) sum_n 2^n z^(2n+1) / (1 * 3 * ... * (2n+1))

    Positive terms lose no digits to cancellation; term ``n`` is term ``n-1`` times
    ``2 z^2 / (2n+1)``, and the sum stops once every new term is below the dtype's resolution.
    """
    xp = array_namespace(z)
    z = xp.clip(z, -_ERF_SATURATION, _ERF_SATURATION)
    eps = xp.finfo(z.dtype).eps
    z2 = z * z
    term = z
    total = z
    n = 0
    while bool(xp.any(xp.abs(term) > eps * xp.abs(total))):
        n += 1
        term = term * (2 * z2 / (2 * n + 1))
        total = total + term
    # Rounding in the long sums can land a float32 result an ulp above 1; erf never leaves [-1, 1].
    return xp.clip(2 / math.sqrt(math.pi) * xp.exp(-z2) * total, -1.0, 1.0)


#: The constants of GELU's tanh form (Hendrycks & Gimpel 2016, section 2).
_GELU_TANH_SCALE = math.sqrt(2 / math.pi)
_GELU_TANH_CUBIC = 0.044715


class GELU(Function):
    """``y = x Phi(x)`` with ``Phi(x) = (1 + erf(x / sqrt 2)) / 2`` the standard normal CDF;
    ``dy/dx = Phi(x) + x phi(x)`` with the density ``phi(x) = exp(-x^2 / 2) / sqrt(2 pi)``.

    ``approximate="tanh"``: ``y = x (1 + t) / 2`` with ``t = tanh(u)``, ``u = sqrt(2/pi) (x + 0.044715 x^3)``;
    ``dy/dx = (1 + t) / 2 + x (1 - t^2) / 2 * sqrt(2/pi) (1 + 3 * 0.044715 x^2)``.
    """

    @staticmethod
    def forward(ctx, x, approximate):
        xp = array_namespace(x)
        if approximate == "tanh":
            t = xp.tanh(_GELU_TANH_SCALE * (x + _GELU_TANH_CUBIC * x * x * x))
            du = _GELU_TANH_SCALE * (1 + 3 * _GELU_TANH_CUBIC * x * x)
            ctx.save_for_backward((1 + t) / 2 + x * (1 - t * t) / 2 * du)
            return x * (1 + t) / 2
        cdf = (1 + _erf(x / math.sqrt(2))) / 2
        density = xp.exp(-x * x / 2) / math.sqrt(2 * math.pi)
        ctx.save_for_backward(cdf + x * density)
        return x * cdf

    @staticmethod
    def backward(ctx, grad):
        (slope,) = ctx.saved_tensors
        return grad * slope, None


class Softplus(Function):
    """``y = log(1 + e^(b x)) / b``, and ``y = x`` where ``b x > threshold``;
    ``dy/dx = sigmoid(b x)``, and ``1`` where ``b x > threshold``."""

    @staticmethod
    def forward(ctx, x, beta, threshold):
        xp = array_namespace(x)
        z = beta * x
        linear = z > threshold
        # Above the threshold log(1 + e^z) equals z to the dtype's precision; min() keeps the
        # discarded branch of where() from overflowing.
        smooth = xp.log1p(xp.exp(xp.minimum(z, threshold))) / beta
        ctx.save_for_backward(xp.where(linear, xp.ones_like(z), _sigmoid(z)))
        return xp.where(linear, x, smooth)

    @staticmethod
    def backward(ctx, grad):
        (slope,) = ctx.saved_tensors
        return grad * slope, None, None


class Hardswish(Function):
    """``y = x relu6(x + 3) / 6``: ``0`` for ``x <= -3``, ``x`` for ``x >= 3``, ``x (x + 3) / 6`` between;
    ``dy/dx = 0`` for ``x <= -3``, ``1`` for ``x >= 3``, ``(2x + 3) / 6`` between (so at the two
    kinks the outer pieces' slopes, 0 and 1, as in PyTorch)."""

    @staticmethod
    def forward(ctx, x):
        xp = array_namespace(x)
        slope = xp.where(x <= -3, xp.zeros_like(x), xp.where(x >= 3, xp.ones_like(x), (2 * x + 3) / 6))
        ctx.save_for_backward(slope)
        return x * xp.clip(x + 3, 0.0, 6.0) / 6

    @staticmethod
    def backward(ctx, grad):
        (slope,) = ctx.saved_tensors
        return _times_slope(grad, slope)


class Hardsigmoid(Function):
    """``y = relu6(x + 3) / 6``: ``0`` for ``x <= -3``, ``1`` for ``x >= 3``, ``x / 6 + 1/2`` between;
    ``dy/dx = 1/6`` strictly between the kinks and 0 outside and at them (as in PyTorch)."""

    @staticmethod
    def forward(ctx, x):
        xp = array_namespace(x)
        ctx.save_for_backward(xp.where((x > -3) & (x < 3), xp.full_like(x, 1 / 6), xp.zeros_like(x)))
        return xp.clip(x + 3, 0.0, 6.0) / 6

    @staticmethod
    def backward(ctx, grad):
        (slope,) = ctx.saved_tensors
        return _times_slope(grad, slope)


class Mish(Function):
    """``y = x t`` with ``t = tanh(softplus(x))``;  ``dy/dx = t + x (1 - t^2) sigmoid(x)``
    (``softplus' = sigmoid``, ``tanh' = 1 - tanh^2``)."""

    @staticmethod
    def forward(ctx, x):
        xp = array_namespace(x)
        # softplus(x) = max(x, 0) + log(1 + e^-|x|): the exp never overflows.
        t = xp.tanh(xp.maximum(x, 0.0) + xp.log1p(xp.exp(-xp.abs(x))))
        ctx.save_for_backward(t + x * (1 - t * t) * _sigmoid(x))
        return x * t

    @staticmethod
    def backward(ctx, grad):
        (slope,) = ctx.saved_tensors
        return grad * slope


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


def relu(x, inplace=False):
    """Rectified linear unit ``relu(x) = max(x, 0)``, element-wise (Nair & Hinton, 2010).

    Convention: the derivative at exactly ``x = 0`` is taken as 0 (as in PyTorch), so a unit
    sitting at 0 passes no gradient.

    Args:
        x: Tensor of any shape, floating point. Returns a Tensor of the same shape.
    """
    check_floating(x, "relu")
    return written_into(x, ReLU.apply(x), inplace, "relu")


def leaky_relu(x, negative_slope=0.01, inplace=False):
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
    return written_into(x, LeakyReLU.apply(x, float(negative_slope)), inplace, "leaky_relu")


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


def silu(x, inplace=False):
    """Sigmoid-weighted linear unit ``silu(x) = x * sigmoid(x)``, element-wise.

    Also called Swish (Ramachandran, Zoph & Le, 2017, "Searching for Activation Functions");
    introduced as SiLU by Hendrycks & Gimpel (2016, "Gaussian Error Linear Units").

    Args:
        x: Tensor of any shape, floating point. Returns a Tensor of the same shape.
    """
    check_floating(x, "silu")
    return written_into(x, SiLU.apply(x), inplace, "silu")


def _check_number(value, name, op):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{op}: expected a number for {name}, got {value!r}")
    return float(value)


def hardtanh(x, min_val=-1.0, max_val=1.0, inplace=False):
    """Hard tanh ``y = clip(x, min_val, max_val)``, element-wise: tanh's cheap piecewise-linear
    stand-in (Collobert, "Large Scale Machine Learning", PhD thesis, 2004).

    Convention: the derivative is 1 strictly inside ``(min_val, max_val)`` and 0 elsewhere,
    including at both ends (as in PyTorch).

    Args:
        x: Tensor of any shape, floating point.
        min_val, max_val: the clipping range; default ``[-1, 1]``.
    Returns a Tensor of the same shape.
    """
    check_floating(x, "hardtanh")
    lo, hi = _check_number(min_val, "min_val", "hardtanh"), _check_number(max_val, "max_val", "hardtanh")
    if lo > hi:
        raise ValueError(f"hardtanh: expected min_val <= max_val, got min_val={lo}, max_val={hi}")
    return written_into(x, Hardtanh.apply(x, lo, hi), inplace, "hardtanh")


#: ReLU6's cap (Krizhevsky 2010; MobileNet, Howard et al. 2017): activations stay in [0, 6].
RELU6_CAP = 6.0


def relu6(x, inplace=False):
    """``relu6(x) = min(max(x, 0), 6)``, element-wise: the capped ReLU of Krizhevsky's
    "Convolutional Deep Belief Networks on CIFAR-10" (2010), kept by MobileNet for low-precision
    arithmetic. It is ``hardtanh(x, 0, 6)``, as in PyTorch: the derivative is 0 at 0 and at 6.

    Args:
        x: Tensor of any shape, floating point. Returns a Tensor of the same shape.
    """
    check_floating(x, "relu6")
    return written_into(x, Hardtanh.apply(x, 0.0, RELU6_CAP), inplace, "relu6")


def elu(x, alpha=1.0, inplace=False):
    """Exponential linear unit ``y = x`` for ``x > 0``, ``alpha (e^x - 1)`` otherwise (Clevert,
    Unterthiner & Hochreiter, "Fast and Accurate Deep Network Learning by Exponential Linear Units
    (ELUs)", ICLR 2016).

    Convention: the derivative at exactly ``x = 0`` is ``alpha`` (the left branch, as in PyTorch).

    Args:
        x: Tensor of any shape, floating point.
        alpha: the value ``-alpha`` that negative inputs saturate to; default 1.
    Returns a Tensor of the same shape.
    """
    check_floating(x, "elu")
    return written_into(x, ELU.apply(x, _check_number(alpha, "alpha", "elu")), inplace, "elu")


def gelu(x, approximate="none"):
    """Gaussian error linear unit ``gelu(x) = x Phi(x)``, with ``Phi`` the standard normal CDF
    (Hendrycks & Gimpel, "Gaussian Error Linear Units (GELUs)", 2016).

    ``approximate="none"`` (default) is the exact form ``x (1 + erf(x / sqrt 2)) / 2``;
    ``approximate="tanh"`` the paper's ``x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2``,
    both as in PyTorch.

    Args:
        x: Tensor of any shape, floating point. Returns a Tensor of the same shape.
    """
    check_floating(x, "gelu")
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: expected approximate 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(x, approximate)


def softplus(x, beta=1.0, threshold=20.0):
    """Softplus ``y = log(1 + exp(beta x)) / beta``, a smooth ReLU (Dugas et al., "Incorporating
    Second-Order Functional Knowledge for Better Option Pricing", NIPS 2000).

    Where ``beta x > threshold`` the layer returns ``x`` itself (slope 1), as PyTorch does: there
    the two differ by less than ``exp(-threshold)``.

    Args:
        x: Tensor of any shape, floating point.
        beta: sharpness; larger values approach ``relu``. Default 1.
        threshold: the ``beta x`` above which the output is linear. Default 20.
    Returns a Tensor of the same shape.
    """
    check_floating(x, "softplus")
    beta = _check_number(beta, "beta", "softplus")
    if beta == 0:
        raise ValueError("softplus: expected a non-zero beta, got 0")
    return Softplus.apply(x, beta, _check_number(threshold, "threshold", "softplus"))


def hardswish(x, inplace=False):
    """Hard swish ``y = x relu6(x + 3) / 6``, element-wise: swish (silu) with the sigmoid replaced by
    a piecewise-linear ramp (Howard et al., "Searching for MobileNetV3", ICCV 2019).

    Convention: at the kinks the derivative is the outer pieces' slope, 0 at ``x = -3`` and 1 at
    ``x = 3`` (as in PyTorch).

    Args:
        x: Tensor of any shape, floating point. Returns a Tensor of the same shape.
    """
    check_floating(x, "hardswish")
    return written_into(x, Hardswish.apply(x), inplace, "hardswish")


def hardsigmoid(x, inplace=False):
    """Hard sigmoid ``y = relu6(x + 3) / 6``, element-wise: the piecewise-linear sigmoid of
    MobileNetV3's squeeze-and-excitation gates (Howard et al., ICCV 2019).

    Convention: the derivative at the kinks ``x = -3`` and ``x = 3`` is 0 (as in PyTorch).

    Args:
        x: Tensor of any shape, floating point. Returns a Tensor of the same shape.
    """
    check_floating(x, "hardsigmoid")
    return written_into(x, Hardsigmoid.apply(x), inplace, "hardsigmoid")


#: SELU's constants, chosen so activations keep mean 0 and variance 1 (Klambauer et al.,
#: "Self-Normalizing Neural Networks", NeurIPS 2017, eq. 14), as PyTorch's.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def selu(x):
    """Scaled ELU ``y = scale * elu(x, alpha)`` with :data:`SELU_ALPHA` and :data:`SELU_SCALE`
    (Klambauer et al., 2017). Built from :func:`elu`, so its gradient is elu's times ``scale``."""
    check_floating(x, "selu")
    return ELU.apply(x, SELU_ALPHA) * SELU_SCALE


def celu(x, alpha=1.0):
    """Continuously differentiable ELU ``y = max(0, x) + min(0, alpha (e^(x/alpha) - 1))``
    (Barron, "Continuously Differentiable Exponential Linear Units", 2017), i.e.
    ``alpha * elu(x / alpha)``; built from :func:`elu`, whose convention it shares at 0."""
    check_floating(x, "celu")
    alpha = _check_number(alpha, "alpha", "celu")
    return ELU.apply(x * (1.0 / alpha), 1.0) * alpha


def softsign(x):
    """``y = x / (1 + |x|)``, element-wise; built from abs, add and div, which carry its gradient
    ``1 / (1 + |x|)^2``."""
    check_floating(x, "softsign")
    return x / (abs(x) + 1.0)


def logsigmoid(x):
    """``y = log sigmoid(x) = -softplus(-x)``, element-wise, finite for large ``|x|`` (softplus
    never exponentiates a large positive number). Gradient ``sigmoid(-x)``."""
    check_floating(x, "logsigmoid")
    return -softplus(-x)


def mish(x, inplace=False):
    """Mish ``y = x tanh(softplus(x))``, element-wise (Misra, "Mish: A Self Regularized
    Non-Monotonic Activation Function", BMVC 2020).

    Args:
        x: Tensor of any shape, floating point. Returns a Tensor of the same shape.
    """
    check_floating(x, "mish")
    return written_into(x, Mish.apply(x), inplace, "mish")


def _dim_or_axis(dim, axis, op):
    """PyTorch names the axis ``dim``; ``axis`` (NumPy's name) is kept for older code."""
    if axis is None:
        return dim
    if dim is not None and dim != axis:
        raise TypeError(f"{op}: expected dim or axis, got both (dim={dim!r}, axis={axis!r})")
    return axis


def softmax(x, dim=None, *, axis=None):
    """``softmax(x)_i = exp(x_i) / sum_j exp(x_j)`` along ``dim``: probabilities that sum to 1.

    Numerically stable: the max along ``dim`` is subtracted first, so ``softmax([1000, 0])`` is
    ``[1, 0]`` rather than ``nan``.

    Args:
        x: Tensor of any shape with at least one axis, floating point, e.g. logits (N, K).
        dim: the axis that sums to 1 (PyTorch's name; ``axis=`` is the same); default -1 (the
            classes of (N, K) logits), where PyTorch's implicit choice is deprecated.
    Returns a Tensor of the same shape.
    """
    check_floating(x, "softmax")
    axis = _dim_or_axis(dim, axis, "softmax")
    axis = -1 if axis is None else axis
    if len(x.shape) == 0 and axis in (0, -1):  # a 0-d tensor is one class, as in PyTorch
        return reshape(Softmax.apply(reshape(x, (1,)), axis=0), ())
    _check_axis(x, axis, "softmax")
    return Softmax.apply(x, axis=axis)


def log_softmax(x, dim=None, *, axis=None):
    """``log_softmax(x)_i = x_i - log sum_j exp(x_j)`` along ``dim`` (log-probabilities).

    Numerically stable through the max shift (log-sum-exp trick); finite wherever ``x`` is, even
    where ``softmax`` itself underflows to 0.

    Args:
        x: Tensor of any shape with at least one axis, floating point, e.g. logits (N, K).
        dim: the axis normalised over (``axis=`` is the same); default -1.
    Returns a Tensor of the same shape.
    """
    check_floating(x, "log_softmax")
    axis = _dim_or_axis(dim, axis, "log_softmax")
    axis = -1 if axis is None else axis
    if len(x.shape) == 0 and axis in (0, -1):  # a 0-d tensor is one class, as in PyTorch
        return reshape(LogSoftmax.apply(reshape(x, (1,)), axis=0), ())
    _check_axis(x, axis, "log_softmax")
    return LogSoftmax.apply(x, axis=axis)
