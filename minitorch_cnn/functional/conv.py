"""2-D convolution: the formula, its output size, and two ways to compute it with their backward.

    y[n, f, ho, wo] = b[f] + sum_{c, i, j} w[f, c, i, j] * x[n, g*Cg + c, ho*sh + i*dil_h - ph, wo*sw + j*dil_w - pw]

``Cg = C/groups`` channels per group, ``g = f // (F/groups)`` the group of filter ``f``; pixels
outside the input read as zero (padding). Output size (``sizes.conv_output_size``; the slide's
``(W - F + 2P)/S + 1``, with ``F`` there the kernel's size)::

    Ho = (H - kh + 2*ph)/sh + 1        i.e. (H + 2*ph - dil_h*(kh - 1) - 1) // sh + 1 with dilation

The lesson's two methods:

* ``"naive"`` -- the seven loops ``n, f, ho, wo, c, i, j`` of the slide, one multiply-add at a
  time, for the forward and for both gradients. Slow, obviously right: what every other method
  is tested against.
* ``"im2col"`` -- copy every receptive field into a column (:func:`im2col`), then the whole
  convolution is one matrix product ``y = w.reshape(F, -1) @ cols``. Its backward is the same
  product transposed: ``dw = g @ cols^T`` and ``dx = col2im(w^T @ g)``, col2im being im2col's
  adjoint. :func:`~minitorch_cnn.reference_mode` makes it what ``"auto"`` runs.

The engine room (``minitorch_cnn/engine``, see its README) adds faster methods by name --
``"gemm"``, ``"direct"``, ``"numba"`` -- and the measured rule that ``"auto"`` follows; each is
tested against the methods here.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

from ..autograd import Function
from ..backend import array_namespace, dtype_name
from ..methods import choose, register
from .shape import pad, pad_array
from .sizes import check_ndim, check_tensor, conv2d_output_shape, pair, tap_slices


def _zeros(xp, shape, like):
    return xp.zeros(shape, dtype=like.dtype, device=like.device)


# ---------------------------------------------------------------- method "naive": seven loops


def _naive_forward(x, w, stride, padding, dilation, groups):
    xp = array_namespace(x, w)
    N, C, H, W = x.shape
    F, Cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dil_h, dil_w) = stride, padding, dilation
    Ho, Wo = conv2d_output_shape(H, W, (kh, kw), stride, padding, dilation)
    # x_padded[.., h + ph, w + pw] is the slide's x[.., h, w]: the "- ph" of the formula is built in.
    x_padded = pad_array(x, ph, pw)
    y = _zeros(xp, (N, F, Ho, Wo), x)
    for n in range(N):
        for f in range(F):
            g = f // (F // groups)  # the group filter f belongs to: it sees channels g*Cg ... g*Cg + Cg - 1
            for ho in range(Ho):
                for wo in range(Wo):
                    for c in range(Cg):
                        for i in range(kh):
                            for j in range(kw):
                                pixel = x_padded[n, g * Cg + c, ho * sh + i * dil_h, wo * sw + j * dil_w]
                                y[n, f, ho, wo] += w[f, c, i, j] * pixel
    return y


def _naive_backward_input(grad, w, x_shape, stride, padding, dilation, groups):
    # The same seven loops: each product w * x sent its share of dL/dy back to that x.
    xp = array_namespace(grad, w)
    N, C, H, W = x_shape
    F, Cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dil_h, dil_w) = stride, padding, dilation
    Ho, Wo = grad.shape[2], grad.shape[3]
    dx_padded = _zeros(xp, (N, C, H + 2 * ph, W + 2 * pw), grad)
    for n in range(N):
        for f in range(F):
            g = f // (F // groups)
            for ho in range(Ho):
                for wo in range(Wo):
                    for c in range(Cg):
                        for i in range(kh):
                            for j in range(kw):
                                pixel = (n, g * Cg + c, ho * sh + i * dil_h, wo * sw + j * dil_w)
                                dx_padded[pixel] += w[f, c, i, j] * grad[n, f, ho, wo]
    return dx_padded[:, :, ph : ph + H, pw : pw + W]


def _naive_backward_weight(x, grad, w_shape, stride, padding, dilation, groups):
    # ... and the same product sent x * dL/dy back to that w.
    xp = array_namespace(x, grad)
    N = x.shape[0]
    F, Cg, kh, kw = w_shape
    (sh, sw), (ph, pw), (dil_h, dil_w) = stride, padding, dilation
    Ho, Wo = grad.shape[2], grad.shape[3]
    x_padded = pad_array(x, ph, pw)
    dw = _zeros(xp, w_shape, x)
    for n in range(N):
        for f in range(F):
            g = f // (F // groups)
            for ho in range(Ho):
                for wo in range(Wo):
                    for c in range(Cg):
                        for i in range(kh):
                            for j in range(kw):
                                pixel = x_padded[n, g * Cg + c, ho * sh + i * dil_h, wo * sw + j * dil_w]
                                dw[f, c, i, j] += pixel * grad[n, f, ho, wo]
    return dw


# ---------------------------------------------------------------- im2col / col2im


def _im2col(x, kernel, stride, padding, dilation):
    """Raw-array im2col: ``(N, C, H, W) -> (N, C*kh*kw, Ho*Wo)``; see :func:`im2col`."""
    xp = array_namespace(x)
    N, C, H, W = x.shape
    kh, kw = kernel
    ph, pw = padding
    Ho, Wo = conv2d_output_shape(H, W, kernel, stride, padding, dilation)
    x_padded = pad_array(x, ph, pw)
    taps = []
    for i in range(kh):
        for j in range(kw):
            rows, columns = tap_slices(i, j, Ho, Wo, stride, dilation)
            taps.append(x_padded[:, :, rows, columns])  # tap (i, j) of every window: (N, C, Ho, Wo)
    # Stacking the taps after C puts the rows in (c, i, j) order: the weight's own memory layout.
    cols = xp.stack(taps, axis=2)
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
    for i in range(kh):
        for j in range(kw):
            rows, columns = tap_slices(i, j, Ho, Wo, stride, dilation)
            # Windows overlap when the stride is smaller than the kernel: add, never overwrite.
            x_padded[:, :, rows, columns] += cols[:, :, i, j, :, :]
    return x_padded[:, :, ph : ph + H, pw : pw + W]


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


# ---------------------------------------------------------------- method "im2col": one matmul
#
# The default ("auto") does not run this method as it stands: its column matrix is kh*kw times
# the input (ResNet's 3x3 layer on 32 images of 56x56 needs 220 MB of columns), and filling that
# costs more than the matmul that reads it. The engine room's "gemm" method computes the same
# product a few images at a time, in a buffer that stays in cache.
#
# With groups, channels and filters are split into ``groups`` blocks (``K = Cg*kh*kw`` rows of
# the columns, ``F/groups`` filters each) and the group becomes a batch axis of the matmul.


def _im2col_forward(x, w, stride, padding, dilation, groups):
    xp = array_namespace(x, w)
    N, C, H, W = x.shape
    F, Cg, kh, kw = w.shape
    Ho, Wo = conv2d_output_shape(H, W, (kh, kw), stride, padding, dilation)
    cols = _im2col(x, (kh, kw), stride, padding, dilation)  # (N, C*kh*kw, Ho*Wo)
    w_g = xp.reshape(w, (groups, F // groups, Cg * kh * kw))
    cols_g = xp.reshape(cols, (N, groups, Cg * kh * kw, Ho * Wo))
    y = xp.matmul(w_g, cols_g)  # (N, groups, F/groups, Ho*Wo)
    return xp.reshape(y, (N, F, Ho, Wo))


def _im2col_backward_input(grad, w, x_shape, stride, padding, dilation, groups):
    xp = array_namespace(grad, w)
    N, C, H, W = x_shape
    F, Cg, kh, kw = w.shape
    Ho, Wo = grad.shape[2], grad.shape[3]
    w_g = xp.reshape(w, (groups, F // groups, Cg * kh * kw))
    dy_g = xp.reshape(grad, (N, groups, F // groups, Ho * Wo))
    dcols = xp.matmul(xp.matrix_transpose(w_g), dy_g)  # dL/dcols = w^T @ dL/dy: (N, groups, Cg*kh*kw, Ho*Wo)
    return _col2im(xp.reshape(dcols, (N, C * kh * kw, Ho * Wo)), x_shape, (kh, kw), stride, padding, dilation)


def _im2col_backward_weight(x, grad, w_shape, stride, padding, dilation, groups):
    xp = array_namespace(x, grad)
    N = x.shape[0]
    F, Cg, kh, kw = w_shape
    Ho, Wo = grad.shape[2], grad.shape[3]
    # The columns are rebuilt rather than kept from the forward: kh*kw copies of x would
    # otherwise stay alive for every conv layer until the backward pass reaches it.
    cols = _im2col(x, (kh, kw), stride, padding, dilation)
    cols_g = xp.reshape(cols, (N, groups, Cg * kh * kw, Ho * Wo))
    dy_g = xp.reshape(grad, (N, groups, F // groups, Ho * Wo))
    dw = xp.sum(xp.matmul(dy_g, xp.matrix_transpose(cols_g)), axis=0)  # dL/dw = sum_n dL/dy @ cols^T
    return xp.reshape(dw, (F, Cg, kh, kw))


class ConvMethod(NamedTuple):
    """One way of computing a convolution, on raw arrays with ``(h, w)`` tuples for the sizes.

    ``forward(x, w, stride, padding, dilation, groups) -> y`` (no bias),
    ``backward_input(grad, w, x_shape, stride, padding, dilation, groups) -> dx``,
    ``backward_weight(x, grad, w_shape, stride, padding, dilation, groups) -> dw``.
    """

    forward: Callable
    backward_input: Callable
    backward_weight: Callable


register("conv2d", "naive", ConvMethod(_naive_forward, _naive_backward_input, _naive_backward_weight))
register("conv2d", "im2col", ConvMethod(_im2col_forward, _im2col_backward_input, _im2col_backward_weight),
         lesson=True)


# ---------------------------------------------------------------- the op


class Conv2d(Function):
    """``y = conv(x, w) + b``;  ``dx`` and ``dw`` come from the chosen method,
    ``db[f] = sum_{n, ho, wo} dL/dy[n, f, ho, wo]``."""

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups, method):
        xp = array_namespace(x, w)
        needs_x, needs_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        # Keep only what the backward will read: a frozen filter bank need not keep x alive.
        ctx.save_for_backward(
            x if needs_w else None, w if needs_x else None, tuple(x.shape), tuple(w.shape),
            stride, padding, dilation, groups, method,
        )
        y = method.forward(x, w, stride, padding, dilation, groups)
        if b is not None:
            y = y + xp.reshape(b, (1, b.shape[0], 1, 1))
        return y

    @staticmethod
    def backward(ctx, grad):
        x, w, x_shape, w_shape, stride, padding, dilation, groups, method = ctx.saved_tensors
        xp = array_namespace(grad)
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            dx = method.backward_input(grad, w, x_shape, stride, padding, dilation, groups)
        if ctx.needs_input_grad[1]:
            dw = method.backward_weight(x, grad, w_shape, stride, padding, dilation, groups)
        if ctx.needs_input_grad[2]:
            db = xp.sum(grad, axis=(0, 2, 3))
        return dx, dw, db


def _pairs(op, stride, padding, dilation):
    """``(sh, sw), (ph, pw), (dil_h, dil_w)`` from ints or pairs."""
    return pair(stride, "stride", op), pair(padding, "padding", op), pair(dilation, "dilation", op)


def _same_padding(x, kernel, stride, dilation):
    """``padding="same"``: ``x`` padded by ``F.pad`` where needed, and the ``(ph, pw)`` left for conv2d.

    A window spanning ``dil*(k - 1) + 1`` pixels needs ``dil*(k - 1)`` padded rows in total to
    keep ``Ho = H`` at stride 1. When that is odd (an even kernel, odd dilation) the one row that cannot be
    split goes at the bottom (column: at the right), as in PyTorch.
    """
    if stride != (1, 1):
        raise ValueError(f"conv2d: padding='same' expected stride 1 (as in PyTorch), got stride {stride}")
    total_h, total_w = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
    if total_h % 2 or total_w % 2:
        x = pad(x, (0, total_w % 2, 0, total_h % 2))
    return x, (total_h // 2, total_w // 2)


def _check_conv_args(x, weight, bias, groups):
    """The shape and dtype checks of :func:`conv2d`, with messages that name both shapes."""
    check_tensor(x, "conv2d")
    for name, a in (("weight", weight), ("bias", bias)):
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


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, method="auto"):
    """2-D convolution (cross-correlation, as in every deep-learning library: the kernel is not flipped).

    ::

        y[n, f, ho, wo] = b[f] + sum_{c < C/groups, i < kh, j < kw}
                          w[f, c, i, j] * x[n, g*C/groups + c, ho*sh + i*dil_h - ph, wo*sw + j*dil_w - pw]

    where ``g = f // (F/groups)`` is the group filter ``f`` belongs to and ``x`` reads as zero
    outside the image (zero padding). The output size along each axis is
    (:func:`~minitorch_cnn.functional.sizes.conv_output_size`)::

        Ho = (H + 2*ph - dil_h*(kh - 1) - 1) // sh + 1        # (H - kh + 2P)/S + 1 when dil_h = 1

    Args:
        x: input, shape ``(N, C, H, W)``.
        weight: filters, shape ``(F, C/groups, kh, kw)`` (PyTorch's layout).
        bias: ``(F,)`` or ``None``.
        stride: ``sh, sw`` (int or ``(h, w)``), default 1. A stride that does not divide
            ``H + 2*ph - span`` drops the last rows, as in PyTorch.
        padding: zeros added on each side, ``ph, pw``, default 0; or, as in PyTorch, ``"valid"``
            (no padding) or ``"same"`` (stride 1 only: ``Ho = H``, ``Wo = W``; when the total
            ``dil*(k - 1)`` is odd, an even kernel, the extra row goes at the bottom and the extra
            column at the right). Different
            padding per side: ``F.pad(x, (left, right, top, bottom))`` before the conv.
        dilation: spacing ``dil_h, dil_w`` between kernel taps, default 1 (a 3x3 kernel with
            dilation 2 covers 5x5 pixels; Yu & Koltun, 2016).
        groups: split the ``C`` input channels and ``F`` filters into ``groups`` independent
            convolutions. AlexNet used ``groups=2`` to split across two GPUs (Krizhevsky et al.,
            2012); ResNeXt's "cardinality" is ``groups=32`` (Xie et al., 2017); ``groups=C``
            with ``F = C`` (or a multiple of ``C``) is the depthwise convolution of MobileNet
            (Howard et al., 2017).
        method: keyword only. The lesson's ``"naive"`` (seven loops; tiny inputs only) and
            ``"im2col"`` (one matmul on the columns); the engine room's ``"gemm"`` (the same
            product a few images at a time), ``"direct"`` (one product per kernel tap, no
            column buffer) and ``"numba"`` (compiled kernels; NumPy or CuPy arrays only); or
            ``"auto"`` (default): the engine room's measured fastest for the backend and
            geometry, or ``"im2col"`` inside :func:`~minitorch_cnn.reference_mode`. All give
            the same result up to float rounding.

    Returns:
        Tensor of shape ``(N, F, Ho, Wo)``.

    Raises ValueError/TypeError naming what was expected and what was given: wrong ndim,
    channel mismatch, groups not dividing ``C`` or ``F``, negative padding, stride or dilation
    below 1, a kernel larger than the padded input, a bias of the wrong shape, an unknown method,
    ``method="numba"`` on arrays that are neither NumPy nor CuPy, an unknown padding string or
    ``padding="same"`` with a stride other than 1.

    Reference: LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document
    recognition", Proc. IEEE 1998 (LeNet-5).
    """
    _check_conv_args(x, weight, bias, groups)
    kernel = (weight.shape[2], weight.shape[3])
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"conv2d: expected padding 'same', 'valid', an int or an (h, w) pair, got {padding!r}")
        stride, dilation = pair(stride, "stride", "conv2d"), pair(dilation, "dilation", "conv2d")
        x, padding = _same_padding(x, kernel, stride, dilation) if padding == "same" else (x, (0, 0))
    else:
        stride, padding, dilation = _pairs("conv2d", stride, padding, dilation)
    conv2d_output_shape(x.shape[2], x.shape[3], kernel, stride, padding, dilation, op="conv2d")
    chosen = choose("conv2d", method, x.array, kernel=kernel, stride=stride, padding=padding, groups=groups)
    return Conv2d.apply(
        x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups, method=chosen
    )


def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    """Unfold every receptive field of ``x`` into a column, so a convolution becomes one matmul.

    Column layout (the same as ``torch.nn.functional.unfold``)::

        cols[n, (c*kh + i)*kw + j, ho*Wo + wo] = x[n, c, ho*sh + i*dil_h - ph, wo*sw + j*dil_w - pw]

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
