"""Argument checks shared by the host functions of the CPU and CUDA kernels.

Each check turns one call's arguments into the plain integers a compiled kernel takes
(``sh, sw, ph, pw, dil_h, dil_w, Ho, Wo``...), so that a bad call fails here with
``"opname: expected ..., got ..."`` instead of inside a kernel. Output sizes come from
:mod:`minitorch_cnn.functional.sizes`, like every other layer's.
"""

from __future__ import annotations

import numpy as np

from minitorch_cnn.functional.sizes import conv2d_output_shape, pair

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


def conv_geometry(op, x_shape, w_shape, stride, padding, dilation, groups):
    """Check an ``(N, C, H, W)`` input against ``(F, C/groups, kh, kw)`` weights.

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
    sh, sw = pair(stride, "stride", op)
    ph, pw = pair(padding, "padding", op)
    dil_h, dil_w = pair(dilation, "dilation", op)
    Ho, Wo = conv2d_output_shape(H, W, (kh, kw), (sh, sw), (ph, pw), (dil_h, dil_w), op=op)
    return sh, sw, ph, pw, dil_h, dil_w, Ho, Wo


def pool_geometry(op, x_shape, kernel_size, stride, padding, ceil_mode=False):
    """Check a pooling call on an ``(N, C, H, W)`` input; ``stride=None`` means the kernel size.

    With ``ceil_mode`` the output size rounds up (:func:`~minitorch_cnn.functional.sizes.conv_output_size`);
    the kernels already skip every pixel outside the input, so the last window's overhang needs nothing more.

    Returns ``(kh, kw, sh, sw, ph, pw, Ho, Wo)``.
    """
    _check_4d(op, "input", x_shape, "(N, C, H, W)")
    kh, kw = pair(kernel_size, "kernel_size", op)
    sh, sw = pair(kernel_size if stride is None else stride, "stride", op)
    ph, pw = pair(padding, "padding", op)
    Ho, Wo = conv2d_output_shape(x_shape[2], x_shape[3], (kh, kw), (sh, sw), (ph, pw), op=op, ceil_mode=ceil_mode)
    return kh, kw, sh, sw, ph, pw, Ho, Wo
