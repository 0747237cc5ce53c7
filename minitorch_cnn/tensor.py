"""``Tensor``: a backend array plus what autograd needs (``requires_grad``, ``grad``, a graph node).

The arithmetic itself lives in ``functional/`` as ``Function`` classes; the methods here only
forward to them, so a student finds every op's forward and backward in one file.
"""

from __future__ import annotations

import operator

from . import backend
from .autograd import backward as _run_backward, is_grad_enabled, no_grad


class Tensor:
    """An n-dimensional array that can record the ops applied to it.

    Attributes:
        array: the backend array (NumPy, CuPy or any Array-API array); what the framework's own
            code reads and writes.
        data: as in PyTorch, a Tensor sharing ``array`` with no grad and no graph, so
            ``w.data -= lr * w.grad`` updates ``w`` without being recorded.
        grad: a Tensor of the same shape, filled by ``backward()``, or ``None``.
        requires_grad: whether ops on this tensor are recorded for backward.

    In-place ops (``+=``, ``-=``, ``*=``, ``/=``, ``add_``..., item assignment) follow PyTorch:
    on a tensor outside any graph they write into ``array``; on a leaf that requires grad they
    raise, unless under ``no_grad``; otherwise they are recorded, and the tensor becomes the
    op's output (a new array: other tensors sharing the old one keep the old values).
    """

    __array_priority__ = 1000  # so ``ndarray + Tensor`` defers to Tensor.__radd__

    def __init__(self, data, requires_grad=False):
        if isinstance(data, Tensor):
            data = data.array
        if not backend.is_array(data):
            data = backend.asarray(data)
        self.array = backend.as_array(data)
        self._grad = None
        self.requires_grad = bool(requires_grad)
        self._node = None
        self._retain_grad = False
        # bumped by every in-place op, so a node that read an older version can find it
        self._version = 0
        self._older = None  # {version: Tensor}, filled when an in-place op is recorded
        self._graph_ref = None  # how the graph refers to this tensor (autograd.GraphRef), made on first use

    # ------------------------------------------------------------ properties
    @property
    def data(self):
        """A Tensor sharing this tensor's array, with ``requires_grad=False`` and no graph (PyTorch's
        ``.data``): in-place ops on it change this tensor and are not recorded."""
        return Tensor(self.array)

    @data.setter
    def data(self, value):
        """``t.data = other`` (a Tensor or a backend array) replaces the array, as in PyTorch."""
        if isinstance(value, Tensor):
            value = value.array
        if not backend.is_array(value):
            raise TypeError(f"Tensor.data: expected a Tensor or a backend array, got {type(value).__name__}")
        self.array = backend.as_array(value)

    @property
    def grad(self):
        """The gradient accumulated by ``backward()``: a Tensor shaped like this one, or ``None``."""
        return self._grad

    @grad.setter
    def grad(self, value):
        """Only a Tensor of this tensor's shape, or ``None``, as in PyTorch (a raw array here would
        break ``p.grad.array`` in the optimisers much later)."""
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"Tensor.grad: expected a Tensor or None, got {type(value).__name__}")
            if value.shape != self.shape:
                raise RuntimeError(f"Tensor.grad: expected shape {self.shape}, got {value.shape}")
        self._grad = value

    @property
    def shape(self):
        return tuple(self.array.shape)

    @property
    def ndim(self):
        return len(self.array.shape)

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def device(self):
        return backend.device_name(self.array)

    @property
    def xp(self):
        """The Array-API namespace of ``array``."""
        return backend.array_namespace(self.array)

    @property
    def is_leaf(self):
        return self._node is None

    @property
    def T(self):
        return self.transpose()

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self):
        count = 1
        for s in self.shape:
            count *= s
        return count

    def __len__(self):
        """The size of the first axis; a 0-d tensor has no length (TypeError), as in PyTorch."""
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        """The sub-tensors along the first axis, each ``self[i]`` (so gradients flow), as in PyTorch."""
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        body = str(backend.to_numpy(self.array)).replace("\n", "\n       ")
        return f"tensor({body}, dtype={backend.dtype_name(self.dtype)}, device={self.device}{grad})"

    # ------------------------------------------------------------ autograd
    def backward(self, grad=None, retain_graph=None):
        """Back-propagate from this tensor. ``grad`` defaults to 1 for a one-element tensor. The
        graph's saved tensors are freed on the way unless ``retain_graph`` (PyTorch's signature)."""
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad (no graph was recorded)")
        if grad is None:
            if self.numel() != 1:
                raise RuntimeError(
                    f"backward: grad can be omitted only for a one-element tensor, got shape {self.shape}"
                )
            grad = self.xp.ones_like(self.array)
        elif isinstance(grad, Tensor):
            grad = grad.array
        if tuple(grad.shape) != self.shape:
            raise ValueError(f"backward: grad has shape {tuple(grad.shape)}, expected {self.shape}")
        _run_backward(self, grad, retain_graph=bool(retain_graph))

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor too (for inspecting activations' gradients)."""
        self._retain_grad = True
        return self

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor(self.array, requires_grad=False)

    def requires_grad_(self, flag=True):
        self.requires_grad = bool(flag)
        return self

    def zero_grad(self, set_to_none=True):
        """Forget the gradient (``grad = None``), or with ``set_to_none=False`` overwrite it with
        zeros in place, as PyTorch's ``zero_grad(set_to_none=...)`` does for every parameter."""
        if set_to_none:
            self.grad = None
        elif self.grad is not None:
            with no_grad():
                self.grad.zero_()

    # ------------------------------------------------------------ conversion
    def numpy(self, *, force=False):
        """A host NumPy copy. As in PyTorch, a tensor that requires grad refuses (the copy would
        leave the graph silently): call ``t.detach().numpy()``, or pass ``force=True``."""
        if self.requires_grad and not force:
            raise RuntimeError(
                f"numpy: can't call numpy() on a tensor that requires grad (shape {self.shape}); "
                "use tensor.detach().numpy() instead"
            )
        return backend.to_numpy(self.array)

    def __array__(self, dtype=None, copy=None):
        """A host NumPy copy, so ``np.asarray(t)`` and ``np.testing.assert_allclose(t.grad, ...)``
        work. It is always a copy (the array may live on a GPU), so ``copy=False`` raises, as
        NumPy's protocol asks."""
        if copy is False:
            raise ValueError("Tensor.__array__: a Tensor is always copied to NumPy, but copy=False was asked")
        host = self.numpy(force=True)
        return host if dtype is None else host.astype(dtype)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.numel() != 1:
            raise RuntimeError(f"item: a Tensor with {self.numel()} elements cannot be converted to a scalar (shape {self.shape})")
        return backend.to_numpy(self.array).reshape(()).item()

    def tolist(self):
        return backend.to_numpy(self.array).tolist()

    def _scalar(self, kind):
        """The Python number behind ``float(t)``/``int(t)``: one element only (ValueError), as PyTorch."""
        if self.numel() != 1:
            raise ValueError(
                f"{kind}(): only one-element tensors can be converted to Python scalars, got shape {self.shape}"
            )
        return backend.to_numpy(self.array).reshape(()).item()

    def __float__(self):
        return float(self._scalar("float"))

    def __int__(self):
        """Truncates towards zero, as ``int(torch.tensor(2.7)) == 2``."""
        return int(self._scalar("int"))

    def __bool__(self):
        """The truth of a one-element tensor (``if loss < best:``); PyTorch calls more than one value,
        or none, ambiguous and raises."""
        if self.numel() > 1:
            raise RuntimeError(
                f"Boolean value of Tensor with more than one value is ambiguous (shape {self.shape}); "
                "use .any() or .all() on the comparison"
            )
        if self.numel() == 0:
            raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
        return bool(self.item())

    def __format__(self, spec):
        """A 0-d tensor formats like its number (``f"{loss:.3f}"``); any other tensor only with an
        empty spec, as its repr. PyTorch does the same (a shape-(1,) tensor with ``:.3f`` raises)."""
        if self.ndim == 0:
            return format(self.item(), spec)
        if spec:
            raise TypeError(
                f"unsupported format string {spec!r} passed to Tensor.__format__ for shape {self.shape}: "
                "only a 0-d tensor formats like a number (use t.item())"
            )
        return repr(self)

    def to(self, *args, device=None, dtype=None, copy=False, non_blocking=False):
        """This tensor on another device and/or with another dtype, in PyTorch's forms:
        ``x.to(mt.float64)``, ``x.to("cuda")``, ``x.to("cpu", mt.float32)``, ``x.to(other)``
        (``other``'s device and dtype), ``x.to(device=..., dtype=...)``.

        The conversion stays in the graph (the gradient comes back converted), and ``x`` itself is
        returned when nothing changes, as in PyTorch. ``non_blocking`` is accepted and ignored.
        """
        device, dtype = to_arguments(args, device, dtype)
        return F.to(self, device, dtype, copy)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self.to(dtype="float32")

    def double(self):
        return self.to(dtype="float64")

    def half(self):
        return self.to(dtype="float16")

    def long(self):
        return self.to(dtype="int64")

    def int(self):
        return self.to(dtype="int32")

    def bool(self):
        return self.to(dtype="bool")

    def type(self, dtype=None):
        """With ``dtype``: this tensor converted to it (``x.type(mt.float64)``); without: the dtype's name."""
        if dtype is None:
            return backend.dtype_name(self.dtype)
        return self.to(dtype=dtype)

    def clone(self):
        """A copy in new memory that stays in the graph."""
        return F.clone(self)

    def contiguous(self):
        """``self``: backend arrays here are always usable as they are (PyTorch needs this after
        ``transpose`` before ``view``; our ``view`` copies when it must)."""
        return self

    def dim(self):
        return self.ndim

    # ------------------------------------------------------------ operators
    def __add__(self, other):
        return F.add(self, other)

    def __radd__(self, other):
        return F.add(other, self)

    def __sub__(self, other):
        return F.sub(self, other)

    def __rsub__(self, other):
        return F.sub(other, self)

    def __mul__(self, other):
        return F.mul(self, other)

    def __rmul__(self, other):
        return F.mul(other, self)

    def __truediv__(self, other):
        return F.div(self, other)

    def __rtruediv__(self, other):
        return F.div(other, self)

    def __matmul__(self, other):
        return F.matmul(self, other)

    def __rmatmul__(self, other):
        return F.matmul(other, self)

    def __pow__(self, exponent):
        return F.pow(self, exponent)

    def __neg__(self):
        return F.neg(self)

    def __getitem__(self, index):
        return F.getitem(self, index)

    # ------------------------------------------------------------ in-place ops
    def __setitem__(self, index, value):
        """``t[index] = value``, recorded in the graph when ``value`` or ``t`` needs a gradient:
        gradients reach ``value`` and not the overwritten entries (see ``functional/setitem.py``)."""
        self._assign("__setitem__", index, value)

    def _assign(self, op, index, value):
        """``self[index] = value`` as the in-place op ``op`` (its name in the errors)."""
        from .functional.setitem import assign
        from .functional.shape import raw_index

        self._in_place(
            op,
            value,
            recorded=lambda old: F.setitem(old, index, value),
            written=lambda array, raw: assign(array, raw_index(index, self.ndim), raw),
        )

    def _in_place(self, op, other, recorded, written):
        """Run an in-place op the way PyTorch does.

        * Outside any graph (no grad here or in ``other``, or under ``no_grad``): ``written(array,
          raw other)`` changes the array in memory, so ``.data`` aliases and views see it.
        * On a leaf that requires grad: RuntimeError, as PyTorch (its ``.grad`` would describe a
          value that no longer exists); update it under ``no_grad`` or through ``.data``.
        * Otherwise ``recorded(old)`` builds the op on a snapshot of this tensor and this tensor
          becomes its output; the snapshot is kept in ``_older`` for the ops that read it before.
        """
        other_grad = isinstance(other, Tensor) and other.requires_grad
        if not (is_grad_enabled() and (self.requires_grad or other_grad)):
            raw = other.array if isinstance(other, Tensor) else other
            try:
                result = written(self.array, raw)
            except (TypeError, ValueError) as exc:
                raise type(exc)(
                    f"{op}: cannot store the result in place in this {backend.dtype_name(self.dtype)} tensor "
                    f"of shape {self.shape} ({exc})"
                ) from exc
            if result is not None:
                self.array = result
            self._version += 1
            return self
        if self.requires_grad and self.is_leaf:
            raise RuntimeError(
                f"{op}: a leaf Variable that requires grad is being used in an in-place operation "
                f"(shape {self.shape}); update it under `with no_grad():` or through `.data`"
            )
        old = Tensor(self.array, requires_grad=self.requires_grad)
        old._node = self._node
        out = recorded(old)
        if out.shape != self.shape or out.dtype != self.dtype:
            raise RuntimeError(
                f"{op}: the result has shape {out.shape} and dtype {backend.dtype_name(out.dtype)}, but an "
                f"in-place op must keep this tensor's shape {self.shape} and dtype {backend.dtype_name(self.dtype)}"
            )
        self._older = dict(self._older or {})
        self._older[self._version] = old
        self.array, self._node, self.requires_grad = out.array, out._node, out.requires_grad
        self._version += 1
        return self

    def __iadd__(self, other):
        return self._in_place("+=", other, lambda old: F.add(old, other), operator.iadd)

    def __isub__(self, other):
        return self._in_place("-=", other, lambda old: F.sub(old, other), operator.isub)

    def __imul__(self, other):
        return self._in_place("*=", other, lambda old: F.mul(old, other), operator.imul)

    def __itruediv__(self, other):
        return self._in_place("/=", other, lambda old: F.div(old, other), operator.itruediv)

    def add_(self, other, alpha=1):
        """``self += alpha * other`` in place (PyTorch's ``p.data.add_(p.grad, alpha=-lr)``)."""
        return self.__iadd__(other if alpha == 1 else alpha * other)

    def sub_(self, other, alpha=1):
        """``self -= alpha * other`` in place."""
        return self.__isub__(other if alpha == 1 else alpha * other)

    def mul_(self, other):
        """``self *= other`` in place."""
        return self.__imul__(other)

    def div_(self, other):
        """``self /= other`` in place."""
        return self.__itruediv__(other)

    def zero_(self):
        """Set every entry to 0 in place (``p.grad.zero_()``)."""
        self._assign("zero_", ..., 0)
        return self

    def fill_(self, value):
        """Set every entry to ``value`` in place (d2l's ``net[0].bias.data.fill_(0)``)."""
        self._assign("fill_", ..., value)
        return self

    def normal_(self, mean=0.0, std=1.0):
        """Overwrite in place with draws from ``N(mean, std**2)`` (d2l's
        ``net[0].weight.data.normal_(0, 0.01)``): ``nn.init.normal_``'s draws, written into this
        tensor's memory, so through ``.data`` they reach the parameter on every backend."""
        from .nn import init

        self._assign("normal_", ..., init.normal_(Tensor(self.xp.empty_like(self.array)), mean, std))
        return self

    def uniform_(self, a=0.0, b=1.0):
        """Overwrite in place with draws from the uniform distribution on ``[a, b)``, as :meth:`normal_`."""
        from .nn import init

        self._assign("uniform_", ..., init.uniform_(Tensor(self.xp.empty_like(self.array)), a, b))
        return self

    # comparisons carry no gradient
    def _compare(self, other, op):
        other = other.array if isinstance(other, Tensor) else other
        return Tensor(op(self.array, other))

    def __lt__(self, other):
        return self._compare(other, lambda a, b: a < b)

    def __le__(self, other):
        return self._compare(other, lambda a, b: a <= b)

    def __gt__(self, other):
        return self._compare(other, lambda a, b: a > b)

    def __ge__(self, other):
        return self._compare(other, lambda a, b: a >= b)

    def __eq__(self, other):
        return self._compare(other, lambda a, b: a == b)

    def __ne__(self, other):
        return self._compare(other, lambda a, b: a != b)

    __hash__ = object.__hash__

    def eq(self, other):
        return self == other

    def ne(self, other):
        return self != other

    def lt(self, other):
        return self < other

    def le(self, other):
        return self <= other

    def gt(self, other):
        return self > other

    def ge(self, other):
        return self >= other

    # logical ops, like comparisons, give bool tensors and carry no gradient
    def _logical(self, op, other=None):
        xp = self.xp
        if not xp.isdtype(self.dtype, "bool"):
            a = self.array != 0
        else:
            a = self.array
        if other is None:
            return Tensor(op(xp, a))
        b = other.array if isinstance(other, Tensor) else xp.asarray(other)
        return Tensor(op(xp, a, b if xp.isdtype(b.dtype, "bool") else b != 0))

    def logical_not(self):
        return self._logical(lambda xp, a: xp.logical_not(a))

    def logical_and(self, other):
        return self._logical(lambda xp, a, b: xp.logical_and(a, b), other)

    def logical_or(self, other):
        return self._logical(lambda xp, a, b: xp.logical_or(a, b), other)

    def __invert__(self):
        """``~mask``: logical not of a bool tensor, as in PyTorch."""
        if not self.xp.isdtype(self.dtype, "bool"):
            raise TypeError(f"~: expected a bool tensor, got {backend.dtype_name(self.dtype)}; use logical_not()")
        return self.logical_not()

    def any(self, dim=None, keepdim=False):
        """Whether any entry (along ``dim``) is non-zero: a bool tensor, no gradient."""
        return Tensor(self.xp.any(self.array != 0, axis=_reduced_dims("any", dim, self.ndim), keepdims=keepdim))

    def all(self, dim=None, keepdim=False):
        """Whether every entry (along ``dim``) is non-zero: a bool tensor, no gradient."""
        return Tensor(self.xp.all(self.array != 0, axis=_reduced_dims("all", dim, self.ndim), keepdims=keepdim))

    # ------------------------------------------------------------ methods
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return F.reshape(self, shape)

    def view(self, *shape):
        return self.reshape(*shape)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if not axes:
            axes = tuple(reversed(range(self.ndim)))
        elif len(axes) == 2 and self.ndim != 2:
            a, b = (ax % self.ndim for ax in axes)
            order = list(range(self.ndim))
            order[a], order[b] = order[b], order[a]
            axes = tuple(order)
        return F.permute(self, axes)

    def permute(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return F.permute(self, axes)

    def squeeze(self, dim=None):
        return F.squeeze(self, dim)

    def unsqueeze(self, dim):
        return F.unsqueeze(self, dim)

    def expand(self, *sizes):
        return F.expand(self, *sizes)

    def relu(self):
        return F.relu(self)

    def softmax(self, dim):
        return F.softmax(self, dim)

    def log_softmax(self, dim):
        return F.log_softmax(self, dim)

    def neg(self):
        return F.neg(self)

    def add(self, other):
        return F.add(self, other)

    def sub(self, other):
        return F.sub(self, other)

    def mul(self, other):
        return F.mul(self, other)

    def div(self, other):
        return F.div(self, other)

    def tanh(self):
        return F.tanh(self)

    def sigmoid(self):
        return F.sigmoid(self)

    def exp(self):
        return F.exp(self)

    def log(self):
        return F.log(self)


    # ------------------------------------------------------------ PyTorch's ops as methods
    # Each forwards to the function of the same name in functional/, where its forward and
    # backward are; ``dim``/``keepdim`` are PyTorch's names, ``axis``/``keepdims`` ours.
    def sum(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return F.sum(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def mean(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return F.mean(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def var(self, dim=None, *, correction=1, keepdim=False, unbiased=None, axis=None, keepdims=None):
        return F.var(self, dim, correction=correction, keepdim=keepdim, unbiased=unbiased, axis=axis, keepdims=keepdims)

    def std(self, dim=None, *, correction=1, keepdim=False, unbiased=None, axis=None, keepdims=None):
        return F.std(self, dim, correction=correction, keepdim=keepdim, unbiased=unbiased, axis=axis, keepdims=keepdims)

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return F.max(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return F.min(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def amax(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return F.amax(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def amin(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return F.amin(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def argmax(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return F.argmax(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def argmin(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return F.argmin(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def flatten(self, start_dim=0, end_dim=-1):
        return F.flatten(self, start_dim, end_dim)

    def sqrt(self):
        return F.sqrt(self)

    def rsqrt(self):
        return F.rsqrt(self)

    def abs(self):
        return F.abs(self)

    def __abs__(self):
        return F.abs(self)

    def pow(self, exponent):
        return F.pow(self, exponent)

    def __rpow__(self, base):
        return F.pow(base, self)

    def clamp(self, min=None, max=None):
        return F.clamp(self, min, max)

    clip = clamp

    def maximum(self, other):
        return F.maximum(self, other)

    def minimum(self, other):
        return F.minimum(self, other)

    def matmul(self, other):
        return F.matmul(self, other)

    def t(self):
        """The transpose of a matrix, as ``torch.Tensor.t``: 0-D and 1-D tensors come back unchanged."""
        if self.ndim > 2:
            raise ValueError(f"t: expected a tensor with at most 2 dims, got shape {self.shape}; use transpose(dim0, dim1)")
        return self if self.ndim < 2 else F.permute(self, (1, 0))



def to_arguments(args, device=None, dtype=None):
    """``(device, dtype)`` from the positional forms of PyTorch's ``.to``, shared by ``Tensor.to``
    and ``Module.to``: a device (``"cuda"``, ``mt.device("cpu")``), a dtype, or a tensor (its both)."""
    for arg in args:
        if isinstance(arg, Tensor):
            device, dtype = arg.device, arg.dtype
        elif isinstance(arg, str) and arg.split(":")[0] in ("cpu", "cuda"):
            device = arg
        else:
            dtype = arg
    return device, dtype


def is_tensor(obj):
    """Whether ``obj`` is a :class:`Tensor` (``torch.is_tensor``)."""
    return isinstance(obj, Tensor)


def tensor(data, requires_grad=False, dtype=None, device=None):
    """A new :class:`Tensor` holding a copy of ``data``, as ``torch.tensor``: changing ``data``
    afterwards does not change the tensor (:func:`as_tensor` and :func:`from_numpy` share instead).

    * An array from any Array-API library stays in that library, with no trip through NumPy, and
      keeps its dtype (float64 stays float64, integer targets stay integers).
    * Python lists and scalars of floats become float32; of ints, int64.
    * ``device="cuda"`` puts the data on the GPU through CuPy; ``dtype`` converts.
    """
    source = data.array if isinstance(data, Tensor) else data
    out = as_tensor(data, dtype=dtype, device=device)
    if out.array is source:
        out = Tensor(out.xp.asarray(source, copy=True))
    return out.requires_grad_(requires_grad)


def as_tensor(data, dtype=None, device=None):
    """A Tensor sharing ``data``'s memory when it already is an array of the asked dtype and
    device (a Tensor is returned as it is), else a converted copy, as ``torch.as_tensor``."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype)
    if backend.is_array(data):
        array = backend.to_device(data, device) if device is not None else data
        if dtype is not None:
            xp = backend.array_namespace(array)
            target = backend.dtype_of(xp, dtype)
            array = array if array.dtype == target else xp.astype(array, target)
    else:
        array = backend.asarray(data, dtype=dtype, device=device)
    return Tensor(array)


def from_numpy(array):
    """A Tensor sharing the memory of NumPy array ``array`` (writes to either show in both), with
    its dtype, as ``torch.from_numpy``."""
    if not backend.is_numpy_array(array):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)

from . import functional as F  # noqa: E402  (functional imports Tensor; methods need F)
from .functional.reduction import _dims as _reduced_dims  # noqa: E402
