"""``DataLoader``: cut a dataset into mini-batches of Tensors, optionally shuffled each epoch."""

from __future__ import annotations

import numpy as np

from .. import backend
from ..tensor import as_tensor, tensor
from .dataset import Dataset


class DataLoader:
    """Iterate over ``dataset`` in mini-batches ``(images, labels)``.

    Each batch is a pair of Tensors: images ``(B, C, H, W)`` float32 and labels ``(B,)`` int64.
    Every sample appears exactly once per epoch (pass over the loader).

    Args:
        dataset: a :class:`Dataset`, or any object with ``__len__`` and ``__getitem__``.
        batch_size: samples per batch, B (default 32). The last batch may be smaller.
        shuffle: draw a fresh random order at the start of every epoch (default False).
        drop_last: drop the last batch when it has fewer than ``batch_size`` samples (default
            False). SGD then always sees full batches, which batch norm likes.
        transform: a function ``images (B, C, H, W) -> images`` applied to each NumPy batch before
            it becomes a Tensor, e.g. ``transforms.Compose([...])``.
        device: ``None`` (leave the arrays where the dataset has them), ``"cpu"`` or ``"cuda"``.
        seed: the loader's own seed for the shuffle order: two loaders built with the same seed
            give the same sequence of epoch orders. ``None`` (default) draws each order from the
            framework generator, so ``mt.manual_seed`` makes it reproducible. Random transforms
            always draw from the framework generator.
        sampler: an iterable of dataset indices with ``__len__`` that sets each epoch's order,
            e.g. a :class:`~minitorch_cnn.data.DistributedSampler` giving this process its
            shard; ``N`` is then ``len(sampler)``. Excludes ``shuffle``, as in PyTorch.
        num_workers, pin_memory: PyTorch's worker processes and page-locked copies, accepted so
            d2l's ``DataLoader(..., num_workers=4)`` runs; they change nothing here: every batch is
            sliced from arrays already in memory, in this process.

    ``len(loader)`` is the number of batches: ``ceil(N / B)``, or ``floor(N / B)`` with
    ``drop_last``. A dataset with a ``get_batch(index)`` method (every :class:`TensorDataset`)
    is sliced a whole batch at a time instead of one item at a time.

    :meth:`state_dict` and :meth:`load_state_dict` (the names of torchdata's
    ``StatefulDataLoader``) save and restore where the current epoch is: its order and how many
    batches have been handed out, so a resumed run continues the epoch with the next batch.
    """

    def __init__(self, dataset, batch_size=32, shuffle=False, drop_last=False, transform=None, device=None,
                 seed=None, sampler=None, num_workers=0, pin_memory=False):
        if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) or num_workers < 0:
            raise ValueError(f"DataLoader: expected num_workers to be a non-negative integer, got {num_workers!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: expected batch_size to be a positive integer, got {batch_size!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: expected transform to be callable, got {type(transform).__name__}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler and shuffle=True exclude each other (the sampler sets the order)")
        self.dataset = dataset
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.transform = transform
        self.device = device
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None
        # No epoch in progress: the next pass starts a new one, as after a finished epoch.
        self._epoch = {"order": None, "batches": len(self)}
        self._resume_epoch = False

    def __len__(self):
        N, B = self._num_samples(), self.batch_size
        return N // B if self.drop_last else -(-N // B)

    def __iter__(self):
        if self._resume_epoch:
            self._resume_epoch = False
        else:
            # The order is drawn here, not lazily inside the generator, so it depends only on the
            # seed state at the moment the epoch starts.
            order = None
            if self.sampler is not None:
                order = np.fromiter(self.sampler, dtype=np.int64, count=len(self.sampler))
            elif self.shuffle:
                rng = self._rng if self._rng is not None else backend.generator()
                order = rng.permutation(len(self.dataset))
            self._epoch = {"order": order, "batches": 0}
        return self._batches(self._epoch)

    def _batches(self, epoch):
        B, order = self.batch_size, epoch["order"]
        for b in range(epoch["batches"], len(self)):
            start, stop = b * B, min((b + 1) * B, self._num_samples())
            index = slice(start, stop) if order is None else order[start:stop]
            images, labels = self._fetch(index)
            # A copy (one batch, cheap): the batch must never alias the dataset's memory, or an
            # in-place transform would corrupt the stored images.
            images = np.array(images, dtype=np.float32)
            if self.transform is not None:
                images = np.asarray(self.transform(images), dtype=np.float32)
            labels = np.asarray(labels, dtype=np.int64)
            epoch["batches"] = b + 1
            yield as_tensor(images, device=self.device), tensor(labels, device=self.device)

    def state_dict(self):
        """``{"order", "batches", "rng"}``: the current epoch's sample order (``None`` unshuffled),
        how many of its batches were handed out, and the state of the loader's own generator
        (``None`` without ``seed``; the framework generator is saved by ``mt.get_rng_state``)."""
        rng = self._rng.bit_generator.state if self._rng is not None else None
        return {"order": self._epoch["order"], "batches": self._epoch["batches"], "rng": rng}

    def load_state_dict(self, state_dict):
        """Make the next pass continue the saved epoch after its last handed-out batch, with the
        saved order (a finished epoch is not repeated: the next pass starts a new one)."""
        order, batches = state_dict["order"], int(state_dict["batches"])
        if order is not None and len(order) != self._num_samples():
            raise ValueError(f"DataLoader.load_state_dict: the saved order has {len(order)} samples, "
                             f"this loader draws {self._num_samples()} per epoch")
        if state_dict["rng"] is not None:
            if self._rng is None:
                raise ValueError("DataLoader.load_state_dict: the state has a generator (seed=...), this loader has none")
            self._rng.bit_generator.state = state_dict["rng"]
        self._epoch = {"order": None if order is None else np.asarray(order), "batches": batches}
        self._resume_epoch = batches < len(self)

    def _num_samples(self):
        return len(self.sampler) if self.sampler is not None else len(self.dataset)

    def _fetch(self, index):
        get_batch = getattr(self.dataset, "get_batch", None)
        if get_batch is not None:
            return get_batch(index)
        return Dataset.get_batch(self.dataset, index)

    def __repr__(self):
        return (f"DataLoader(N={len(self.dataset)}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, batches={len(self)})")

