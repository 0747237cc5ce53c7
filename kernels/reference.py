"""NumPy reference the compiled kernels are tested against, computed in float64.

Written differently from the kernels on purpose: instead of looping over pixels it loops over
the ``kh*kw`` kernel taps, and for each tap handles every window at once with one strided
slice of the padded input (as Chainer's im2col does). A bug would have to be made twice, in
two different shapes, to go unnoticed.
"""

from __future__ import annotations

import numpy as np

from minitorch_cnn.functional.sizes import pair

from .geometry import conv_geometry, pool_geometry


def _tap(i, j, Ho, Wo, sh, sw, dil_h=1, dil_w=1):
    """Slices of the padded input that tap ``(i, j)`` reads: one pixel per output pixel."""
    return (
        slice(i * dil_h, i * dil_h + (Ho - 1) * sh + 1, sh),
        slice(j * dil_w, j * dil_w + (Wo - 1) * sw + 1, sw),
    )


def _pad(x, ph, pw, value=0.0):
    return np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def conv2d(x, w, stride=1, padding=0, dilation=1, groups=1):
    """``y[n, f] = sum_{c, i, j} w[f, c, i, j] * x_padded[n, g*Cg + c, tap (i, j)]`` -> ``(N, F, Ho, Wo)``."""
    sh, sw, ph, pw, dil_h, dil_w, Ho, Wo = conv_geometry("conv2d", x.shape, w.shape, stride, padding, dilation, groups)
    F, Cg, kh, kw = w.shape
    Fg = F // groups
    x_padded = _pad(x, ph, pw)
    y = np.zeros((x.shape[0], F, Ho, Wo))
    for g in range(groups):
        xg = x_padded[:, g * Cg : (g + 1) * Cg]
        for i in range(kh):
            for j in range(kw):
                rows, cols = _tap(i, j, Ho, Wo, sh, sw, dil_h, dil_w)
                taps = w[g * Fg : (g + 1) * Fg, :, i, j]
                y[:, g * Fg : (g + 1) * Fg] += np.einsum("nchw,fc->nfhw", xg[:, :, rows, cols], taps)
    return y


def conv2d_backward_input(grad_out, w, x_shape, stride=1, padding=0, dilation=1, groups=1):
    """``dL/dx``: every tap sends ``w^T grad`` back through the slice it read."""
    sh, sw, ph, pw, dil_h, dil_w, Ho, Wo = conv_geometry("conv2d", x_shape, w.shape, stride, padding, dilation, groups)
    N, C, H, W = x_shape
    F, Cg, kh, kw = w.shape
    Fg = F // groups
    dx_padded = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    for g in range(groups):
        grad_g = grad_out[:, g * Fg : (g + 1) * Fg].astype(np.float64)
        for i in range(kh):
            for j in range(kw):
                rows, cols = _tap(i, j, Ho, Wo, sh, sw, dil_h, dil_w)
                dx_padded[:, g * Cg : (g + 1) * Cg, rows, cols] += np.einsum(
                    "nfhw,fc->nchw", grad_g, w[g * Fg : (g + 1) * Fg, :, i, j]
                )
    return dx_padded[:, :, ph : ph + H, pw : pw + W]


def conv2d_backward_weight(x, grad_out, w_shape, stride=1, padding=0, dilation=1, groups=1):
    """``dL/dw[f, c, i, j] = sum_{n, ho, wo} grad[n, f] * x_padded[n, g*Cg + c, tap (i, j)]``."""
    sh, sw, ph, pw, dil_h, dil_w, Ho, Wo = conv_geometry("conv2d", x.shape, w_shape, stride, padding, dilation, groups)
    F, Cg, kh, kw = w_shape
    Fg = F // groups
    x_padded = _pad(x, ph, pw)
    dw = np.zeros(tuple(w_shape))
    for g in range(groups):
        xg = x_padded[:, g * Cg : (g + 1) * Cg]
        grad_g = grad_out[:, g * Fg : (g + 1) * Fg].astype(np.float64)
        for i in range(kh):
            for j in range(kw):
                rows, cols = _tap(i, j, Ho, Wo, sh, sw, dil_h, dil_w)
                dw[g * Fg : (g + 1) * Fg, :, i, j] = np.einsum("nfhw,nchw->fc", grad_g, xg[:, :, rows, cols])
    return dw


