"""MNIST and Fashion-MNIST from their IDX files, raw or gzipped, in a folder the user names.

The IDX format is a big-endian header followed by raw bytes:

* a 4-byte magic number ``0x00 0x00 type ndim``: 2051 (``0x0803``, unsigned bytes, 3 dims) for an
  images file, 2049 (``0x0801``, unsigned bytes, 1 dim) for a labels file;
* ``ndim`` 4-byte sizes (``N, H, W`` for images, ``N`` for labels);
* ``N * H * W`` (or ``N``) unsigned bytes, row by row.

Nothing here downloads: the error for a missing file says which files to fetch and from where.
"""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np

from .dataset import TensorDataset

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
#: Pixel bytes are 0..255; images are scaled to [0, 1].
PIXEL_MAX_VALUE = 255.0

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


def read_idx(path, magic, name="read_idx"):
    """Read one IDX file of unsigned bytes (raw, or gzipped if ``path`` ends in ``.gz``).

    Args:
        path: the file.
        magic: the magic number the file must start with (2051 images, 2049 labels).
        name: the loader named in error messages.

    Returns:
        a uint8 array shaped as the header says, ``(N, H, W)`` or ``(N,)``.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    filename = os.path.basename(path)
    if len(raw) < 4:
        raise ValueError(f"{name}: {filename} is not an IDX file: expected a 4-byte magic number, got "
                         f"{len(raw)} bytes")
    (found,) = struct.unpack(">I", raw[:4])
    if found != magic:
        kind = "images" if magic == IMAGES_MAGIC else "labels"
        raise ValueError(f"{name}: expected magic number {magic} (IDX {kind} file) at the start of {filename}, "
                         f"got {found}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{name}: {filename} is truncated: expected a {header}-byte header, got {len(raw)} bytes")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise ValueError(f"{name}: {filename} has the wrong size: the header says {' x '.join(map(str, shape))} "
                         f"= {expected} bytes of data, got {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find(root, filename, name, where):
    for candidate in (filename, filename + ".gz"):
        path = os.path.join(root, candidate)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"{name}: found neither {filename} nor {filename}.gz in {root!r}. The {name} loader expects the four "
        f"IDX files {', '.join(f for pair in FILES.values() for f in pair)} (each raw or .gz) in that folder; "
        f"get them from {where}. Nothing is downloaded automatically."
    )


def _load_idx_dataset(root, split, name, classes, where):
    if split not in FILES:
        raise ValueError(f"{name}: expected split 'train' or 'test', got {split!r}")
    images_file, labels_file = FILES[split]
    images = read_idx(_find(root, images_file, name, where), IMAGES_MAGIC, name)
    labels = read_idx(_find(root, labels_file, name, where), LABELS_MAGIC, name)
    if len(images) != len(labels):
        raise ValueError(f"{name}: expected as many labels as images, got {len(images)} images in "
                         f"{images_file} and {len(labels)} labels in {labels_file}")
    if labels.size and labels.max() >= len(classes):
        raise ValueError(f"{name}: expected labels 0..{len(classes) - 1} in {labels_file}, got {labels.max()}")
    images = (images.astype(np.float32) / PIXEL_MAX_VALUE)[:, None]
    return TensorDataset(images, labels.astype(np.int64), classes=classes)


def mnist(root, split="train"):
    """MNIST handwritten digits (LeCun et al. 1998) from the IDX files in folder ``root``.

    Args:
        root: folder holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
            ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each raw or ``.gz``.
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000 images, the t10k files).

    Returns:
        a :class:`TensorDataset`: ``images`` float32 ``(N, 1, 28, 28)`` in [0, 1], ``labels`` int64,
        ``classes`` ``("0", ..., "9")``. LeNet-5 wants 32x32: add ``transforms.Resize(32)``.
    """
    return _load_idx_dataset(root, split, "mnist", MNIST_CLASSES,
                             "the MNIST database files on Yann LeCun's site (THE MNIST DATABASE of "
                             "handwritten digits)")


def fashion_mnist(root, split="train"):
    """Fashion-MNIST (Xiao et al. 2017): Zalando clothing photos in MNIST's IDX format and sizes.

    Args:
        root: folder holding the same four file names as MNIST (``train-images-idx3-ubyte`` ...,
            ``t10k-labels-idx1-ubyte``), each raw or ``.gz``.
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000 images).

    Returns:
        a :class:`TensorDataset`: ``images`` float32 ``(N, 1, 28, 28)`` in [0, 1], ``labels`` int64,
        ``classes`` ``("T-shirt/top", ..., "Ankle boot")``.
    """
    return _load_idx_dataset(root, split, "fashion_mnist", FASHION_MNIST_CLASSES,
                             "the Fashion-MNIST GitHub repository (zalandoresearch/fashion-mnist, "
                             "folder data/fashion)")
