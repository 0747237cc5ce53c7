"""Element-wise arithmetic and matrix products, with broadcasting.

With broadcasting, an input of shape ``(1, C)`` added to one of ``(N, C)`` is used ``N`` times,
so its gradient is the sum of the ``N`` incoming rows: :func:`unbroadcast` does that reduction.
"""

from __future__ import annotations

import builtins

from .. import backend
from ..autograd import Function
from ..backend import array_namespace, dtype_of


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched, to get back ``shape``."""
    shape = tuple(shape)
    if tuple(grad.shape) == shape:
        return grad
    xp = array_namespace(grad)
    extra = len(grad.shape) - len(shape)
    if extra > 0:
        grad = xp.sum(grad, axis=tuple(range(extra)))
    stretched = tuple(i for i, s in enumerate(shape) if s == 1 and grad.shape[i] != 1)
    if stretched:
        grad = xp.sum(grad, axis=stretched, keepdims=True)
    return xp.reshape(grad, shape)


def _shape(a):
    return tuple(a.shape) if hasattr(a, "shape") else ()


def _is_float(a):
    """True for a Python float or a floating-point array/Tensor."""
    if isinstance(a, float):
        return True
    dtype = getattr(a, "dtype", None)
    if dtype is None:
        return False
    # NumPy and CuPy dtypes carry their kind: cheaper than an Array-API lookup on every op.
    kind = getattr(dtype, "kind", None)
    if kind is not None:
        return kind == "f"
    return array_namespace(getattr(a, "array", a)).isdtype(dtype, "real floating")


def promote(*operands, to_float=False):
    """PyTorch's type promotion for ops mixing integer (or bool) tensors with floats.

    NumPy turns ``int64 array + 0.5``, ``int64 array + float32 array`` and ``exp(int64 array)``
    into float64; PyTorch gives the default float dtype (float32) for the first and last and the
    float operand's dtype for the second. So integer tensors are cast here, before the op, to
    the dtype of the first float array operand, else to ``backend.DEFAULT_DTYPE``. With
    ``to_float`` (``exp``, ``log``, ``sqrt``, true division) integers become floats even when no
    operand is a float. Python numbers pass through unchanged.
    """
    from ..tensor import Tensor

    floats = [_is_float(a) for a in operands]
    integer = [hasattr(a, "shape") and not f for a, f in zip(operands, floats)]
    if not builtins.any(integer) or not (to_float or builtins.any(floats)):
        return operands
    target = next((a.dtype for a, f in zip(operands, floats) if f and hasattr(a, "shape")), None)
    out = []
    for a, is_integer in zip(operands, integer):
        if is_integer:
            xp = array_namespace(getattr(a, "array", a))
            dtype = target if target is not None else dtype_of(xp, backend.DEFAULT_DTYPE)
            a = Tensor(xp.astype(getattr(a, "array", a), dtype))
        out.append(a)
    return tuple(out)


class Add(Function):
    """``z = a + b``;  ``dz/da = 1``, ``dz/db = 1``."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(_shape(a), _shape(b))
        return a + b

    @staticmethod
    def backward(ctx, grad):
        sa, sb = ctx.saved_tensors
        return unbroadcast(grad, sa), unbroadcast(grad, sb)


class Sub(Function):
    """``z = a - b``;  ``dz/da = 1``, ``dz/db = -1``."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(_shape(a), _shape(b))
        return a - b

    @staticmethod
    def backward(ctx, grad):
        sa, sb = ctx.saved_tensors
        return unbroadcast(grad, sa), unbroadcast(-grad, sb)


class Mul(Function):
    """``z = a * b``;  ``dz/da = b``, ``dz/db = a``."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        da = unbroadcast(grad * b, _shape(a)) if ctx.needs_input_grad[0] else None
        db = unbroadcast(grad * a, _shape(b)) if ctx.needs_input_grad[1] else None
        return da, db


