"""Argument checks shared by the host functions of the CPU and CUDA kernels.

The kernels compute no output size. A forward host function takes ``out_size = (Ho, Wo)`` from
its caller (``minitorch_cnn`` asks :mod:`minitorch_cnn.functional.sizes`, the one place that
computes sizes); a backward one reads ``(Ho, Wo)`` off ``grad_out``. What is left here are checks:
each turns one call's arguments into the plain integers a compiled kernel takes
(``sh, sw, ph, pw, dil_h, dil_w, Ho, Wo``...), so that a bad call fails here with
``"opname: expected ..., got ..."`` before compiled code, which tests no index, reads or writes
outside an array.
"""

from __future__ import annotations

import numpy as np

FLOAT_DTYPES = ("float32", "float64")


def float_dtype(op, *arrays):
    """The common dtype name of ``arrays``, which must all be float32 or all float64."""
    names = [np.dtype(a.dtype).name for a in arrays]
    if names[0] not in FLOAT_DTYPES or any(name != names[0] for name in names):
        raise TypeError(f"{op}: expected float32 or float64 arrays of one dtype, got {', '.join(names)}")
    return names[0]


def check_argmax(op, argmax):
    """Raise unless ``argmax`` holds int64 indices, as max-pool forward makes them."""
    if np.dtype(argmax.dtype) != np.int64:
        raise TypeError(f"{op}: expected an int64 argmax (from max_pool2d_forward), got {np.dtype(argmax.dtype).name}")


def check_shape(op, name, shape, expected):
    """Raise unless array ``name`` has exactly the shape the other arguments imply."""
    if tuple(shape) != tuple(expected):
        raise ValueError(f"{op}: expected {name} of shape {tuple(expected)}, got {tuple(shape)}")


def _check_4d(op, name, shape, layout):
    if len(shape) != 4:
        raise ValueError(f"{op}: expected a 4-D {name} {layout}, got shape {tuple(shape)}")


def _pair(value, name, op, minimum):
    """``3 -> (3, 3)``, ``(3, 5) -> (3, 5)``: an int or an ``(h, w)`` pair of ints, each at least ``minimum``."""
    h, w = value if isinstance(value, (tuple, list)) and len(value) == 2 else (value, value)
    for v in (h, w):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{op}: expected {name} to be an int or an (h, w) pair of ints, got {value!r}")
        if v < minimum:
            raise ValueError(f"{op}: expected {name} of at least {minimum}, got {value!r}")
    return int(h), int(w)


def grad_out_size(op, grad_out_shape):
    """``(Ho, Wo)`` of a backward's ``grad_out``: the output size its forward was given."""
    _check_4d(op, "grad_out", grad_out_shape, "(N, channels, Ho, Wo)")
    return tuple(grad_out_shape[2:])


def conv_geometry(op, x_shape, w_shape, stride, padding, dilation, groups, out_size, source="out_size"):
    """Check an ``(N, C, H, W)`` input against ``(F, C/groups, kh, kw)`` weights and ``out_size = (Ho, Wo)``.

    The CPU kernels read the padded input without a bounds test, so the last window's last tap
    must lie in it: ``(Ho - 1)*sh + dil_h*(kh - 1) + 1 <= H + 2*ph``, likewise along W. A smaller
    output than the padded input allows is fine (the kernels compute the windows they are asked for).
    ``source`` names where ``out_size`` came from in error messages (a backward's ``"grad_out"``).

    Returns ``(sh, sw, ph, pw, dil_h, dil_w, Ho, Wo)``.
    """
    _check_4d(op, "input", x_shape, "(N, C, H, W)")
    _check_4d(op, "weight", w_shape, "(F, C/groups, kh, kw)")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{op}: expected groups to be a positive int, got {groups!r}")
    N, C, H, W = x_shape
    F, Cg, kh, kw = w_shape
    if C % groups or F % groups or Cg * groups != C:
        raise ValueError(
            f"{op}: expected weight (F, C/groups, kh, kw) with C = {C} and F divisible by groups = {groups}, "
            f"got weight {tuple(w_shape)} for input {tuple(x_shape)}"
        )
    sh, sw = _pair(stride, "stride", op, 1)
    ph, pw = _pair(padding, "padding", op, 0)
    dil_h, dil_w = _pair(dilation, "dilation", op, 1)
    Ho, Wo = _pair(out_size, f"(Ho, Wo) from {source}", op, 1)
    reach = ((Ho - 1) * sh + dil_h * (kh - 1) + 1, (Wo - 1) * sw + dil_w * (kw - 1) + 1)
    padded = (H + 2 * ph, W + 2 * pw)
    if reach[0] > padded[0] or reach[1] > padded[1]:
        raise ValueError(
            f"{op}: expected windows that end inside the padded input {padded}, "
            f"(Ho - 1)*sh + dil_h*(kh - 1) + 1 <= H + 2*ph and likewise along W, "
            f"got (Ho, Wo) = {(Ho, Wo)} from {source}, reaching {reach}"
        )
    return sh, sw, ph, pw, dil_h, dil_w, Ho, Wo


def im2col_geometry(op, x_shape, kernel_size, stride, padding, dilation, out_size):
    """:func:`conv_geometry` for im2col and col2im, which take a ``kernel_size`` instead of weights.

    Returns ``(kh, kw, sh, sw, ph, pw, dil_h, dil_w, Ho, Wo)``.
    """
    _check_4d(op, "input", x_shape, "(N, C, H, W)")
    kh, kw = _pair(kernel_size, "kernel_size", op, 1)
    return (kh, kw, *conv_geometry(op, x_shape, (1, x_shape[1], kh, kw), stride, padding, dilation, 1, out_size))


def pool_geometry(op, x_shape, kernel_size, stride, padding, out_size, source="out_size"):
    """Check a pooling call on an ``(N, C, H, W)`` input; ``stride=None`` means the kernel size.

    The pooling kernels test every pixel they read, so no size can make them leave an array, and a
    window may hang over the padded input (``ceil_mode``'s last one does) or hold only padding
    (``y = -inf``, ``argmax = -1``). But each window must start inside the padded input,
    ``(Ho - 1)*sh < H + 2*ph`` (likewise along W): every size the sizes helper computes, floor or
    ceil, does, and a window starting further out is no window of this input, only a wrong
    ``out_size``. ``source`` as in :func:`conv_geometry`.

    Returns ``(kh, kw, sh, sw, ph, pw, Ho, Wo)``.
    """
    _check_4d(op, "input", x_shape, "(N, C, H, W)")
    H, W = x_shape[2], x_shape[3]
    kh, kw = _pair(kernel_size, "kernel_size", op, 1)
    sh, sw = _pair(kernel_size if stride is None else stride, "stride", op, 1)
    ph, pw = _pair(padding, "padding", op, 0)
    Ho, Wo = _pair(out_size, f"(Ho, Wo) from {source}", op, 1)
    start = ((Ho - 1) * sh, (Wo - 1) * sw)
    padded = (H + 2 * ph, W + 2 * pw)
    if start[0] >= padded[0] or start[1] >= padded[1]:
        raise ValueError(
            f"{op}: expected a last window that starts inside the padded input {padded}, "
            f"(Ho - 1)*sh < H + 2*ph and likewise along W, "
            f"got (Ho, Wo) = {(Ho, Wo)} from {source}, starting at {start}"
        )
    return kh, kw, sh, sw, ph, pw, Ho, Wo
