"""Pooling over 2-D windows of an ``(N, C, H, W)`` input: max, average and adaptive average.

Max and average pooling never loop over pixels. A window of ``kh x kw`` taps is read as
``kh*kw`` strided slices of the padded input: tap ``(i, j)`` of every window at once is::

    x_padded[:, :, i : i + sh*(Ho - 1) + 1 : sh, j : j + sw*(Wo - 1) + 1 : sw]     # (N, C, Ho, Wo)

The backward writes the gradient back through the same slices, adding into a zero buffer (so
overlapping windows accumulate), then crops the padding away.
"""

from __future__ import annotations

from ..autograd import Function
from ..backend import array_namespace
from ..methods import choose, register
from .shape import pad_array
from .sizes import check_ndim, conv2d_output_shape, pair, tap_slices


def _overhang(size, k, s, p, out):
    """Rows (or columns) of a ``ceil_mode`` output's last window past the padded input: 0 otherwise."""
    return max(0, (out - 1) * s + k - (size + 2 * p))


def _pool_params(x, kernel_size, stride, padding, op, ceil_mode=False):
    """Check a pooling call and return ``(kh, kw, sh, sw, ph, pw)``; ``stride`` defaults to the kernel."""
    check_ndim(x, 4, op, "(N, C, H, W)")
    kh, kw = pair(kernel_size, "kernel_size", op)
    sh, sw = pair(kernel_size if stride is None else stride, "stride", op)
    ph, pw = pair(padding, "padding", op)
    conv2d_output_shape(x.shape[2], x.shape[3], (kh, kw), (sh, sw), (ph, pw), op=op, ceil_mode=ceil_mode)
    # As in PyTorch: a wider padding would let a max-pool window hold only padding.
    if 2 * ph > kh or 2 * pw > kw:
        raise ValueError(
            f"{op}: expected padding at most half the kernel size (kernel {(kh, kw)}), got padding {(ph, pw)}"
        )
    return kh, kw, sh, sw, ph, pw


class MaxPool2d(Function):
    """``y[n, c, io, jo] = max_{i < kh, j < kw} x_padded[n, c, io*sh + i, jo*sw + j]``, padding = -inf.

    ``dy/dx`` is 1 for the input the window picked and 0 for the others. Ties: the first maximum
    in row-major window order (``xp.argmax`` returns the first occurrence) gets the gradient.
    """

    @staticmethod
    def forward(ctx, x, kh, kw, sh, sw, ph, pw, ceil_mode=False):
        xp = array_namespace(x)
        H, W = x.shape[2], x.shape[3]
        Ho, Wo = conv2d_output_shape(H, W, (kh, kw), (sh, sw), (ph, pw), op="max_pool2d", ceil_mode=ceil_mode)
        extra = (_overhang(H, kh, sh, ph, Ho), _overhang(W, kw, sw, pw, Wo))  # ceil_mode's last window
        x_padded = pad_array(x, ph, pw, value=-float("inf"), extra=extra)
        taps = xp.stack([x_padded[(..., *tap_slices(i, j, Ho, Wo, (sh, sw)))]
                         for i in range(kh) for j in range(kw)], axis=0)
        winner = xp.argmax(taps, axis=0)
        ctx.save_for_backward(winner, tuple(x_padded.shape), (H, W), (kh, kw, sh, sw, ph, pw))
        return xp.max(taps, axis=0)

    @staticmethod
    def backward(ctx, grad):
        winner, padded_shape, (H, W), (kh, kw, sh, sw, ph, pw) = ctx.saved_tensors
        xp = array_namespace(grad)
        Ho, Wo = grad.shape[2], grad.shape[3]
        dx_padded = xp.zeros(padded_shape, dtype=grad.dtype, device=getattr(grad, "device", None))
        for i in range(kh):
            for j in range(kw):
                tap = (..., *tap_slices(i, j, Ho, Wo, (sh, sw)))
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


def _window_counts(size, k, s, p, out, count_include_pad):
    """Pixels each of ``out`` windows along one axis averages: those inside the padded input when
    padding counts, else those inside the input itself (never the ``ceil_mode`` overhang)."""
    low, high = (0, size + 2 * p) if count_include_pad else (p, p + size)
    return [min(o * s + k, high) - max(o * s, low) for o in range(out)]


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, *, method="auto"):
    """2-D max pooling: the largest value of each ``kh x kw`` window.

    ``y[n, c, io, jo] = max_{i < kh, j < kw} x_padded[n, c, io*sh + i, jo*sw + j]`` with
    ``Ho = (H - kh + 2*ph) // sh + 1`` (and likewise ``Wo``), from ``sizes.conv_output_size``.

    Windows may overlap (``stride < kernel_size``): AlexNet pools 3x3 windows with stride 2
    (Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional Neural
    Networks", NeurIPS 2012, section 3.4).

    Gradient convention: each output's gradient goes to the single input its window picked.
    When several inputs tie for the maximum, the FIRST one in row-major window order (top row
    first, left to right) gets all of it. PyTorch's CPU kernel makes the same choice.

    Args:
        x: ``(N, C, H, W)`` tensor.
        kernel_size: ``kh`` or ``(kh, kw)``.
        stride: ``sh`` or ``(sh, sw)``; default ``None`` means ``kernel_size`` (no overlap).
        padding: ``ph`` or ``(ph, pw)``, at most half the kernel as in PyTorch; padded pixels
            are ``-inf``, so a window never picks them.
        ceil_mode: ``Ho = ceil((H - kh + 2*ph) / sh) + 1``: keep a last window that hangs over
            the edge (Caffe's rounding, used by GoogLeNet and SqueezeNet); the overhang reads
            as ``-inf``. PyTorch's rule: no window may start past the input and its top/left
            padding.
        method: keyword only. The lesson's ``"slices"`` (the strided slices above, any
            backend), the engine room's ``"numba"`` (compiled kernels: ``kernels.cpu`` for
            NumPy, ``kernels.cuda`` for CuPy), or ``"auto"`` (default): ``"numba"`` for float
            NumPy arrays, the measured fastest, ``"slices"`` elsewhere and inside
            :func:`~minitorch_cnn.reference_mode`.

    Returns:
        ``(N, C, Ho, Wo)`` tensor.
    """
    kh, kw, sh, sw, ph, pw = _pool_params(x, kernel_size, stride, padding, "max_pool2d", ceil_mode)
    function = choose("max_pool2d", method, x.array)
    return function.apply(x, kh, kw, sh, sw, ph, pw, ceil_mode)


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