class Div(Function):
    """``z = a / b``;  ``dz/da = 1/b``, ``dz/db = -a/b**2``."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        da = unbroadcast(grad / b, _shape(a)) if ctx.needs_input_grad[0] else None
        db = unbroadcast(-grad * a / (b * b), _shape(b)) if ctx.needs_input_grad[1] else None
        return da, db


class Pow(Function):
    """``z = a ** b``, either operand a tensor or a number.

    ``dz/da = b * a**(b-1)`` and ``dz/db = a**b * log(a)``. PyTorch's conventions where these
    formulas give ``0 * inf = nan``: ``dz/da = 0`` wherever ``b == 0`` (``x ** 0`` is constant,
    even at ``x = 0``), and ``dz/db = 0`` wherever ``a == 0`` and ``b >= 0``. Where ``a == 0`` and
    ``b < 0``, ``dz/db = inf * log(0) = -inf``, as in PyTorch.
    """

    @staticmethod
    def forward(ctx, a, b):
        z = a**b
        ctx.save_for_backward(a, b, z)
        return z

    @staticmethod
    def backward(ctx, grad):
        a, b, z = ctx.saved_tensors
        xp = array_namespace(grad)
        da = db = None
        if ctx.needs_input_grad[0]:
            # b == 0 is replaced by a base of 1, so a**(b-1) stays finite and b * ... is 0.
            base = xp.where(b == 0, 1.0, a) if hasattr(b, "shape") else (a if b != 0 else xp.ones_like(a))
            da = unbroadcast(grad * b * base ** (b - 1), _shape(a))
        if ctx.needs_input_grad[1]:
            a = a if hasattr(a, "shape") else xp.full_like(z, a)
            zero = a == 0
            # log(0) = -inf is kept: it meets z = inf where b < 0 and gives PyTorch's -inf.
            log_a = xp.log(a)
            db = unbroadcast(xp.where(zero & (b >= 0), 0.0, grad * z * log_a), _shape(b))
        return da, db


class Neg(Function):
    """``z = -a``;  ``dz/da = -1``."""

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Exp(Function):
    """``z = exp(a)``;  ``dz/da = exp(a) = z``."""

    @staticmethod
    def forward(ctx, a):
        z = array_namespace(a).exp(a)
        ctx.save_for_backward(z)
        return z

    @staticmethod
    def backward(ctx, grad):
        (z,) = ctx.saved_tensors
        return grad * z


class Log(Function):
    """``z = log(a)``;  ``dz/da = 1/a``."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return array_namespace(a).log(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / a


class Sqrt(Function):
    """``z = sqrt(a)``;  ``dz/da = 1 / (2 sqrt(a)) = 1 / (2 z)`` (inf at 0, as in PyTorch)."""

    @staticmethod
    def forward(ctx, a):
        z = array_namespace(a).sqrt(a)
        ctx.save_for_backward(z)
        return z

    @staticmethod
    def backward(ctx, grad):
        (z,) = ctx.saved_tensors
        return grad / (2.0 * z)


