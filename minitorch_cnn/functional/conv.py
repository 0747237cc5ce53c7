"""2-D convolution: one formula, several ways to compute it, each with its backward.

    y[n, f, ho, wo] = b[f] + sum_{c, i, j} w[f, c, i, j] * x[n, g*C/groups + c, ho*sh + i*dh - ph, wo*sw + j*dw - pw]

(``g = f // (F/groups)`` is the group of filter ``f``; pixels outside the input read as zero.)

* ``"naive"`` - the seven loops ``n, f, ho, wo, c, i, j`` of the slide, one multiply-add at a time.
  Slow, obviously right: the reference the fast methods are tested against.
* ``"im2col"`` - copy every receptive field into a column (built from ``kh*kw`` strided slice
  copies, never a loop over pixels), then one matrix product. Its backward is the same product
  transposed, and the adjoint of the column copy (col2im) for the input gradient.
* ``"direct"`` - for each kernel tap ``(i, j)``, multiply the input shifted by that tap by the
  tap's ``(F, C/groups)`` weights and accumulate; no ``kh*kw``-times-larger column buffer.
* ``"numba"`` - compiled loop nests: ``kernels.cpu`` (Numba ``njit``) for NumPy arrays,
  ``kernels.cuda`` for CuPy arrays; any other array library is an error.
* ``"auto"`` - the fastest of these for the backend and the geometry, as measured by
  ``python -m bench`` (BENCHMARKS.md, run after-5; float32, 2 threads, time relative to
  PyTorch's CPU conv on the same run, forward plus backward / forward alone):

  ===================================  ===============  ==========================================
  geometry                             NumPy            measured
  ===================================  ===============  ==========================================
  1x1 kernel, stride 1, no padding     ``"direct"``     bottleneck 256->64: 0.83x / 0.76x, im2col
                                                        0.98x / 1.01x: its one tap is a view of
                                                        the input, no column copy at all
  depthwise (``groups == C > 1``)      ``"numba"``      3x3, 128 channels: numba 0.78x / 1.03x,
                                                        direct 2.80x / 4.31x, im2col 3.76x /
                                                        3.21x
  anything else                        ``"im2col"``     AlexNet conv1 1.49x / 2.62x (numba 5.96x
                                                        / 14.6x, direct 6.8x / 43x); ResNet
                                                        64->64 1.92x / 2.21x (direct 2.17x /
                                                        2.85x, numba 5.81x / 6.00x), 128->128
                                                        1.91x / 2.02x (direct 2.13x / 2.10x,
                                                        numba 8.7x / 6.7x)
  ===================================  ===============  ==========================================

  Numba wins where each output sums few products (LeNet C1, 1 channel and 5x5 taps: 0.73x
  against im2col's 1.43x), but not in a LeNet-5 training step, which does not need C1's input
  gradient: there ``auto`` stays with im2col (BENCHMARKS.md).

  On CuPy and array_api_strict (and for integer arrays) ``"auto"`` follows the same table with
  ``"direct"`` for depthwise: the CUDA kernels are not measured here (no GPU).

The fast methods (im2col and direct) share four tricks, each explained where it is used: images
are held channel-major, ``(C, n*H*W)``, so several images meet the filters in ONE
GEMM; im2col and direct take the batch a chunk of a few MB at a time, so that the column copy
stays in cache and its buffer is reused (:data:`_CHUNK_ELEMENTS`); at stride 1 every tap is a
flat slice of the padded chunk, a view with no copy (:func:`_direct_layout`); and at stride 1
the input gradient is itself a convolution, with the filters flipped (:func:`_full_padding`).

Each method is three functions on raw backend arrays, collected in a :class:`ConvMethod`; the
bias and its gradient are shared by all methods and live in :class:`Conv2d`. A portable method
is one entry in ``_METHODS``; :func:`_dispatch` resolves ``"numba"`` and ``"auto"`` and is the
one place that picks a method.
"""

from __future__ import annotations

import itertools
from typing import Callable, NamedTuple

from ..autograd import Function
from ..backend import array_namespace, device_name, dtype_name
from .shape import pad_array
from .sizes import check_ndim, conv2d_output_shape, pair


class ConvMethod(NamedTuple):
    """One way of computing a convolution, on raw arrays with ``(h, w)`` tuples for the sizes.

    ``forward(x, w, stride, padding, dilation, groups) -> y`` (no bias),
    ``backward_input(grad, w, x_shape, stride, padding, dilation, groups) -> dL/dx``,
    ``backward_weight(x, grad, w_shape, stride, padding, dilation, groups) -> dL/dw``.
    """

    forward: Callable
    backward_input: Callable
    backward_weight: Callable


# ---------------------------------------------------------------- shared pieces


