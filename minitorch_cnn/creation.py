"""Creating tensors: ``zeros``, ``ones``, ``full``, ``rand``, ``randn``, ``randint``, ``normal``,
``arange``, ``eye`` and the ``*_like`` versions, with PyTorch's signatures.

* Sizes are given as ``zeros(2, 3)``, ``zeros((2, 3))`` or ``zeros(size=(2, 3))``.
* ``dtype`` defaults to the default float dtype (``backend.DEFAULT_DTYPE``, float32), except
  where PyTorch infers it: ``arange`` of ints and ``full`` with an int value give int64.
* ``device`` is ``"cpu"`` (NumPy) or ``"cuda"`` (CuPy); the ``*_like`` versions keep the
  input's array library, device and dtype unless told otherwise.
* Random draws come from the framework's seeded generator, so :func:`manual_seed` repeats them.

The dtype names ``float32``, ``float64``, ``int64``... are strings, so ``mt.zeros(2,
dtype=mt.float64)`` reads as in PyTorch and ``x.dtype == mt.float32`` compares with NumPy dtypes.
"""

from __future__ import annotations

from . import backend
from .tensor import Tensor

float16 = half = "float16"
float32 = "float32"
float64 = double = "float64"
int32 = "int32"
int64 = long = "int64"
uint8 = "uint8"


