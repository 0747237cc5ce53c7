"""Loss functions: cross_entropy over integer class targets."""

from __future__ import annotations

from ..autograd import Function
from ..backend import array_namespace, dtype_name, is_array
from .activation import check_floating
from .sizes import check_ndim


class CrossEntropy(Function):
    """``L = -(1/N) sum_n log softmax(x_n)[t_n]`` for logits ``x`` (N, K) and targets ``t`` (N,).

    Fusing log-softmax with the negative log-likelihood gives the short gradient
    ``dL/dx = (softmax(x) - onehot(t)) / N``: no division by a probability that may be tiny.
    """

    @staticmethod
    def forward(ctx, logits, targets):
        xp = array_namespace(logits, targets)
        N, K = logits.shape
        z = logits - xp.max(logits, axis=1, keepdims=True)
        log_p = z - xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))
        # Row n of onehot is 1 at column t_n: comparing a (1, K) row of class indices with the
        # (N, 1) column of targets broadcasts to (N, K), with no fancy indexing.
        classes = xp.arange(K, dtype=targets.dtype, device=getattr(targets, "device", None))
        onehot = xp.astype(xp.reshape(classes, (1, K)) == xp.reshape(targets, (N, 1)), logits.dtype)
        ctx.save_for_backward(log_p, onehot)
        return -xp.sum(onehot * log_p) / N

    @staticmethod
    def backward(ctx, grad):
        log_p, onehot = ctx.saved_tensors
        xp = array_namespace(log_p)
        N = log_p.shape[0]
        return grad * (xp.exp(log_p) - onehot) / N, None


def cross_entropy(logits, targets):
    """Mean cross-entropy between class scores and integer class labels.

    ``L = -(1/N) sum_n log( exp(x[n, t_n]) / sum_k exp(x[n, k]) )``, i.e. the negative
    log-likelihood of the softmax of the logits, averaged over the batch (PyTorch's
    ``F.cross_entropy`` with ``reduction="mean"``). The log-softmax is computed with the max
    shift, so large logits do not overflow.

    Args:
        logits: Tensor (N, K) of unnormalised class scores, floating point.
        targets: integer Tensor (N,) of class indices in ``[0, K)``; it gets no gradient.
    Returns a 0-d Tensor (call ``.item()`` for the number).

    Raises:
        ValueError: logits not 2-D, targets not 1-D, targets of another length than N, N = 0,
            or a target outside ``[0, K)``.
        TypeError: floating-point targets (pass class indices, not one-hot or probabilities),
            or non-floating logits.
    """
    check_ndim(logits, 2, "cross_entropy", "(N, K) of logits")
    check_floating(logits, "cross_entropy", "logits")
    if "int" not in dtype_name(targets.dtype):
        raise TypeError(
            f"cross_entropy: expected integer class targets, got dtype {dtype_name(targets.dtype)}"
        )
    check_ndim(targets, 1, "cross_entropy", "(N,) of class targets")
    N, K = logits.shape
    if targets.shape[0] != N:
        raise ValueError(
            f"cross_entropy: expected {N} targets for logits of shape {tuple(logits.shape)}, "
            f"got shape {tuple(targets.shape)}"
        )
    if N == 0:
        raise ValueError("cross_entropy: expected at least one sample, got an empty batch")
    raw = targets if is_array(targets) else targets.array
    xp = array_namespace(raw)
    low, high = int(xp.min(raw)), int(xp.max(raw))
    if low < 0 or high >= K:
        raise ValueError(f"cross_entropy: expected class targets in [0, {K}), got min {low} max {high}")
    return CrossEntropy.apply(logits, targets)
