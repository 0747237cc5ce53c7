"""Loss functions, as PyTorch's: cross_entropy over class indices or class probabilities, nll_loss
over log-probabilities, binary_cross_entropy (with logits) for yes/no targets; one_hot."""

from __future__ import annotations

from ..autograd import Function
from ..backend import array_namespace, dtype_name
from ..tensor import Tensor
from .shape import permute, reshape
from .sizes import check_floating

#: PyTorch's default ``ignore_index``: a value no class index takes.
IGNORE_INDEX = -100


class CrossEntropy(Function):
    """Cross-entropy of logits ``x`` (M, C) against a target distribution ``q`` (M, C)::

        log_p = log_softmax(x)                   along the classes
        q     = (1 - e) y + e / C                y: one-hot of t_m (indices) or the given probabilities
        l_m   = -sum_c w_c q_mc log_p_mc         w: class weights (1 without ``weight``)
        L     = l (none) | sum_m l_m (sum) | sum_m l_m / D (mean)

    with ``D = sum_m w_{t_m}`` over the kept rows for class indices and ``D = M`` for
    probabilities. A row whose index is ``ignore_index`` has ``q = 0``: no loss, no gradient.

    Fusing log-softmax with the log-likelihood gives a short gradient with no division by a
    probability that may be tiny: with ``a = w q`` and ``g_m`` the incoming gradient of ``l_m``,
    ``dL/dx_mj = g_m (softmax(x)_mj sum_c a_mc - a_mj)``, i.e. ``(softmax(x) - onehot(t)) / M`` for
    the plain mean. Probabilities get ``dL/dy_mc = -g_m (1 - e) w_c log_p_mc``.
    """

    @staticmethod
    def forward(ctx, x, target, weight, *, indices, ignore_index, reduction, label_smoothing):
        xp = array_namespace(x)
        M, C = x.shape
        z = x - xp.max(x, axis=1, keepdims=True)
        log_p = z - xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))
        w = xp.ones((1, C), dtype=x.dtype, device=getattr(x, "device", None)) if weight is None \
            else xp.reshape(xp.astype(weight, x.dtype), (1, C))
        if indices:
            # Row m of the one-hot is 1 at column t_m: a (1, C) row of class numbers compared with
            # the (M, 1) column of targets broadcasts to (M, C), with no fancy indexing.
            classes = xp.arange(C, dtype=target.dtype, device=getattr(target, "device", None))
            y = xp.astype(xp.reshape(classes, (1, C)) == xp.reshape(target, (M, 1)), x.dtype)
            kept = xp.reshape(xp.astype(target != ignore_index, x.dtype), (M, 1))
            q = ((1 - label_smoothing) * y + label_smoothing / C) * kept
            count = xp.sum(y * w * kept)
        else:
            q = (1 - label_smoothing) * xp.astype(target, x.dtype) + label_smoothing / C
            kept, count = None, M
        a = w * q
        loss = -xp.sum(a * log_p, axis=1)
        ctx.save_for_backward(log_p, a, w, kept, count)
        ctx.reduction, ctx.label_smoothing = reduction, label_smoothing
        if reduction == "none":
            return loss
        total = xp.sum(loss)
        return total if reduction == "sum" else total / count

    @staticmethod
    def backward(ctx, grad):
        log_p, a, w, kept, count = ctx.saved_tensors
        xp = array_namespace(log_p)
        M = log_p.shape[0]
        if ctx.reduction == "none":
            g = xp.reshape(grad, (M, 1))
        else:
            g = grad if ctx.reduction == "sum" else grad / count
        dx = g * (xp.exp(log_p) * xp.sum(a, axis=1, keepdims=True) - a)
        if kept is not None:
            # An ignored row gets exactly 0, as in PyTorch, even when every row is ignored and the
            # mean's 1/count is infinite (inf * 0 would be nan).
            dx = xp.where(kept > 0, dx, xp.zeros_like(dx))
        dy = -g * (1 - ctx.label_smoothing) * w * log_p if ctx.needs_input_grad[1] else None
        return dx, dy, None


