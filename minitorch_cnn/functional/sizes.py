"""Window geometry: the one helper that computes output sizes, used by every conv and pooling
layer, and the slices each kernel tap reads.

For an input of width ``W``, a filter of width ``F``, padding ``P``, stride ``S`` and
dilation ``D`` (the filter then spans ``D*(F-1)+1`` pixels)::

    Wo = (W - D*(F - 1) - 1 + 2P) // S + 1        # = (W - F + 2P)/S + 1 when D = 1

When ``S`` does not divide ``W - F + 2P`` the last pixels that no window reaches are dropped
(floor), as in PyTorch; :func:`conv_output_size` with ``exact=True`` refuses instead.
"""

from __future__ import annotations

from ..backend import dtype_name


def pair(value, name="value", op="op"):
    """``3 -> (3, 3)``; ``(3, 5) -> (3, 5)``, checking that both are integers."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{op}: {name} must be an int or an (h, w) pair, got {value!r}")
        h, w = value
    else:
        h = w = value
    for v in (h, w):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{op}: {name} must be an int or an (h, w) pair of ints, got {value!r}")
    return int(h), int(w)


def conv_output_size(W, F, S=1, P=0, D=1, exact=False, op="conv2d", ceil_mode=False):
    """Output width ``(W - D*(F-1) - 1 + 2P) // S + 1`` for one spatial axis.

    With ``ceil_mode`` (pooling, as in PyTorch and Caffe) the division rounds up, so a last
    window that hangs over the padded edge is kept -- unless it would start past the input and
    its left padding, i.e. hold no input pixel at all.

    Args:
        W: input size, F: filter size, S: stride, P: padding (each side), D: dilation.
        exact: raise if the stride does not fit evenly (the lecture's "doesn't fit" case).
        op: name used in error messages.
        ceil_mode: round the division up instead of down.

    Raises ValueError for a negative padding, a stride or dilation below 1, or a filter larger
    than the padded input.
    """
    if S < 1:
        raise ValueError(f"{op}: stride must be >= 1, got {S}")
    if P < 0:
        raise ValueError(f"{op}: padding must be >= 0, got {P}")
    if D < 1:
        raise ValueError(f"{op}: dilation must be >= 1, got {D}")
    if F < 1:
        raise ValueError(f"{op}: kernel size must be >= 1, got {F}")
    span = D * (F - 1) + 1
    # ceil_mode's one window may hang up to S - 1 pixels over the padded edge, no more.
    overhang = S - 1 if ceil_mode else 0
    if span > W + 2 * P + overhang:
        what, reach = (" with its ceil_mode overhang", f" + overhang {overhang}") if ceil_mode else ("", "")
        raise ValueError(
            f"{op}: kernel spans {span} pixels but the padded input{what} is only {W + 2 * P + overhang} "
            f"(size {W} + 2*padding {P}{reach})"
        )
    if exact and (W - span + 2 * P) % S != 0:
        raise ValueError(
            f"{op}: (W - F + 2P)/S + 1 = ({W} - {span} + 2*{P})/{S} + 1 is not an integer: the stride does not fit"
        )
    if not ceil_mode:
        return (W - span + 2 * P) // S + 1
    out = -(-(W - span + 2 * P) // S) + 1
    return out - 1 if (out - 1) * S >= W + P else out


def conv2d_output_shape(H, W, kernel_size, stride=1, padding=0, dilation=1, op="conv2d", ceil_mode=False):
    """``(Ho, Wo)`` for a 2-D window op; every argument may be an int or an ``(h, w)`` pair."""
    kh, kw = pair(kernel_size, "kernel_size", op)
    sh, sw = pair(stride, "stride", op)
    ph, pw = pair(padding, "padding", op)
    dil_h, dil_w = pair(dilation, "dilation", op)
    return (
        conv_output_size(H, kh, sh, ph, dil_h, op=op, ceil_mode=ceil_mode),
        conv_output_size(W, kw, sw, pw, dil_w, op=op, ceil_mode=ceil_mode),
    )


def tap_slices(i, j, Ho, Wo, stride, dilation=(1, 1)):
    """The rows and columns of the padded input that tap ``(i, j)`` of every window reads, one
    pixel per output pixel: rows ``i*dil_h, i*dil_h + sh, ..., i*dil_h + (Ho - 1)*sh`` (and
    likewise columns). Conv's im2col and the pooling windows are built from these ``kh*kw``
    strided slices, never from a loop over pixels."""
    (sh, sw), (dil_h, dil_w) = stride, dilation
    rows = slice(i * dil_h, i * dil_h + (Ho - 1) * sh + 1, sh)
    columns = slice(j * dil_w, j * dil_w + (Wo - 1) * sw + 1, sw)
    return rows, columns


def check_ndim(x, ndim, op, layout):
    """Raise a clear ValueError unless ``x`` has ``ndim`` dimensions laid out as ``layout``."""
    if len(x.shape) != ndim:
        # PyTorch's conv and pooling layers also take one unbatched image (C, H, W); ours do not.
        hint = " (one image (C, H, W) needs a batch axis: x.unsqueeze(0))" if layout == "(N, C, H, W)" and len(
            x.shape) == 3 else ""
        raise ValueError(f"{op}: expected a {ndim}-D input {layout}, got shape {tuple(x.shape)}{hint}")


def check_tensor(x, op, name="input"):
    """Raise a clear TypeError unless ``x`` is a Tensor (a NumPy array given to a layer, as PyTorch refuses it)."""
    from ..tensor import Tensor

    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected {name} to be a Tensor, got {type(x).__name__} (mt.tensor(x) makes one)")


def check_floating(x, op, name="input"):
    """Raise a clear TypeError unless ``x`` (a Tensor or an array) holds floating-point values."""
    if not dtype_name(x.dtype).startswith("float"):
        raise TypeError(f"{op}: expected floating-point {name}, got dtype {dtype_name(x.dtype)}")