def _taps(kernel, Ho, Wo, stride, dilation):
    """Every kernel tap ``(i, j)``, row by row, with the row and column slices of the padded input
    it reads, one pixel per output pixel: rows ``i*dh, i*dh + sh, ..., i*dh + (Ho-1)*sh``."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + (Ho - 1) * sh + 1, sh)
            columns = slice(j * dw, j * dw + (Wo - 1) * sw + 1, sw)
            yield i, j, rows, columns


def _zeros(xp, shape, like):
    return xp.zeros(shape, dtype=like.dtype, device=like.device)


def _crop(x_padded, ph, pw, H, W):
    return x_padded[:, :, ph : ph + H, pw : pw + W]


def _batch_matrix(grad, grid=None):
    """``(N, F, Ho, Wo) -> (F, N*Hg*Wg)``: the gradient channel-major, zero-extended to the
    ``(Hg, Wg)`` grid of the direct method's columns (default: no extension)."""
    xp = array_namespace(grad)
    N, F, Ho, Wo = grad.shape
    Hg, Wg = grid or (Ho, Wo)
    g = xp.permute_dims(grad, (1, 0, 2, 3))
    if (Hg, Wg) != (Ho, Wo):
        wide = _zeros(xp, (F, N, Hg, Wg), grad)
        wide[:, :, :Ho, :Wo] = g
        g = wide
    return xp.reshape(g, (F, N * Hg * Wg))


def _image_major(y, N, grid, Ho, Wo):
    """``(F, N*Hg*Wg) -> (N, F, Ho, Wo)``, dropping grid columns past ``Ho, Wo``.

    A transposed view, not a copy: the fast methods copy it into their ``(N, F, Ho, Wo)`` output
    one chunk at a time.
    """
    xp = array_namespace(y)
    y = xp.reshape(y, (y.shape[0], N, *grid))[:, :, :Ho, :Wo]
    return xp.permute_dims(y, (1, 0, 2, 3))