def cross_entropy(input, target, weight=None, ignore_index=IGNORE_INDEX, reduction="mean", label_smoothing=0.0):
    """Cross-entropy between class scores and class indices or class probabilities (PyTorch's
    ``F.cross_entropy``, same arguments and results).

    For class indices ``t`` and no options, ``L = -(1/N) sum_n log( exp(x[n, t_n]) / sum_k exp(x[n, k]) )``:
    the negative log-likelihood of the softmax of the logits, averaged over the batch. In general
    (the formula of :class:`CrossEntropy`)::

        l_n = -sum_c w_c q_nc log softmax(x_n)_c,    q_n = (1 - e) y_n + e / C

    with ``y_n`` the one-hot of ``t_n`` or the given probabilities, and ``e = label_smoothing``
    (Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", CVPR 2016,
    section 7). The log-softmax is computed with the max shift, so large logits do not overflow.

    Args:
        input: logits ``(N, C)``, ``(N, C, d1, ...)`` (one class axis, e.g. per pixel) or ``(C,)``,
            floating point.
        target: integer class indices ``(N,)`` / ``(N, d1, ...)`` / ``()`` in ``[0, C)`` (or equal to
            ``ignore_index``), which get no gradient; or floating class probabilities of the input's
            shape (soft labels, distillation), which do get one.
        weight: optional Tensor ``(C,)``, a rescaling weight ``w_c`` per class.
        ignore_index: rows whose index equals it add nothing and get no gradient; the mean divides
            by the kept rows' weights only. Class indices only (PyTorch refuses it for
            probabilities). Default -100.
        reduction: ``"mean"`` (default: divided by ``sum_n w_{t_n}`` for indices, by the number of
            rows ``N * d1 * ...`` for probabilities), ``"sum"`` or ``"none"`` (one loss per row, shape
            of the input without the class axis).
        label_smoothing: ``e`` in ``[0, 1]``; default 0.
    Returns a 0-d Tensor (call ``.item()`` for the number), or the per-row losses for ``"none"``.
    As in PyTorch, a mean over rows that are all ignored is ``nan``.

    Raises:
        ValueError: a target of neither shape, an index outside ``[0, C)``, an empty batch, a
            weight that is not ``(C,)``, an unknown ``reduction``, ``label_smoothing`` outside
            ``[0, 1]``, or ``ignore_index`` with probabilities.
        TypeError: non-floating logits, or a target that is neither integer nor floating.
    """
    check_floating(input, "cross_entropy", "logits")
    shape, C, rows_shape = _class_layout(input, reduction, "cross_entropy", "logits")
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
            or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: expected label_smoothing in [0, 1], got {label_smoothing!r}")
    kind = dtype_name(target.dtype)
    indices = "int" in kind
    if not indices and not kind.startswith("float"):
        raise TypeError(f"cross_entropy: expected integer class indices or floating probabilities, got dtype {kind}")
    expected = rows_shape if indices else shape
    if tuple(target.shape) != expected:
        raise ValueError(
            f"cross_entropy: expected class indices of shape {rows_shape} (integer) or class probabilities of "
            f"shape {shape} (floating) for logits of shape {shape}, got {kind} target of shape {tuple(target.shape)}"
        )
    if 0 in shape:
        raise ValueError(f"cross_entropy: expected at least one sample, got an empty batch of shape {shape}")
    if weight is not None and tuple(weight.shape) != (C,):
        raise ValueError(f"cross_entropy: expected weight of shape ({C},), one per class, got {tuple(weight.shape)}")
    if indices:
        _check_indices(target, C, ignore_index)
    elif ignore_index >= 0:
        raise ValueError(f"cross_entropy: ignore_index applies to class indices only, got {ignore_index} "
                         f"with probability targets")
    x, t = _rows(input, target, indices)
    loss = CrossEntropy.apply(x, t, weight, indices=indices, ignore_index=ignore_index, reduction=reduction,
                              label_smoothing=float(label_smoothing))
    return reshape(loss, rows_shape) if reduction == "none" else loss


def _rows(input, target, indices):
    """Move the class axis last and merge the rest into rows M: (N, C, d1, ...) -> (M, C), M = N * d1 * ..."""
    shape = tuple(input.shape)
    C = shape[0] if len(shape) == 1 else shape[1]
    x = input if isinstance(input, Tensor) else Tensor(input)
    t = target if isinstance(target, Tensor) else Tensor(target)
    if len(shape) > 2:
        classes_last = (0,) + tuple(range(2, len(shape))) + (1,)
        x = permute(x, classes_last)
        t = t if indices else permute(t, classes_last)
    return reshape(x, (-1, C)), reshape(t, (-1,) if indices else (-1, C))


