"""``Dataset``: anything with a length that hands out ``(image, label)`` pairs by index.

Images are NumPy arrays shaped ``(C, H, W)`` and labels are integer class indices. A dataset held
in two arrays (``TensorDataset``) also hands out whole batches by slicing, which is what lets
``DataLoader`` skip the per-item Python loop.
"""

from __future__ import annotations

import abc

import numpy as np

from ..tensor import Tensor


class Dataset(abc.ABC):
    """Base class: subclasses give ``__len__`` and ``__getitem__(i) -> (image, label)``.

    ``image`` is a NumPy array ``(C, H, W)``; ``label`` an integer class index (a NumPy scalar or
    a 0-d array).
    """

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def __getitem__(self, i): ...

    def get_batch(self, index):
        """``(images (B, C, H, W), labels (B,))`` for an index array or a slice.

        This default stacks one item at a time; array-backed datasets override it with slicing.
        """
        positions = range(len(self))[index] if isinstance(index, slice) else index
        items = [self[int(i)] for i in positions]
        shapes = sorted({np.shape(image) for image, _ in items})
        if len(shapes) > 1:
            raise ValueError(
                f"{type(self).__name__}: a batch needs images of one size, got {', '.join(map(str, shapes[:3]))}; "
                "give the dataset a transform that resizes them (e.g. imagenet.preprocessing(model name))"
            )
        images = np.stack([np.asarray(image) for image, _ in items])
        labels = np.asarray([label for _, label in items])
        return images, labels


class TensorDataset(Dataset):
    """A dataset held in memory as two arrays.

    Args:
        images: array or Tensor ``(N, C, H, W)``, stored as a float32 NumPy array.
        labels: array or Tensor ``(N,)`` of class indices, stored as int64.
        classes: optional class names; ``classes[k]`` names label ``k``.

    Attributes ``images``, ``labels`` and ``classes`` are public: experiments may read the arrays
    directly.
    """

    def __init__(self, images, labels, classes=None):
        # PyTorch code passes Tensors (``TensorDataset(X, y)``); the loader slices host arrays.
        images = np.asarray(_host(images), dtype=np.float32)
        labels = np.asarray(_host(labels))
        if images.ndim != 4:
            raise ValueError(f"TensorDataset: expected images (N, C, H, W), got shape {images.shape}")
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise ValueError(
                f"TensorDataset: expected integer labels (N,), got shape {labels.shape} of {labels.dtype}"
            )
        if len(images) != len(labels):
            raise ValueError(
                f"TensorDataset: expected as many labels as images, got {len(images)} images and {len(labels)} labels"
            )
        self.images = images
        self.labels = labels.astype(np.int64, copy=False)
        self.classes = tuple(classes) if classes is not None else None

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]

    def get_batch(self, index):
        return self.images[index], self.labels[index]

    def __repr__(self):
        N, C, H, W = self.images.shape
        classes = "" if self.classes is None else f", classes={len(self.classes)}"
        return f"{type(self).__name__}(N={N}, images=({C}, {H}, {W}) float32{classes})"


def _host(value):
    return value.detach().numpy() if isinstance(value, Tensor) else value


class Subset(Dataset):
    """The items of ``dataset`` at ``indices``, in that order (PyTorch's ``Subset``).

    ``classes`` is the whole dataset's, and ``labels`` are looked up without decoding any image.
    """

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)
        inside = len(self.indices) == 0 or (self.indices.min() >= 0 and self.indices.max() < len(dataset))
        if self.indices.ndim != 1 or not inside:
            raise IndexError(f"Subset: expected indices in [0, {len(dataset)}), got {self.indices}")
        self.classes = getattr(dataset, "classes", None)
        self.labels = np.asarray(dataset.labels)[self.indices]

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        return self.dataset[int(self.indices[i])]

    def get_batch(self, index):
        get_batch = getattr(self.dataset, "get_batch", None)
        positions = self.indices[index]
        return get_batch(positions) if get_batch is not None else Dataset.get_batch(self.dataset, positions)

    def __repr__(self):
        return f"Subset({self.dataset!r}, N={len(self)})"


def stratified_split(dataset, val_fraction=0.2, seed=0):
    """``(train, val)`` :class:`Subset` s of ``dataset`` with each class split in the same proportion.

    Class ``k`` with ``n_k`` items puts ``round(n_k * val_fraction)`` of them, drawn with ``seed``,
    into ``val`` (at least one, and at least one left for ``train``), so a small class is not left
    out of either side as a plain random split may do. Reads only ``dataset.labels``.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"stratified_split: val_fraction must be in (0, 1), got {val_fraction!r}")
    labels = np.asarray(dataset.labels)
    rng = np.random.default_rng(seed)
    val = []
    for k in np.unique(labels):
        members = np.flatnonzero(labels == k)
        if len(members) < 2:
            raise ValueError(f"stratified_split: class {k} has {len(members)} item(s); each class needs 2 "
                             "to appear on both sides")
        count = min(max(int(round(len(members) * val_fraction)), 1), len(members) - 1)
        val.append(rng.choice(members, count, replace=False))
    in_val = np.zeros(len(labels), dtype=bool)
    in_val[np.concatenate(val)] = True
    return Subset(dataset, np.flatnonzero(~in_val)), Subset(dataset, np.flatnonzero(in_val))
