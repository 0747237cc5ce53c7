"""The fully connected layer's op, ``linear``, and the op usually placed before it, ``dropout``."""

from __future__ import annotations

from ..autograd import Function
from ..backend import array_namespace, random_uniform
from .setitem import written_into
from .sizes import check_floating


class Linear(Function):
    """``y = x W^T + b`` for ``x`` (..., in), ``W`` (out, in), ``b`` (out,).

    With ``G = dL/dy`` and every leading axis of ``x`` flattened into one batch axis of ``M`` rows
    (``X`` is (M, in), ``G`` is (M, out))::

        dL/dx = G W        (..., out) @ (out, in)
        dL/dW = G^T X      (out, M) @ (M, in): each row's outer product, summed over the batch
        dL/db = sum_m G    the bias is added to every row
    """

    @staticmethod
    def forward(ctx, x, weight, bias):
        xp = array_namespace(x, weight)
        ctx.save_for_backward(x, weight)
        y = xp.matmul(x, xp.matrix_transpose(weight))
        return y if bias is None else y + bias

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        xp = array_namespace(grad)
        out_features, in_features = weight.shape
        G = xp.reshape(grad, (-1, out_features))
        dx = xp.matmul(grad, weight) if ctx.needs_input_grad[0] else None
        dW = None
        if ctx.needs_input_grad[1]:
            dW = xp.matmul(xp.matrix_transpose(G), xp.reshape(x, (-1, in_features)))
        db = xp.sum(G, axis=0) if ctx.needs_input_grad[2] else None
        return dx, dW, db


class Dropout(Function):
    """``y = x * m`` with ``m = keep / (1 - p)``, ``keep ~ Bernoulli(1 - p)``;  ``dy/dx = m``.

    The backward multiplies by the very mask the forward drew, saved in the context.
    """

    @staticmethod
    def forward(ctx, x, p):
        xp = array_namespace(x)
        # u is uniform in [0, 1), so u >= p holds with probability exactly 1 - p.
        keep = random_uniform(x.shape, like=x) >= p
        # p = 1 keeps nothing; a scale of 0 avoids the 0 * inf = nan of 1 / (1 - p).
        scale = 1.0 / (1.0 - p) if p < 1.0 else 0.0
        mask = xp.astype(keep, x.dtype) * scale
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return grad * mask, None


def linear(x, weight, bias=None):
    """Fully connected layer ``y = x W^T + b``.

    Args:
        x: Tensor (N, in) or, more generally, (..., in); every leading axis is a batch axis.
        weight: Tensor (out, in), as in PyTorch (one row of weights per output unit).
        bias: Tensor (out,) or ``None`` (default) for no bias.
    Returns a Tensor (N, out), or (..., out).

    Raises ValueError when the shapes do not fit, e.g. ``linear: expected input with 120 features
    (weight is (84, 120)), got (8, 100)``.
    """
    if len(weight.shape) != 2:
        raise ValueError(f"linear: expected a 2-D weight (out, in), got shape {tuple(weight.shape)}")
    if len(x.shape) < 1:
        raise ValueError(
            f"linear: expected an input (..., in) with at least 1 dimension, got shape {tuple(x.shape)}"
        )
    check_floating(x, "linear")
    check_floating(weight, "linear", "weight")
    out_features, in_features = weight.shape
    if x.shape[-1] != in_features:
        raise ValueError(
            f"linear: expected input with {in_features} features (weight is {tuple(weight.shape)}), "
            f"got {tuple(x.shape)}"
        )
    if bias is not None and tuple(bias.shape) != (out_features,):
        raise ValueError(
            f"linear: expected bias of shape ({out_features},) (weight is {tuple(weight.shape)}), "
            f"got {tuple(bias.shape)}"
        )
    return Linear.apply(x, weight, bias)


def dropout(x, p=0.5, training=True, inplace=False):
    """Inverted dropout (Srivastava et al., 2014, "Dropout: A Simple Way to Prevent Neural
    Networks from Overfitting").

    In training, each element is zeroed with probability ``p`` and the survivors are scaled by
    ``1 / (1 - p)``, so every element keeps its expected value and evaluation needs no rescaling
    (the paper instead scales the weights by ``1 - p`` at test time). The mask comes from the
    framework's seeded generator: ``mt.manual_seed(s)`` makes it reproducible.

    Args:
        x: Tensor of any shape, floating point.
        p: probability of dropping an element, in [0, 1]; default 0.5. ``p = 1`` gives zeros.
        training: ``False`` (evaluation) makes dropout the identity.
        inplace: PyTorch's; writes the result into ``x`` and returns ``x`` (``setitem.written_into``).
    Returns a Tensor of the same shape; when ``training`` is False or ``p`` is 0, ``x`` itself.
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(f"dropout: expected a number p in [0, 1], got {p!r}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: expected p in [0, 1], got {p}")
    check_floating(x, "dropout")
    if not training or p == 0:
        return x
    return written_into(x, Dropout.apply(x, float(p)), inplace, "dropout")