def _size(op, size):
    """``(2, 3)`` from ``(2, 3)``, ``((2, 3),)`` or ``([2, 3],)``; every entry a non-negative int."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, int) or isinstance(s, bool) or s < 0:
            raise ValueError(f"{op}: expected sizes as non-negative ints, got {size!r}")
    return tuple(size)


def _sizes(positional, keyword):
    """The sizes given positionally (``zeros(2, 3)``, ``zeros((2, 3))``) or as ``size=(2, 3)``."""
    if keyword is not None and positional:
        raise TypeError(f"expected the sizes either positionally or as size=, got both: {positional} and {keyword}")
    return positional if keyword is None else (keyword,)


def _where(device, like=None):
    """The namespace and device object to create in: ``device``'s, else ``like``'s, else the CPU."""
    if device is None and like is not None:
        return backend.array_namespace(like), getattr(like, "device", None)
    return backend.namespace_for_device(device or "cpu"), None


def _dtype(xp, dtype, like=None):
    if dtype is None:
        return like.dtype if like is not None else backend.dtype_of(xp, backend.DEFAULT_DTYPE)
    return backend.dtype_of(xp, dtype)


def _make(op, size, fill, dtype, device, requires_grad, like=None):
    xp, where = _where(device, like)
    dtype = _dtype(xp, dtype, like)
    return Tensor(xp.full(_size(op, size), fill, dtype=dtype, device=where), requires_grad=requires_grad)


def _random(op, draw, size, dtype, device, requires_grad, like=None):
    xp, where = _where(device, like)
    dtype = _dtype(xp, dtype, like)
    if not xp.isdtype(dtype, "real floating"):
        raise TypeError(f"{op}: expected a floating dtype, got {backend.dtype_name(dtype)}")
    template = xp.zeros((), dtype=dtype, device=where)
    return Tensor(draw(_size(op, size), template), requires_grad=requires_grad)


def zeros(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    """A tensor of shape ``size`` filled with 0."""
    return _make("zeros", _sizes(sizes, size), 0, dtype, device, requires_grad)


def ones(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    """A tensor of shape ``size`` filled with 1."""
    return _make("ones", _sizes(sizes, size), 1, dtype, device, requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """A tensor of shape ``size`` filled with ``fill_value``; an int value gives int64 and a bool
    bool, as PyTorch infers, a float the default float dtype."""
    if dtype is None and isinstance(fill_value, bool):
        dtype = "bool"
    elif dtype is None and isinstance(fill_value, int):
        dtype = "int64"
    return _make("full", (size,), fill_value, dtype, device, requires_grad)


def rand(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    """Uniform draws in ``[0, 1)``."""
    return _random("rand", backend.random_uniform, _sizes(sizes, size), dtype, device, requires_grad)


def randn(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    """Standard normal draws (mean 0, standard deviation 1)."""
    return _random("randn", backend.random_normal, _sizes(sizes, size), dtype, device, requires_grad)


def randint(low, high=None, size=None, *, dtype=None, device=None, requires_grad=False):
    """Integers drawn uniformly from ``[low, high)``, int64 unless ``dtype`` says otherwise, in
    ``torch.randint``'s two forms: ``randint(10, (3,))`` (from 0) and ``randint(0, 10, (3,))``."""
    if size is None and isinstance(high, (tuple, list)):
        low, high, size = 0, low, high
    if size is None or high is None:
        raise TypeError(f"randint: expected randint(high, size) or randint(low, high, size), got low={low!r}, "
                        f"high={high!r}, size={size!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)) or low >= high:
        raise ValueError(f"randint: expected ints low < high, got low={low!r}, high={high!r}")
    xp, where = _where(device)
    template = xp.zeros((), dtype=_dtype(xp, dtype or "int64"), device=where)
    return Tensor(backend.random_integers(_size("randint", (size,)), template, low, high), requires_grad=requires_grad)


def normal(mean=0.0, std=1.0, size=None, *, dtype=None, device=None, requires_grad=False):
    """Normal draws ``mean + std * N(0, 1)``, as ``torch.normal``.

    With numbers for ``mean`` and ``std``, ``size`` gives the shape (``normal(0, 1, (2, 3))``);
    with tensors, the shape is their broadcast shape and ``size`` must be omitted.
    """
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        if size is not None:
            raise ValueError("normal: size is given by the mean and std tensors; pass size only with numbers")
        arrays = [getattr(v, "array", v) for v in (mean, std)]
        shaped = [a for a in arrays if hasattr(a, "shape")]
        xp = backend.array_namespace(*shaped)
        shape = tuple(xp.broadcast_arrays(*shaped)[0].shape)
        noise = backend.random_normal(shape, xp.astype(shaped[0], _dtype(xp, dtype, shaped[0])))
        return Tensor(noise * arrays[1] + arrays[0], requires_grad=requires_grad)
    if size is None:
        raise ValueError("normal: expected a size with numbers for mean and std, got size=None")

    def draw(shape, like):
        return backend.random_normal(shape, like, mean=mean, std=std)

    return _random("normal", draw, (size,), dtype, device, requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """``start, start + step, ...`` up to but excluding ``end`` (``arange(n)``: ``0..n-1``).

    All-int arguments give int64, any float the default float dtype, as in PyTorch.
    """
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero, got 0")
    if dtype is None:
        dtype = "int64" if all(isinstance(v, int) for v in (start, end, step)) else backend.DEFAULT_DTYPE
    xp, where = _where(device)
    array = xp.arange(start, end, step, dtype=backend.dtype_of(xp, dtype), device=where)
    return Tensor(array, requires_grad=requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    """The ``(n, m)`` identity matrix (``m`` defaults to ``n``): ones on the diagonal."""
    xp, where = _where(device)
    array = xp.eye(n, n if m is None else m, dtype=_dtype(xp, dtype), device=where)
    return Tensor(array, requires_grad=requires_grad)


def zeros_like(input, *, dtype=None, device=None, requires_grad=False):
    """Zeros with ``input``'s shape, array library, device and (unless given) dtype."""
    return _make("zeros_like", input.shape, 0, dtype, device, requires_grad, like=input.array)


def ones_like(input, *, dtype=None, device=None, requires_grad=False):
    """Ones with ``input``'s shape, array library, device and (unless given) dtype."""
    return _make("ones_like", input.shape, 1, dtype, device, requires_grad, like=input.array)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False):
    """``fill_value`` with ``input``'s shape, array library, device and (unless given) dtype."""
    return _make("full_like", input.shape, fill_value, dtype, device, requires_grad, like=input.array)


def rand_like(input, *, dtype=None, device=None, requires_grad=False):
    """Uniform draws in ``[0, 1)`` shaped like ``input``, in its library, device and dtype."""
    return _random("rand_like", backend.random_uniform, input.shape, dtype, device, requires_grad, like=input.array)


def randn_like(input, *, dtype=None, device=None, requires_grad=False):
    """Standard normal draws shaped like ``input``, in its library, device and dtype."""
    return _random("randn_like", backend.random_normal, input.shape, dtype, device, requires_grad, like=input.array)
