"""Engine room: the convolution methods ``"gemm"`` and ``"direct"``, faster than the lesson's
``"im2col"`` and tested against it (``tests/test_engine.py``).

Both compute the lesson's ``y = w.reshape(F, -1) @ im2col(x)``, with four tricks, each
explained where it is used:

* images are held channel-major, ``(C, n*H*W)``, so several images meet the filters in ONE
  GEMM (:func:`_group_gemm`);
* the batch is taken a chunk of a few MB at a time, so that the column copy stays in cache and
  its buffer is reused (:data:`CHUNK_ELEMENTS`);
* at stride 1 every tap is a flat slice of the padded chunk, a view with no copy
  (:func:`_direct_layout`);
* at stride 1 the input gradient is itself a convolution, with the filters flipped
  (:func:`_full_padding`), instead of col2im's scatter-add.

``"gemm"`` copies a chunk's taps into a column matrix and runs GEMMs on it. At vertical
stride 1 (every 3x3 "same" convolution) it copies only the ``kw`` taps of one kernel row and reads
the other rows as views shifted by whole image rows (:func:`_row_columns`): ``kh`` GEMMs on a
``kw``-times (not ``kh*kw``-times) larger buffer. Otherwise it copies all ``kh*kw`` taps and runs
one GEMM. ``"direct"`` runs one GEMM per tap on the tap's pixels and accumulates, with no column
buffer (for a 1x1 kernel its one tap is a view of the input: no copy at all).
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import array_namespace
from ..functional.conv import ConvMethod, _zeros
from ..functional.sizes import conv2d_output_shape, tap_slices
from ..methods import register


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


# ---------------------------------------------------------------- chunks of images (gemm and direct)

#: The fast methods take the batch a chunk of images at a time, each chunk holding at most this
#: many column entries (``C*kh*kw`` rows times one column per output pixel): 2**21, 8 MB in float32.
#: Why not the whole batch in one GEMM: ResNet's 64-channel 3x3 layer on 32 images of 56x56
#: needs a 220 MB column matrix, and filling it costs more than the GEMM that reads it (memory
#: runs at a few GB/s, and every fresh buffer over 32 MB is new pages from the kernel). A chunk of
#: a few MB stays in the L3 cache (105 MB on our machines) between the copy that fills it and the
#: GEMM that reads it, and its buffers are reused chunk after chunk. Chunks of one image (GEMM columns ~3000)
#: ran 1.4-1.8x faster than the whole batch; chunks split inside an image (~500 columns) ran
#: slower again, because OpenBLAS needs wide products (BENCHMARKS.md).
CHUNK_ELEMENTS = 2**21

#: The stride-1 shortcuts below compute on a grid larger than the output (the padded input, or
#: the input for the flipped convolution of the backward). They are taken only while that grid
#: has at most this many times the output's pixels: "same" convolutions of ResNet and VGG
#: (58x58 for 56x56: 1.07) qualify; LeNet's valid 5x5 convolution of a 5x5 map (25 pixels for
#: one output) does not, and took 25x the multiply-adds when it did.
MAX_GRID_WASTE = 1.25


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

    Stride 1 (when the padded grid is not much larger than the output, ``MAX_GRID_WASTE``): the
    padded chunk is one flat row per channel and tap ``(i, j)`` reads the flat slice starting at
    ``i*dil_h*Wp + j*dil_w`` -- a view, no copy at all. Its columns run over the padded grid
    ``(Hp, Wp)``; the ones past ``Ho, Wo`` wrap across a row or image edge and are dropped from
    the result (the spare zero image keeps the last slice in bounds). Otherwise each tap is a
    strided slice, copied, on the ``(Ho, Wo)`` grid.
    """
    N, C, H, W = x_shape
    (ph, pw), (dil_h, dil_w) = padding, dilation
    Hp, Wp = H + 2 * ph, W + 2 * pw
    Ho, Wo = conv2d_output_shape(H, W, kernel, stride, padding, dilation)
    if stride == (1, 1) and Hp * Wp <= MAX_GRID_WASTE * Ho * Wo and not exact:
        M = N * Hp * Wp
        starts = [(i, j, i * dil_h * Wp + j * dil_w) for i in range(kernel[0]) for j in range(kernel[1])]
        taps = [(i, j, (slice(None), slice(start, start + M))) for i, j, start in starts]
        return _DirectLayout((C, (N + 1) * Hp * Wp), (Hp, Wp), M, True, taps)
    taps = [
        (i, j, (slice(None), slice(None), *tap_slices(i, j, Ho, Wo, stride, dilation)))
        for i in range(kernel[0]) for j in range(kernel[1])
    ]
    return _DirectLayout((C, N, Hp, Wp), (Ho, Wo), N * Ho * Wo, False, taps)


