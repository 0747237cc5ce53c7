"""Ops that move values without changing them: reshape, permute, slicing, cat, stack, pad, flatten.

Each backward is the inverse movement: reshape back, permute back, scatter into zeros, split,
crop.
"""

from __future__ import annotations

from ..autograd import Function
from ..backend import array_namespace


class Reshape(Function):
    """``y = x`` viewed with a new shape;  the gradient is reshaped back."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.save_for_backward(tuple(x.shape))
        try:
            return array_namespace(x).reshape(x, tuple(shape))
        except ValueError as exc:
            raise ValueError(f"reshape: cannot reshape {tuple(x.shape)} into {tuple(shape)}") from exc

    @staticmethod
    def backward(ctx, grad):
        (shape,) = ctx.saved_tensors
        return array_namespace(grad).reshape(grad, shape), None


class Permute(Function):
    """``y = x`` with axes reordered by ``axes``;  the gradient is permuted by the inverse order."""

    @staticmethod
    def forward(ctx, x, axes):
        axes = tuple(a % len(x.shape) for a in axes)
        if sorted(axes) != list(range(len(x.shape))):
            raise ValueError(f"permute: {axes} is not an ordering of the {len(x.shape)} axes of {tuple(x.shape)}")
        ctx.save_for_backward(axes)
        return array_namespace(x).permute_dims(x, axes)

    @staticmethod
    def backward(ctx, grad):
        (axes,) = ctx.saved_tensors
        inverse = [0] * len(axes)
        for i, a in enumerate(axes):
            inverse[a] = i
        return array_namespace(grad).permute_dims(grad, tuple(inverse)), None


class GetItem(Function):
    """``y = x[index]`` for basic indexing (ints and slices);  the gradient is scattered into zeros."""

    @staticmethod
    def forward(ctx, x, index):
        ctx.save_for_backward(x.shape, x.dtype, index)
        return x[index]

    @staticmethod
    def backward(ctx, grad):
        shape, dtype, index = ctx.saved_tensors
        xp = array_namespace(grad)
        dx = xp.zeros(shape, dtype=dtype, device=getattr(grad, "device", None))
        dx[index] = grad
        return dx, None


class Concat(Function):
    """``y = [x1, x2, ...]`` joined along ``axis``;  the gradient is split back into the pieces."""

    @staticmethod
    def forward(ctx, *xs, axis=1):
        ctx.save_for_backward(tuple(x.shape[axis] for x in xs), axis)
        return array_namespace(*xs).concat(list(xs), axis=axis)

    @staticmethod
    def backward(ctx, grad):
        sizes, axis = ctx.saved_tensors
        grads, start = [], 0
        for size in sizes:
            index = [slice(None)] * len(grad.shape)
            index[axis] = slice(start, start + size)
            grads.append(grad[tuple(index)])
            start += size
        return tuple(grads)


class Pad(Function):
    """Zero-pad the last two axes (H, W) by ``(ph, pw)`` on each side;  the gradient is cropped."""

    @staticmethod
    def forward(ctx, x, ph, pw, value=0.0):
        ctx.save_for_backward(ph, pw)
        return pad_array(x, ph, pw, value)

    @staticmethod
    def backward(ctx, grad):
        ph, pw = ctx.saved_tensors
        H, W = grad.shape[-2], grad.shape[-1]
        return grad[..., ph : H - ph, pw : W - pw]


def pad_array(x, ph, pw, value=0.0, extra=(0, 0)):
    """Raw-array helper: pad the last two axes of ``x`` with ``value`` (used inside conv and pool),
    ``ph`` rows and ``pw`` columns on each side plus ``extra = (eh, ew)`` more at the bottom and right
    (the overhang of a pooling ``ceil_mode`` window)."""
    eh, ew = extra
    if ph == 0 and pw == 0 and eh == 0 and ew == 0:
        return x
    xp = array_namespace(x)
    shape = tuple(x.shape[:-2]) + (x.shape[-2] + 2 * ph + eh, x.shape[-1] + 2 * pw + ew)
    out = xp.full(shape, value, dtype=x.dtype, device=getattr(x, "device", None))
    out[..., ph : ph + x.shape[-2], pw : pw + x.shape[-1]] = x
    return out


def reshape(x, shape):
    """``x`` with a new shape holding the same number of elements (one entry may be -1)."""
    return Reshape.apply(x, tuple(shape))


def permute(x, axes):
    """``x`` with its axes reordered."""
    return Permute.apply(x, tuple(axes))


def getitem(x, index):
    """Basic indexing ``x[index]`` with ints, slices and ``...``."""
    return GetItem.apply(x, index)


def _dim(op, dim, ndim):
    """``dim`` as a non-negative int in ``[0, ndim)``, or an IndexError naming ``op``."""
    if not -ndim <= dim < ndim:
        raise IndexError(f"{op}: dim {dim} is out of range for {ndim}-D tensors: expected a dim in [{-ndim}, {ndim - 1}]")
    return dim % ndim


def cat(tensors, dim=0, *, axis=None):
    """Join tensors along an existing ``dim``, as ``torch.cat``: shapes must agree elsewhere.

    ``concat`` and ``axis=`` are our older names for the same op (DenseNet and Inception join
    channels with ``dim=1``).
    """
    if axis is not None:
        dim = axis
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    ndim = len(tensors[0].shape)
    if ndim == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be joined; use stack")
    dim = _dim("cat", dim, ndim)
    first = tuple(s for i, s in enumerate(tensors[0].shape) if i != dim)
    for t in tensors[1:]:
        other = tuple(s for i, s in enumerate(t.shape) if i != dim)
        if len(t.shape) != ndim or other != first:
            raise ValueError(f"cat: shapes {tuple(tensors[0].shape)} and {tuple(t.shape)} differ outside dim {dim}")
    return Concat.apply(*tensors, axis=dim)


concat = cat


def stack(tensors, dim=0):
    """Join same-shaped tensors along a new ``dim``, as ``torch.stack``: ``k`` tensors of shape
    ``S`` give ``S[:dim] + (k,) + S[dim:]``. Each gets a size-1 dim there, then :func:`cat`
    joins them, so the gradient is cat's: split, then reshaped back."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    shape = tuple(tensors[0].shape)
    for i, t in enumerate(tensors):
        if tuple(t.shape) != shape:
            raise ValueError(f"stack: expected tensors of equal shape, got {shape} at entry 0 and {tuple(t.shape)} at entry {i}")
    dim = _dim("stack", dim, len(shape) + 1)
    return cat([reshape(t, shape[:dim] + (1,) + shape[dim:]) for t in tensors], dim=dim)


def pad(x, padding, value=0.0):
    """Pad the last two axes (H, W) by ``padding`` (an int or ``(ph, pw)``) on each side."""
    from .sizes import pair

    ph, pw = pair(padding, "padding", "pad")
    if ph < 0 or pw < 0:
        raise ValueError(f"pad: padding must be >= 0, got {padding!r}")
    return Pad.apply(x, ph, pw, value=value)


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dims ``start_dim..end_dim`` into one, as ``torch.flatten``: ``flatten(x, 1)`` takes
    ``(N, C, H, W)`` to ``(N, C*H*W)``. A 0-d tensor becomes shape ``(1,)``, as in PyTorch."""
    if len(x.shape) == 0:
        return reshape(x, (1,))
    ndim = len(x.shape)
    start, end = _dim("flatten", start_dim, ndim), _dim("flatten", end_dim, ndim)
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {tuple(x.shape)}")
    merged = 1
    for s in x.shape[start : end + 1]:
        merged *= s
    return reshape(x, tuple(x.shape[:start]) + (merged,) + tuple(x.shape[end + 1 :]))