def _group_gemm(w, cols, groups):
    """``(F, K)`` weights times ``(groups*K, M)`` columns -> ``(F, M)``, each group of ``F/groups``
    filters seeing only its own ``K`` rows.

    The group axis becomes a batch axis of one ``matmul`` (ResNeXt's 32 groups are one call, not
    32), which works because channels are grouped contiguously: channel ``c`` is in group
    ``c // (C/groups)``, filter ``f`` in group ``f // (F/groups)``. With ``K == 1`` (a depthwise
    tap) each product is an outer product, computed as a broadcast multiply instead of
    ``groups`` one-row BLAS calls.
    """
    xp = array_namespace(w, cols)
    F, K = w.shape
    M = cols.shape[1]
    w_g = xp.reshape(w, (groups, F // groups, K))
    cols_g = xp.reshape(cols, (groups, K, M))
    y = w_g * cols_g if K == 1 else xp.matmul(w_g, cols_g)
    return xp.reshape(y, (F, M))


def _group_gemm_input_grad(w, grad, groups):
    """Gradient of :func:`_group_gemm` with respect to the columns: ``w^T @ grad`` per group."""
    xp = array_namespace(w, grad)
    F, K = w.shape
    M = grad.shape[1]
    w_t = xp.matrix_transpose(xp.reshape(w, (groups, F // groups, K)))
    g = xp.reshape(grad, (groups, F // groups, M))
    cols = w_t * g if F == groups else xp.matmul(w_t, g)  # one filter per group: an outer product
    return xp.reshape(cols, (groups * K, M))


def _group_gemm_weight_grad(grad, cols, groups):
    """Gradient of :func:`_group_gemm` with respect to the weights: ``grad @ cols^T`` per group
    (the sum over the batch is inside the product, since ``N`` is part of ``M``).

    Computed as ``(cols @ grad^T)^T``: the same numbers, but OpenBLAS runs the long reduction over
    ``M`` about 25% faster with the larger ``K`` side as the output's rows (BENCHMARKS.md), and
    the transpose of the small ``(K, F)`` result is free.
    """
    xp = array_namespace(grad, cols)
    F, M = grad.shape
    K = cols.shape[0] // groups
    g_t = xp.matrix_transpose(xp.reshape(grad, (groups, F // groups, M)))
    cols_g = xp.reshape(cols, (groups, K, M))
    return xp.reshape(xp.matrix_transpose(xp.matmul(cols_g, g_t)), (F, K))


# ---------------------------------------------------------------- im2col / col2im


def _im2col(x, kernel, stride, padding, dilation):
    """Raw-array im2col: ``(N, C, H, W) -> (N, C*kh*kw, Ho*Wo)``; see :func:`im2col`."""
    xp = array_namespace(x)
    N, C, H, W = x.shape
    kh, kw = kernel
    ph, pw = padding
    Ho, Wo = conv2d_output_shape(H, W, kernel, stride, padding, dilation)
    x_padded = pad_array(x, ph, pw)
    shifted = [x_padded[:, :, rows, columns] for _, _, rows, columns in _taps(kernel, Ho, Wo, stride, dilation)]
    # Stacking the taps after C puts the rows in (c, i, j) order: the weight's own memory layout.
    cols = xp.stack(shifted, axis=2)
    return xp.reshape(cols, (N, C * kh * kw, Ho * Wo))


def _col2im(cols, x_shape, kernel, stride, padding, dilation):
    """Raw-array col2im: ``(N, C*kh*kw, Ho*Wo) -> (N, C, H, W)``, summing overlaps; see :func:`col2im`."""
    xp = array_namespace(cols)
    N, C, H, W = x_shape
    kh, kw = kernel
    ph, pw = padding
    Ho, Wo = conv2d_output_shape(H, W, kernel, stride, padding, dilation)
    cols = xp.reshape(cols, (N, C, kh, kw, Ho, Wo))
    x_padded = _zeros(xp, (N, C, H + 2 * ph, W + 2 * pw), cols)
    for i, j, rows, columns in _taps((kh, kw), Ho, Wo, stride, dilation):
        # Windows overlap when the stride is smaller than the kernel: add, never overwrite.
        x_padded[:, :, rows, columns] = x_padded[:, :, rows, columns] + cols[:, :, i, j, :, :]
    return _crop(x_padded, ph, pw, H, W)


class Im2col(Function):
    """``cols = im2col(x)``;  its backward is :func:`col2im`, the adjoint."""

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, dilation):
        ctx.save_for_backward(tuple(x.shape), kernel, stride, padding, dilation)
        return _im2col(x, kernel, stride, padding, dilation)

    @staticmethod
    def backward(ctx, grad):
        x_shape, kernel, stride, padding, dilation = ctx.saved_tensors
        return _col2im(grad, x_shape, kernel, stride, padding, dilation)


class Col2im(Function):
    """``x = col2im(cols)``;  its backward is :func:`im2col`, the adjoint."""

    @staticmethod
    def forward(ctx, cols, x_shape, kernel, stride, padding, dilation):
        ctx.save_for_backward(kernel, stride, padding, dilation)
        return _col2im(cols, x_shape, kernel, stride, padding, dilation)

    @staticmethod
    def backward(ctx, grad):
        kernel, stride, padding, dilation = ctx.saved_tensors
        return _im2col(grad, kernel, stride, padding, dilation)


# ---------------------------------------------------------------- method "naive"


def _seven_loops(N, F, Ho, Wo, Cg, kh, kw):
    """Every ``(n, f, ho, wo, c, i, j)``: the seven nested loops of the reference convolution."""
    return itertools.product(range(N), range(F), range(Ho), range(Wo), range(Cg), range(kh), range(kw))


def _naive_forward(x, w, stride, padding, dilation, groups):
    xp = array_namespace(x, w)
    N, C, H, W = x.shape
    F, Cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    Ho, Wo = conv2d_output_shape(H, W, (kh, kw), stride, padding, dilation)
    x_padded = pad_array(x, ph, pw)
    y = _zeros(xp, (N, F, Ho, Wo), x)
    for n, f, ho, wo, c, i, j in _seven_loops(N, F, Ho, Wo, Cg, kh, kw):
        channel = (f // (F // groups)) * Cg + c
        x_value = x_padded[n, channel, ho * sh + i * dh, wo * sw + j * dw]
        y[n, f, ho, wo] = y[n, f, ho, wo] + w[f, c, i, j] * x_value
    return y


def _naive_backward_input(grad, w, x_shape, stride, padding, dilation, groups):
    # The same seven loops: each product w * x sent its share of grad back to that x.
    xp = array_namespace(grad, w)
    N, C, H, W = x_shape
    F, Cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    Ho, Wo = grad.shape[2], grad.shape[3]
    grad_x = _zeros(xp, (N, C, H + 2 * ph, W + 2 * pw), grad)
    for n, f, ho, wo, c, i, j in _seven_loops(N, F, Ho, Wo, Cg, kh, kw):
        pixel = (n, (f // (F // groups)) * Cg + c, ho * sh + i * dh, wo * sw + j * dw)
        grad_x[pixel] = grad_x[pixel] + w[f, c, i, j] * grad[n, f, ho, wo]
    return _crop(grad_x, ph, pw, H, W)


def _naive_backward_weight(x, grad, w_shape, stride, padding, dilation, groups):
    # ... and the same product sent x * grad back to that w.
    xp = array_namespace(x, grad)
    N = x.shape[0]
    F, Cg, kh, kw = w_shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    Ho, Wo = grad.shape[2], grad.shape[3]
    x_padded = pad_array(x, ph, pw)
    grad_w = _zeros(xp, w_shape, x)
    for n, f, ho, wo, c, i, j in _seven_loops(N, F, Ho, Wo, Cg, kh, kw):
        channel = (f // (F // groups)) * Cg + c
        x_value = x_padded[n, channel, ho * sh + i * dh, wo * sw + j * dw]
        grad_w[f, c, i, j] = grad_w[f, c, i, j] + x_value * grad[n, f, ho, wo]
    return grad_w


# ---------------------------------------------------------------- chunks of images (im2col and direct)

#: The fast methods take the batch a chunk of images at a time, each chunk holding at most this
#: many column entries (``C*kh*kw`` rows times one column per output pixel): 2**21, 8 MB in float32.
#: Why not the whole batch in one GEMM: ResNet's 64-channel 3x3 layer on 32 images of 56x56
#: needs a 220 MB column matrix, and filling it costs more than the GEMM that reads it (memory
#: runs at a few GB/s, and every fresh buffer over 32 MB is new pages from the kernel). A chunk of
#: a few MB stays in the L3 cache (105 MB on our machines) between the copy that fills it and the
#: GEMM that reads it, and its buffers are reused chunk after chunk. Chunks of one image (GEMM columns ~3000)
#: ran 1.4-1.8x faster than the whole batch; chunks split inside an image (~500 columns) ran
#: slower again, because OpenBLAS needs wide products (BENCHMARKS.md).
_CHUNK_ELEMENTS = 2**21

#: The stride-1 shortcuts below compute on a grid larger than the output (the padded input, or
#: the input for the flipped convolution of the backward). They are taken only while that grid
#: has at most this many times the output's pixels: "same" convolutions of ResNet and VGG
#: (58x58 for 56x56: 1.07) qualify; LeNet's valid 5x5 convolution of a 5x5 map (25 pixels for
#: one output) does not, and took 25x the multiply-adds when it did.
_MAX_GRID_WASTE = 1.25


class _DirectLayout(NamedTuple):
    """Where a chunk of ``n`` images finds each kernel tap's pixels in its padded buffer.

    The chunk is held channel-major, ``padded[c, n, :, :]``, zero-padded (:func:`_input_chunks`);
    ``buffer`` is the shape the taps index it in. Tap ``(i, j)``'s pixels are ``buffer[index]``,
    one per column of a ``(C, columns)`` matrix laid out on the output ``grid`` ``(Hg, Wg)``,
    ``columns = n * Hg * Wg``. ``flat`` layouts need one spare zero image after the chunk.
    """

    buffer: tuple
    grid: tuple
    columns: int
    flat: bool
    taps: list  # of (i, j, index)


def _direct_layout(x_shape, kernel, stride, padding, dilation, exact=False):
    """The :class:`_DirectLayout` of a chunk of images of shape ``x_shape``.

    Stride 1 (when the padded grid is not much larger than the output, ``_MAX_GRID_WASTE``): the
    padded chunk is one flat row per channel and tap ``(i, j)`` reads the flat slice starting at
    ``i*dh*Wp + j*dw`` -- a view, no copy at all. Its columns run over the padded grid
    ``(Hp, Wp)``; the ones past ``Ho, Wo`` wrap across a row or image edge and are dropped from
    the result (the spare zero image keeps the last slice in bounds). Otherwise each tap is a
    strided slice, copied, on the ``(Ho, Wo)`` grid.
    """
    N, C, H, W = x_shape
    (ph, pw), (dh, dw) = padding, dilation
    Hp, Wp = H + 2 * ph, W + 2 * pw
    Ho, Wo = conv2d_output_shape(H, W, kernel, stride, padding, dilation)
    if stride == (1, 1) and Hp * Wp <= _MAX_GRID_WASTE * Ho * Wo and not exact:
        M = N * Hp * Wp
        starts = [(i, j, i * dh * Wp + j * dw) for i in range(kernel[0]) for j in range(kernel[1])]
        taps = [(i, j, (slice(None), slice(start, start + M))) for i, j, start in starts]
        return _DirectLayout((C, (N + 1) * Hp * Wp), (Hp, Wp), M, True, taps)
    taps = [
        (i, j, (slice(None), slice(None), rows, columns))
        for i, j, rows, columns in _taps(kernel, Ho, Wo, stride, dilation)
    ]
    return _DirectLayout((C, N, Hp, Wp), (Ho, Wo), N * Ho * Wo, False, taps)


def _chunk_layouts(x_shape, kernel, stride, padding, dilation, exact=False):
    """``(n0, n1, layout)`` for each chunk of images ``x[n0:n1]``, as many images per chunk as
    keep its columns within ``_CHUNK_ELEMENTS`` (at least one)."""
    N, C, H, W = x_shape
    one_image = _direct_layout((1, C, H, W), kernel, stride, padding, dilation, exact)
    per_image = C * kernel[0] * kernel[1] * one_image.columns
    n = max(1, min(N, _CHUNK_ELEMENTS // per_image))
    layouts = {}
    for n0 in range(0, N, n):
        n1 = min(N, n0 + n)
        if n1 - n0 not in layouts:  # at most two sizes: the full chunk and a shorter last one
            layouts[n1 - n0] = _direct_layout((n1 - n0, C, H, W), kernel, stride, padding, dilation, exact)
        yield n0, n1, layouts[n1 - n0]


def _input_chunks(x, kernel, stride, padding, dilation, exact=False):
    """``(n0, n1, layout, source)`` per chunk: ``source`` is ``x[n0:n1]`` channel-major and
    zero-padded, shaped ``layout.buffer``. The padded buffer is reused from chunk to chunk: only
    its interior is written, so the zero border (and the spare image) stay zero."""
    xp = array_namespace(x)
    N, C, H, W = x.shape
    ph, pw = padding
    padded_by_size = {}
    for n0, n1, layout in _chunk_layouts(tuple(x.shape), kernel, stride, padding, dilation, exact):
        n = n1 - n0
        if n not in padded_by_size:
            padded_by_size[n] = _zeros(xp, (C, n + int(layout.flat), H + 2 * ph, W + 2 * pw), x)
        padded = padded_by_size[n]
        padded[:, :n, ph : ph + H, pw : pw + W] = xp.permute_dims(x[n0:n1, ...], (1, 0, 2, 3))
        yield n0, n1, layout, xp.reshape(padded, layout.buffer)


def _tap_matrix(source, index, M):
    """Tap pixels as a ``(C, M)`` matrix: a view for flat taps, a copy for strided ones."""
    return array_namespace(source).reshape(source[index], (source.shape[0], M))


def _chunked_forward(x, w_shape, stride, padding, dilation, product):
    """``y`` of shape ``(N, F, Ho, Wo)``, one chunk of images at a time: ``product(source, layout)``
    is the chunk's ``(F, columns)`` output on the layout's grid."""
    xp = array_namespace(x)
    N, _, H, W = x.shape
    F, _, kh, kw = w_shape
    Ho, Wo = conv2d_output_shape(H, W, (kh, kw), stride, padding, dilation)
    y = xp.empty((N, F, Ho, Wo), dtype=x.dtype, device=x.device)
    for n0, n1, layout, source in _input_chunks(x, (kh, kw), stride, padding, dilation):
        y[n0:n1, ...] = _image_major(product(source, layout), n1 - n0, layout.grid, Ho, Wo)
    return y


def _full_padding(x_shape, kernel, stride, padding, dilation):
    """The padding ``d*(k - 1) - p`` that turns ``dL/dx`` into a plain convolution, or ``None``.

    At stride 1, every output pixel's gradient flows back to the ``kh*kw`` pixels its window
    read, so ``dL/dx`` is ``dL/dy`` convolved with the flipped filters (channels swapped) over
    the "full" padding: the same forward, and no col2im scatter-add, which cost half as much
    again on the ResNet shapes. That convolution has one output per input pixel, so it is only
    taken when the input is not much larger than the output (``_MAX_GRID_WASTE``). Other
    strides (and a padding wider than the dilated kernel) take the col2im route.
    """
    H, W = x_shape[2], x_shape[3]
    Ho, Wo = conv2d_output_shape(H, W, kernel, stride, padding, dilation)
    if stride != (1, 1) or H * W > _MAX_GRID_WASTE * Ho * Wo:
        return None
    full = tuple(d * (k - 1) - p for k, p, d in zip(kernel, padding, dilation))
    return full if min(full) >= 0 else None


def _flipped_filters(w, groups):
    """``(F, C/groups, kh, kw) -> (C, F/groups, kh, kw)``: within each group the filter and channel
    axes swap and every kernel turns 180 degrees, ``w'[c, f, i, j] = w[f, c, kh-1-i, kw-1-j]``."""
    xp = array_namespace(w)
    F, Cg, kh, kw = w.shape
    w = xp.permute_dims(xp.reshape(w, (groups, F // groups, Cg, kh, kw)), (0, 2, 1, 3, 4))
    return xp.reshape(xp.flip(w, axis=(3, 4)), (groups * Cg, F // groups, kh, kw))


def _chunked_backward_input(grad, x_shape, w_shape, stride, padding, dilation, tap_grads):
    """``dL/dx`` one chunk of images at a time: ``tap_grads(g, layout)`` yields each tap's
    ``(C, columns)`` gradient, which is added into the padded chunk where that tap read (col2im)."""
    xp = array_namespace(grad)
    N, C, H, W = x_shape
    ph, pw = padding
    grad_x = xp.empty(x_shape, dtype=grad.dtype, device=grad.device)
    for n0, n1, layout in _chunk_layouts(x_shape, w_shape[2:], stride, padding, dilation):
        g = _batch_matrix(grad[n0:n1, ...], layout.grid)
        grad_padded = _zeros(xp, layout.buffer, grad)
        for (_, _, index), tap_grad in zip(layout.taps, tap_grads(g, layout)):
            # Windows overlap when the stride is smaller than the kernel: add, never overwrite.
            grad_padded[index] += xp.reshape(tap_grad, grad_padded[index].shape)
        grad_padded = xp.reshape(grad_padded, (C, -1, H + 2 * ph, W + 2 * pw))
        grad_x[n0:n1, ...] = xp.permute_dims(grad_padded[:, : n1 - n0, ph : ph + H, pw : pw + W], (1, 0, 2, 3))
    return grad_x


def _chunked_backward_weight(x, grad, w_shape, stride, padding, dilation, product):
    """``dL/dw`` summed over the chunks of images: ``product(g, source, layout)`` is one chunk's
    ``(F, C/groups * kh*kw)`` share, in the weight's ``(c, i, j)`` order."""
    xp = array_namespace(x, grad)
    grad_w = _zeros(xp, (w_shape[0], w_shape[1] * w_shape[2] * w_shape[3]), x)  # stays 0 for an empty batch
    # A flat layout's wrapped columns meet a zero gradient, but 0 * inf is nan: an input holding
    # inf or nan takes the exact grid, so each weight's gradient sees only the pixels it read.
    # Strided layouts, and flat ones with no wrapped columns (1x1, unpadded), need no such check.
    N, C, H, W = x.shape
    one_image = _direct_layout((1, C, H, W), w_shape[2:], stride, padding, dilation)
    wraps = one_image.flat and one_image.grid != conv2d_output_shape(H, W, w_shape[2:], stride, padding, dilation)
    exact = wraps and not bool(xp.all(xp.isfinite(x)))
    for n0, n1, layout, source in _input_chunks(x, w_shape[2:], stride, padding, dilation, exact):
        grad_w += product(_batch_matrix(grad[n0:n1, ...], layout.grid), source, layout)
    return xp.reshape(grad_w, w_shape)


# ---------------------------------------------------------------- method "im2col"


def _chunk_columns(source, layout):
    """im2col of one chunk: ``(C*kh*kw, columns)``, row ``(c, i, j)`` (the weight's own order),
    from the ``kh*kw`` tap matrices -- contiguous slices for stride 1, strided slices otherwise."""
    xp = array_namespace(source)
    # Stacked as they are (strided taps are 4-D slices), so each pixel is copied once.
    cols = xp.stack([source[index] for _, _, index in layout.taps], axis=1)
    return xp.reshape(cols, (source.shape[0] * len(layout.taps), layout.columns))


def _im2col_forward(x, w, stride, padding, dilation, groups):
    w_matrix = array_namespace(w).reshape(w, (w.shape[0], -1))

    def product(source, layout):
        return _group_gemm(w_matrix, _chunk_columns(source, layout), groups)

    return _chunked_forward(x, w.shape, stride, padding, dilation, product)


def _im2col_backward_input(grad, w, x_shape, stride, padding, dilation, groups):
    full = _full_padding(tuple(x_shape), tuple(w.shape[2:]), stride, padding, dilation)
    if full is not None:
        return _im2col_forward(grad, _flipped_filters(w, groups), stride, full, dilation, groups)
    xp = array_namespace(grad, w)
    w_matrix = xp.reshape(w, (w.shape[0], -1))
    C = x_shape[1]

    def tap_grads(g, layout):
        # dL/dcols = w^T @ g, all taps in one GEMM; row (c, t) of it belongs to tap t.
        grad_cols = xp.reshape(_group_gemm_input_grad(w_matrix, g, groups), (C, len(layout.taps), layout.columns))
        return (grad_cols[:, t, :] for t in range(len(layout.taps)))

    return _chunked_backward_input(grad, tuple(x_shape), tuple(w.shape), stride, padding, dilation, tap_grads)


def _im2col_backward_weight(x, grad, w_shape, stride, padding, dilation, groups):
    # The columns are rebuilt rather than kept from the forward: kh*kw copies of x would
    # otherwise stay alive for every conv layer until the backward pass reaches it.
    def product(g, source, layout):
        return _group_gemm_weight_grad(g, _chunk_columns(source, layout), groups)

    return _chunked_backward_weight(x, grad, tuple(w_shape), stride, padding, dilation, product)


# ---------------------------------------------------------------- method "direct"


def _weight_taps(w):
    """``(F, Cg, kh, kw) -> (kh*kw, F, Cg)``: one small copy that makes each tap's matrix
    contiguous, as BLAS needs (NumPy's ``matmul`` falls back to plain loops on strided operands)."""
    xp = array_namespace(w)
    F, Cg, kh, kw = w.shape
    return xp.reshape(xp.permute_dims(w, (2, 3, 0, 1)), (kh * kw, F, Cg))


def _direct_forward(x, w, stride, padding, dilation, groups):
    w_taps = _weight_taps(w)

    def product(source, layout):
        y = None
        for t, (_, _, index) in enumerate(layout.taps):
            contribution = _group_gemm(w_taps[t, :, :], _tap_matrix(source, index, layout.columns), groups)
            if y is None:
                y = contribution
            else:
                y += contribution  # accumulate in place: one (F, columns) buffer, not one per tap
        return y

    return _chunked_forward(x, w.shape, stride, padding, dilation, product)


def _direct_backward_input(grad, w, x_shape, stride, padding, dilation, groups):
    full = _full_padding(tuple(x_shape), tuple(w.shape[2:]), stride, padding, dilation)
    if full is not None:
        return _direct_forward(grad, _flipped_filters(w, groups), stride, full, dilation, groups)
    w_taps = _weight_taps(w)

    def tap_grads(g, layout):
        return (_group_gemm_input_grad(w_taps[t, :, :], g, groups) for t in range(len(layout.taps)))

    return _chunked_backward_input(grad, tuple(x_shape), tuple(w.shape), stride, padding, dilation, tap_grads)


def _direct_backward_weight(x, grad, w_shape, stride, padding, dilation, groups):
    def product(g, source, layout):
        xp = array_namespace(g, source)
        shares = [_group_gemm_weight_grad(g, _tap_matrix(source, index, layout.columns), groups)
                  for _, _, index in layout.taps]
        return xp.reshape(xp.stack(shares, axis=2), (g.shape[0], -1))  # (F, Cg, kh*kw): (c, i, j) order

    return _chunked_backward_weight(x, grad, tuple(w_shape), stride, padding, dilation, product)


# ---------------------------------------------------------------- dispatch


_METHODS = {
    "naive": ConvMethod(_naive_forward, _naive_backward_input, _naive_backward_weight),
    "im2col": ConvMethod(_im2col_forward, _im2col_backward_input, _im2col_backward_weight),
    "direct": ConvMethod(_direct_forward, _direct_backward_input, _direct_backward_weight),
}


def numba_kernels(x, op):
    """The compiled kernels for array ``x``: :mod:`kernels.cpu` for NumPy, :mod:`kernels.cuda` for
    CuPy. Imported on first use, so Numba loads (and compiles) only for those who ask for it."""
    device = device_name(x)
    if device == "cpu":
        from kernels import cpu

        return cpu
    if device == "cuda":
        from kernels import cuda

        return cuda
    raise TypeError(f"{op}: method='numba' needs NumPy or CuPy arrays, got {array_namespace(x).__name__} arrays")


def _numba_method(x):
    """Method ``"numba"``: the kernels' host functions already have :class:`ConvMethod`'s signatures."""
    kernels = numba_kernels(x, "conv2d")
    return ConvMethod(kernels.conv2d_forward, kernels.conv2d_backward_input, kernels.conv2d_backward_weight)


def _dispatch(method, kernel, stride, padding, groups=1, channels=None, x=None):
    """The :class:`ConvMethod` that computes ``conv2d(..., method=method)``: the one place where a
    method name, the array's backend and the geometry turn into code to run."""
    if method == "auto":
        # The table in the module docstring, measured by `python -m bench` (BENCHMARKS.md).
        if kernel == (1, 1) and stride == (1, 1) and padding == (0, 0):
            return _METHODS["direct"]
        if groups > 1 and groups == channels:
            numpy_float = x is not None and device_name(x) == "cpu" and dtype_name(x.dtype) in ("float32", "float64")
            return _numba_method(x) if numpy_float else _METHODS["direct"]
        return _METHODS["im2col"]
    if method == "numba":
        return _numba_method(x)
    if method not in _METHODS:
        names = ", ".join(repr(m) for m in ["auto", *_METHODS, "numba"])
        raise ValueError(f"conv2d: expected method to be one of {names}, got {method!r}")
    return _METHODS[method]


class Conv2d(Function):
    """``y = conv(x, w) + b``;  ``dL/dx``, ``dL/dw`` come from the chosen method,
    ``dL/db[f] = sum_{n, ho, wo} dL/dy[n, f, ho, wo]``."""

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups, method):
        xp = array_namespace(x, w)
        needs_x, needs_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        # Keep only what the backward will read: a frozen filter bank need not keep x alive.
        ctx.save_for_backward(
            x if needs_w else None, w if needs_x else None, tuple(x.shape), tuple(w.shape),
            (stride, padding, dilation, groups), method,
        )
        y = method.forward(x, w, stride, padding, dilation, groups)
        if b is not None:
            y = y + xp.reshape(b, (1, b.shape[0], 1, 1))
        return y

    @staticmethod
    def backward(ctx, grad):
        x, w, x_shape, w_shape, geometry, method = ctx.saved_tensors
        xp = array_namespace(grad)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = method.backward_input(grad, w, x_shape, *geometry)
        if ctx.needs_input_grad[1]:
            grad_w = method.backward_weight(x, grad, w_shape, *geometry)
        if ctx.needs_input_grad[2]:
            grad_b = xp.sum(grad, axis=(0, 2, 3))
        return grad_x, grad_w, grad_b


def _pairs(op, stride, padding, dilation):
    """``(sh, sw), (ph, pw), (dh, dw)`` from ints or pairs."""
    return pair(stride, "stride", op), pair(padding, "padding", op), pair(dilation, "dilation", op)


def _check_conv_args(x, weight, bias, groups):
    """The shape and dtype checks of :func:`conv2d`, with messages that name both shapes."""
    for name, a in (("input", x), ("weight", weight), ("bias", bias)):
        if a is not None and not hasattr(a, "shape"):
            raise TypeError(f"conv2d: expected {name} to be a Tensor, got {type(a).__name__}")
    check_ndim(x, 4, "conv2d", "(N, C, H, W)")
    if len(weight.shape) != 4:
        raise ValueError(f"conv2d: expected a 4-D weight (F, C/groups, kh, kw), got shape {tuple(weight.shape)}")
    if isinstance(groups, bool) or not isinstance(groups, int):
        raise TypeError(f"conv2d: expected groups to be a positive int, got {groups!r}")
    if groups < 1:
        raise ValueError(f"conv2d: expected groups to be a positive int, got {groups!r}")
    C = x.shape[1]
    F, Cg = weight.shape[0], weight.shape[1]
    if C % groups:
        raise ValueError(f"conv2d: expected groups to divide the {C} input channels, got groups={groups}")
    if F % groups:
        raise ValueError(
            f"conv2d: expected groups to divide the {F} filters (weight is {tuple(weight.shape)}), got groups={groups}"
        )
    if Cg * groups != C:
        grouping = f", groups={groups}" if groups > 1 else ""
        raise ValueError(
            f"conv2d: expected input with {Cg * groups} channels (weight is {tuple(weight.shape)}{grouping}), "
            f"got {tuple(x.shape)}"
        )
    if bias is not None and tuple(bias.shape) != (F,):
        raise ValueError(f"conv2d: expected bias of shape (F,) = ({F},), got {tuple(bias.shape)}")
    for name, a in (("weight", weight), ("bias", bias)):
        if a is not None and a.dtype != x.dtype:
            raise TypeError(
                f"conv2d: expected {name} with the input's dtype {dtype_name(x.dtype)}, got {dtype_name(a.dtype)}"
            )


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, method="auto"):
    """2-D convolution (cross-correlation, as in every deep-learning library: the kernel is not flipped).

    ::

        y[n, f, ho, wo] = b[f] + sum_{c < C/groups, i < kh, j < kw}
                          w[f, c, i, j] * x[n, g*C/groups + c, ho*sh + i*dh - ph, wo*sw + j*dw - pw]

    where ``g = f // (F/groups)`` is the group filter ``f`` belongs to and ``x`` reads as zero
    outside the image (zero padding). The output size along each axis is
    (:func:`~minitorch_cnn.functional.sizes.conv_output_size`)::

        Ho = (H + 2*ph - dh*(kh - 1) - 1) // sh + 1        # (H - kh + 2P)/S + 1 when dh = 1

    Args:
        x: input, shape ``(N, C, H, W)``.
        weight: filters, shape ``(F, C/groups, kh, kw)`` (PyTorch's layout).
        bias: ``(F,)`` or ``None``.
        stride: ``sh, sw`` (int or ``(h, w)``), default 1. A stride that does not divide
            ``H + 2*ph - span`` drops the last rows, as in PyTorch.
        padding: zeros added on each side, ``ph, pw``, default 0.
        dilation: spacing ``dh, dw`` between kernel taps, default 1 (a 3x3 kernel with
            dilation 2 covers 5x5 pixels; Yu & Koltun, 2016).
        groups: split the ``C`` input channels and ``F`` filters into ``groups`` independent
            convolutions. AlexNet used ``groups=2`` to split across two GPUs (Krizhevsky et al.,
            2012); ResNeXt's "cardinality" is ``groups=32`` (Xie et al., 2017); ``groups=C``
            with ``F = C`` (or a multiple of ``C``) is the depthwise convolution of MobileNet
            (Howard et al., 2017).
        method: ``"auto"`` (default: the measured fastest for the backend and geometry, see
            the table in this module's docstring), ``"im2col"``, ``"direct"``, ``"numba"``
            (compiled kernels; NumPy or CuPy arrays only) or ``"naive"`` (seven loops; tiny
            inputs only). All give the same result up to float rounding.

    Returns:
        Tensor of shape ``(N, F, Ho, Wo)``.

    Raises ValueError/TypeError naming what was expected and what was given: wrong ndim,
    channel mismatch, groups not dividing ``C`` or ``F``, negative padding, stride or dilation
    below 1, a kernel larger than the padded input, a bias of the wrong shape, an unknown method,
    ``method="numba"`` on arrays that are neither NumPy nor CuPy.

    Reference: LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document
    recognition", Proc. IEEE 1998 (LeNet-5).
    """
    _check_conv_args(x, weight, bias, groups)
    stride, padding, dilation = _pairs("conv2d", stride, padding, dilation)
    kernel = (weight.shape[2], weight.shape[3])
    conv2d_output_shape(x.shape[2], x.shape[3], kernel, stride, padding, dilation, op="conv2d")
    chosen = _dispatch(method, kernel, stride, padding, groups, x.shape[1], x.data)
    return Conv2d.apply(
        x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups, method=chosen
    )


def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    """Unfold every receptive field of ``x`` into a column, so a convolution becomes one matmul.

    Column layout (the same as ``torch.nn.functional.unfold``)::

        cols[n, (c*kh + i)*kw + j, ho*Wo + wo] = x[n, c, ho*sh + i*dh - ph, wo*sw + j*dw - pw]

    so ``weight.reshape(F, C*kh*kw) @ cols`` is the convolution: the rows follow the weight's own
    ``(c, i, j)`` memory order, and ``N`` stays the leading batch axis of the product. Built from
    ``kh*kw`` strided slice copies (one per kernel tap), never a loop over pixels.

    Args:
        x: ``(N, C, H, W)`` Tensor. kernel_size, stride, padding, dilation: int or ``(h, w)``.

    Returns:
        Tensor of shape ``(N, C*kh*kw, Ho*Wo)``; its gradient is :func:`col2im`.
    """
    check_ndim(x, 4, "im2col", "(N, C, H, W)")
    kernel = pair(kernel_size, "kernel_size", "im2col")
    stride, padding, dilation = _pairs("im2col", stride, padding, dilation)
    conv2d_output_shape(x.shape[2], x.shape[3], kernel, stride, padding, dilation, op="im2col")
    return Im2col.apply(x, kernel, stride, padding, dilation)


def col2im(cols, x_shape, kernel_size, stride=1, padding=0, dilation=1):
    """Fold columns back into an image, summing where receptive fields overlap.

    The adjoint of :func:`im2col` (``<im2col(x), y> = <x, col2im(y)>`` for every ``x, y``), hence
    the input gradient of the im2col convolution. It is not im2col's inverse: a pixel read by
    ``k`` windows comes back ``k`` times.

    Args:
        cols: ``(N, C*kh*kw, Ho*Wo)`` Tensor in :func:`im2col`'s layout.
        x_shape: ``(N, C, H, W)`` of the image to rebuild. The rest as in :func:`im2col`.

    Returns:
        Tensor of shape ``x_shape``; its gradient is :func:`im2col`.
    """
    x_shape = tuple(int(s) for s in x_shape)
    if len(x_shape) != 4:
        raise ValueError(f"col2im: expected x_shape (N, C, H, W), got {x_shape}")
    kernel = pair(kernel_size, "kernel_size", "col2im")
    stride, padding, dilation = _pairs("col2im", stride, padding, dilation)
    N, C, H, W = x_shape
    Ho, Wo = conv2d_output_shape(H, W, kernel, stride, padding, dilation, op="col2im")
    expected = (N, C * kernel[0] * kernel[1], Ho * Wo)
    if tuple(cols.shape) != expected:
        raise ValueError(
            f"col2im: expected columns of shape {expected} for x_shape {x_shape}, got {tuple(cols.shape)}"
        )
    return Col2im.apply(cols, x_shape, kernel, stride, padding, dilation)