def _chunk_layouts(x_shape, kernel, stride, padding, dilation, exact=False):
    """``(n0, n1, layout)`` for each chunk of images ``x[n0:n1]``, as many images per chunk as
    keep its columns within ``CHUNK_ELEMENTS`` (at least one)."""
    N, C, H, W = x_shape
    one_image = _direct_layout((1, C, H, W), kernel, stride, padding, dilation, exact)
    layouts = {}
    for n0, n1 in _chunk_ranges(N, C * kernel[0] * kernel[1] * one_image.columns):
        if n1 - n0 not in layouts:  # at most two sizes: the full chunk and a shorter last one
            layouts[n1 - n0] = _direct_layout((n1 - n0, C, H, W), kernel, stride, padding, dilation, exact)
        yield n0, n1, layouts[n1 - n0]


def _chunk_ranges(N, per_image):
    """``(n0, n1)`` of each chunk of a batch of ``N`` images, each image ``per_image`` column
    entries: as many images per chunk as fit in ``CHUNK_ELEMENTS``, at least one."""
    n = max(1, min(N, CHUNK_ELEMENTS // per_image))
    return [(n0, min(N, n0 + n)) for n0 in range(0, N, n)]


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
    taken when the input is not much larger than the output (``MAX_GRID_WASTE``). Other
    strides (and a padding wider than the dilated kernel) take the col2im route.
    """
    H, W = x_shape[2], x_shape[3]
    Ho, Wo = conv2d_output_shape(H, W, kernel, stride, padding, dilation)
    if stride != (1, 1) or H * W > MAX_GRID_WASTE * Ho * Wo:
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


# ---------------------------------------------------------------- method "gemm"


def _chunk_columns(source, layout):
    """im2col of one chunk: ``(C*kh*kw, columns)``, row ``(c, i, j)`` (the weight's own order),
    from the ``kh*kw`` tap matrices -- contiguous slices for stride 1, strided slices otherwise."""
    xp = array_namespace(source)
    # Stacked as they are (strided taps are 4-D slices), so each pixel is copied once.
    cols = xp.stack([source[index] for _, _, index in layout.taps], axis=1)
    return xp.reshape(cols, (source.shape[0] * len(layout.taps), layout.columns))


def _row_grid(x_shape, w_shape, stride, padding, dilation, groups):
    """The ``(Hp, Wo)`` grid of the row columns (:func:`_row_columns`), or ``None`` where they do
    not pay: a vertical stride other than 1 or a one-row kernel (nothing to share); a padded height
    more than ``MAX_GRID_WASTE`` times the output's (each image computes ``Hp`` rows, keeps ``Ho``);
    or more filters than the copies saved. Per output pixel (and group) im2col writes and reads
    ``kh*kw*Cg`` column entries and writes ``F`` outputs; the row columns write and read
    ``kw*Cg`` entries, and :func:`_row_forward` writes and reads ``kh*F`` partial sums and
    writes ``F`` outputs. ``2*kw*Cg + 2*kh*F + F`` against ``2*kh*kw*Cg + F``: rows win while
    ``kh*F < (kh - 1)*kw*Cg``, as in ResNet's 3x3 layers, not in LeNet's C1 (6 filters on one
    channel)."""
    N, C, H, W = x_shape
    F, Cg, kh, kw = w_shape
    Hp = H + 2 * padding[0]
    Ho, Wo = conv2d_output_shape(H, W, (kh, kw), stride, padding, dilation)
    if stride[0] != 1 or Hp > MAX_GRID_WASTE * Ho or kh * (F // groups) >= (kh - 1) * kw * Cg:
        return None
    return Hp, Wo


def _row_taps(W, Wo, kw, sw, pw, dil_w):
    """``(j, lo, hi, columns)`` for each horizontal tap ``j`` that reads any pixel: output columns
    ``lo <= wo < hi`` read input column ``wo*sw + j*dil_w - pw`` (the others read padding), and
    ``columns`` is the slice of the input they read."""
    taps = []
    for j in range(kw):
        shift = j * dil_w - pw
        lo, hi = max(0, -(shift // sw)), min(Wo, (W - 1 - shift) // sw + 1)
        if lo < hi:
            taps.append((j, lo, hi, slice(lo * sw + shift, (hi - 1) * sw + shift + 1, sw)))
    return taps


def _row_columns(x, kernel, stride, padding, dilation, grid):
    """``(n0, n1, columns)`` for each chunk of images ``x[n0:n1]``: ``columns`` is
    ``(C*kw, (n + 1)*Hp*Wo)``, row ``(c, j)``, column ``(image, hp, wo)`` on the grid: tap
    ``(0, j)``'s pixel for the output at ``(hp, wo)``, i.e. ``x_padded[image, c, hp, wo*sw + j*dil_w]``.

    Tap ``(i, j)`` of the output at ``(hp, wo)`` reads row ``hp + i*dil_h`` of the same column, so
    kernel row ``i``'s columns are the view ``columns[:, i*dil_h*Wo :][:, :n*Hp*Wo]``, shifted by
    whole grid rows: one copy serves all ``kh`` rows. Grid rows past ``Ho`` mix the bottom of an
    image with the top of the next (the spare zero image after the chunk keeps the last shift in
    bounds); their outputs are dropped. The buffer is written straight from ``x`` and reused
    chunk after chunk; only what no tap writes (the padding, the spare image) is zeroed, once: a
    full zero fill would write the whole buffer twice.
    """
    xp = array_namespace(x)
    N, C, H, W = x.shape
    Hp, Wo = grid
    ph = padding[0]
    taps = _row_taps(W, Wo, kernel[1], stride[1], padding[1], dilation[1])
    written = {j: (lo, hi) for j, lo, hi, _ in taps}
    buffers = {}
    for n0, n1 in _chunk_ranges(N, C * kernel[1] * Hp * Wo):
        n = n1 - n0
        if n not in buffers:
            columns = xp.empty((C, kernel[1], n + 1, Hp, Wo), dtype=x.dtype, device=x.device)
            columns[:, :, n, ...] = 0
            columns[:, :, :n, :ph, :] = 0
            columns[:, :, :n, ph + H :, :] = 0
            for j in range(kernel[1]):
                lo, hi = written.get(j, (0, 0))
                columns[:, j, :n, ph : ph + H, :lo] = 0
                columns[:, j, :n, ph : ph + H, hi:] = 0
            buffers[n] = columns
        columns = buffers[n]
        chunk = xp.permute_dims(x[n0:n1, ...], (1, 0, 2, 3))
        for j, lo, hi, source in taps:
            columns[:, j, :n, ph : ph + H, lo:hi] = chunk[..., source]
        yield n0, n1, xp.reshape(columns, (C * kernel[1], (n + 1) * Hp * Wo))


def _weight_rows(w):
    """``(F, Cg, kh, kw) -> (kh, F, Cg*kw)``: kernel row ``i``'s weights in the row columns'
    ``(c, j)`` order, one contiguous matrix per row."""
    xp = array_namespace(w)
    F, Cg, kh, kw = w.shape
    return xp.reshape(xp.permute_dims(w, (2, 0, 1, 3)), (kh, F, Cg * kw))


def _row_forward(x, w, stride, padding, dilation, groups, grid):
    """Per chunk, ``z = w_rows @ columns`` in ONE GEMM (all ``kh`` kernel rows' ``(F, Cg*kw)``
    weights stacked, ``kh*F`` rows), then ``y = sum_i z_i`` with kernel row ``i``'s partial sums
    read ``i*dil_h`` grid rows further on."""
    xp = array_namespace(x, w)
    N, _, H, W = x.shape
    F, Cg, kh, kw = w.shape
    Hp = grid[0]
    Ho, Wo = conv2d_output_shape(H, W, (kh, kw), stride, padding, dilation)
    shift = dilation[0] * Wo  # one kernel row down is dil_h grid rows on
    # Grouped GEMMs need each group's filters together: rows (group, i, f), not (i, group, f).
    w_rows = xp.reshape(_weight_rows(w), (kh, groups, F // groups, Cg * kw))
    w_rows = xp.reshape(xp.permute_dims(w_rows, (1, 0, 2, 3)), (groups * kh * (F // groups), Cg * kw))
    y = xp.empty((N, F, Ho, Wo), dtype=x.dtype, device=x.device)
    for n0, n1, columns in _row_columns(x, (kh, kw), stride, padding, dilation, grid):
        M = (n1 - n0) * Hp * Wo
        z = _group_gemm(w_rows, columns[:, : M + (kh - 1) * shift], groups)
        z = xp.reshape(z, (groups, kh, F // groups, z.shape[1]))
        out = z[:, 0, :, :M] + z[:, 1, :, shift : shift + M]
        for i in range(2, kh):
            out += z[:, i, :, i * shift : i * shift + M]
        y[n0:n1, ...] = _image_major(xp.reshape(out, (F, M)), n1 - n0, grid, Ho, Wo)
    return y


def _row_backward_weight(x, grad, w_shape, stride, padding, dilation, groups, grid):
    """``dL/dw_i = sum over chunks of g @ columns_i^T``, ``g`` zero on the grid rows past ``Ho``."""
    xp = array_namespace(x, grad)
    F, Cg, kh, kw = w_shape
    grad_rows = _zeros(xp, (kh, F, Cg * kw), x)  # stays 0 for an empty batch
    for n0, n1, columns in _row_columns(x, (kh, kw), stride, padding, dilation, grid):
        g = _batch_matrix(grad[n0:n1, ...], grid)
        for i in range(kh):
            start = i * dilation[0] * grid[1]
            grad_rows[i, ...] += _group_gemm_weight_grad(g, columns[:, start : start + g.shape[1]], groups)
    return xp.permute_dims(xp.reshape(grad_rows, (kh, F, Cg, kw)), (1, 2, 0, 3))


def _gemm_forward(x, w, stride, padding, dilation, groups):
    grid = _row_grid(tuple(x.shape), tuple(w.shape), stride, padding, dilation, groups)
    if grid is not None:
        return _row_forward(x, w, stride, padding, dilation, groups, grid)
    w_matrix = array_namespace(w).reshape(w, (w.shape[0], -1))

    def product(source, layout):
        return _group_gemm(w_matrix, _chunk_columns(source, layout), groups)

    return _chunked_forward(x, w.shape, stride, padding, dilation, product)


def _gemm_backward_input(grad, w, x_shape, stride, padding, dilation, groups):
    full = _full_padding(tuple(x_shape), tuple(w.shape[2:]), stride, padding, dilation)
    if full is not None:
        return _gemm_forward(grad, _flipped_filters(w, groups), stride, full, dilation, groups)
    xp = array_namespace(grad, w)
    w_matrix = xp.reshape(w, (w.shape[0], -1))
    C = x_shape[1]

    def tap_grads(g, layout):
        # dL/dcols = w^T @ g, all taps in one GEMM; row (c, t) of it belongs to tap t.
        grad_cols = xp.reshape(_group_gemm_input_grad(w_matrix, g, groups), (C, len(layout.taps), layout.columns))
        return (grad_cols[:, t, :] for t in range(len(layout.taps)))

    return _chunked_backward_input(grad, tuple(x_shape), tuple(w.shape), stride, padding, dilation, tap_grads)


def _gemm_backward_weight(x, grad, w_shape, stride, padding, dilation, groups):
    # The columns are rebuilt, as in the lesson's im2col method (functional/conv.py says why).
    xp = array_namespace(x, grad)
    grid = _row_grid(tuple(x.shape), tuple(w_shape), stride, padding, dilation, groups)
    if grid is not None:
        grad_w = _row_backward_weight(x, grad, tuple(w_shape), stride, padding, dilation, groups, grid)
        # The grid rows past Ho hold real pixels times a zero gradient: exactly 0 for finite
        # pixels, but 0 * inf is nan. So a finite result is the exact one, and only then is it
        # kept; otherwise (an input holding inf or nan) the full columns, which hold only the
        # pixels each weight read, give the gradient. Checking the small dL/dw, not x, keeps a
        # pass over every input off the training step.
        if bool(xp.all(xp.isfinite(grad_w))):
            return grad_w

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


register("conv2d", "gemm", ConvMethod(_gemm_forward, _gemm_backward_input, _gemm_backward_weight))
register("conv2d", "direct", ConvMethod(_direct_forward, _direct_backward_input, _direct_backward_weight))
