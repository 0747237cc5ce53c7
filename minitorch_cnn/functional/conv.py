"""2-D convolution: one formula, three ways to compute it, each with its backward.

    y[n, f, ho, wo] = b[f] + sum_{c, i, j} w[f, c, i, j] * x[n, g*C/groups + c, ho*sh + i*dh - ph, wo*sw + j*dw - pw]

(``g = f // (F/groups)`` is the group of filter ``f``; pixels outside the input read as zero.)

* ``"naive"`` - the seven loops ``n, f, ho, wo, c, i, j`` of the slide, one multiply-add at a time.
  Slow, obviously right: the reference the fast methods are tested against.
* ``"im2col"`` - copy every receptive field into a column (:func:`im2col`, built from ``kh*kw``
  strided slice copies, never a loop over pixels), then one matrix product. Its backward is the
  same product transposed, and :func:`col2im` (the adjoint of im2col) for the input gradient.
* ``"direct"`` - for each kernel tap ``(i, j)``, multiply the input shifted by that tap by the
  tap's ``(F, C/groups)`` weights and accumulate; no ``kh*kw``-times-larger column buffer.
* ``"auto"`` - im2col, except a 1x1 stride-1 unpadded convolution, which already is a matrix
  product over channels and skips the column copy.

Each method is three functions on raw backend arrays, collected in a :class:`ConvMethod`; the
bias and its gradient are shared by all methods and live in :class:`Conv2d`. Adding a method
(e.g. Numba kernels) is one entry in ``_METHODS``.
"""

from __future__ import annotations

import itertools
from typing import Callable, NamedTuple

from ..autograd import Function
from ..backend import array_namespace, dtype_name
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


