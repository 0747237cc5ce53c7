"""Numba ``njit`` kernels for 2-D convolution and max-pooling on NumPy arrays.

The convolution kernels compute the formula of the lesson's seven loops
(``F.conv2d(method="naive")``)::

    y[n, f, ho, wo] = sum_{c, i, j} w[f, c, i, j] * x[n, g*Cg + c, ho*sh - ph + i*dil_h, wo*sw - pw + j*dil_w]

with ``Cg = C/groups`` input channels and ``Fg = F/groups`` filters per group and
``g = f // Fg`` the group of filter ``f``; pixels outside the input read as zero.

The loops run in a different order from the slide's, for speed. The innermost loop of every
convolution kernel is ``row[t] += weight * taps[t]``, with ``weight`` one number and ``row``,
``taps`` two contiguous 1-D runs indexed by the loop counter alone. LLVM turns that loop into SIMD
instructions (8 float32 or 4 float64 per AVX multiply and add); the slide's innermost statement,
with the 4-D index ``x[n, c, ho*sh - ph + i*dil_h, wo*sw - pw + j*dil_w]``, it leaves scalar.
Three choices give the loop that shape:

* The runs are sliced before the loop (``taps = plane[start : start + L]``), so the index is ``t``.
  Numba maps a negative index to the end of the array (``x[-1]``); for an index LLVM cannot prove
  non-negative, such as ``wo*sw - pw + j*dil_w``, that test on every element keeps the loop scalar.
* The host functions pass the input zero-padded, with its columns dealt into ``sw`` phases
  (:func:`_pad_and_split_columns`): every tap reads one contiguous row at any stride, with no
  bounds test.
* Each element of ``row`` is its own sum. Without ``fastmath`` LLVM may not reorder a float sum, so
  ``dL/dw``, a dot product over ``n, ho, wo``, keeps one partial sum per element of its run and adds
  them up at the end.

A run is one row of the output (or input), or at stride 1 several rows end to end
(:func:`_rows_per_pass`): the padded rows lie one after another in memory, so a 7x7 image runs
loops of 61 elements instead of 7, short loops being where SIMD does not pay off.

A task sums ``BLOCK`` filters (or input channels) at once into a small local array ``acc``: every
input row it loads is used ``BLOCK`` times, the rows being summed stay in the L1 cache, and each
result element is written once, when its row is done. The outermost loop is a ``prange`` over these
tasks: each one owns its own slice of the result, so threads never write to the same element and
need no locks. Max-pool backward, one add per window, stays a plain loop.

Sums accumulate in the arrays' dtype (float32 or float64), like every other path, and without
``fastmath``: the kernels add in a different order from the lesson, but in the order the source
states. Padding is a real zero, multiplied like any pixel, so an inf or nan weight (or, for
``dL/dw``, gradient) makes the terms that read padding nan, as in the lesson's loops and im2col.
The zeros between rows are not the lesson's: the backward kernels take one row per pass when
an inf or nan would meet them (:func:`_rows_of`).

The host functions take and return NumPy arrays and have the same signatures as
:mod:`kernels.cuda`'s. Compiled code is cached on disk (``cache=True``), so only the first run
on a machine pays the compile time.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .geometry import check_argmax, check_shape, conv_geometry, float_dtype, grad_out_size, pool_geometry

#: Filters (forward, dL/dw) or input channels (dL/dx) that one convolution task computes together.
BLOCK = 8

#: Elements the inner loop runs over at stride 1, taking several rows at once (:func:`_rows_per_pass`):
#: enough for SIMD to pay off, while a task's ``acc`` stays in the L1 cache. ``dL/dw`` keeps ``kh*kw``
#: times more partial sums per row than the forward and ``dL/dx``, so its runs are shorter.
ROW = 256
ROW_DW = 64


# ---------------------------------------------------------------- convolution


def _pad_and_split_columns(x, ph, pw, sw):
    """``x`` ``(N, C, H, W)`` zero-padded by ``(ph, pw)``, its columns dealt into ``sw`` phases.

    Returns ``xq`` of shape ``(N, C, H + 2ph, sw, Wq)`` with ``Wq = ceil((W + 2pw) / sw)`` and
    ``xq[n, c, hp, r, q] = x_padded[n, c, hp, q*sw + r]``. Output column ``wo`` reads padded
    column ``wo*sw + j*dil_w`` through tap ``j``, which is ``xq[n, c, hp, phase, shift + wo]`` with
    ``shift, phase = divmod(j*dil_w, sw)``: one contiguous row for all ``wo``, whatever the stride.
    For ``sw = 1`` it is just the padded input.
    """
    N, C, H, W = x.shape
    Wq = (W + 2 * pw + sw - 1) // sw
    xq = np.empty((N, C, H + 2 * ph, sw, Wq), dtype=x.dtype)
    _fill_padded_columns(x, xq, ph, pw)
    return xq


@njit(parallel=True, cache=True)
def _fill_padded_columns(x, xq, ph, pw):
    # A compiled loop rather than np.pad: the copy of a large input then runs on every thread.
    N, C, H, W = x.shape
    Hp, sw, Wq = xq.shape[2], xq.shape[3], xq.shape[4]
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        for hp in range(Hp):
            hi = hp - ph
            for r in range(sw):
                for q in range(Wq):
                    wi = q * sw + r - pw
                    xq[n, c, hp, r, q] = x[n, c, hi, wi] if 0 <= hi < H and 0 <= wi < W else 0


@njit(cache=True)
def _tap_columns(kw, dil_w, sw):
    """Tap ``j`` reads ``xq[..., phase[j], shift[j] + wo]`` (see :func:`_pad_and_split_columns`).

    Worked out once per call: an integer division in the inner loops would cost more than a short
    row of multiply-adds (a 7x7 image at stride 2 has rows of 4).
    """
    shift, phase = np.empty(kw, np.int64), np.empty(kw, np.int64)
    for j in range(kw):
        shift[j], phase[j] = divmod(j * dil_w, sw)
    return shift, phase


def _rows_per_pass(Ho, Wq, sh, sw, length):
    """Rows (of ``Ho`` in all) a kernel takes in one pass of its inner loop: enough for about ``length`` elements.

    At stride 1 the padded rows lie end to end in memory, so the taps of ``R`` consecutive output
    rows are one flat run of ``(R - 1)*Wq + Wo`` elements. The forward computes the ``Wq - Wo``
    elements between two rows and drops them; the backward kernels add zero products there
    (:func:`_rows_of`). A 7x7 image (MobileNet's last depthwise layers) then runs loops of 61
    elements instead of 7, and SIMD pays off. At any other stride, one row per pass.
    """
    if sh != 1 or sw != 1:
        return 1
    return max(1, min(Ho, length // Wq))


@njit(cache=True)
def _rows_of(grad, n, f0, fb, Wg):
    """Filters ``f0 .. f0+fb-1`` of ``grad[n]`` as ``(fb, Ho*Wg)``: row ``ho`` at ``ho*Wg``, zeros after its ``Wo``.

    With ``Wg = Wq``, the padded input's row length, the backward kernels can run ``R`` rows of grad
    against ``R`` padded rows as one flat run, like the forward (:func:`_rows_per_pass`). The zeros
    then meet pixels (``dL/dw``) or weights (``dL/dx``) that belong to no product, and 0 * inf is
    nan: the host functions allow several rows only when those are all finite.
    """
    Ho, Wo = grad.shape[2], grad.shape[3]
    rows = np.zeros((fb, Ho * Wg), dtype=grad.dtype)
    for f in range(fb):
        for ho in range(Ho):
            rows[f, ho * Wg : ho * Wg + Wo] = grad[n, f0 + f, ho]
    return rows


@njit(parallel=True, cache=True)
def _conv2d_forward(xq, w, y, sh, sw, dil_h, dil_w, groups, R):
    # Task (n, g, b): filters f0 .. f0+fb-1 of group g on image n, R output rows ho0 .. at a time.
    N, C, Hp, _, Wq = xq.shape
    F, Cg, kh, kw = w.shape
    Ho, Wo = y.shape[2], y.shape[3]
    Fg = F // groups
    shift, phase = _tap_columns(kw, dil_w, sw)
    blocks = (Fg + BLOCK - 1) // BLOCK  # filter blocks per group; the last one may be short
    for task in prange(N * groups * blocks):
        n, g, b = task // (groups * blocks), task // blocks % groups, task % blocks
        f0 = g * Fg + b * BLOCK
        fb = min(BLOCK, (g + 1) * Fg - f0)
        acc = np.empty((fb, (R - 1) * Wq + Wo), dtype=y.dtype)
        for ho0 in range(0, Ho, R):
            rows = min(R, Ho - ho0)
            L = (rows - 1) * Wq + Wo
            acc[:] = 0
            for c in range(Cg):
                plane = xq[n, g * Cg + c].reshape(Hp * sw * Wq)  # padded row hp, phase r at (hp*sw + r)*Wq
                for i in range(kh):
                    for j in range(kw):
                        start = ((ho0 * sh + i * dil_h) * sw + phase[j]) * Wq + shift[j]
                        taps = plane[start : start + L]
                        for f in range(f0, f0 + fb):
                            weight = w[f, c, i, j]
                            row = acc[f - f0]
                            for t in range(L):
                                row[t] += weight * taps[t]
            for r in range(rows):
                y[n, f0 : f0 + fb, ho0 + r] = acc[:, r * Wq : r * Wq + Wo]


@njit(parallel=True, cache=True)
def _conv2d_backward_input(grad, w, dx, sh, sw, ph, pw, dil_h, dil_w, groups, R):
    # dL/dx[n, c, hi, wi] collects w[f, c, i, j] * grad[n, f, ho, wo] from every (f, i, j, ho, wo) that
    # read it. Task (n, g, b) owns channels c0 .. c0+cb-1 of group g on image n and builds R input rows
    # hi0 .. at a time in acc: padded rows split into sw phases like _pad_and_split_columns', end to
    # end, so that the innermost loop runs over contiguous elements as in the forward. Output row ho
    # read padded row ho*sh + i*dil_h through tap i: rows ho_lo .. ho_hi-1 of grad reach this block that way.
    N, C, H, W = dx.shape
    F, Cg, kh, kw = w.shape
    Ho, Wo = grad.shape[2], grad.shape[3]
    Fg = F // groups
    shift, phase = _tap_columns(kw, dil_w, sw)
    Wq = (W + 2 * pw + sw - 1) // sw
    Wg = Wq if R > 1 else Wo  # the row length of grad_rows
    blocks = (Cg + BLOCK - 1) // BLOCK  # channel blocks per group; the last one may be short
    for task in prange(N * groups * blocks):
        n, g, b = task // (groups * blocks), task // blocks % groups, task % blocks
        c0 = b * BLOCK  # counted within the group: weight channel c is input channel g*Cg + c
        cb = min(BLOCK, Cg - c0)
        acc = np.empty((cb, R * sw * Wq), dtype=dx.dtype)
        if R > 1:
            grad_rows = _rows_of(grad, n, g * Fg, Fg, Wg)
        else:
            grad_rows = grad[n, g * Fg : (g + 1) * Fg].reshape(Fg, Ho * Wo)
        for hi0 in range(0, H, R):
            rows = min(R, H - hi0)
            hp0 = hi0 + ph  # the block's first padded row
            acc[:] = 0
            for i in range(kh):
                ho_lo = max(0, -((i * dil_h - hp0) // sh))  # ceil((hp0 - i*dil_h) / sh)
                ho_hi = min(Ho, (hp0 + rows - 1 - i * dil_h) // sh + 1)
                if ho_lo >= ho_hi:
                    continue
                L = (ho_hi - ho_lo - 1) * Wg + Wo
                for f in range(g * Fg, (g + 1) * Fg):
                    grads = grad_rows[f - g * Fg, ho_lo * Wg : ho_lo * Wg + L]
                    for j in range(kw):
                        start = ((ho_lo * sh + i * dil_h - hp0) * sw + phase[j]) * Wq + shift[j]
                        for c in range(c0, c0 + cb):
                            weight = w[f, c, i, j]
                            row = acc[c - c0, start : start + L]
                            for t in range(L):
                                row[t] += weight * grads[t]
            for c in range(c0, c0 + cb):
                for r in range(rows):
                    for p in range(sw):
                        for q in range(Wq):
                            wi = q * sw + p - pw  # phase p, column q of acc's row r is padded column q*sw + p
                            if 0 <= wi < W:
                                dx[n, g * Cg + c, hi0 + r, wi] = acc[c - c0, (r * sw + p) * Wq + q]


@njit(parallel=True, cache=True)
def _conv2d_backward_weight(xq, grad, dw, sh, sw, dil_h, dil_w, groups, R):
    # dL/dw[f, c, i, j] = sum over n, ho, wo of grad[n, f, ho, wo] * (the pixel tap (i, j) read).
    # Task (g, b, c): filters f0 .. f0+fb-1 of group g against their channel c, R rows of grad at a
    # time. acc[f - f0, i, j, t] holds the partial sum of element t of those runs, so the innermost
    # loop is not one float sum; the partial sums are added up at the end.
    N, C, Hp, _, Wq = xq.shape
    F, Cg, kh, kw = dw.shape
    Ho, Wo = grad.shape[2], grad.shape[3]
    Fg = F // groups
    shift, phase = _tap_columns(kw, dil_w, sw)
    Wg = Wq if R > 1 else Wo  # the row length of grad_rows
    blocks = (Fg + BLOCK - 1) // BLOCK  # filter blocks per group; the last one may be short
    for task in prange(groups * blocks * Cg):
        g, b, c = task // (blocks * Cg), task // Cg % blocks, task % Cg
        f0 = g * Fg + b * BLOCK
        fb = min(BLOCK, (g + 1) * Fg - f0)
        acc = np.zeros((fb, kh, kw, (R - 1) * Wg + Wo), dtype=dw.dtype)
        for n in range(N):
            plane = xq[n, g * Cg + c].reshape(Hp * sw * Wq)  # padded row hp, phase r at (hp*sw + r)*Wq
            if R > 1:
                grad_rows = _rows_of(grad, n, f0, fb, Wg)
            else:
                grad_rows = grad[n, f0 : f0 + fb].reshape(fb, Ho * Wo)
            for ho0 in range(0, Ho, R):
                L = (min(R, Ho - ho0) - 1) * Wg + Wo
                for i in range(kh):
                    for j in range(kw):
                        start = ((ho0 * sh + i * dil_h) * sw + phase[j]) * Wq + shift[j]
                        taps = plane[start : start + L]
                        for f in range(f0, f0 + fb):
                            grads = grad_rows[f - f0, ho0 * Wg : ho0 * Wg + L]
                            row = acc[f - f0, i, j]
                            for t in range(L):
                                row[t] += grads[t] * taps[t]
        for f in range(f0, f0 + fb):
            for i in range(kh):
                for j in range(kw):
                    dw[f, c, i, j] = acc[f - f0, i, j].sum()


def conv2d_forward(x, w, stride=1, padding=0, dilation=1, groups=1, *, out_size):
    """``y = conv2d(x, w)`` without bias: ``(N, C, H, W)`` and ``(F, C/groups, kh, kw)`` -> ``(N, F, Ho, Wo)``.

    ``out_size = (Ho, Wo)`` comes from the caller (``minitorch_cnn.functional.sizes``).
    """
    op = "conv2d_forward"
    x, w = np.asarray(x), np.asarray(w)
    dtype = float_dtype(op, x, w)
    sh, sw, ph, pw, dil_h, dil_w, Ho, Wo = conv_geometry(
        op, x.shape, w.shape, stride, padding, dilation, groups, out_size
    )
    y = np.empty((x.shape[0], w.shape[0], Ho, Wo), dtype=dtype)
    xq = _pad_and_split_columns(x, ph, pw, sw)
    R = _rows_per_pass(Ho, xq.shape[4], sh, sw, ROW)
    _conv2d_forward(xq, np.ascontiguousarray(w), y, sh, sw, dil_h, dil_w, groups, R)
    return y


def conv2d_backward_input(grad_out, w, x_shape, stride=1, padding=0, dilation=1, groups=1):
    """``dL/dx`` of :func:`conv2d_forward` from ``grad_out = dL/dy`` ``(N, F, Ho, Wo)``; returns ``x_shape``."""
    op = "conv2d_backward_input"
    grad_out, w = np.asarray(grad_out), np.asarray(w)
    dtype = float_dtype(op, grad_out, w)
    out_size = grad_out_size(op, grad_out.shape)
    sh, sw, ph, pw, dil_h, dil_w, Ho, Wo = conv_geometry(
        op, x_shape, w.shape, stride, padding, dilation, groups, out_size, "grad_out"
    )
    check_shape(op, "grad_out", grad_out.shape, (x_shape[0], w.shape[0], Ho, Wo))
    dx = np.empty(tuple(x_shape), dtype=dtype)
    R = _rows_per_pass(x_shape[2], (x_shape[3] + 2 * pw + sw - 1) // sw, sh, sw, ROW)
    if R > 1 and not np.isfinite(w).all():
        R = 1  # several rows at once put zero columns between them, and 0 * inf is nan (see _rows_of)
    _conv2d_backward_input(
        np.ascontiguousarray(grad_out), np.ascontiguousarray(w), dx, sh, sw, ph, pw, dil_h, dil_w, groups, R
    )
    return dx


def conv2d_backward_weight(x, grad_out, w_shape, stride=1, padding=0, dilation=1, groups=1):
    """``dL/dw`` of :func:`conv2d_forward` from the input ``x`` and ``grad_out = dL/dy``; returns ``w_shape``."""
    op = "conv2d_backward_weight"
    x, grad_out = np.asarray(x), np.asarray(grad_out)
    dtype = float_dtype(op, x, grad_out)
    out_size = grad_out_size(op, grad_out.shape)
    sh, sw, ph, pw, dil_h, dil_w, Ho, Wo = conv_geometry(
        op, x.shape, w_shape, stride, padding, dilation, groups, out_size, "grad_out"
    )
    check_shape(op, "grad_out", grad_out.shape, (x.shape[0], w_shape[0], Ho, Wo))
    dw = np.empty(tuple(w_shape), dtype=dtype)
    xq = _pad_and_split_columns(x, ph, pw, sw)
    R = _rows_per_pass(Ho, xq.shape[4], sh, sw, ROW_DW)
    if R > 1 and not np.isfinite(x).all():
        R = 1  # several rows at once put zero columns between them, and 0 * inf is nan (see _rows_of)
    _conv2d_backward_weight(xq, np.ascontiguousarray(grad_out), dw, sh, sw, dil_h, dil_w, groups, R)
    return dw


# ---------------------------------------------------------------- max-pooling


@njit(parallel=True, cache=True)
def _max_pool2d_forward(x, y, argmax, kh, kw, sh, sw, ph, pw):
    N, C, H, W = x.shape
    Ho, Wo = y.shape[2], y.shape[3]
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        for ho in range(Ho):
            for wo in range(Wo):
                best = -np.inf
                where = -1
                for i in range(kh):
                    hi = ho * sh - ph + i
                    if hi < 0 or hi >= H:
                        continue
                    for j in range(kw):
                        wi = wo * sw - pw + j
                        if wi < 0 or wi >= W:
                            continue
                        v = x[n, c, hi, wi]
                        # Strictly greater: ties keep the first maximum. A NaN wins (the first one).
                        if where < 0 or v > best or (np.isnan(v) and not np.isnan(best)):
                            best = v
                            where = hi * W + wi
                y[n, c, ho, wo] = best
                argmax[n, c, ho, wo] = where


@njit(cache=True)
def _max_pool2d_backward(grad, argmax, dx):
    # One add per window: too little work for threads to pay for themselves, so a plain loop.
    N, C, H, W = dx.shape
    Ho, Wo = grad.shape[2], grad.shape[3]
    for n in range(N):
        for c in range(C):
            for ho in range(Ho):
                for wo in range(Wo):
                    where = argmax[n, c, ho, wo]
                    if where >= 0:
                        dx[n, c, where // W, where % W] += grad[n, c, ho, wo]


def max_pool2d_forward(x, kernel_size, stride=None, padding=0, *, out_size):
    """Max over each ``kh x kw`` window (padding never wins) -> ``(y, argmax)``, both ``(N, C, Ho, Wo)``.

    ``argmax`` (int64) is the winner's flat index ``hi*W + wi`` in its ``(H, W)`` plane, the
    first maximum in row-major window order on ties, and -1 for a window that holds only
    padding (its ``y`` is -inf). ``stride=None`` means ``stride = kernel_size``. ``out_size =
    (Ho, Wo)`` comes from the caller; a ``ceil_mode`` size works as it is, since pixels past the
    input are skipped.
    """
    op = "max_pool2d_forward"
    x = np.asarray(x)
    dtype = float_dtype(op, x)
    kh, kw, sh, sw, ph, pw, Ho, Wo = pool_geometry(op, x.shape, kernel_size, stride, padding, out_size)
    y = np.empty((x.shape[0], x.shape[1], Ho, Wo), dtype=dtype)
    argmax = np.empty(y.shape, dtype=np.int64)
    _max_pool2d_forward(np.ascontiguousarray(x), y, argmax, kh, kw, sh, sw, ph, pw)
    return y, argmax


def max_pool2d_backward(grad_out, argmax, x_shape, kernel_size, stride=None, padding=0):
    """``dL/dx`` of :func:`max_pool2d_forward`: each window's gradient goes to its ``argmax`` pixel."""
    op = "max_pool2d_backward"
    grad_out, argmax = np.asarray(grad_out), np.asarray(argmax)
    dtype = float_dtype(op, grad_out)
    check_argmax(op, argmax)
    out_size = grad_out_size(op, grad_out.shape)
    kh, kw, sh, sw, ph, pw, Ho, Wo = pool_geometry(op, x_shape, kernel_size, stride, padding, out_size, "grad_out")
    expected = (x_shape[0], x_shape[1], Ho, Wo)
    check_shape(op, "grad_out", grad_out.shape, expected)
    check_shape(op, "argmax", argmax.shape, expected)
    dx = np.zeros(tuple(x_shape), dtype=dtype)
    _max_pool2d_backward(np.ascontiguousarray(grad_out), np.ascontiguousarray(argmax), dx)
    return dx