class NLLLoss(Function):
    """Negative log-likelihood of log-probabilities ``x`` (M, C) at class indices ``t`` (M,)::

        l_m = -w_{t_m} x[m, t_m]         (0 where t_m == ignore_index)
        L   = l (none) | sum_m l_m (sum) | sum_m l_m / sum_m w_{t_m} (mean, kept rows)

    The gradient is the one-hot picked out: ``dL/dx_mc = -g_m w_c [c == t_m]``.
    """

    @staticmethod
    def forward(ctx, x, target, weight, *, ignore_index, reduction):
        xp = array_namespace(x)
        M, C = x.shape
        w = xp.ones((1, C), dtype=x.dtype, device=getattr(x, "device", None)) if weight is None \
            else xp.reshape(xp.astype(weight, x.dtype), (1, C))
        # The one-hot of t, as in CrossEntropy: class numbers (1, C) == targets (M, 1).
        classes = xp.arange(C, dtype=target.dtype, device=getattr(target, "device", None))
        y = xp.astype(xp.reshape(classes, (1, C)) == xp.reshape(target, (M, 1)), x.dtype)
        kept = xp.reshape(xp.astype(target != ignore_index, x.dtype), (M, 1))
        a = w * y * kept
        # where, not a * x: a masked-out entry of x may be -inf (log 0), and 0 * -inf is nan.
        loss = -xp.sum(xp.where(a != 0, a * x, xp.zeros_like(x)), axis=1)
        count = xp.sum(a)
        ctx.save_for_backward(a, count)
        ctx.reduction = reduction
        if reduction == "none":
            return loss
        total = xp.sum(loss)
        return total if reduction == "sum" else total / count

    @staticmethod
    def backward(ctx, grad):
        a, count = ctx.saved_tensors
        xp = array_namespace(a)
        if ctx.reduction == "none":
            g = xp.reshape(grad, (a.shape[0], 1))
        else:
            g = grad if ctx.reduction == "sum" else grad / count
        return xp.where(a != 0, -g * a, xp.zeros_like(a)), None, None


def nll_loss(input, target, weight=None, ignore_index=IGNORE_INDEX, reduction="mean"):
    """Negative log-likelihood loss, PyTorch's ``F.nll_loss``: ``L = -(1/N) sum_n x[n, t_n]`` for
    log-probabilities ``x`` (the output of ``log_softmax``). ``nll_loss(log_softmax(x, 1), t)`` is
    ``cross_entropy(x, t)``; the formula with ``weight`` and ``ignore_index`` is :class:`NLLLoss`.

    Args:
        input: log-probabilities ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``, floating point.
        target: integer class indices ``(N,)`` / ``(N, d1, ...)`` / ``()`` in ``[0, C)`` or equal to
            ``ignore_index``.
        weight, ignore_index, reduction: as in :func:`cross_entropy`.
    Returns a 0-d Tensor, or the per-row losses (shape of the input without the class axis) for ``"none"``.
    """
    check_floating(input, "nll_loss", "log-probabilities")
    shape, C, rows_shape = _class_layout(input, reduction, "nll_loss", "log-probabilities")
    kind = dtype_name(target.dtype)
    if "int" not in kind or tuple(target.shape) != rows_shape:
        raise ValueError(f"nll_loss: expected integer class indices of shape {rows_shape} for input of shape "
                         f"{shape}, got {kind} target of shape {tuple(target.shape)}")
    if weight is not None and tuple(weight.shape) != (C,):
        raise ValueError(f"nll_loss: expected weight of shape ({C},), one per class, got {tuple(weight.shape)}")
    _check_indices(target, C, ignore_index, "nll_loss")
    x, t = _rows(input, target, indices=True)
    loss = NLLLoss.apply(x, t, weight, ignore_index=ignore_index, reduction=reduction)
    return reshape(loss, rows_shape) if reduction == "none" else loss


def _class_layout(input, reduction, op, what):
    """Check ``reduction`` and return ``(shape, C, rows_shape)`` for an input laid out as PyTorch's
    class losses take it: ``(N, C)``, ``(N, C, d1, ...)`` (class axis 1) or ``(C,)`` (one row)."""
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{op}: expected reduction 'none', 'mean' or 'sum', got {reduction!r}")
    shape = tuple(input.shape)
    if not shape:
        raise ValueError(f"{op}: expected {what} (N, C), (N, C, d1, ...) or (C,), got a 0-d input")
    C = shape[0] if len(shape) == 1 else shape[1]
    return shape, C, (() if len(shape) == 1 else shape[:1] + shape[2:])


