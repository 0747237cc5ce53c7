"""Pooling over 2-D windows of an ``(N, C, H, W)`` input: max (and its partial inverse, max
unpooling), average and adaptive average.

Max and average pooling never loop over pixels. A window of ``kh x kw`` taps is read as
``kh*kw`` strided slices of the padded input: tap ``(i, j)`` of every window at once is::

    x_padded[:, :, i : i + sh*(Ho - 1) + 1 : sh, j : j + sw*(Wo - 1) + 1 : sw]     # (N, C, Ho, Wo)

(max pooling's dilation moves tap ``(i, j)`` to row ``i*dil_h`` and column ``j*dil_w``). The
backward writes the gradient back through the same slices, adding into a zero buffer (so
overlapping windows accumulate), then crops the padding away.
"""

from __future__ import annotations

from ..autograd import Function
from ..backend import array_namespace, dtype_name
from ..methods import choose, register
from ..tensor import Tensor
from .shape import pad_array
from .sizes import check_ndim, check_tensor, conv2d_output_shape, pair, tap_slices


def _overhang(size, span, s, p, out):
    """Rows (or columns) of a ``ceil_mode`` output's last window past the padded input: 0 otherwise.
    ``span`` is the window's extent, ``dil*(k - 1) + 1``."""
    return max(0, (out - 1) * s + span - (size + 2 * p))


def _pool_params(x, kernel_size, stride, padding, op, ceil_mode=False, dilation=1):
    """Check a pooling call and return ``(kh, kw, sh, sw, ph, pw)``; ``stride`` defaults to the kernel."""
    check_ndim(x, 4, op, "(N, C, H, W)")
    kh, kw = pair(kernel_size, "kernel_size", op)
    sh, sw = pair(kernel_size if stride is None else stride, "stride", op)
    ph, pw = pair(padding, "padding", op)
    conv2d_output_shape(x.shape[2], x.shape[3], (kh, kw), (sh, sw), (ph, pw), dilation, op=op, ceil_mode=ceil_mode)
    # As in PyTorch: a wider padding would let a max-pool window hold only padding.
    if 2 * ph > kh or 2 * pw > kw:
        raise ValueError(
            f"{op}: expected padding at most half the kernel size (kernel {(kh, kw)}), got padding {(ph, pw)}"
        )
    return kh, kw, sh, sw, ph, pw


