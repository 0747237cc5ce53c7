"""Item assignment ``x[index] = v`` as an op, so the textbook's loops train::

    Y[i, j] = (X[i:i + h, j:j + w] * K).sum()      # d2l's corr2d: K gets a gradient

``y`` is ``x`` with the entries at ``index`` replaced by ``v`` (broadcast to them). The entries
that were overwritten no longer influence ``y``, so ``dL/dx`` is ``dL/dy`` with those entries
zeroed; ``dL/dv`` is ``dL/dy[index]``, summed back to ``v``'s shape if ``v`` was broadcast.
``Tensor.__setitem__`` applies it and makes the tensor its output.
"""

from __future__ import annotations

from ..autograd import Function
from ..backend import array_namespace
from .arithmetic import unbroadcast
from .shape import raw_index


def assign(x, index, v):
    """``x[index] = v`` in place on a backend array; ``v`` is cast to ``x``'s dtype first, as
    PyTorch does, because strict Array-API arrays refuse a mixed-dtype assignment."""
    if hasattr(v, "dtype") and v.dtype != x.dtype:
        v = array_namespace(v).astype(v, x.dtype)
    x[index] = v


class SetItem(Function):
    """``y = x`` with ``y[index] = v``;  ``dx = grad`` zeroed at ``index``, ``dv = grad[index]``."""

    @staticmethod
    def forward(ctx, x, v, index):
        xp = array_namespace(x)
        y = xp.asarray(x, copy=True)
        assign(y, index, v)
        ctx.save_for_backward(index, tuple(getattr(v, "shape", ())), getattr(v, "dtype", None))
        return y

    @staticmethod
    def backward(ctx, grad):
        index, v_shape, v_dtype = ctx.saved_tensors
        dx = dv = None
        if ctx.needs_input_grad[0]:
            dx = array_namespace(grad).asarray(grad, copy=True)
            dx[index] = 0
        if ctx.needs_input_grad[1]:
            dv = unbroadcast(grad[index], v_shape)
            if dv.dtype != v_dtype:
                dv = array_namespace(dv).astype(dv, v_dtype)
        return dx, dv


def setitem(x, index, v):
    """``x`` with ``x[index] = v``, as a new tensor recorded in the graph (``x`` is unchanged;
    ``Tensor.__setitem__`` is what rebinds ``x``). ``index`` may hold Tensors (masks, indices)."""
    return SetItem.apply(x, v, index=raw_index(index, x.ndim))


def written_into(x, y, inplace, op):
    """PyTorch's ``inplace=True`` (``F.relu(x, inplace=True)``, ``nn.ReLU(inplace=True)``): ``y``
    written into ``x`` as ``x[...] = y`` (recorded in the graph like every in-place op, and refused
    on a leaf that requires grad, as PyTorch), and ``x`` returned; ``y`` when ``inplace`` is False.
    It saves no memory here, since ``y`` is computed first: it keeps code written for PyTorch
    running with the same results."""
    if not inplace or y is x:
        return y
    x._assign(op, ..., y)
    return x
