"""Element-wise arithmetic and matrix products, with broadcasting.

With broadcasting, an input of shape ``(1, C)`` added to one of ``(N, C)`` is used ``N`` times,
so its gradient is the sum of the ``N`` incoming rows: :func:`unbroadcast` does that reduction.
"""

from __future__ import annotations

from ..autograd import Function
from ..backend import array_namespace


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
    """``z = a ** c`` for a constant exponent ``c``;  ``dz/da = c * a**(c-1)``."""

    @staticmethod
    def forward(ctx, a, c):
        ctx.save_for_backward(a, c)
        return a**c

    @staticmethod
    def backward(ctx, grad):
        a, c = ctx.saved_tensors
        return grad * c * a ** (c - 1), None


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


def add(a, b):
    """``a + b`` with broadcasting."""
    return Add.apply(_operand(a), _operand(b))


def sub(a, b):
    """``a - b`` with broadcasting."""
    return Sub.apply(_operand(a), _operand(b))


def mul(a, b):
    """``a * b`` with broadcasting."""
    return Mul.apply(_operand(a), _operand(b))


def div(a, b):
    """``a / b`` with broadcasting."""
    return Div.apply(_operand(a), _operand(b))


def pow(a, c):
    """``a ** c`` for a constant Python number ``c``."""
    if not isinstance(c, (int, float)) or isinstance(c, bool):
        raise TypeError(f"pow: the exponent must be a Python number, got {type(c).__name__}")
    return Pow.apply(a, c)


def neg(a):
    return Neg.apply(a)


def exp(a):
    return Exp.apply(a)


def log(a):
    return Log.apply(a)


def matmul(a, b):
    """Matrix product ``a @ b`` of (..., n, k) and (..., k, m) tensors."""
    return MatMul.apply(_operand(a), _operand(b))
