"""CUDA kernels (``numba.cuda``) for 2-D convolution and max-pooling, and the host functions that launch them.

The kernels, one GPU thread per element of the result unless said otherwise:

* ``im2col`` - ``cols[n, (c*kh + i)*kw + j, ho*Wo + wo]`` is the pixel that tap ``(i, j)`` of
  window ``(ho, wo)`` reads (0 in the padding), the layout of ``F.conv2d``'s im2col.
* ``col2im`` - its adjoint, written as a *gather*: the thread of pixel ``(n, c, hi, wi)`` adds
  up the column entries that were copied from it. Each thread writes only its own pixel, so
  overlapping windows need no atomics.
* ``conv2d_forward`` - direct convolution as an implicit matrix product
  ``y[n, g*Fg + f, p] = sum_k w[g*Fg + f, k] * cols[n, g*Cg*kh*kw + k, p]`` over ``k = (c, i, j)``
  and ``p = (ho, wo)``, tiled through shared memory without ever building ``cols``: a block of
  ``TILE x TILE`` threads computes ``TILE`` filters times ``TILE`` output pixels of one
  ``(n, group)``. It walks ``k`` in steps of ``TILE``; at each step every thread copies one
  weight and one input pixel into shared memory, the block synchronises, and each thread does
  ``TILE`` multiply-adds from shared memory, so every value read from global memory is used
  ``TILE`` times.
* ``conv2d_depthwise`` - one group per channel (``groups == C``, weight ``(F, 1, kh, kw)``):
  ``kh*kw`` taps per output and nothing worth tiling.
* ``conv2d_backward_input`` - a gather: pixel ``(n, c, hi, wi)`` visits the outputs whose
  windows read it, ``dx = sum w[f, c, i, j] * grad[n, f, ho, wo]``.
* ``conv2d_backward_weight`` - a few threads per weight ``(f, c, i, j)`` split its ``N*Ho*Wo``
  products, then add their partial sums in shared memory (a tree reduction).
* ``max_pool2d_forward`` stores each window's maximum and its flat index ``hi*W + wi``;
  ``max_pool2d_backward`` is a gather over input pixels that collects the windows it won.

Accumulators have the arrays' dtype. Every kernel is written once as a factory of ``real``,
Numba's ``float32`` or ``float64``, and compiled per dtype (:data:`KERNELS`), so a float64
gradient check is never summed in float32 and float32 training never pays for float64.

The host functions accept NumPy arrays (copied to the GPU, the result copied back) or GPU
arrays - Numba device arrays, CuPy arrays, anything with ``__cuda_array_interface__`` - which
are used where they are; the result is of the same kind (CuPy in, CuPy out). With
``NUMBA_ENABLE_CUDASIM=1`` set before Numba is imported, all of it runs in Numba's CUDA
simulator on the CPU. Importing this module needs no GPU; ``kernels`` itself never imports it.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

try:
    from numba import cuda
except ImportError as exc:  # a Numba without the built-in CUDA target, and no numba-cuda
    raise ImportError("kernels.cuda needs numba.cuda: install the 'cuda' extra (numba-cuda[cu12])") from exc

from .geometry import (
    check_argmax,
    check_shape,
    conv_geometry,
    float_dtype,
    grad_out_size,
    im2col_geometry,
    pool_geometry,
)

#: Threads per block (four 32-thread warps) of all kernels but the tiled one; a power of two.
THREADS = 128
#: Side of conv2d_forward's square tiles: ``TILE x TILE`` threads and two ``TILE x TILE`` shared arrays.
TILE = 16
#: Products each thread of conv2d_backward_weight adds up before the tree reduction, at least:
#: short sums get fewer threads per weight and more weights per block.
PRODUCTS_PER_THREAD = 16
#: Most blocks a grid may have along x, y and z.
_GRID_LIMITS = (2**31 - 1, 65535, 65535)


def launch_config(kind, *work):
    """``(grid, block)`` for one launch, the only place launch sizes are chosen.

    * ``"elements", n`` - one thread per element of an ``n``-element result, ``THREADS`` per block.
    * ``"tiles", P, Fg, N*groups`` - ``TILE x TILE`` blocks over ``P`` output pixels and ``Fg``
      filters, one grid layer per ``(n, group)``.
    * ``"reduce", outputs, length`` - ``THREADS``-thread blocks of ``lanes x rows``: each row
      sums one output's ``length`` products, split over ``lanes`` threads (a power of two giving
      each about ``PRODUCTS_PER_THREAD`` products), so short sums pack many outputs per block.
    """
    if kind == "elements":
        (n,) = work
        block = (THREADS,)
        grid = (-(-n // THREADS),)
    elif kind == "tiles":
        P, Fg, layers = work
        block = (TILE, TILE, 1)
        grid = (-(-P // TILE), -(-Fg // TILE), layers)
    elif kind == "reduce":
        outputs, length = work
        lanes = 1
        while lanes < THREADS and lanes * PRODUCTS_PER_THREAD < length:
            lanes *= 2
        block = (lanes, THREADS // lanes)
        grid = (-(-outputs // block[1]),)
    else:
        raise ValueError(f"launch_config: expected kind 'elements', 'tiles' or 'reduce', got {kind!r}")
    for axis, (blocks, limit) in enumerate(zip(grid, _GRID_LIMITS)):
        if blocks > limit:
            raise ValueError(f"launch_config: expected at most {limit} blocks on grid axis {axis}, got {blocks}")
    return grid, block


# ---------------------------------------------------------------- device helpers
# inline="always" pastes them into each kernel at Numba-IR level: a separately compiled device
# function would need a GPU to ask for its compute capability, and compile_ptx has none.


@cuda.jit(device=True, inline="always")
def _unravel(t, shape):
    """``(a, b, c, d)`` position of flat index ``t`` in a C-ordered array of 4-D ``shape``."""
    _, B, C, D = shape
    return t // (B * C * D), (t // (C * D)) % B, (t // D) % C, t % D


@cuda.jit(device=True, inline="always")
def _output_reading(pixel, padding, offset, stride, size_out):
    """The output ``o`` with ``o*stride - padding + offset == pixel`` (it reads ``pixel``), or -1."""
    shifted = pixel + padding - offset
    if shifted < 0 or shifted % stride != 0 or shifted // stride >= size_out:
        return -1
    return shifted // stride


# ---------------------------------------------------------------- kernels, one factory each


def _im2col(real):
    def im2col(x, cols, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Wo):
        N, C, H, W = x.shape
        t = cuda.grid(1)
        if t >= cols.size:
            return
        # t runs over cols in memory order, so neighbouring threads write neighbouring addresses.
        L = cols.shape[2]
        n, row, p = t // (cols.shape[1] * L), (t // L) % cols.shape[1], t % L
        c, i, j = row // (kh * kw), (row // kw) % kh, row % kw
        hi = (p // Wo) * sh - ph + i * dil_h
        wi = (p % Wo) * sw - pw + j * dil_w
        value = real(0)
        if 0 <= hi < H and 0 <= wi < W:
            value = x[n, c, hi, wi]
        cols[n, row, p] = value

    return im2col


def _col2im(real):
    def col2im(cols, x, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Wo):
        t = cuda.grid(1)
        if t >= x.size:
            return
        n, c, hi, wi = _unravel(t, x.shape)
        Ho = cols.shape[2] // Wo
        total = real(0)
        for i in range(kh):
            ho = _output_reading(hi, ph, i * dil_h, sh, Ho)
            if ho < 0:
                continue
            for j in range(kw):
                wo = _output_reading(wi, pw, j * dil_w, sw, Wo)
                if wo >= 0:
                    total += cols[n, (c * kh + i) * kw + j, ho * Wo + wo]
        x[n, c, hi, wi] = total

    return col2im


def _conv2d_forward(real):
    def conv2d_forward(x, w, y, sh, sw, ph, pw, dil_h, dil_w, groups):
        N, C, H, W = x.shape
        F, Cg, kh, kw = w.shape
        Ho, Wo = y.shape[2], y.shape[3]
        Fg = F // groups
        K, P = Cg * kh * kw, Ho * Wo
        w_tile = cuda.shared.array((TILE, TILE), real)  # w_tile[f, k]: TILE filters x TILE taps
        x_tile = cuda.shared.array((TILE, TILE), real)  # x_tile[k, p]: TILE taps x TILE pixels
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        n, g = cuda.blockIdx.z // groups, cuda.blockIdx.z % groups
        f = cuda.blockIdx.y * TILE + ty  # this thread's filter (within group g) ...
        p = cuda.blockIdx.x * TILE + tx  # ... and output pixel
        total = real(0)
        for k0 in range(0, K, TILE):
            # Thread (ty, tx) copies weight (f, k0 + tx) and pixel (k0 + ty, p); zeros past the ends.
            k = k0 + tx
            value = real(0)
            if f < Fg and k < K:
                value = w[g * Fg + f, k // (kh * kw), (k // kw) % kh, k % kw]
            w_tile[ty, tx] = value
            k = k0 + ty
            value = real(0)
            if p < P and k < K:
                hi = (p // Wo) * sh - ph + ((k // kw) % kh) * dil_h
                wi = (p % Wo) * sw - pw + (k % kw) * dil_w
                if 0 <= hi < H and 0 <= wi < W:
                    value = x[n, g * Cg + k // (kh * kw), hi, wi]
            x_tile[ty, tx] = value
            cuda.syncthreads()
            for kk in range(TILE):
                total += w_tile[ty, kk] * x_tile[kk, tx]
            cuda.syncthreads()  # nobody overwrites a tile another thread is still reading
        if f < Fg and p < P:
            y[n, g * Fg + f, p // Wo, p % Wo] = total

    return conv2d_forward


def _conv2d_depthwise(real):
    def conv2d_depthwise(x, w, y, sh, sw, ph, pw, dil_h, dil_w):
        N, C, H, W = x.shape
        F, _, kh, kw = w.shape
        t = cuda.grid(1)
        if t >= y.size:
            return
        n, f, ho, wo = _unravel(t, y.shape)
        c = f // (F // C)  # channel c owns filters c*F/C ... (c+1)*F/C - 1
        total = real(0)
        for i in range(kh):
            hi = ho * sh - ph + i * dil_h
            if hi < 0 or hi >= H:
                continue
            for j in range(kw):
                wi = wo * sw - pw + j * dil_w
                if 0 <= wi < W:
                    total += w[f, 0, i, j] * x[n, c, hi, wi]
        y[n, f, ho, wo] = total

    return conv2d_depthwise


def _conv2d_backward_input(real):
    def conv2d_backward_input(grad, w, dx, sh, sw, ph, pw, dil_h, dil_w, groups):
        F, Cg, kh, kw = w.shape
        Ho, Wo = grad.shape[2], grad.shape[3]
        t = cuda.grid(1)
        if t >= dx.size:
            return
        n, c, hi, wi = _unravel(t, dx.shape)
        Fg = F // groups
        g, cg = c // Cg, c % Cg
        total = real(0)
        for i in range(kh):
            ho = _output_reading(hi, ph, i * dil_h, sh, Ho)
            if ho < 0:
                continue
            for j in range(kw):
                wo = _output_reading(wi, pw, j * dil_w, sw, Wo)
                if wo < 0:
                    continue
                for f in range(g * Fg, (g + 1) * Fg):
                    total += w[f, cg, i, j] * grad[n, f, ho, wo]
        dx[n, c, hi, wi] = total

    return conv2d_backward_input


def _conv2d_backward_weight(real):
    def conv2d_backward_weight(x, grad, dw, sh, sw, ph, pw, dil_h, dil_w, groups):
        # Row ty of the block owns one weight; its blockDim.x lanes split that weight's sum.
        partial = cuda.shared.array(THREADS, real)
        N, C, H, W = x.shape
        F, Cg, kh, kw = dw.shape
        Ho, Wo = grad.shape[2], grad.shape[3]
        lane, lanes = cuda.threadIdx.x, cuda.blockDim.x
        e = cuda.blockIdx.x * cuda.blockDim.y + cuda.threadIdx.y
        row = cuda.threadIdx.y * lanes  # this weight's slice of `partial`
        total = real(0)
        if e < dw.size:
            f, c, i, j = _unravel(e, dw.shape)
            channel = (f // (F // groups)) * Cg + c
            for q in range(lane, N * Ho * Wo, lanes):
                n, ho, wo = q // (Ho * Wo), (q // Wo) % Ho, q % Wo
                hi = ho * sh - ph + i * dil_h
                wi = wo * sw - pw + j * dil_w
                if 0 <= hi < H and 0 <= wi < W:
                    total += grad[n, f, ho, wo] * x[n, channel, hi, wi]
        partial[row + lane] = total
        cuda.syncthreads()
        half = lanes // 2
        while half > 0:  # the same number of rounds in every row, so every thread reaches each barrier
            if lane < half:
                partial[row + lane] += partial[row + lane + half]
            cuda.syncthreads()
            half //= 2
        if lane == 0 and e < dw.size:
            dw[f, c, i, j] = partial[row]

    return conv2d_backward_weight


def _max_pool2d_forward(real):
    def max_pool2d_forward(x, y, argmax, kh, kw, sh, sw, ph, pw):
        N, C, H, W = x.shape
        t = cuda.grid(1)
        if t >= y.size:
            return
        n, c, ho, wo = _unravel(t, y.shape)
        best = real(-math.inf)
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
                if where < 0 or v > best or (math.isnan(v) and not math.isnan(best)):
                    best = v
                    where = hi * W + wi
        y[n, c, ho, wo] = best
        argmax[n, c, ho, wo] = where

    return max_pool2d_forward


def _max_pool2d_backward(real):
    def max_pool2d_backward(grad, argmax, dx, kh, kw, sh, sw, ph, pw):
        N, C, H, W = dx.shape
        Ho, Wo = grad.shape[2], grad.shape[3]
        t = cuda.grid(1)
        if t >= dx.size:
            return
        n, c, hi, wi = _unravel(t, dx.shape)
        # Windows that contain row hi: ho*sh - ph <= hi <= ho*sh - ph + kh - 1 (likewise columns).
        ho_lo, ho_hi = max(0, -((kh - 1 - hi - ph) // sh)), min(Ho, (hi + ph) // sh + 1)
        wo_lo, wo_hi = max(0, -((kw - 1 - wi - pw) // sw)), min(Wo, (wi + pw) // sw + 1)
        total = real(0)
        for ho in range(ho_lo, ho_hi):
            for wo in range(wo_lo, wo_hi):
                if argmax[n, c, ho, wo] == hi * W + wi:
                    total += grad[n, c, ho, wo]
        dx[n, c, hi, wi] = total

    return max_pool2d_backward


#: Every kernel by name: a factory taking ``real`` (Numba's float32 or float64) and returning
#: the kernel's Python function. :mod:`kernels.ptx` compiles each of these to PTX.
KERNELS = {
    "im2col": _im2col,
    "col2im": _col2im,
    "conv2d_forward": _conv2d_forward,
    "conv2d_depthwise": _conv2d_depthwise,
    "conv2d_backward_input": _conv2d_backward_input,
    "conv2d_backward_weight": _conv2d_backward_weight,
    "max_pool2d_forward": _max_pool2d_forward,
    "max_pool2d_backward": _max_pool2d_backward,
}


@functools.cache
def _compiled(name, dtype):
    """Kernel ``name`` for NumPy dtype name ``dtype``; Numba compiles it at the first launch."""
    return cuda.jit(KERNELS[name](numba.from_dtype(np.dtype(dtype))))


def _launch(name, dtype, config, *args):
    grid, block = config
    if 0 in grid:  # an empty result: nothing to compute
        return
    _compiled(name, dtype)[grid, block](*args)


# ---------------------------------------------------------------- host side: arrays in and out


def _check_kinds(op, *arrays):
    for a in arrays:
        on_gpu = hasattr(a, "__cuda_array_interface__") or hasattr(a, "copy_to_host")
        if not (isinstance(a, np.ndarray) or on_gpu):
            raise TypeError(
                f"{op}: expected NumPy arrays or CUDA arrays (CuPy, Numba device arrays), got {type(a).__name__}"
            )


def _to_gpu(a):
    """A NumPy array is copied to the GPU; a GPU array is used where it is."""
    return cuda.to_device(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else a


def _empty(shape, dtype, *inputs):
    """An uninitialised GPU array (every kernel writes each element): CuPy if any input is CuPy."""
    if any(type(a).__module__.split(".")[0] == "cupy" for a in inputs):
        import cupy

        return cupy.empty(shape, dtype=dtype)
    return cuda.device_array(shape, dtype=dtype)


def _returned(out, *inputs):
    """The result as the caller passed its inputs: back on the host if they all were NumPy."""
    return out.copy_to_host() if all(isinstance(a, np.ndarray) for a in inputs) else out


# ---------------------------------------------------------------- host functions


def conv2d_forward(x, w, stride=1, padding=0, dilation=1, groups=1, *, out_size):
    """``y = conv2d(x, w)`` without bias: ``(N, C, H, W)`` and ``(F, C/groups, kh, kw)`` -> ``(N, F, Ho, Wo)``.

    ``out_size = (Ho, Wo)`` comes from the caller (``minitorch_cnn.functional.sizes``). Depthwise
    convolutions (``groups == C``, one input channel per filter) run ``conv2d_depthwise``; every
    other one the shared-memory tiled ``conv2d_forward``.
    """
    op = "conv2d_forward"
    _check_kinds(op, x, w)
    dtype = float_dtype(op, x, w)
    sh, sw, ph, pw, dil_h, dil_w, Ho, Wo = conv_geometry(
        op, x.shape, w.shape, stride, padding, dilation, groups, out_size
    )
    N, C = x.shape[:2]
    F, Cg = w.shape[:2]
    y = _empty((N, F, Ho, Wo), dtype, x, w)
    if Cg == 1 and groups == C:
        config = launch_config("elements", N * F * Ho * Wo)
        _launch("conv2d_depthwise", dtype, config, _to_gpu(x), _to_gpu(w), y, sh, sw, ph, pw, dil_h, dil_w)
    else:
        config = launch_config("tiles", Ho * Wo, F // groups, N * groups)
        _launch("conv2d_forward", dtype, config, _to_gpu(x), _to_gpu(w), y, sh, sw, ph, pw, dil_h, dil_w, groups)
    return _returned(y, x, w)


def conv2d_backward_input(grad_out, w, x_shape, stride=1, padding=0, dilation=1, groups=1):
    """``dL/dx`` of :func:`conv2d_forward` from ``grad_out = dL/dy`` ``(N, F, Ho, Wo)``; returns ``x_shape``."""
    op = "conv2d_backward_input"
    _check_kinds(op, grad_out, w)
    dtype = float_dtype(op, grad_out, w)
    out_size = grad_out_size(op, grad_out.shape)
    sh, sw, ph, pw, dil_h, dil_w, Ho, Wo = conv_geometry(
        op, x_shape, w.shape, stride, padding, dilation, groups, out_size, "grad_out"
    )
    check_shape(op, "grad_out", grad_out.shape, (x_shape[0], w.shape[0], Ho, Wo))
    dx = _empty(tuple(x_shape), dtype, grad_out, w)
    config = launch_config("elements", math.prod(x_shape))
    _launch(
        "conv2d_backward_input", dtype, config, _to_gpu(grad_out), _to_gpu(w), dx, sh, sw, ph, pw, dil_h, dil_w, groups
    )
    return _returned(dx, grad_out, w)


def conv2d_backward_weight(x, grad_out, w_shape, stride=1, padding=0, dilation=1, groups=1):
    """``dL/dw`` of :func:`conv2d_forward` from the input ``x`` and ``grad_out = dL/dy``; returns ``w_shape``."""
    op = "conv2d_backward_weight"
    _check_kinds(op, x, grad_out)
    dtype = float_dtype(op, x, grad_out)
    out_size = grad_out_size(op, grad_out.shape)
    sh, sw, ph, pw, dil_h, dil_w, Ho, Wo = conv_geometry(
        op, x.shape, w_shape, stride, padding, dilation, groups, out_size, "grad_out"
    )
    check_shape(op, "grad_out", grad_out.shape, (x.shape[0], w_shape[0], Ho, Wo))
    dw = _empty(tuple(w_shape), dtype, x, grad_out)
    config = launch_config("reduce", math.prod(w_shape), x.shape[0] * Ho * Wo)
    _launch(
        "conv2d_backward_weight", dtype, config, _to_gpu(x), _to_gpu(grad_out), dw, sh, sw, ph, pw, dil_h, dil_w, groups
    )
    return _returned(dw, x, grad_out)


def im2col(x, kernel_size, stride=1, padding=0, dilation=1, *, out_size):
    """``(N, C, H, W) -> (N, C*kh*kw, Ho*Wo)``: row ``(c*kh + i)*kw + j`` holds tap ``(i, j)`` of channel ``c``.

    ``out_size = (Ho, Wo)`` comes from the caller, as for :func:`conv2d_forward`.
    """
    op = "im2col"
    _check_kinds(op, x)
    dtype = float_dtype(op, x)
    kh, kw, sh, sw, ph, pw, dil_h, dil_w, Ho, Wo = im2col_geometry(
        op, x.shape, kernel_size, stride, padding, dilation, out_size
    )
    N, C = x.shape[:2]
    cols = _empty((N, C * kh * kw, Ho * Wo), dtype, x)
    config = launch_config("elements", N * C * kh * kw * Ho * Wo)
    _launch("im2col", dtype, config, _to_gpu(x), cols, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Wo)
    return _returned(cols, x)


def col2im(cols, x_shape, kernel_size, stride=1, padding=0, dilation=1, *, out_size):
    """Adjoint of :func:`im2col`: ``(N, C*kh*kw, Ho*Wo) -> x_shape``, overlapping windows added up.

    ``out_size = (Ho, Wo)`` is the one :func:`im2col` was given: ``Ho*Wo`` alone does not say it.
    """
    op = "col2im"
    _check_kinds(op, cols)
    dtype = float_dtype(op, cols)
    kh, kw, sh, sw, ph, pw, dil_h, dil_w, Ho, Wo = im2col_geometry(
        op, x_shape, kernel_size, stride, padding, dilation, out_size
    )
    N, C = x_shape[:2]
    check_shape(op, "cols", cols.shape, (N, C * kh * kw, Ho * Wo))
    x = _empty(tuple(x_shape), dtype, cols)
    config = launch_config("elements", math.prod(x_shape))
    _launch("col2im", dtype, config, _to_gpu(cols), x, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Wo)
    return _returned(x, cols)


def max_pool2d_forward(x, kernel_size, stride=None, padding=0, *, out_size):
    """Max over each ``kh x kw`` window (padding never wins) -> ``(y, argmax)``, both ``(N, C, Ho, Wo)``.

    ``argmax`` (int64) is the winner's flat index ``hi*W + wi`` in its ``(H, W)`` plane, the
    first maximum in row-major window order on ties, and -1 for a window that holds only
    padding (its ``y`` is -inf). ``stride=None`` means ``stride = kernel_size``. ``out_size =
    (Ho, Wo)`` comes from the caller; a ``ceil_mode`` size works as it is, since pixels past the
    input are skipped.
    """
    op = "max_pool2d_forward"
    _check_kinds(op, x)
    dtype = float_dtype(op, x)
    kh, kw, sh, sw, ph, pw, Ho, Wo = pool_geometry(op, x.shape, kernel_size, stride, padding, out_size)
    shape = (x.shape[0], x.shape[1], Ho, Wo)
    y, argmax = _empty(shape, dtype, x), _empty(shape, np.int64, x)
    config = launch_config("elements", math.prod(shape))
    _launch("max_pool2d_forward", dtype, config, _to_gpu(x), y, argmax, kh, kw, sh, sw, ph, pw)
    return _returned(y, x), _returned(argmax, x)


def max_pool2d_backward(grad_out, argmax, x_shape, kernel_size, stride=None, padding=0):
    """``dL/dx`` of :func:`max_pool2d_forward`: each window's gradient goes to its ``argmax`` pixel."""
    op = "max_pool2d_backward"
    _check_kinds(op, grad_out, argmax)
    dtype = float_dtype(op, grad_out)
    check_argmax(op, argmax)
    out_size = grad_out_size(op, grad_out.shape)
    kh, kw, sh, sw, ph, pw, Ho, Wo = pool_geometry(op, x_shape, kernel_size, stride, padding, out_size, "grad_out")
    expected = (x_shape[0], x_shape[1], Ho, Wo)
    check_shape(op, "grad_out", grad_out.shape, expected)
    check_shape(op, "argmax", argmax.shape, expected)
    dx = _empty(tuple(x_shape), dtype, grad_out, argmax)
    config = launch_config("elements", math.prod(x_shape))
    _launch("max_pool2d_backward", dtype, config, _to_gpu(grad_out), _to_gpu(argmax), dx, kh, kw, sh, sw, ph, pw)
    return _returned(dx, grad_out, argmax)