class Abs(Function):
    """``z = |a|``;  ``dz/da = sign(a)``, 0 at ``a = 0`` (PyTorch's subgradient)."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return array_namespace(a).abs(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * array_namespace(a).sign(a)


class Clamp(Function):
    """``z = min(max(a, low), high)``, as ``torch.clamp``; ``low`` and ``high`` are numbers,
    ``None`` or arrays broadcast with ``a``.

    * ``dz/da = 1`` where ``low <= a <= high``, else 0: the bounds themselves pass the gradient
      to ``a`` (``<=``, not ``<``), as in PyTorch.
    * ``dz/dlow = 1`` where ``a < low <= high``; ``dz/dhigh = 1`` where ``a > high`` or
      ``low > high`` (then ``z = high`` whatever ``a`` is). Only array bounds get a gradient.
    """

    @staticmethod
    def forward(ctx, a, low, high):
        xp = array_namespace(a)
        above_low = None if low is None else a >= low
        below_high = None if high is None else a <= high
        ctx.save_for_backward(a, low, high, _shape(a), _shape(low), _shape(high))
        if low is not None and high is not None and not (hasattr(low, "shape") or hasattr(high, "shape")):
            return xp.clip(a, min=low, max=high)
        z = a
        if above_low is not None:
            z = xp.where(above_low, z, low)
        if below_high is not None:
            z = xp.where(z <= high, z, high)
        return z

    @staticmethod
    def backward(ctx, grad):
        a, low, high, sa, s_low, s_high = ctx.saved_tensors
        xp = array_namespace(grad)
        inside = xp.ones_like(grad, dtype=xp.bool)
        if low is not None:
            inside = inside & (a >= low)
        if high is not None:
            inside = inside & (a <= high)
        da = unbroadcast(xp.where(inside, grad, 0.0), sa)
        d_low = d_high = None
        if ctx.needs_input_grad[1]:
            to_low = (a < low) if high is None else (a < low) & (low <= high)
            d_low = unbroadcast(xp.where(to_low, grad, 0.0), s_low)
        if ctx.needs_input_grad[2]:
            to_high = (a > high) if low is None else (a > high) | (low > high)
            d_high = unbroadcast(xp.where(to_high, grad, 0.0), s_high)
        return da, d_low, d_high


class Where(Function):
    """``z = a`` where ``condition`` else ``b``, broadcast;  ``dz/da = [condition]``, ``dz/db = [not condition]``."""

    @staticmethod
    def forward(ctx, condition, a, b):
        ctx.save_for_backward(condition, _shape(a), _shape(b))
        return array_namespace(condition, a, b).where(condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        condition, sa, sb = ctx.saved_tensors
        xp = array_namespace(grad)
        da = unbroadcast(xp.where(condition, grad, 0.0), sa) if ctx.needs_input_grad[1] else None
        db = unbroadcast(xp.where(condition, 0.0, grad), sb) if ctx.needs_input_grad[2] else None
        return None, da, db


class Maximum(Function):
    """``z = max(a, b)`` element-wise (``largest=False``: ``min``), broadcast.

    ``dz/da = 1`` where ``a`` wins, 0 where ``b`` wins, and 1/2 on a tie (PyTorch's
    convention for ``maximum``/``minimum``: each operand gets half).
    """

    @staticmethod
    def forward(ctx, a, b, largest=True):
        xp = array_namespace(a, b)
        ctx.save_for_backward(a, b, largest)
        return xp.maximum(a, b) if largest else xp.minimum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b, largest = ctx.saved_tensors
        xp = array_namespace(grad)
        wins = (a > b) if largest else (a < b)
        share_a = xp.astype(wins, grad.dtype) + 0.5 * xp.astype(a == b, grad.dtype)
        da = unbroadcast(grad * share_a, _shape(a)) if ctx.needs_input_grad[0] else None
        db = unbroadcast(grad * (1.0 - share_a), _shape(b)) if ctx.needs_input_grad[1] else None
        return da, db


class To(Function):
    """``z = a`` in another dtype and/or on another device;  ``dz/da = 1``: the gradient goes back
    converted to ``a``'s dtype and device (as ``x.double()`` in PyTorch keeps the graph)."""

    @staticmethod
    def forward(ctx, a, device, dtype):
        ctx.save_for_backward(a.dtype, backend.device_name(a))
        z = a if device is None else backend.to_device(a, device)
        return z if dtype is None else array_namespace(z).astype(z, dtype_of(array_namespace(z), dtype))

    @staticmethod
    def backward(ctx, grad):
        dtype, device = ctx.saved_tensors
        grad = backend.to_device(grad, device)
        return array_namespace(grad).astype(grad, dtype), None, None


class Clone(Function):
    """``z = a``, a copy in new memory;  ``dz/da = 1`` (``torch.clone``)."""

    @staticmethod
    def forward(ctx, a):
        return array_namespace(a).asarray(a, copy=True)

    @staticmethod
    def backward(ctx, grad):
        return grad


