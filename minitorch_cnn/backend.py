"""The one place that talks to NumPy or CuPy directly.

Every op gets its array namespace ``xp`` from :func:`array_namespace` and then uses only
Array-API calls (``xp.reshape``, ``xp.sum``, ``xp.matmul``...), so the same source runs on
NumPy (CPU), CuPy (GPU) and, in the tests, ``array_api_strict``.

Things the Array API does not cover live here: random numbers, host copies, device lookup,
turning Python data into arrays.
"""

from __future__ import annotations

import numpy as np
import array_api_compat

#: Default floating dtype for Python data (lists, scalars), as in PyTorch.
DEFAULT_DTYPE = "float32"

_seed_state = {"seed": 0, "generator": np.random.default_rng(0)}


def array_namespace(*arrays):
    """Return the Array-API namespace (``xp``) shared by ``arrays``.

    Python scalars and ``None`` are ignored, as in ``array_api_compat.array_namespace``.
    """
    arrays = [a for a in arrays if a is not None and type(a) not in (bool, int, float)]
    return array_api_compat.array_namespace(*arrays)


def is_array(x) -> bool:
    """True for an array of any Array-API library (NumPy, CuPy, array_api_strict...).

    NumPy scalars (``np.float64(1.0)``, what NumPy returns from a full reduction) count as arrays;
    Python numbers do not.
    """
    return type(x) not in (bool, int, float) and array_api_compat.is_array_api_obj(x)


def quiet_float_errors():
    """A context in which NumPy computes ``log(0) = -inf``, ``0 / 0 = nan`` and overflows without
    printing a RuntimeWarning, as PyTorch does (the training loop checks the loss for nan/inf)."""
    return np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore")


def is_numpy_array(x) -> bool:
    """True for a NumPy ndarray (what ``from_numpy`` accepts)."""
    return isinstance(x, np.ndarray)


def owns_memory(x) -> bool:
    """True for a NumPy or CuPy array that owns its memory (not a view of another array); False
    where that cannot be told (other Array-API libraries)."""
    return (isinstance(x, np.ndarray) or array_api_compat.is_cupy_array(x)) and x.base is None


def as_array(x):
    """Turn a NumPy scalar into a 0-d array, so a full reduction keeps its dtype and namespace."""
    return np.asarray(x) if isinstance(x, np.generic) else x


def dtype_of(xp, name):
    """Turn ``"float32"``, ``"float64"``, a NumPy dtype or an ``xp`` dtype into an ``xp`` dtype."""
    if name is None:
        return None
    if isinstance(name, str):
        key = name
    elif isinstance(name, type) and issubclass(name, np.generic):
        key = np.dtype(name).name
    elif isinstance(name, np.dtype):
        key = name.name
    else:
        return name
    if not hasattr(xp, key):
        raise TypeError(f"unknown dtype {name!r}: expected 'float32', 'float64' or a NumPy dtype")
    return getattr(xp, key)


def dtype_name(dtype) -> str:
    """A short printable name (``'float32'``) for any library's dtype."""
    text = str(dtype)
    # Unsigned names first: "int8" is inside "uint8".
    for name in ("float16", "float32", "float64", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32",
                 "int64", "bool"):
        if name in text:
            return name
    return text


# ---------------------------------------------------------------- devices


def cuda_is_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device. Never raises."""
    return cuda_unavailable_reason() is None


def cuda_unavailable_reason():
    """Why ``device="cuda"`` cannot be used here, or ``None`` if it can."""
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken CUDA install raising at import
        return f"CuPy is not installed or failed to import ({type(exc).__name__}: {exc}); install the 'cuda' extra"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return f"no usable CUDA driver ({type(exc).__name__}: {exc})"
    if count < 1:
        return "the CUDA driver reports no GPU device"
    return None


def namespace_for_device(device):
    """Array namespace for a device string: ``"cpu"`` -> NumPy, ``"cuda"`` -> CuPy."""
    name = str(device).split(":")[0]
    if name == "cpu":
        return array_api_compat.array_namespace(np.empty(0))
    if name == "cuda":
        reason = cuda_unavailable_reason()
        if reason is not None:
            raise RuntimeError(f"device 'cuda' is not available: {reason}")
        import cupy

        return array_api_compat.array_namespace(cupy.empty(0))
    raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'cuda'")


def device_name(x) -> str:
    """``"cpu"``, ``"cuda"`` or the library's own device name for an array."""
    if array_api_compat.is_numpy_array(x):
        return "cpu"
    if array_api_compat.is_cupy_array(x):
        return "cuda"
    return str(array_api_compat.device(x))


class device(str):
    """PyTorch's ``torch.device``: ``device("cpu")``, ``device("cuda")``, ``device("cuda:0")`` or
    ``device("cuda", 0)``, with PyTorch's ``.type`` and ``.index``.

    It is a ``str`` (``"cpu"``, ``"cuda:0"``), so every function here that takes a device string
    (``x.to``, ``model.to``, ``mt.zeros(..., device=)``) takes one of these as it is.
    """

    def __new__(cls, type, index=None):
        name, colon, number = str(type).partition(":")
        if colon:
            if index is not None or not number.isdigit():
                raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:N', got {type!r} (index {index!r})")
            index = int(number)
        if name not in ("cpu", "cuda"):
            raise ValueError(f"device: expected device type 'cpu' or 'cuda', got {type!r}")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
            raise ValueError(f"device: expected a non-negative int index, got {index!r}")
        self = super().__new__(cls, name if index is None else f"{name}:{index}")
        self.type, self.index = name, index
        return self

    def __repr__(self):
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type={self.type!r}{index})"