def _check_indices(target, C, ignore_index, op="cross_entropy"):
    raw = target.array if isinstance(target, Tensor) else target
    xp = array_namespace(raw)
    counted = raw[raw != ignore_index]
    if counted.shape[0] == 0:
        return
    low, high = int(xp.min(counted)), int(xp.max(counted))
    if low < 0 or high >= C:
        raise ValueError(f"{op}: expected class targets in [0, {C}), got min {low} max {high}")


#: PyTorch clamps BCE's logarithms at -100, so a probability of exactly 0 or 1 gives a finite loss.
BCE_LOG_FLOOR = -100.0


def _reduce(loss, reduction, op):
    from .reduction import mean, sum

    if reduction == "none":
        return loss
    if reduction == "mean":
        return mean(loss)
    if reduction == "sum":
        return sum(loss)
    raise ValueError(f"{op}: expected reduction 'none', 'mean' or 'sum', got {reduction!r}")


def _check_same_shape(input, target, op):
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{op}: expected target of the input's shape {tuple(input.shape)}, got {tuple(target.shape)}")


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """``l = -w (y log p + (1 - y) log(1 - p))`` element-wise, for probabilities ``p`` (e.g. the
    output of ``sigmoid``) and targets ``y`` in ``[0, 1]`` of the same shape, as PyTorch's
    ``F.binary_cross_entropy``; each log is clamped at :data:`BCE_LOG_FLOOR`. Built from log and
    clamp, so ``p`` and ``y`` both get their gradients. ``weight`` broadcasts against ``p``.
    Prefer :func:`binary_cross_entropy_with_logits`, which is stable for large logits."""
    from .arithmetic import clamp, log

    check_floating(input, "binary_cross_entropy", "probabilities")
    _check_same_shape(input, target, "binary_cross_entropy")
    loss = -(target * clamp(log(input), min=BCE_LOG_FLOOR) + (1.0 - target) * clamp(log(1.0 - input), min=BCE_LOG_FLOOR))
    return _reduce(loss if weight is None else loss * weight, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """``binary_cross_entropy(sigmoid(x), y)`` computed from the logits ``x`` without forming
    ``sigmoid(x)``: ``l = w ((1 - y) x + (1 + (pw - 1) y) softplus(-x))``, since
    ``-log sigmoid(x) = softplus(-x)`` and ``-log(1 - sigmoid(x)) = x + softplus(-x)``. As PyTorch's;
    ``pos_weight`` (one per class, the last axis) weighs the positive term."""
    from .activation import softplus

    check_floating(input, "binary_cross_entropy_with_logits", "logits")
    _check_same_shape(input, target, "binary_cross_entropy_with_logits")
    positive = softplus(-input)
    if pos_weight is not None:
        positive = (1.0 + (pos_weight - 1.0) * target) * positive
    loss = (1.0 - target) * input + positive
    return _reduce(loss if weight is None else loss * weight, reduction, "binary_cross_entropy_with_logits")


def mse_loss(input, target, reduction="mean"):
    """``l = (x - y)^2`` element-wise for a prediction ``x`` and a target ``y`` of the same shape,
    then the mean (or sum) over every element, as PyTorch's ``F.mse_loss``. Built from subtract and
    multiply, so both get their gradients: ``dl/dx = 2 (x - y) / n`` for the mean of ``n``."""
    check_floating(input, "mse_loss", "predictions")
    _check_same_shape(input, target, "mse_loss")
    difference = input - target
    return _reduce(difference * difference, reduction, "mse_loss")


def one_hot(tensor, num_classes=-1):
    """``out[..., c] = 1`` where ``c == tensor[...]``, else 0 (int64, shape ``tensor.shape + (C,)``),
    as PyTorch's ``F.one_hot``; ``num_classes=-1`` takes ``C = max + 1``. No gradient."""
    raw = tensor.array if isinstance(tensor, Tensor) else tensor
    xp = array_namespace(raw)
    if "int" not in dtype_name(raw.dtype):
        raise TypeError(f"one_hot: expected integer class indices, got dtype {dtype_name(raw.dtype)}")
    C = int(xp.max(raw)) + 1 if num_classes == -1 else num_classes
    _check_indices(raw, C, IGNORE_INDEX, "one_hot")
    classes = xp.arange(C, dtype=raw.dtype, device=getattr(raw, "device", None))
    return Tensor(xp.astype(xp.reshape(raw, tuple(raw.shape) + (1,)) == classes, xp.int64))
