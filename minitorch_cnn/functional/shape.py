"""Ops that move values without changing them: reshape, permute, slicing, cat, stack, pad, flatten,
squeeze/unsqueeze, expand.

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


class Expand(Function):
    """``y = x`` broadcast to ``shape`` (no copy);  the gradient sums over the stretched axes."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.save_for_backward(tuple(x.shape))
        return array_namespace(x).broadcast_to(x, tuple(shape))

    @staticmethod
    def backward(ctx, grad):
        from .arithmetic import unbroadcast

        (shape,) = ctx.saved_tensors
        return unbroadcast(grad, shape), None


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


def _pad_slices(shape, widths):
    """Where ``x`` lands in ``pad(x)``: ``(out_shape, x_slices, out_slices)`` for ``widths``, one
    ``(before, after)`` pair per axis (negative widths crop). Output axis ``k`` holds input
    ``k - before``, so ``x[x_slices]`` is copied to ``out[out_slices]``."""
    out_shape, x_slices, out_slices = [], [], []
    for n, (before, after) in zip(shape, widths):
        start, stop = max(0, -before), n - max(0, -after)
        out_shape.append(n + before + after)
        x_slices.append(slice(start, stop))
        out_slices.append(slice(max(0, before), max(0, before) + stop - start))
    return tuple(out_shape), tuple(x_slices), tuple(out_slices)


class Pad(Function):
    """``y = x`` with ``widths[d] = (before, after)`` entries of ``value`` added on each side of
    axis ``d`` (negative widths crop);  the gradient is the kept part of ``grad``, zeros where
    ``x`` was cropped."""

    @staticmethod
    def forward(ctx, x, widths, value=0.0):
        xp = array_namespace(x)
        out_shape, x_slices, out_slices = _pad_slices(x.shape, widths)
        ctx.save_for_backward(tuple(x.shape), x_slices, out_slices)
        y = xp.full(out_shape, value, dtype=x.dtype, device=getattr(x, "device", None))
        y[out_slices] = x[x_slices]
        return y

    @staticmethod
    def backward(ctx, grad):
        x_shape, x_slices, out_slices = ctx.saved_tensors
        xp = array_namespace(grad)
        dx = xp.zeros(x_shape, dtype=grad.dtype, device=getattr(grad, "device", None))
        dx[x_slices] = grad[out_slices]
        return dx


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


def raw_index(index, ndim):
    """``index`` ready for a backend array: Tensors in it (masks, indices) replaced by their arrays,
    and ``...`` appended to ints and slices that name fewer than ``ndim`` axes, so ``w[0]`` and
    ``w[:]`` mean ``w[0, ...]`` and ``w[:, ...]`` as in NumPy and PyTorch (strict Array-API
    arrays refuse the short form)."""
    from ..tensor import Tensor

    items = index if isinstance(index, tuple) else (index,)
    items = tuple(i.array if isinstance(i, Tensor) else i for i in items)
    basic = all(i is None or i is Ellipsis or isinstance(i, slice) or (hasattr(i, "__index__") and getattr(i, "ndim", 0) == 0)
                for i in items)
    if basic and not any(i is Ellipsis for i in items) and sum(i is not None for i in items) < ndim:
        return items + (Ellipsis,)
    return items if isinstance(index, tuple) else items[0]


def getitem(x, index):
    """Indexing ``x[index]`` with ints, slices, ``...``, ``None`` and (through ``raw_index``) index arrays."""
    return GetItem.apply(x, raw_index(index, x.ndim))


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