def to_device(x, device):
    """Copy array ``x`` to ``"cpu"`` (NumPy) or ``"cuda"`` (CuPy)."""
    name = str(device).split(":")[0]
    if device_name(x) == name:
        return x
    host = to_numpy(x)
    if name == "cpu":
        return host
    namespace_for_device("cuda")  # raises a clear error without a GPU
    import cupy

    return cupy.asarray(host)


def to_numpy(x) -> np.ndarray:
    """A host NumPy copy of any backend array."""
    if array_api_compat.is_numpy_array(x):
        return np.array(x, copy=True)
    if array_api_compat.is_cupy_array(x):
        return x.get()
    return np.array(np.from_dlpack(x), copy=True)


def from_numpy(array: np.ndarray, like):
    """Put host array ``array`` into the same library (and device) as array ``like``."""
    xp = array_namespace(like)
    if array_api_compat.is_numpy_array(like):
        return array
    return xp.asarray(array, device=array_api_compat.device(like))


def asarray(data, dtype=None, device=None):
    """Turn Python data (lists, scalars) or a host array into a backend array.

    Floats become ``DEFAULT_DTYPE`` (float32) unless ``dtype`` says otherwise; integer data stays
    integer (class targets) and booleans stay boolean.
    """
    xp = namespace_for_device(device or "cpu")
    host = np.asarray(data)
    if dtype is None and host.dtype.kind == "f":
        dtype = DEFAULT_DTYPE if not isinstance(data, np.ndarray) else host.dtype.name
    if dtype is None and host.dtype.kind in "iu":
        dtype = "int64"
    return xp.asarray(host, dtype=dtype_of(xp, dtype))


# ---------------------------------------------------------------- random numbers


def manual_seed(seed: int) -> None:
    """Make every random draw (init, dropout, shuffling, augmentation) reproducible."""
    _seed_state["seed"] = int(seed)
    _seed_state["generator"] = np.random.default_rng(int(seed))


def generator() -> np.random.Generator:
    """The framework's seeded host generator."""
    return _seed_state["generator"]


def get_rng_state() -> dict:
    """The framework generator's state, a dict of numbers and strings (NumPy's
    ``bit_generator.state``), which :func:`save` can store. Unlike PyTorch's byte tensor it is
    plain JSON, so reading it back from an untrusted file runs no code."""
    return {"seed": _seed_state["seed"], "bit_generator": generator().bit_generator.state}


def set_rng_state(state: dict) -> None:
    """Continue the framework generator from a state returned by :func:`get_rng_state`."""
    fresh = np.random.default_rng()
    try:
        fresh.bit_generator.state = state["bit_generator"]
    except (KeyError, TypeError, ValueError) as exc:
        kind = type(fresh.bit_generator).__name__
        raise ValueError(f"set_rng_state: expected a state from get_rng_state() ({kind}), got {state!r}") from exc
    _seed_state["seed"] = int(state["seed"])
    _seed_state["generator"] = fresh


def random_uniform(shape, like, low=0.0, high=1.0, *, out=None):
    """Uniform draws in ``[low, high)`` with ``like``'s library, device and dtype.

    Drawn on the host from the seeded generator, so results do not depend on the backend.
    ``out`` (the initialisers' case: ``out`` is ``like``): draw in ``out``'s own dtype, written
    into ``out`` itself when it is a writeable NumPy array, returned as a new array otherwise.
    """
    if out is not None:
        host = _host_out(out)
        generator().random(dtype=host.dtype, out=host)
        host *= host.dtype.type(high - low)  # in place: no temporary the size of the weight
        host += host.dtype.type(low)
        return _into(out, host)
    host = generator().uniform(low, high, size=tuple(shape))
    xp = array_namespace(like)
    return xp.astype(from_numpy(host, like), like.dtype)


def random_normal(shape, like, mean=0.0, std=1.0, *, out=None):
    """Normal draws with ``like``'s library, device and dtype, from the seeded generator;
    ``out`` as in :func:`random_uniform`."""
    xp = array_namespace(like)
    if out is not None:
        host = _host_out(out)
        generator().standard_normal(dtype=host.dtype, out=host)
        if mean != 0.0 or std != 1.0:
            host *= host.dtype.type(std)
            host += host.dtype.type(mean)
        return _into(out, host)
    # Draw float32 directly when the target is float32: half the work for a 4096x4096 layer.
    host_dtype = np.float32 if dtype_name(like.dtype) == "float32" else np.float64
    host = generator().standard_normal(size=tuple(shape), dtype=host_dtype)
    if mean != 0.0 or std != 1.0:
        host = host * host_dtype(std) + host_dtype(mean)
    return xp.astype(from_numpy(host, like), like.dtype)


def random_integers(shape, like, low, high):
    """Integers drawn uniformly from ``[low, high)`` with ``like``'s library, device and dtype, from
    the seeded generator (``mt.randint``)."""
    host = generator().integers(low, high, size=tuple(shape))
    return array_namespace(like).astype(from_numpy(host, like), like.dtype)


def _host_out(out):
    """The host array to draw ``out``'s values into: ``out`` itself when NumPy can write there
    (a float32 or float64 ndarray), else a new one of its shape in float32 or float64."""
    if isinstance(out, np.ndarray) and out.flags.writeable and out.dtype in (np.float32, np.float64):
        return out
    return np.empty(tuple(out.shape), dtype=np.float32 if dtype_name(out.dtype) == "float32" else np.float64)


def _into(out, host):
    """``host`` as ``out``'s array: ``out`` when the draws went there, else a converted copy."""
    if host is out:
        return out
    return array_namespace(out).astype(from_numpy(host, out), out.dtype)