def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    """``(N, C, H, W) -> (N, C*kh*kw, Ho*Wo)``: row ``(c*kh + i)*kw + j`` holds tap ``(i, j)`` of channel ``c``."""
    kh, kw = pair(kernel_size)
    N, C = x.shape[:2]
    sh, sw, ph, pw, dil_h, dil_w, Ho, Wo = conv_geometry(
        "im2col", x.shape, (1, C, kh, kw), stride, padding, dilation, 1
    )
    x_padded = _pad(x, ph, pw)
    cols = np.zeros((N, C, kh, kw, Ho, Wo))
    for i in range(kh):
        for j in range(kw):
            rows, columns = _tap(i, j, Ho, Wo, sh, sw, dil_h, dil_w)
            cols[:, :, i, j] = x_padded[:, :, rows, columns]
    return cols.reshape(N, C * kh * kw, Ho * Wo)


def col2im(cols, x_shape, kernel_size, stride=1, padding=0, dilation=1):
    """Adjoint of :func:`im2col`: add every column entry back onto the pixel it was copied from."""
    kh, kw = pair(kernel_size)
    N, C, H, W = x_shape
    sh, sw, ph, pw, dil_h, dil_w, Ho, Wo = conv_geometry(
        "col2im", x_shape, (1, C, kh, kw), stride, padding, dilation, 1
    )
    cols = cols.astype(np.float64).reshape(N, C, kh, kw, Ho, Wo)
    x_padded = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    for i in range(kh):
        for j in range(kw):
            rows, columns = _tap(i, j, Ho, Wo, sh, sw, dil_h, dil_w)
            x_padded[:, :, rows, columns] += cols[:, :, i, j]
    return x_padded[:, :, ph : ph + H, pw : pw + W]


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """``(y, argmax)``: window maximum over real pixels (padding is -inf) and its flat index ``hi*W + wi``.

    Ties go to the first maximum in row-major window order; a NaN wins over numbers (the first NaN).
    """
    kh, kw, sh, sw, ph, pw, Ho, Wo = pool_geometry("max_pool2d", x.shape, kernel_size, stride, padding)
    N, C, H, W = x.shape
    x_padded = _pad(x, ph, pw, value=-np.inf)
    pixel = _pad(np.arange(H * W).reshape(1, 1, H, W), ph, pw, value=-1)
    best = np.full((N, C, Ho, Wo), -np.inf)
    where = np.full((N, C, Ho, Wo), -1, dtype=np.int64)
    for i in range(kh):
        for j in range(kw):
            rows, cols = _tap(i, j, Ho, Wo, sh, sw)
            value = x_padded[:, :, rows, cols]
            index = np.broadcast_to(pixel[:, :, rows, cols], value.shape).astype(np.int64)
            real = index >= 0
            wins = real & ((where < 0) | (value > best) | (np.isnan(value) & ~np.isnan(best)))
            best = np.where(wins, value, best)
            where = np.where(wins, index, where)
    return best, where


def max_pool2d_backward(grad_out, argmax, x_shape):
    """``dL/dx``: each window's gradient added onto its argmax pixel."""
    N, C, H, W = x_shape
    dx = np.zeros((N * C, H * W))
    planes = np.repeat(np.arange(N * C), grad_out.shape[2] * grad_out.shape[3])
    flat = argmax.reshape(-1)
    keep = flat >= 0
    np.add.at(dx, (planes[keep], flat[keep]), grad_out.astype(np.float64).reshape(-1)[keep])
    return dx.reshape(x_shape)
