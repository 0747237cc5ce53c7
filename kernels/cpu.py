"""Numba ``njit`` kernels for 2-D convolution and max-pooling on NumPy arrays.

Each kernel runs the loops of the naive reference, compiled to machine code::

    y[n, f, ho, wo] = sum_{c, i, j} w[f, c, i, j] * x[n, g*Cg + c, ho*sh - ph + i*dh, wo*sw - pw + j*dw]

with ``Cg = C/groups`` input channels and ``Fg = F/groups`` filters per group and
``g = f // Fg`` the group of filter ``f``; pixels outside the input read as zero. Two
changes from the slide's loop order, both for speed:

* the kernel-tap loops ``c, i, j`` run outside the pixel loops ``ho, wo``, so the innermost
  loop walks along one row of the output;
* :func:`_valid_outputs` works out once per tap which output rows/columns read a real pixel,
  so the innermost loop has no bounds test and LLVM can vectorise it.

The outermost loop is a ``prange`` over ``N*F`` (or ``N*C``, ``F*Cg``): every iteration owns
its own slice of the result, so threads never write to the same element and need no locks.
Max-pool backward, one add per window, stays a plain loop.
Sums accumulate in the arrays' dtype (float32 or float64), like every other path.

The host functions take and return NumPy arrays and have the same signatures as
:mod:`kernels.cuda`'s. Compiled code is cached on disk (``cache=True``), so only the first run
on a machine pays the compile time.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .geometry import check_argmax, check_shape, conv_geometry, float_dtype, pool_geometry


@njit(cache=True, inline="always")
def _valid_outputs(size_out, size_in, stride, padding, offset):
    """Outputs ``o`` in ``[lo, hi)`` read a real pixel ``o*stride - padding + offset`` (one in ``[0, size_in)``)."""
    lo = max(0, -((offset - padding) // stride))  # ceil((padding - offset) / stride)
    hi = min(size_out, (size_in - 1 + padding - offset) // stride + 1)
    return lo, max(lo, hi)


# ---------------------------------------------------------------- convolution


@njit(parallel=True, cache=True)
def _conv2d_forward(x, w, y, sh, sw, ph, pw, dh, dw, groups):
    N, C, H, W = x.shape
    F, Cg, kh, kw = w.shape
    Ho, Wo = y.shape[2], y.shape[3]
    Fg = F // groups
    for nf in prange(N * F):
        n, f = nf // F, nf % F
        g = f // Fg
        for c in range(Cg):
            for i in range(kh):
                ho_lo, ho_hi = _valid_outputs(Ho, H, sh, ph, i * dh)
                for j in range(kw):
                    wo_lo, wo_hi = _valid_outputs(Wo, W, sw, pw, j * dw)
                    weight = w[f, c, i, j]
                    for ho in range(ho_lo, ho_hi):
                        hi = ho * sh - ph + i * dh
                        for wo in range(wo_lo, wo_hi):
                            y[n, f, ho, wo] += weight * x[n, g * Cg + c, hi, wo * sw - pw + j * dw]


@njit(parallel=True, cache=True)
def _conv2d_backward_input(grad, w, dx, sh, sw, ph, pw, dh, dw, groups):
    # dL/dx[n, c, hi, wi] collects w[f, c, i, j] * grad[n, f, ho, wo] from every (f, i, j, ho, wo)
    # that read it; iteration (n, c) owns the plane dx[n, c], so the scatter below is race-free.
    N, C, H, W = dx.shape
    F, Cg, kh, kw = w.shape
    Ho, Wo = grad.shape[2], grad.shape[3]
    Fg = F // groups
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        g, cg = c // Cg, c % Cg
        for f in range(g * Fg, (g + 1) * Fg):
            for i in range(kh):
                ho_lo, ho_hi = _valid_outputs(Ho, H, sh, ph, i * dh)
                for j in range(kw):
                    wo_lo, wo_hi = _valid_outputs(Wo, W, sw, pw, j * dw)
                    weight = w[f, cg, i, j]
                    for ho in range(ho_lo, ho_hi):
                        hi = ho * sh - ph + i * dh
                        for wo in range(wo_lo, wo_hi):
                            dx[n, c, hi, wo * sw - pw + j * dw] += weight * grad[n, f, ho, wo]


@njit(parallel=True, cache=True)
def _conv2d_backward_weight(x, grad, dw_out, sh, sw, ph, pw, dh, dw, groups):
    # dL/dw[f, c, i, j] = sum over n, ho, wo of grad[n, f, ho, wo] * (the pixel tap (i, j) read).
    N, C, H, W = x.shape
    F, Cg, kh, kw = dw_out.shape
    Ho, Wo = grad.shape[2], grad.shape[3]
    Fg = F // groups
    for fc in prange(F * Cg):
        f, c = fc // Cg, fc % Cg
        channel = (f // Fg) * Cg + c
        for i in range(kh):
            ho_lo, ho_hi = _valid_outputs(Ho, H, sh, ph, i * dh)
            for j in range(kw):
                wo_lo, wo_hi = _valid_outputs(Wo, W, sw, pw, j * dw)
                total = dw_out[f, c, i, j]  # the zero it starts from has the arrays' dtype
                for n in range(N):
                    for ho in range(ho_lo, ho_hi):
                        hi = ho * sh - ph + i * dh
                        for wo in range(wo_lo, wo_hi):
                            total += grad[n, f, ho, wo] * x[n, channel, hi, wo * sw - pw + j * dw]
                dw_out[f, c, i, j] = total


def conv2d_forward(x, w, stride=1, padding=0, dilation=1, groups=1):
    """``y = conv2d(x, w)`` without bias: ``(N, C, H, W)`` and ``(F, C/groups, kh, kw)`` -> ``(N, F, Ho, Wo)``."""
    op = "conv2d_forward"
    x, w = np.asarray(x), np.asarray(w)
    dtype = float_dtype(op, x, w)
    sh, sw, ph, pw, dh, dw, Ho, Wo = conv_geometry(op, x.shape, w.shape, stride, padding, dilation, groups)
    y = np.zeros((x.shape[0], w.shape[0], Ho, Wo), dtype=dtype)
    _conv2d_forward(np.ascontiguousarray(x), np.ascontiguousarray(w), y, sh, sw, ph, pw, dh, dw, groups)
    return y


def conv2d_backward_input(grad_out, w, x_shape, stride=1, padding=0, dilation=1, groups=1):
    """``dL/dx`` of :func:`conv2d_forward` from ``grad_out = dL/dy`` ``(N, F, Ho, Wo)``; returns ``x_shape``."""
    op = "conv2d_backward_input"
    grad_out, w = np.asarray(grad_out), np.asarray(w)
    dtype = float_dtype(op, grad_out, w)
    sh, sw, ph, pw, dh, dw, Ho, Wo = conv_geometry(op, x_shape, w.shape, stride, padding, dilation, groups)
    check_shape(op, "grad_out", grad_out.shape, (x_shape[0], w.shape[0], Ho, Wo))
    dx = np.zeros(tuple(x_shape), dtype=dtype)
    _conv2d_backward_input(np.ascontiguousarray(grad_out), np.ascontiguousarray(w), dx, sh, sw, ph, pw, dh, dw, groups)
    return dx


def conv2d_backward_weight(x, grad_out, w_shape, stride=1, padding=0, dilation=1, groups=1):
    """``dL/dw`` of :func:`conv2d_forward` from the input ``x`` and ``grad_out = dL/dy``; returns ``w_shape``."""
    op = "conv2d_backward_weight"
    x, grad_out = np.asarray(x), np.asarray(grad_out)
    dtype = float_dtype(op, x, grad_out)
    sh, sw, ph, pw, dh, dw, Ho, Wo = conv_geometry(op, x.shape, w_shape, stride, padding, dilation, groups)
    check_shape(op, "grad_out", grad_out.shape, (x.shape[0], w_shape[0], Ho, Wo))
    dw_out = np.zeros(tuple(w_shape), dtype=dtype)
    _conv2d_backward_weight(
        np.ascontiguousarray(x), np.ascontiguousarray(grad_out), dw_out, sh, sw, ph, pw, dh, dw, groups
    )
    return dw_out


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


def max_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """Max over each ``kh x kw`` window (padding never wins) -> ``(y, argmax)``, both ``(N, C, Ho, Wo)``.

    ``argmax`` (int64) is the winner's flat index ``hi*W + wi`` in its ``(H, W)`` plane, the
    first maximum in row-major window order on ties, and -1 for a window that holds only
    padding (its ``y`` is -inf). ``stride=None`` means ``stride = kernel_size``.
    """
    op = "max_pool2d_forward"
    x = np.asarray(x)
    dtype = float_dtype(op, x)
    kh, kw, sh, sw, ph, pw, Ho, Wo = pool_geometry(op, x.shape, kernel_size, stride, padding)
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
    kh, kw, sh, sw, ph, pw, Ho, Wo = pool_geometry(op, x_shape, kernel_size, stride, padding)
    expected = (x_shape[0], x_shape[1], Ho, Wo)
    check_shape(op, "grad_out", grad_out.shape, expected)
    check_shape(op, "argmax", argmax.shape, expected)
    dx = np.zeros(tuple(x_shape), dtype=dtype)
    _max_pool2d_backward(np.ascontiguousarray(grad_out), np.ascontiguousarray(argmax), dx)
    return dx