def pad(x, pad, mode="constant", value=0.0):
    """Pad (or, with negative widths, crop) the last axes of ``x``, as ``torch.nn.functional.pad``.

    ``pad`` holds ``(before, after)`` pairs starting from the LAST axis: ``(left, right)`` pads
    ``W``; ``(left, right, top, bottom)`` pads ``W`` and ``H``; six numbers add the channels. Axis
    ``d`` grows from ``n`` to ``n + before + after``; a negative width removes that many entries
    from its side. ``F.pad(x, (0, 1, 0, 1))`` is the extra bottom row and right column that
    ``conv2d(padding="same")`` adds for an even kernel.

    Args:
        x: Tensor of any shape. pad: a tuple of ``2k`` ints, ``k <= x.ndim``.
        mode: ``"constant"`` (fill with ``value``), or, as PyTorch's, ``"reflect"`` (mirror
            without repeating the edge: ``[1, 2, 3]`` padded by 2 on the left is ``[3, 2, 1, 2, 3]``),
            ``"replicate"`` (repeat the edge) or ``"circular"`` (wrap around). Those three are
            built from slices and ``cat`` (:func:`_pad_by_copies`), so the gradient of a copied
            entry flows back to its source.
        value: the fill value of ``"constant"`` (PyTorch's default 0).

    Returns:
        Tensor whose last ``k`` axes are resized. Its gradient is ``grad`` at ``x``'s positions,
        zero where ``x`` was cropped away.
    """
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise ValueError(f"pad: expected mode 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    if not isinstance(pad, (tuple, list)) or any(isinstance(p, bool) or not isinstance(p, int) for p in pad):
        raise TypeError(f"pad: expected pad to be a tuple of ints (left, right, top, bottom, ...), got {pad!r}")
    ndim = len(x.shape)
    if len(pad) % 2 or len(pad) > 2 * ndim:
        raise ValueError(
            f"pad: expected an even number of pad widths, at most 2 per axis ({2 * ndim} for shape "
            f"{tuple(x.shape)}), got {len(pad)}: {tuple(pad)}"
        )
    pairs = [(pad[2 * k], pad[2 * k + 1]) for k in range(len(pad) // 2)]  # last axis first, as in PyTorch
    widths = [(0, 0)] * (ndim - len(pairs)) + pairs[::-1]
    for d, (n, (before, after)) in enumerate(zip(x.shape, widths)):
        if max(0, -before) + max(0, -after) > n:
            raise ValueError(
                f"pad: expected negative padding to crop at most the {n} entries of axis {d} "
                f"(shape {tuple(x.shape)}), got ({before}, {after})"
            )
    if mode != "constant":
        return _pad_by_copies(x, widths, mode)
    return Pad.apply(x, tuple(widths), value=value)


def _pad_by_copies(x, widths, mode):
    """``reflect``/``replicate``/``circular`` padding: for each axis, copies of edge slices joined
    by :func:`cat`. Negative widths crop, as in PyTorch: after reflect/replicate padding (measured
    from the original edges), before circular padding (which wraps the cropped tensor)."""
    ndim = len(x.shape)
    crop = [(min(b, 0), min(a, 0)) for b, a in widths]
    cropping = any(b or a for b, a in crop)
    if mode == "circular" and cropping:
        x, cropping = Pad.apply(x, tuple(crop), value=0.0), False
    for d, (before, after) in enumerate(widths):
        before, after, n = max(before, 0), max(after, 0), x.shape[d]
        if not before and not after:
            continue
        limit = n - 1 if mode == "reflect" else n if mode == "circular" else None
        if limit is not None and max(before, after) > limit:
            raise ValueError(f"pad: {mode} padding of axis {d} (size {n}) must be at most {limit}, got ({before}, {after})")

        def part(start, stop, step=1):
            index = [slice(None)] * ndim
            index[d] = slice(start, stop, step)
            return getitem(x, tuple(index))

        if mode == "reflect":  # entries before..1 and n-2..n-1-after, mirrored
            # a stop of -1 would wrap around to the end, so slicing down to index 0 takes stop None
            left, right = part(before, 0, -1), part(n - 2, n - 2 - after if after < n - 1 else None, -1)
        elif mode == "replicate":
            left, right = [part(0, 1)] * before, [part(n - 1, n)] * after
        else:
            left, right = part(n - before, n), part(0, after)
        if mode != "replicate":
            left, right = [left] if before else [], [right] if after else []
        x = cat([*left, x, *right], dim=d)
    return Pad.apply(x, tuple(crop), value=0.0) if cropping else x


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


def squeeze(x, dim=None):
    """Drop size-1 dims, as ``torch.squeeze``: all of them, or only ``dim`` (an int or a tuple).
    A named dim whose size is not 1 is left alone, as in PyTorch."""
    ndim = len(x.shape)
    if dim is None:
        dims = range(ndim)
    else:
        dims = [_dim("squeeze", d, max(ndim, 1)) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))]
    drop = {d for d in dims if d < ndim and x.shape[d] == 1}
    return reshape(x, tuple(n for d, n in enumerate(x.shape) if d not in drop))


def unsqueeze(x, dim):
    """Insert a size-1 dim at ``dim`` (in ``[-ndim-1, ndim]``), as ``torch.unsqueeze``:
    ``b.unsqueeze(1)`` turns a bias ``(C,)`` into ``(C, 1)``."""
    shape = tuple(x.shape)
    dim = _dim("unsqueeze", dim, len(shape) + 1)
    return reshape(x, shape[:dim] + (1,) + shape[dim:])


def expand(x, *sizes):
    """Broadcast ``x`` to ``sizes`` without copying, as ``Tensor.expand``; ``-1`` keeps a dim's
    size, and new dims may be added in front. The gradient sums over the stretched dims."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    shape = tuple(x.shape)
    if len(sizes) < len(shape):
        raise ValueError(f"expand: expected at least {len(shape)} sizes for shape {shape}, got {tuple(sizes)}")
    lead = len(sizes) - len(shape)
    target = tuple(n if s == -1 and d >= lead else s for d, (s, n) in enumerate(zip(sizes, (None,) * lead + shape)))
    for d, n in enumerate(shape):
        if n != 1 and target[lead + d] != n:
            raise ValueError(f"expand: cannot expand dim {d} of size {n} (shape {shape}) to {target[lead + d]}")
    return Expand.apply(x, target)