class MatMul(Function):
    """``Z = A @ B`` for ``A`` (..., n, k) and ``B`` (..., k, m), batch axes broadcast.

    ``dZ/dA = G @ B^T`` and ``dZ/dB = A^T @ G``, each reduced back over broadcast batch axes.
    """

    @staticmethod
    def forward(ctx, a, b):
        if len(a.shape) < 2 or len(b.shape) < 2:
            raise ValueError(
                f"matmul: expected operands with at least 2 dimensions, got {tuple(a.shape)} and {tuple(b.shape)}"
            )
        if a.shape[-1] != b.shape[-2]:
            raise ValueError(
                f"matmul: inner sizes differ: {tuple(a.shape)} @ {tuple(b.shape)} ({a.shape[-1]} != {b.shape[-2]})"
            )
        ctx.save_for_backward(a, b)
        return array_namespace(a, b).matmul(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        xp = array_namespace(grad)
        da = db = None
        if ctx.needs_input_grad[0]:
            da = unbroadcast(xp.matmul(grad, xp.matrix_transpose(b)), a.shape)
        if ctx.needs_input_grad[1]:
            db = unbroadcast(xp.matmul(xp.matrix_transpose(a), grad), b.shape)
        return da, db


def _operand(x):
    """Python numbers pass through (the Array API broadcasts them); tensors stay tensors."""
    from ..tensor import Tensor

    if isinstance(x, (Tensor, int, float)) or hasattr(x, "shape"):
        return x
    raise TypeError(f"unsupported operand of type {type(x).__name__}: expected a Tensor or a number")


def _tensor(x):
    """A Tensor for an array or a number (the ops that reshape their operands need ``.shape``)."""
    from ..tensor import Tensor, tensor

    return x if isinstance(x, Tensor) else tensor(_operand(x))


def to(a, device=None, dtype=None, copy=False):
    """``a`` on ``device`` (``"cpu"``/``"cuda"``) with ``dtype``, as ``Tensor.to``: ``a`` itself if
    nothing changes (a copy with ``copy=True``). Differentiable into floating dtypes; an integer or
    bool result needs no gradient, as in PyTorch."""
    xp = array_namespace(a.array)
    target = None if dtype is None else dtype_of(xp, dtype)
    same_device = device is None or backend.device_name(a.array) == str(device).split(":")[0]
    if same_device and (target is None or target == a.dtype):
        return Clone.apply(a) if copy else a
    out = To.apply(a, device, target)
    if not xp.isdtype(out.dtype, "real floating"):
        out = out.detach()
    return out


def clone(a):
    """A copy of ``a`` in new memory that stays in the graph, as ``torch.clone``."""
    return Clone.apply(_tensor(a))


def _pair(op, a, b, to_float=False):
    """The operands of a broadcasting op, promoted; shapes that do not broadcast (a residual
    ``Y + X`` whose shortcut missed its 1x1 conv) are refused here, naming the op, instead of in a
    NumPy traceback."""
    a, b = _operand(a), _operand(b)
    sa, sb = _shape(a), _shape(b)
    for x, y in zip(reversed(sa), reversed(sb)):
        if x != y and x != 1 and y != 1:
            raise ValueError(f"{op}: shapes {sa} and {sb} do not broadcast: aligned from the last dim, sizes "
                             f"{x} and {y} differ and neither is 1")
    return promote(a, b, to_float=to_float)


def add(a, b):
    """``a + b`` with broadcasting."""
    return Add.apply(*_pair("add", a, b))


def sub(a, b):
    """``a - b`` with broadcasting."""
    return Sub.apply(*_pair("sub", a, b))


def mul(a, b):
    """``a * b`` with broadcasting."""
    return Mul.apply(*_pair("mul", a, b))


def div(a, b):
    """``a / b`` with broadcasting; true division, so integer tensors give floats (as in PyTorch)."""
    return Div.apply(*_pair("div", a, b, to_float=True))


def pow(a, b):
    """``a ** b`` with broadcasting: a tensor to a number or tensor power, or a number to a tensor
    power (``2 ** x``, through ``Tensor.__rpow__``), as ``torch.pow``."""
    a, b = _operand(a), _operand(b)
    if not hasattr(a, "shape") and not hasattr(b, "shape"):
        raise TypeError(f"pow: expected a Tensor base or exponent, got {type(a).__name__} and {type(b).__name__}")
    return Pow.apply(*_pair("pow", a, b))


def neg(a):
    return Neg.apply(a)


def exp(a):
    """``e ** a``; integer tensors give the default float dtype, as in PyTorch."""
    return Exp.apply(*promote(a, to_float=True))


def log(a):
    """Natural logarithm; integer tensors give the default float dtype, as in PyTorch."""
    return Log.apply(*promote(a, to_float=True))


def sqrt(a):
    """Square root ``a ** 0.5``; integer tensors give the default float dtype, as in PyTorch."""
    return Sqrt.apply(*promote(a, to_float=True))


def rsqrt(a):
    """Reciprocal square root ``1 / sqrt(a)``, as ``torch.rsqrt`` (batch norm's ``1 / sqrt(var + eps)``)."""
    return 1.0 / sqrt(a)


def abs(a):
    """Absolute value ``|a|``; its gradient at 0 is 0."""
    return Abs.apply(a)


def clamp(a, min=None, max=None):
    """``a`` limited to ``[min, max]``, as ``torch.clamp``: each bound a number, a Tensor (broadcast
    with ``a``, and given a gradient where it is the output) or ``None``, but not both ``None``."""
    from ..tensor import Tensor

    if min is None and max is None:
        raise ValueError("clamp: expected at least one of min and max, got neither")
    for name, bound in (("min", min), ("max", max)):
        if bound is not None and (not isinstance(bound, (int, float, Tensor)) or isinstance(bound, bool)):
            raise TypeError(f"clamp: {name} must be a number, a Tensor or None, got {type(bound).__name__}")
    a, low, high = promote(_tensor(a), min, max)
    if isinstance(a, Tensor) and any(isinstance(b, Tensor) for b in (low, high)):
        dtype = a.dtype
        low, high = (b.to(dtype=dtype) if isinstance(b, Tensor) and b.dtype != dtype else b for b in (low, high))
    return Clamp.apply(a, low, high)


#: NumPy's and PyTorch's other name for :func:`clamp`.
clip = clamp


def where(condition, a, b):
    """``a`` where ``condition`` is true, else ``b``, broadcast together, as ``torch.where``."""
    cond = getattr(condition, "array", condition)
    if not hasattr(cond, "dtype") or not array_namespace(cond).isdtype(cond.dtype, "bool"):
        raise TypeError(f"where: expected a boolean condition, got {getattr(cond, 'dtype', type(cond).__name__)}")
    return Where.apply(cond, *promote(_operand(a), _operand(b)))


def maximum(a, b):
    """Element-wise ``max(a, b)``, broadcast; a tie gives each operand half the gradient."""
    return Maximum.apply(*_pair("maximum", a, b), largest=True)


def minimum(a, b):
    """Element-wise ``min(a, b)``, broadcast; a tie gives each operand half the gradient."""
    return Maximum.apply(*_pair("minimum", a, b), largest=False)


def matmul(a, b):
    """Matrix product ``a @ b`` as ``torch.matmul``: ``(..., n, k) @ (..., k, m) -> (..., n, m)``.

    A 1-D operand is a vector: ``(k,) @ (..., k, m)`` treats it as a row ``(1, k)`` and
    ``(..., n, k) @ (k,)`` as a column ``(k, 1)``; the added dim is removed from the result, so
    ``(k,) @ (k,)`` is the dot product, a 0-d tensor.
    """
    from .shape import reshape

    a, b = _tensor(a), _tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: expected operands with at least 1 dimension, got {a.shape} and {b.shape}")
    # checked here, before the vectors gain their size-1 dim, so the message shows the shapes given
    k_a, k_b = a.shape[-1], b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: inner sizes differ: {a.shape} @ {b.shape} ({k_a} != {k_b})")
    row, column = a.ndim == 1, b.ndim == 1
    if row:
        a = reshape(a, (1,) + a.shape)
    if column:
        b = reshape(b, b.shape + (1,))
    out = MatMul.apply(a, b)
    if row or column:
        shape = out.shape[:-2] + (() if row else out.shape[-2:-1]) + (() if column else out.shape[-1:])
        out = reshape(out, shape)
    return out
