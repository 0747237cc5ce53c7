"""``load_weights``: a state dict (name -> NumPy array) from a weight file, read without PyTorch.

Four formats are read:

* our ``.npz`` files (:func:`minitorch_cnn.save` of a state dict, or a checkpoint written by
  ``minitorch-cnn train``/``pretrain``, whose ``"model"`` entry is taken; a plain ``np.savez``
  of named arrays too);
* PyTorch's ``torch.save`` files, ``.pth``/``.pt``: the zip format (PyTorch 1.6 and later: a
  ``data.pkl`` pickle plus one ``data/<key>`` entry of raw bytes per storage) and the older
  *legacy* format many published torchvision files still use (a magic number, the protocol
  version and system info as three small pickles, the main pickle, the list of storage keys, then
  each storage as an int64 element count followed by its raw bytes);
* ``.safetensors`` files, through the ``safetensors`` package's NumPy API.

Why pickle is not simply loaded: a pickle is a little program, and its ``GLOBAL``/``REDUCE``
opcodes can call any function in any module (``os.system`` included) while it is read. PyTorch's
files use only a few: ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``,
``_rebuild_parameter``, the storage classes (``torch.FloatStorage`` names the dtype) and
``collections.OrderedDict``. The unpickler here resolves exactly those names to its own small
functions, which build NumPy views, and refuses every other name before anything runs, as
``torch.load(weights_only=True)`` does. Storages arrive through pickle's ``persistent_load`` and
are read from the zip entries or from the legacy file's trailing section.

Old DenseNet files name a dense layer's parts ``norm.1``, ``conv.2`` where the modules are
``norm1``, ``conv2`` (a "." in a module name became illegal in PyTorch 0.4); the keys are renamed
with the same pattern torchvision's ``densenet._load_state_dict`` uses.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import re
import zipfile

import numpy as np

from .serialization import load

#: Legacy torch.save files start with this pickled integer, then the protocol version.
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
#: bfloat16 has no NumPy dtype: its 16 bits are the top half of a float32, so it widens exactly.
_BFLOAT16 = "bfloat16"
#: PyTorch's storage classes, by the name its pickles use, and the dtype of their elements.
STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "BFloat16Storage": _BFLOAT16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
_DENSENET_OLD_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def load_weights(path):
    """Read the weights in ``path`` as a state dict ``{name: NumPy array}``, without PyTorch.

    The format is recognised from the content (zip with ``data.pkl``, zip with ``.npy`` members,
    legacy pickle magic, safetensors header), not from the extension. Nothing in the file can run
    code: a pickle that names any function other than PyTorch's tensor-rebuild ones is refused with
    :class:`pickle.UnpicklingError` naming the file and the function. Truncated or malformed files
    raise ``ValueError``.

    Tensors come back as contiguous copies, in their saved dtype (bfloat16 widened to float32);
    views of one storage (a transposed weight, tied weights) each get their own copy.
    """
    state, _ = read_weights(path)
    return state


def read_weights(path):
    """``(state_dict, metadata)``: :func:`load_weights` plus the metadata of a minitorch_cnn
    checkpoint (``{}`` for other files), whose ``architecture`` lets ``models.create`` check it."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_weights: no file at {path}")
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"PK"):
        state, metadata = _read_zip(path)
    elif head[:1] == b"\x80":
        state, metadata = _read_legacy(path), {}
    elif len(head) >= 9 and head[8:9] == b"{":
        state, metadata = _read_safetensors(path), {}
    else:
        raise ValueError(
            f"load_weights: {path} is not a weights file this reader knows (torch.save .pth/.pt, "
            f".npz, .safetensors); it starts with {head[:8]!r}"
        )
    return _rename_old_densenet(state), metadata


# ---------------------------------------------------------------- formats


def _read_zip(path):
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            pickles = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
            if pickles:
                return _read_torch_zip(path, archive, pickles[0][: -len("data.pkl")]), {}
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ValueError(f"load_weights: {path} is a truncated or corrupt zip file: {exc}") from exc
    if "__structure__.npy" not in names:
        return _read_plain_npz(path), {}
    checkpoint = load(path)
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("model"), dict):
        return _state_dict(path, checkpoint["model"]), checkpoint.get("metadata", {})
    return _state_dict(path, checkpoint), {}


