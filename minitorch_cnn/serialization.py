"""``save`` and ``load``: checkpoints as plain ``.npz`` files, written atomically, read without pickle;
``atomic_write`` and ``save_figure``, the same atomic write for any other file the framework writes.

A checkpoint is any nest of dicts and lists whose leaves are arrays (NumPy, CuPy, Tensors) or JSON
values (numbers, strings, booleans, None). Arrays are stored as ``.npz`` members; the structure
around them is stored as one JSON string member, ``__structure__``, where each array is replaced by
``{"__array__": "<member name>"}`` (``{"__tensor__": ...}`` for a Tensor, which loads as a Tensor on
the CPU, as d2l's ``torch.save(x, "x-file"); torch.load("x-file")`` expects). Nothing is pickled,
so loading a checkpoint cannot run code.

Every write (:func:`atomic_write`) goes to a partial file in the same folder
(``.NAME.partial-XXXX``), is flushed to disk, and only then renamed over the target: a save that
is interrupted, even by SIGKILL, leaves the previous file intact, plus a partial file that
:func:`partial_saves` finds. The file gets the usual mode of a new file (``0o666`` less the
umask), like any file the user creates.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import uuid
import zipfile

import numpy as np

from . import backend

_STRUCTURE = "__structure__"
_INT_KEYS = "__int_keys__"


def _flatten(obj, arrays, prefix):
    from .tensor import Tensor

    if isinstance(obj, Tensor):
        key = f"a{len(arrays)}:{prefix}"
        arrays[key] = backend.to_numpy(obj.array)
        return {"__tensor__": key}
    if isinstance(obj, np.generic):
        return obj.item()
    if backend.is_array(obj):
        key = f"a{len(arrays)}:{prefix}"
        arrays[key] = backend.to_numpy(obj)
        return {"__array__": key}
    if isinstance(obj, dict):
        for k in obj:
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"save: dictionary keys must be strings or ints, got {k!r} at '{prefix}'")
        flat = {str(k): _flatten(v, arrays, f"{prefix}/{k}") for k, v in obj.items()}
        # JSON keys are strings; integer keys (an optimiser's per-parameter state) are marked.
        if any(isinstance(k, int) for k in obj):
            return {_INT_KEYS: flat}
        return flat
    if isinstance(obj, (list, tuple)):
        return [_flatten(v, arrays, f"{prefix}/{i}") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"save: cannot store a {type(obj).__name__} at '{prefix}': use arrays, numbers, strings, lists, dicts")


def _unflatten(obj, arrays):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]
        if set(obj) == {"__tensor__"}:
            from .tensor import Tensor

            return Tensor(arrays[obj["__tensor__"]])
        if set(obj) == {_INT_KEYS}:
            return {int(k) if k.lstrip("-").isdigit() else k: _unflatten(v, arrays) for k, v in obj[_INT_KEYS].items()}
        return {k: _unflatten(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unflatten(v, arrays) for v in obj]
    return obj


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a new file to write ``path`` in one step: ``with atomic_write(p, "w") as f: f.write(...)``.

    The body writes a partial file next to ``path``; when it ends without an exception, the file is
    flushed to disk and renamed over ``path``, so readers see the old file or the new one, never a
    part. An exception removes the partial file. Missing folders are created. ``mode`` is ``"wb"``
    or ``"w"`` (text, UTF-8).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write: mode must be 'wb' or 'w', got {mode!r}")
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{_partial_prefix(path)}{uuid.uuid4().hex}"
    # os.open applies the umask, as for any new file; tempfile.mkstemp would force mode 0600.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def save_figure(fig, path, dpi=100, **kwargs):
    """Write a matplotlib figure to ``path`` atomically, in the format its suffix names (PNG by
    default); ``kwargs`` go to ``Figure.savefig``. Returns ``path``."""
    suffix = os.path.splitext(os.fspath(path))[1].lstrip(".").lower()
    with atomic_write(path) as f:
        fig.savefig(f, format=suffix or "png", dpi=dpi, **kwargs)
    return path


def save(obj, path):
    """Write ``obj`` (dicts/lists of arrays and JSON values) to ``path`` as ``.npz``, atomically."""
    arrays = {}
    structure = _flatten(obj, arrays, "")
    arrays[_STRUCTURE] = np.array(json.dumps(structure))
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def _partial_prefix(path):
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{name}.partial-")


def partial_saves(path):
    """Partial files left next to ``path`` by saves that were killed before they finished."""
    return sorted(glob.glob(glob.escape(_partial_prefix(path)) + "*"))


def load(path, map_location=None, *, weights_only=None):
    """Read a checkpoint written by :func:`save`. Arrays come back as host NumPy arrays.

    Pickled files (``torch.save`` output, ``np.save`` of objects, raw pickles) are refused.
    ``map_location`` (``None`` or the CPU: ``model.load_state_dict`` copies the arrays to the
    model's device) and ``weights_only`` are PyTorch's arguments; nothing is ever unpickled here,
    so ``weights_only`` changes nothing.
    """
    if map_location is not None and str(map_location) != "cpu":
        raise ValueError(f"load: map_location={map_location!r} is not supported: arrays load on the CPU "
                         "(map_location=None or 'cpu'); move the model afterwards with model.to(device)")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no checkpoint at {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"load: {path} is not an .npz checkpoint written by minitorch_cnn.save: a truncated or corrupt "
            "file, or another format (pickled files are refused: they can run code when loaded)"
        )
    corrupt = f"load: {path} is a truncated or corrupt checkpoint"
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise ValueError(f"load: {path} contains pickled data, which is refused (allow_pickle=False): {exc}") from exc
        raise ValueError(f"{corrupt}: {exc}") from exc
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ValueError(f"{corrupt}: {exc}") from exc
    if _STRUCTURE not in arrays:
        raise ValueError(f"load: {path} is a zip file but not a minitorch_cnn checkpoint (no {_STRUCTURE}); "
                         "for a state dict (torch.save .pth, np.savez), use mt.load_weights")
    structure = json.loads(str(arrays.pop(_STRUCTURE)))
    return _unflatten(structure, arrays)