class MaxPool2d(Function):
    """``y[n, c, io, jo] = max_{i < kh, j < kw} x_padded[n, c, io*sh + i*dil_h, jo*sw + j*dil_w]``, padding = -inf.

    ``dy/dx`` is 1 for the input the window picked and 0 for the others. Ties: the first maximum
    in row-major window order (``xp.argmax`` returns the first occurrence) gets the gradient.
    ``indices``, when a list, receives the winners' flat positions ``h*W + w`` in their ``(H, W)``
    plane (int64, ``(N, C, Ho, Wo)``): what ``return_indices=True`` returns.
    """

    @staticmethod
    def forward(ctx, x, kh, kw, sh, sw, ph, pw, ceil_mode=False, dilation=(1, 1), indices=None):
        xp = array_namespace(x)
        H, W = x.shape[2], x.shape[3]
        dil_h, dil_w = dilation
        Ho, Wo = conv2d_output_shape(H, W, (kh, kw), (sh, sw), (ph, pw), dilation, op="max_pool2d",
                                     ceil_mode=ceil_mode)
        extra = (_overhang(H, dil_h * (kh - 1) + 1, sh, ph, Ho), _overhang(W, dil_w * (kw - 1) + 1, sw, pw, Wo))
        x_padded = pad_array(x, ph, pw, value=-float("inf"), extra=extra)
        taps = xp.stack([x_padded[(..., *tap_slices(i, j, Ho, Wo, (sh, sw), dilation))]
                         for i in range(kh) for j in range(kw)], axis=0)
        winner = xp.argmax(taps, axis=0)  # the winning tap i*kw + j of every window
        if indices is not None:
            # Tap (i, j) of window (io, jo) reads input row io*sh + i*dil_h - ph, column jo*sw + j*dil_w - pw.
            device = getattr(x, "device", None)
            io = xp.reshape(xp.arange(Ho, dtype=xp.int64, device=device), (Ho, 1))
            jo = xp.reshape(xp.arange(Wo, dtype=xp.int64, device=device), (1, Wo))
            winner = xp.astype(winner, xp.int64)
            rows = io * sh + (winner // kw) * dil_h - ph
            columns = jo * sw + (winner % kw) * dil_w - pw
            indices.append(rows * W + columns)
        ctx.save_for_backward(winner, tuple(x_padded.shape), (H, W), (kh, kw, sh, sw, ph, pw), dilation)
        return xp.max(taps, axis=0)

    @staticmethod
    def backward(ctx, grad):
        winner, padded_shape, (H, W), (kh, kw, sh, sw, ph, pw), dilation = ctx.saved_tensors
        xp = array_namespace(grad)
        Ho, Wo = grad.shape[2], grad.shape[3]
        dx_padded = xp.zeros(padded_shape, dtype=grad.dtype, device=getattr(grad, "device", None))
        for i in range(kh):
            for j in range(kw):
                tap = (..., *tap_slices(i, j, Ho, Wo, (sh, sw), dilation))
                dx_padded[tap] = dx_padded[tap] + xp.where(winner == i * kw + j, grad, 0.0)
        return dx_padded[:, :, ph : ph + H, pw : pw + W]


register("max_pool2d", "slices", MaxPool2d, lesson=True)


class AvgPool2d(Function):
    """``y[n, c, io, jo] = 1/d[io, jo] * sum_{i < kh, j < kw} x_padded[n, c, io*sh + i, jo*sw + j]``.

    Padding is zeros (and so is a ``ceil_mode`` window's overhang). The divisor ``d`` is ``kh*kw``
    (padding counts), or an ``(Ho, Wo)`` array of per-window counts (:func:`_window_counts`).
    ``dy/dx = 1/d`` for every input of the window.
    """

    @staticmethod
    def forward(ctx, x, kh, kw, sh, sw, ph, pw, ceil_mode=False, divisor=None):
        xp = array_namespace(x)
        H, W = x.shape[2], x.shape[3]
        Ho, Wo = conv2d_output_shape(H, W, (kh, kw), (sh, sw), (ph, pw), op="avg_pool2d", ceil_mode=ceil_mode)
        x_padded = pad_array(x, ph, pw, extra=(_overhang(H, kh, sh, ph, Ho), _overhang(W, kw, sw, pw, Wo)))
        y = xp.zeros(tuple(x.shape[:2]) + (Ho, Wo), dtype=x.dtype, device=getattr(x, "device", None))
        for i in range(kh):
            for j in range(kw):
                y += x_padded[(..., *tap_slices(i, j, Ho, Wo, (sh, sw)))]  # in place: y is this function's own buffer
        divisor = kh * kw if divisor is None else divisor
        ctx.save_for_backward(tuple(x_padded.shape), (H, W), (kh, kw, sh, sw, ph, pw), divisor)
        return y / divisor  # not in place: an integer input's mean is a float

    @staticmethod
    def backward(ctx, grad):
        padded_shape, (H, W), (kh, kw, sh, sw, ph, pw), divisor = ctx.saved_tensors
        xp = array_namespace(grad)
        Ho, Wo = grad.shape[2], grad.shape[3]
        share = grad / divisor
        dx_padded = xp.zeros(padded_shape, dtype=grad.dtype, device=getattr(grad, "device", None))
        for i in range(kh):
            for j in range(kw):
                dx_padded[(..., *tap_slices(i, j, Ho, Wo, (sh, sw)))] += share  # overlapping windows add up
        return dx_padded[:, :, ph : ph + H, pw : pw + W]


def _bin(i, size, out_size):
    """Input range ``[start, end)`` of adaptive bin ``i``: ``floor(i*size/out)`` to ``ceil((i+1)*size/out)``."""
    return (i * size) // out_size, -((-(i + 1) * size) // out_size)


class AdaptiveAvgPool2d(Function):
    """``y[n, c, io, jo]`` = mean of ``x[n, c]`` over rows ``_bin(io, H, Ho)`` and columns ``_bin(jo, W, Wo)``.

    Each input of a bin receives ``1/(bin size)`` of that output's gradient; neighbouring bins
    overlap when ``Ho`` does not divide ``H``, and then their shares add up.
    """

    @staticmethod
    def forward(ctx, x, Ho, Wo):
        xp = array_namespace(x)
        N, C, H, W = x.shape
        y = xp.zeros((N, C, Ho, Wo), dtype=x.dtype, device=getattr(x, "device", None))
        for io in range(Ho):
            h0, h1 = _bin(io, H, Ho)
            for jo in range(Wo):
                w0, w1 = _bin(jo, W, Wo)
                y[:, :, io, jo] = xp.mean(x[:, :, h0:h1, w0:w1], axis=(2, 3))
        ctx.save_for_backward(tuple(x.shape))
        return y

    @staticmethod
    def backward(ctx, grad):
        (shape,) = ctx.saved_tensors
        xp = array_namespace(grad)
        H, W = shape[2], shape[3]
        Ho, Wo = grad.shape[2], grad.shape[3]
        dx = xp.zeros(shape, dtype=grad.dtype, device=getattr(grad, "device", None))
        for io in range(Ho):
            h0, h1 = _bin(io, H, Ho)
            for jo in range(Wo):
                w0, w1 = _bin(jo, W, Wo)
                share = grad[:, :, io : io + 1, jo : jo + 1] / ((h1 - h0) * (w1 - w0))
                dx[:, :, h0:h1, w0:w1] = dx[:, :, h0:h1, w0:w1] + share
        return dx


class AdaptiveMaxPool2d(Function):
    """``y[n, c, io, jo]`` = max of ``x[n, c]`` over rows ``_bin(io, H, Ho)`` and columns ``_bin(jo, W, Wo)``.

    The bins are :class:`AdaptiveAvgPool2d`'s. As in max pooling, ``dy/dx`` is 1 for the input
    the bin picked (the first maximum in row-major order; a NaN wins) and 0 for the others, and
    overlapping bins add up. ``indices``, when a list, receives the winners' flat positions
    ``h*W + w`` in their ``(H, W)`` plane (int64, ``(N, C, Ho, Wo)``).
    """

    @staticmethod
    def forward(ctx, x, Ho, Wo, indices=None):
        xp = array_namespace(x)
        N, C, H, W = x.shape
        device = getattr(x, "device", None)
        y = xp.zeros((N, C, Ho, Wo), dtype=x.dtype, device=device)
        winner = xp.zeros((N, C, Ho, Wo), dtype=xp.int64, device=device)
        for io in range(Ho):
            h0, h1 = _bin(io, H, Ho)
            for jo in range(Wo):
                w0, w1 = _bin(jo, W, Wo)
                window = xp.reshape(x[:, :, h0:h1, w0:w1], (N, C, (h1 - h0) * (w1 - w0)))
                k = xp.astype(xp.argmax(window, axis=-1), xp.int64)  # row-major position inside the bin
                y[:, :, io, jo] = xp.max(window, axis=-1)
                winner[:, :, io, jo] = (h0 + k // (w1 - w0)) * W + w0 + k % (w1 - w0)
        if indices is not None:
            indices.append(winner)
        ctx.save_for_backward(winner, tuple(x.shape))
        return y

    @staticmethod
    def backward(ctx, grad):
        winner, shape = ctx.saved_tensors
        xp = array_namespace(grad)
        H, W = shape[2], shape[3]
        Ho, Wo = grad.shape[2], grad.shape[3]
        device = getattr(grad, "device", None)
        position = xp.reshape(xp.arange(H * W, dtype=xp.int64, device=device), (H, W))
        dx = xp.zeros(shape, dtype=grad.dtype, device=device)
        for io in range(Ho):
            h0, h1 = _bin(io, H, Ho)
            for jo in range(Wo):
                w0, w1 = _bin(jo, W, Wo)
                picked = position[h0:h1, w0:w1] == winner[:, :, io : io + 1, jo : jo + 1]
                dx[:, :, h0:h1, w0:w1] = dx[:, :, h0:h1, w0:w1] + xp.where(picked, grad[:, :, io : io + 1, jo : jo + 1], 0.0)
        return dx


def _window_counts(size, k, s, p, out, count_include_pad):
    """Pixels each of ``out`` windows along one axis averages: those inside the padded input when
    padding counts, else those inside the input itself (never the ``ceil_mode`` overhang)."""
    low, high = (0, size + 2 * p) if count_include_pad else (p, p + size)
    return [min(o * s + k, high) - max(o * s, low) for o in range(out)]


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False, *,
               method="auto"):
    """2-D max pooling: the largest value of each ``kh x kw`` window.

    ``y[n, c, io, jo] = max_{i < kh, j < kw} x_padded[n, c, io*sh + i*dil_h, jo*sw + j*dil_w]`` with
    ``Ho = (H + 2*ph - dil_h*(kh - 1) - 1) // sh + 1`` (and likewise ``Wo``), from
    ``sizes.conv_output_size``; without dilation that is ``(H - kh + 2*ph) // sh + 1``.

    Windows may overlap (``stride < kernel_size``): AlexNet pools 3x3 windows with stride 2
    (Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional Neural
    Networks", NeurIPS 2012, section 3.4).

    Gradient convention: each output's gradient goes to the single input its window picked.
    When several inputs tie for the maximum, the FIRST one in row-major window order (top row
    first, left to right) gets all of it. PyTorch's CPU kernel makes the same choice.

    Args (PyTorch's positional order):
        x: ``(N, C, H, W)`` tensor.
        kernel_size: ``kh`` or ``(kh, kw)``.
        stride: ``sh`` or ``(sh, sw)``; default ``None`` means ``kernel_size`` (no overlap).
        padding: ``ph`` or ``(ph, pw)``, at most half the kernel as in PyTorch; padded pixels
            are ``-inf``, so a window never picks them.
        dilation: ``dil_h`` or ``(dil_h, dil_w)``, the spacing between a window's taps (a 3x3
            window with dilation 2 spans 5x5 pixels), as in PyTorch. Only ``"slices"`` has it.
        ceil_mode: ``Ho = ceil((H + 2*ph - dil_h*(kh - 1) - 1) / sh) + 1``: keep a last window
            that hangs over the edge (Caffe's rounding, used by GoogLeNet and SqueezeNet); the
            overhang reads as ``-inf``. PyTorch's rule: no window may start past the input and
            its top/left padding.
        return_indices: also return the winners' positions, as PyTorch: an int64
            ``(N, C, Ho, Wo)`` tensor of flat indices ``h*W + w`` in each ``(H, W)`` plane, what
            :func:`max_unpool2d` takes (Zeiler & Fergus's "switches", ECCV 2014).
        method: keyword only. The lesson's ``"slices"`` (the strided slices above, any
            backend), the engine room's ``"numba"`` (compiled kernels: ``kernels.cpu`` for
            NumPy, ``kernels.cuda`` for CuPy; no dilation), or ``"auto"`` (default):
            ``"numba"`` for float NumPy arrays without dilation, the measured fastest,
            ``"slices"`` elsewhere and inside :func:`~minitorch_cnn.reference_mode`.

    Returns:
        ``(N, C, Ho, Wo)`` tensor, or ``(y, indices)`` with ``return_indices=True``.
    """
    check_tensor(x, "max_pool2d")
    dilation = pair(dilation, "dilation", "max_pool2d")
    kh, kw, sh, sw, ph, pw = _pool_params(x, kernel_size, stride, padding, "max_pool2d", ceil_mode, dilation)
    function = choose("max_pool2d", method, x.array, dilation=dilation)
    indices = [] if return_indices else None  # the method appends the winners' flat positions
    y = function.apply(x, kh, kw, sh, sw, ph, pw, ceil_mode, dilation, indices=indices)
    return (y, Tensor(indices[0])) if return_indices else y


def adaptive_max_pool2d(x, output_size, return_indices=False):
    """Max pooling to a fixed output size ``(Ho, Wo)``, whatever ``(H, W)`` is.

    The bins are :func:`adaptive_avg_pool2d`'s (row ``io`` covers input rows ``floor(io*H/Ho)`` to
    ``ceil((io+1)*H/Ho) - 1``); ``output_size=1`` is global max pooling, SimpNet's choice over
    global average pooling (Hasanpour et al. 2018).

    Args:
        x: ``(N, C, H, W)`` tensor.
        output_size: ``Ho`` or ``(Ho, Wo)``, each >= 1 (larger than the input is allowed).
        return_indices: also return the winners' flat positions ``h*W + w`` (int64), as PyTorch.

    Returns:
        ``(N, C, Ho, Wo)`` tensor, or ``(y, indices)`` with ``return_indices=True``.
    """
    check_ndim(x, 4, "adaptive_max_pool2d", "(N, C, H, W)")
    Ho, Wo = pair(output_size, "output_size", "adaptive_max_pool2d")
    if Ho < 1 or Wo < 1:
        raise ValueError(f"adaptive_max_pool2d: expected output_size >= 1, got {output_size!r}")
    indices = [] if return_indices else None
    y = AdaptiveMaxPool2d.apply(x, Ho, Wo, indices=indices)
    return (y, Tensor(indices[0])) if return_indices else y


class MaxUnpool2d(Function):
    """``y[n, c].flat[indices[n, c, k]] = x[n, c].flat[k]``, zeros elsewhere; ``dx`` gathers ``dy`` at ``indices``.

    The Array API has a gather (``take_along_axis``) but no scatter, so the forward finds, for
    every output position, the input that goes there: sort the target positions, then
    ``searchsorted`` each output position among them. When two inputs share a target, the later
    one (in ``(Ho, Wo)`` order) is written, as in PyTorch's CPU loop; the backward still gathers
    for both, as PyTorch's does.
    """

    @staticmethod
    def forward(ctx, x, indices, out_h, out_w):
        xp = array_namespace(x)
        N, C, Hi, Wi = x.shape
        device = getattr(x, "device", None)
        ctx.save_for_backward(indices, tuple(x.shape))
        plane = xp.reshape(xp.arange(N * C, dtype=xp.int64, device=device), (N, C, 1, 1))
        target = xp.reshape(plane * (out_h * out_w) + xp.astype(indices, xp.int64), (-1,))  # over all planes
        order = xp.argsort(target, stable=True)
        sorted_target = xp.take(target, order)
        positions = xp.arange(N * C * out_h * out_w, dtype=xp.int64, device=device)
        last = xp.searchsorted(sorted_target, positions, side="right") - 1  # last input aimed at each position
        last = xp.clip(last, 0, None)
        hit = xp.take(sorted_target, last) == positions
        source = xp.take(xp.reshape(x, (-1,)), xp.take(order, last))
        y = xp.where(hit, source, xp.zeros_like(source))
        return xp.reshape(y, (N, C, out_h, out_w))

    @staticmethod
    def backward(ctx, grad):
        indices, x_shape = ctx.saved_tensors
        xp = array_namespace(grad)
        N, C = x_shape[0], x_shape[1]
        flat_grad = xp.reshape(grad, (N, C, -1))
        flat_indices = xp.reshape(xp.astype(indices, xp.int64), (N, C, -1))
        return xp.reshape(xp.take_along_axis(flat_grad, flat_indices, axis=2), x_shape), None


def _unpool_size(H, W, kh, kw, sh, sw, ph, pw, output_size):
    """The unpooled ``(Ho, Wo)``: ``(H - 1)*sh - 2*ph + kh`` (the input size max_pool2d had) unless
    ``output_size`` (``(Ho, Wo)`` or ``(N, C, Ho, Wo)``) picks one of the sizes that pool to ``H``."""
    default = ((H - 1) * sh - 2 * ph + kh, (W - 1) * sw - 2 * pw + kw)
    if output_size is None:
        return default
    size = tuple(int(s) for s in output_size)[-2:]
    if len(tuple(output_size)) not in (2, 4):
        raise ValueError(f"max_unpool2d: expected output_size (Ho, Wo) or (N, C, Ho, Wo), got {output_size!r}")
    for d, (got, base, s) in enumerate(zip(size, default, (sh, sw))):
        # As PyTorch: any size within one stride of the default pools back to the same size.
        if not base - s < got < base + s:
            raise ValueError(
                f"max_unpool2d: expected output_size dim {d} between {base - s} and {base + s} (exclusive), "
                f"got {output_size!r}"
            )
    return size


def max_unpool2d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of :func:`max_pool2d`: each value goes back to where its maximum came from.

    ``y[n, c].flat[indices[n, c, io, jo]] = x[n, c, io, jo]`` and zeros everywhere else, as
    ``torch.nn.functional.max_unpool2d``; the gradient ``dx[n, c, io, jo] =
    dy[n, c].flat[indices[n, c, io, jo]]`` gathers at the indices. ZFNet's deconvnet (Zeiler &
    Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014) uses it to send a
    feature map back through a pooling layer by the recorded "switches"::

        y, switches = F.max_pool2d(x, 3, 2, return_indices=True)
        F.max_unpool2d(y, switches, 3, 2, output_size=x.shape)  # x's maxima, zeros elsewhere

    Args:
        x: ``(N, C, H, W)`` tensor (pooled values).
        indices: int ``(N, C, H, W)`` tensor from ``max_pool2d(..., return_indices=True)``: flat
            positions ``h*Wo + w`` in the ``(Ho, Wo)`` output plane.
        kernel_size, stride, padding: those of the pooling; they give the default output size
            ``Ho = (H - 1)*sh - 2*ph + kh`` (likewise ``Wo``); ``stride`` defaults to the kernel.
        output_size: ``(Ho, Wo)`` or ``(N, C, Ho, Wo)``, within one stride of the default, to
            recover an input size the floor of pooling lost (as PyTorch).

    Returns:
        ``(N, C, Ho, Wo)`` tensor.
    """
    check_ndim(x, 4, "max_unpool2d", "(N, C, H, W)")
    kh, kw = pair(kernel_size, "kernel_size", "max_unpool2d")
    sh, sw = pair(kernel_size if stride is None else stride, "stride", "max_unpool2d")
    ph, pw = pair(padding, "padding", "max_unpool2d")
    if tuple(indices.shape) != tuple(x.shape):
        raise ValueError(
            f"max_unpool2d: expected indices of the input's shape {tuple(x.shape)}, got {tuple(indices.shape)}"
        )
    if not dtype_name(indices.dtype).startswith(("int", "uint")):
        raise TypeError(f"max_unpool2d: expected integer indices, got dtype {dtype_name(indices.dtype)}")
    Ho, Wo = _unpool_size(x.shape[2], x.shape[3], kh, kw, sh, sw, ph, pw, output_size)
    if indices.array.size:
        xp = array_namespace(indices.array)
        low, high = int(xp.min(indices.array)), int(xp.max(indices.array))
        if low < 0 or high >= Ho * Wo:
            raise ValueError(
                f"max_unpool2d: expected indices in [0, {Ho * Wo}) for an output plane of {(Ho, Wo)}, "
                f"got values in [{low}, {high}]"
            )
    return MaxUnpool2d.apply(x, indices, Ho, Wo)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """2-D average pooling: the mean of each ``kh x kw`` window.

    ``y[n, c, io, jo] = 1/(kh*kw) * sum_{i < kh, j < kw} x_padded[n, c, io*sh + i, jo*sw + j]``
    with ``Ho = (H - kh + 2*ph) // sh + 1`` (and likewise ``Wo``).

    By default padding is zeros and is counted in the average: a corner window that holds 4 real
    pixels and 5 padded ones still divides by 9 (PyTorch's ``count_include_pad=True``). With
    ``count_include_pad=False`` it divides by 4. A ``ceil_mode`` window's overhang past the
    padded input never counts, as in PyTorch.

    Args:
        x: ``(N, C, H, W)`` tensor.
        kernel_size: ``kh`` or ``(kh, kw)``.
        stride: ``sh`` or ``(sh, sw)``; default ``None`` means ``kernel_size``.
        padding: ``ph`` or ``(ph, pw)``, at most half the kernel as in PyTorch.
        ceil_mode: round the output size up, as in :func:`max_pool2d`.
        count_include_pad: count padded pixels in each window's divisor.

    Returns:
        ``(N, C, Ho, Wo)`` tensor.
    """
    kh, kw, sh, sw, ph, pw = _pool_params(x, kernel_size, stride, padding, "avg_pool2d", ceil_mode)
    if not ceil_mode and (count_include_pad or (ph, pw) == (0, 0)):
        return AvgPool2d.apply(x, kh, kw, sh, sw, ph, pw)
    H, W = x.shape[2], x.shape[3]
    Ho, Wo = conv2d_output_shape(H, W, (kh, kw), (sh, sw), (ph, pw), op="avg_pool2d", ceil_mode=ceil_mode)
    rows = _window_counts(H, kh, sh, ph, Ho, count_include_pad)
    columns = _window_counts(W, kw, sw, pw, Wo, count_include_pad)
    xp = x.xp
    divisor = xp.asarray([[float(r * c) for c in columns] for r in rows], dtype=x.dtype, device=x.array.device)
    return AvgPool2d.apply(x, kh, kw, sh, sw, ph, pw, ceil_mode, divisor=divisor)


def adaptive_avg_pool2d(x, output_size):
    """Average pooling to a fixed output size ``(Ho, Wo)``, whatever ``(H, W)`` is.

    Output row ``io`` averages input rows ``floor(io*H/Ho)`` to ``ceil((io+1)*H/Ho) - 1``
    (likewise for columns), the bins PyTorch uses; bins overlap when ``Ho`` does not divide
    ``H``. ``output_size=1`` is global average pooling (Lin, Chen & Yan, "Network In Network",
    ICLR 2014), and its one bin is exactly ``xp.mean`` over ``H`` and ``W``.

    The loop runs over the ``Ho*Wo`` output bins, each a mean over all ``N*C`` maps at once.

    Args:
        x: ``(N, C, H, W)`` tensor.
        output_size: ``Ho`` or ``(Ho, Wo)``, each >= 1 (larger than the input is allowed).

    Returns:
        ``(N, C, Ho, Wo)`` tensor.
    """
    check_ndim(x, 4, "adaptive_avg_pool2d", "(N, C, H, W)")
    Ho, Wo = pair(output_size, "output_size", "adaptive_avg_pool2d")
    if Ho < 1 or Wo < 1:
        raise ValueError(f"adaptive_avg_pool2d: expected output_size >= 1, got {output_size!r}")
    return AdaptiveAvgPool2d.apply(x, Ho, Wo)