def _read_plain_npz(path):
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (ValueError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ValueError(f"load_weights: {path} is a zip file but not a readable .npz or torch.save file: "
                         f"{exc}") from exc


def _read_torch_zip(path, archive, prefix):
    # Files written before PyTorch 1.10 have no byteorder entry; they were little-endian.
    swap = prefix + "byteorder" in archive.namelist() and archive.read(prefix + "byteorder").strip() == b"big"

    def storage_bytes(key):
        try:
            return archive.read(f"{prefix}data/{key}")
        except KeyError:
            raise ValueError(f"load_weights: {path} names storage {key!r}, but has no entry "
                             f"{prefix}data/{key}") from None

    unpickler = _TensorUnpickler(io.BytesIO(archive.read(prefix + "data.pkl")), path)
    obj = _unpickle(unpickler, path)
    for storage in unpickler.storages.values():
        storage.fill(storage_bytes(storage.key), swap, path)
    return _state_dict(path, obj)


def _read_legacy(path):
    with open(path, "rb") as f:
        if _unpickle(_TensorUnpickler(f, path), path) != LEGACY_MAGIC:
            raise ValueError(f"load_weights: {path} is a pickle but not a torch.save file (no PyTorch magic number)")
        protocol = _unpickle(_TensorUnpickler(f, path), path)
        if protocol != LEGACY_PROTOCOL:
            raise ValueError(f"load_weights: {path} uses torch.save protocol {protocol!r}; "
                             f"only {LEGACY_PROTOCOL} is known")
        sys_info = _unpickle(_TensorUnpickler(f, path), path)
        swap = isinstance(sys_info, dict) and sys_info.get("little_endian") is False
        unpickler = _TensorUnpickler(f, path)
        obj = _unpickle(unpickler, path)
        keys = _unpickle(_TensorUnpickler(f, path), path)
        listed = isinstance(keys, list) and all(isinstance(k, str) for k in keys)
        if not listed or set(keys) != set(unpickler.storages):
            raise ValueError(f"load_weights: {path} is malformed: its storage list does not match the tensors")
        for key in keys:
            storage = unpickler.storages[key]
            count = f.read(8)
            nbytes = storage.numel * storage.itemsize
            raw = f.read(nbytes)
            if len(count) < 8 or len(raw) < nbytes:
                raise ValueError(f"load_weights: {path} is truncated: storage {key!r} ends early")
            if int.from_bytes(count, "big" if swap else "little") != storage.numel:
                raise ValueError(f"load_weights: {path} is malformed: storage {key!r} has a wrong element count")
            storage.fill(raw, swap, path)
    return _state_dict(path, obj)


def _read_safetensors(path):
    from safetensors.numpy import load_file  # imported here: only .safetensors files need it

    try:
        return load_file(path)
    except Exception as exc:  # the package raises its own SafetensorError (and OSError, ValueError)
        raise ValueError(f"load_weights: {path} is a truncated or malformed .safetensors file: {exc}") from exc


def _state_dict(path, obj):
    """The name -> array dict in what a file holds: a state dict, or a checkpoint dict holding one
    under ``state_dict`` or ``model`` (the usual ways of saving a training run)."""
    obj = _resolve(obj)
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
        if obj and all(isinstance(k, str) and isinstance(v, np.ndarray) for k, v in obj.items()):
            return dict(obj)
    raise ValueError(
        f"load_weights: {path} holds a {type(obj).__name__}, not a state dict of named tensors "
        "(nor a dict with one under 'state_dict' or 'model')"
    )


def _rename_old_densenet(state):
    renamed = {}
    for key, value in state.items():
        match = _DENSENET_OLD_KEY.match(key)
        renamed[match.group(1) + match.group(2) if match else key] = value
    return renamed


# ---------------------------------------------------------------- the restricted unpickler


class _Sealed:
    """Objects the unpickler builds cannot be changed by the pickle afterwards: its BUILD opcode
    would set any attribute (a tensor's offset past its storage) after the checks."""

    def __setstate__(self, state):
        raise pickle.UnpicklingError(f"the pickle sets attributes of a {type(self).__name__.lstrip('_')}, "
                                     "which a torch.save file never does")


class _Storage(_Sealed):
    """One PyTorch storage: a flat run of ``numel`` elements of one dtype, filled once its bytes
    are read (in a legacy file they come after the pickle that refers to them)."""

    def __init__(self, key, dtype, numel):
        self.key, self.dtype, self.numel = key, dtype, numel
        self.itemsize = 2 if dtype == _BFLOAT16 else np.dtype(dtype).itemsize
        self.array = None

    def fill(self, raw, swap, path):
        if len(raw) != self.numel * self.itemsize:
            raise ValueError(
                f"load_weights: {path} is malformed: storage {self.key!r} holds {len(raw)} bytes, "
                f"expected {self.numel} x {self.itemsize}"
            )
        if self.dtype == _BFLOAT16:
            bits = np.frombuffer(raw, dtype=">u2" if swap else "<u2").astype(np.uint32) << 16
            self.array = bits.view(np.float32)
        else:
            dtype = np.dtype(self.dtype)
            self.array = np.frombuffer(raw, dtype=dtype.newbyteorder(">" if swap else "<")).astype(dtype)


class _StorageType(_Sealed):
    """What ``torch.FloatStorage`` etc. resolve to: only the element dtype matters."""

    def __init__(self, name, dtype):
        self.name, self.dtype = name, dtype


class _TensorRef(_Sealed):
    """A tensor as the pickle describes it: a strided view into a storage, made into an array once
    every storage is filled."""

    def __init__(self, storage, offset, size, stride):
        if not isinstance(storage, _Storage):
            raise pickle.UnpicklingError(f"a tensor must be built on a storage, got {type(storage).__name__}")
        self.storage, self.offset, self.size, self.stride = storage, int(offset), tuple(size), tuple(stride)
        negative = any(int(n) < 0 for n in self.size + self.stride)
        if len(self.size) != len(self.stride) or negative:
            raise pickle.UnpicklingError(f"a tensor has an invalid size {self.size} or stride {self.stride}")
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
        if self.offset < 0 or (min(self.size, default=1) > 0 and last >= storage.numel):
            raise pickle.UnpicklingError(
                f"a tensor of size {self.size}, stride {self.stride}, offset {self.offset} reaches past its "
                f"storage of {storage.numel} elements"
            )

    def array(self):
        flat = self.storage.array
        strides = tuple(s * flat.itemsize for s in self.stride)
        view = np.lib.stride_tricks.as_strided(flat[self.offset:], self.size, strides, writeable=False)
        return np.array(view, copy=True, order="C")


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    """``torch._utils._rebuild_tensor`` / ``_rebuild_tensor_v2``: requires_grad, hooks and
    metadata that follow do not change the values."""
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *unused):
    """``torch._utils._rebuild_parameter`` (and ``_with_state``): an ``nn.Parameter`` is its data."""
    return data