def _group_matmul(w, cols, groups):
    """``(F, K)`` weights times ``(N, groups*K, L)`` columns, each group of ``F/groups`` filters
    seeing only its own ``K`` rows -> ``(N, F, L)``.

    The group axis becomes a batch axis of one ``matmul`` (ResNeXt's 32 groups are one call, not
    32), which works because channels are grouped contiguously: channel ``c`` is in group
    ``c // (C/groups)``, filter ``f`` in group ``f // (F/groups)``.
    """
    xp = array_namespace(w, cols)
    F, K = w.shape
    N, _, L = cols.shape
    y = xp.matmul(xp.reshape(w, (groups, F // groups, K)), xp.reshape(cols, (N, groups, K, L)))
    return xp.reshape(y, (N, F, L))


def _group_matmul_input_grad(w, grad, groups):
    """Gradient of :func:`_group_matmul` with respect to the columns: ``w^T @ grad`` per group."""
    xp = array_namespace(w, grad)
    F, K = w.shape
    N, _, L = grad.shape
    w_t = xp.matrix_transpose(xp.reshape(w, (groups, F // groups, K)))
    cols = xp.matmul(w_t, xp.reshape(grad, (N, groups, F // groups, L)))
    return xp.reshape(cols, (N, groups * K, L))


def _group_matmul_weight_grad(cols, grad, groups):
    """Gradient of :func:`_group_matmul` with respect to the weights: ``sum_n grad @ cols^T``."""
    xp = array_namespace(cols, grad)
    N, GK, L = cols.shape
    F = grad.shape[1]
    K = GK // groups
    g = xp.reshape(grad, (N, groups, F // groups, L))
    cols_t = xp.matrix_transpose(xp.reshape(cols, (N, groups, K, L)))
    return xp.reshape(xp.sum(xp.matmul(g, cols_t), axis=0), (F, K))


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


# ---------------------------------------------------------------- method "im2col"


def _im2col_forward(x, w, stride, padding, dilation, groups):
    xp = array_namespace(x, w)
    N = x.shape[0]
    F, Cg, kh, kw = w.shape
    Ho, Wo = conv2d_output_shape(x.shape[2], x.shape[3], (kh, kw), stride, padding, dilation)
    cols = _im2col(x, (kh, kw), stride, padding, dilation)
    y = _group_matmul(xp.reshape(w, (F, Cg * kh * kw)), cols, groups)
    return xp.reshape(y, (N, F, Ho, Wo))


def _im2col_backward_input(grad, w, x_shape, stride, padding, dilation, groups):
    xp = array_namespace(grad, w)
    N, F, Ho, Wo = grad.shape
    _, Cg, kh, kw = w.shape
    g = xp.reshape(grad, (N, F, Ho * Wo))
    cols = _group_matmul_input_grad(xp.reshape(w, (F, Cg * kh * kw)), g, groups)
    return _col2im(cols, x_shape, (kh, kw), stride, padding, dilation)


def _im2col_backward_weight(x, grad, w_shape, stride, padding, dilation, groups):
    # The columns are rebuilt rather than kept from the forward: kh*kw copies of x would
    # otherwise stay alive for every conv layer until the backward pass reaches it.
    xp = array_namespace(x, grad)
    N, F, Ho, Wo = grad.shape
    kh, kw = w_shape[2], w_shape[3]
    cols = _im2col(x, (kh, kw), stride, padding, dilation)
    grad_w = _group_matmul_weight_grad(cols, xp.reshape(grad, (N, F, Ho * Wo)), groups)
    return xp.reshape(grad_w, w_shape)


# ---------------------------------------------------------------- method "direct"


def _direct_forward(x, w, stride, padding, dilation, groups):
    xp = array_namespace(x, w)
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    ph, pw = padding
    Ho, Wo = conv2d_output_shape(H, W, (kh, kw), stride, padding, dilation)
    x_padded = pad_array(x, ph, pw)
    y = _zeros(xp, (N, F, Ho * Wo), x)
    for i, j, rows, columns in _taps((kh, kw), Ho, Wo, stride, dilation):
        shifted = xp.reshape(x_padded[:, :, rows, columns], (N, C, Ho * Wo))
        y = y + _group_matmul(w[:, :, i, j], shifted, groups)
    return xp.reshape(y, (N, F, Ho, Wo))


def _direct_backward_input(grad, w, x_shape, stride, padding, dilation, groups):
    xp = array_namespace(grad, w)
    N, C, H, W = x_shape
    _, F, Ho, Wo = grad.shape
    kh, kw = w.shape[2], w.shape[3]
    ph, pw = padding
    g = xp.reshape(grad, (N, F, Ho * Wo))
    grad_x = _zeros(xp, (N, C, H + 2 * ph, W + 2 * pw), grad)
    for i, j, rows, columns in _taps((kh, kw), Ho, Wo, stride, dilation):
        shifted = _group_matmul_input_grad(w[:, :, i, j], g, groups)
        grad_x[:, :, rows, columns] = grad_x[:, :, rows, columns] + xp.reshape(shifted, (N, C, Ho, Wo))
    return _crop(grad_x, ph, pw, H, W)


def _direct_backward_weight(x, grad, w_shape, stride, padding, dilation, groups):
    xp = array_namespace(x, grad)
    N, C = x.shape[0], x.shape[1]
    _, F, Ho, Wo = grad.shape
    kh, kw = w_shape[2], w_shape[3]
    ph, pw = padding
    x_padded = pad_array(x, ph, pw)
    g = xp.reshape(grad, (N, F, Ho * Wo))
    grad_w = _zeros(xp, w_shape, x)
    for i, j, rows, columns in _taps((kh, kw), Ho, Wo, stride, dilation):
        shifted = xp.reshape(x_padded[:, :, rows, columns], (N, C, Ho * Wo))
        grad_w[:, :, i, j] = _group_matmul_weight_grad(shifted, g, groups)
    return grad_w


# ---------------------------------------------------------------- 1x1 fast path


def _pointwise_forward(x, w, stride, padding, dilation, groups):
    xp = array_namespace(x, w)
    N, C, H, W = x.shape
    F = w.shape[0]
    y = _group_matmul(xp.reshape(w, (F, C // groups)), xp.reshape(x, (N, C, H * W)), groups)
    return xp.reshape(y, (N, F, H, W))


def _pointwise_backward_input(grad, w, x_shape, stride, padding, dilation, groups):
    xp = array_namespace(grad, w)
    N, F, H, W = grad.shape
    g = xp.reshape(grad, (N, F, H * W))
    return xp.reshape(_group_matmul_input_grad(xp.reshape(w, (F, w.shape[1])), g, groups), x_shape)


def _pointwise_backward_weight(x, grad, w_shape, stride, padding, dilation, groups):
    xp = array_namespace(x, grad)
    N, C, H, W = x.shape
    F = grad.shape[1]
    g = xp.reshape(grad, (N, F, H * W))
    return xp.reshape(_group_matmul_weight_grad(xp.reshape(x, (N, C, H * W)), g, groups), w_shape)


# ---------------------------------------------------------------- dispatch


_METHODS = {
    "naive": ConvMethod(_naive_forward, _naive_backward_input, _naive_backward_weight),
    "im2col": ConvMethod(_im2col_forward, _im2col_backward_input, _im2col_backward_weight),
    "direct": ConvMethod(_direct_forward, _direct_backward_input, _direct_backward_weight),
}

# Not in _METHODS: it is only correct for 1x1 stride-1 unpadded kernels, which "auto" checks.
_POINTWISE = ConvMethod(_pointwise_forward, _pointwise_backward_input, _pointwise_backward_weight)


def _dispatch(method, kernel, stride, padding):
    """The :class:`ConvMethod` that computes ``conv2d(..., method=method)`` for this geometry."""
    if method == "auto":
        if kernel == (1, 1) and stride == (1, 1) and padding == (0, 0):
            return _POINTWISE
        return _METHODS["im2col"]
    if method not in _METHODS:
        names = ", ".join(repr(m) for m in ["auto", *_METHODS])
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
        method: ``"auto"`` (default: im2col, or a plain matrix product for a 1x1 stride-1
            unpadded kernel), ``"im2col"``, ``"direct"`` or ``"naive"`` (seven loops; tiny
            inputs only). All give the same result up to float rounding.

    Returns:
        Tensor of shape ``(N, F, Ho, Wo)``.

    Raises ValueError/TypeError naming what was expected and what was given: wrong ndim,
    channel mismatch, groups not dividing ``C`` or ``F``, negative padding, stride or dilation
    below 1, a kernel larger than the padded input, a bias of the wrong shape, an unknown method.

    Reference: LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document
    recognition", Proc. IEEE 1998 (LeNet-5).
    """
    _check_conv_args(x, weight, bias, groups)
    stride, padding, dilation = _pairs("conv2d", stride, padding, dilation)
    kernel = (weight.shape[2], weight.shape[3])
    conv2d_output_shape(x.shape[2], x.shape[3], kernel, stride, padding, dilation, op="conv2d")
    chosen = _dispatch(method, kernel, stride, padding)
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
