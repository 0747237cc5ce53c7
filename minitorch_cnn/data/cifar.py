"""CIFAR-10 from its binary version (``cifar-10-binary.tar.gz``, unpacked by the user).

Each ``.bin`` file is a run of 3,073-byte records: one label byte (0..9), then the 32x32 image as
three 1,024-byte planes, red, green and blue, each row by row. That is already the ``(C, H, W)``
layout, so a file becomes an array with one reshape.

Nothing here downloads: the error for a missing file says which files to fetch and from where.
"""

from __future__ import annotations

import os

import numpy as np

from .dataset import TensorDataset

C, H, W = 3, 32, 32
RECORD_BYTES = 1 + C * H * W
PIXEL_MAX_VALUE = 255.0
FILES = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}
SUBFOLDER = "cifar-10-batches-bin"
META_FILE = "batches.meta.txt"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _folder(root, files):
    """``root`` itself or ``root/cifar-10-batches-bin``: whichever holds all of ``files``."""
    for folder in (root, os.path.join(root, SUBFOLDER)):
        if all(os.path.isfile(os.path.join(folder, f)) for f in files):
            return folder
    missing = [f for f in files if not os.path.isfile(os.path.join(root, f))]
    raise FileNotFoundError(
        f"cifar10: missing {', '.join(missing)} in {root!r} (also looked in {os.path.join(root, SUBFOLDER)!r}). "
        f"The cifar10 loader expects the binary version's files data_batch_1.bin ... data_batch_5.bin and "
        f"test_batch.bin ({META_FILE} optional), in that folder or in its {SUBFOLDER} subfolder; get "
        f"'CIFAR-10 binary version (suitable for C programs)' from Alex Krizhevsky's CIFAR-10 and CIFAR-100 "
        f"datasets page and unpack it there. Nothing is downloaded automatically."
    )


def read_cifar_batch(path):
    """Read one CIFAR-10 binary file into ``(images uint8 (N, 3, 32, 32), labels uint8 (N,))``."""
    raw = np.fromfile(path, dtype=np.uint8)
    filename = os.path.basename(path)
    if raw.size % RECORD_BYTES:
        raise ValueError(f"cifar10: expected {filename} to hold whole {RECORD_BYTES}-byte records "
                         f"(1 label + 3 x 32 x 32 pixels), got {raw.size} bytes")
    records = raw.reshape(-1, RECORD_BYTES)
    labels = records[:, 0]
    if labels.size and labels.max() >= len(CLASSES):
        raise ValueError(f"cifar10: expected labels 0..{len(CLASSES) - 1} in {filename}, got {labels.max()}")
    return records[:, 1:].reshape(-1, C, H, W), labels


def _classes(folder):
    path = os.path.join(folder, META_FILE)
    if not os.path.isfile(path):
        return CLASSES
    with open(path) as f:
        names = [line.strip() for line in f if line.strip()]
    return tuple(names) if len(names) == len(CLASSES) else CLASSES


def cifar10(root, split="train"):
    """CIFAR-10 (Krizhevsky 2009): 32x32 colour photos of 10 object classes.

    Args:
        root: folder holding the binary version's ``data_batch_1.bin`` ... ``data_batch_5.bin`` and
            ``test_batch.bin``, directly or in a ``cifar-10-batches-bin`` subfolder (as unpacked).
        split: ``"train"`` (the five data batches, 50,000 images) or ``"test"`` (10,000 images).

    Returns:
        a :class:`TensorDataset`: ``images`` float32 ``(N, 3, 32, 32)`` in [0, 1], RGB channel order;
        ``labels`` int64; ``classes`` read from ``batches.meta.txt`` when present, else
        ``("airplane", ..., "truck")``.
    """
    if split not in FILES:
        raise ValueError(f"cifar10: expected split 'train' or 'test', got {split!r}")
    folder = _folder(root, FILES[split])
    batches = [read_cifar_batch(os.path.join(folder, f)) for f in FILES[split]]
    images = np.concatenate([b[0] for b in batches]).astype(np.float32)
    images /= PIXEL_MAX_VALUE  # in place: the float32 training set alone is 600 MB
    labels = np.concatenate([b[1] for b in batches]).astype(np.int64)
    return TensorDataset(images, labels, classes=_classes(folder))