#: The only globals a PyTorch state-dict pickle may name, mapped to the functions above.
ALLOWED_GLOBALS = {
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
}


class _TensorUnpickler(pickle.Unpickler):
    """An unpickler that can build dicts, lists, numbers, strings and tensors, and nothing else."""

    def __init__(self, file, path):
        super().__init__(file)
        self.path = path
        self.storages = {}

    def find_class(self, module, name):
        if (module, name) in ALLOWED_GLOBALS:
            return ALLOWED_GLOBALS[module, name]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name, STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(
            f"load_weights: {self.path} asks to call {module}.{name}, which is not one of PyTorch's "
            "tensor-rebuild functions; refused, since a pickle can run any function it names. "
            "Only state dicts of tensors are read."
        )

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] in ("storage", b"storage")):
            raise pickle.UnpicklingError(f"load_weights: {self.path} refers to {pid!r}, which is not a tensor storage")
        storage_type, key, _location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType) or not isinstance(numel, int) or numel < 0:
            raise pickle.UnpicklingError(f"load_weights: {self.path} has a malformed storage reference {pid!r}")
        if len(pid) == 6 and pid[5] is not None:
            raise pickle.UnpicklingError(f"load_weights: {self.path} uses storage views (PyTorch < 0.4), "
                                         "which are not read")
        key = str(key)
        if key not in self.storages:
            self.storages[key] = _Storage(key, storage_type.dtype, numel)
        storage = self.storages[key]
        if storage.dtype != storage_type.dtype:
            raise pickle.UnpicklingError(f"load_weights: {self.path} gives storage {key!r} two dtypes")
        return storage


def _unpickle(unpickler, path):
    try:
        return unpickler.load()
    except pickle.UnpicklingError as exc:
        if str(exc).startswith("load_weights:"):
            raise
        raise ValueError(f"load_weights: {path} is truncated or malformed: {exc}") from exc
    except (EOFError, TypeError, ValueError, AttributeError, IndexError, KeyError, MemoryError) as exc:
        raise ValueError(f"load_weights: {path} is truncated or malformed: {type(exc).__name__}: {exc}") from exc


def _resolve(obj):
    if isinstance(obj, _TensorRef):
        return obj.array()
    if isinstance(obj, dict):
        return {k: _resolve(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v) for v in obj)
    return obj
