"""Samplers that split a dataset between the processes of a distributed job.

A sampler is an iterable of dataset indices; ``DataLoader(dataset, sampler=...)`` batches the
indices it yields, in its order. Each process (rank ``r`` of ``R``) builds its own sampler and
sees only its shard:

* :class:`DistributedSampler` (training, PyTorch's): every rank gets the same number of indices,
  so every rank runs the same number of steps and no collective waits for a rank that has
  finished its epoch;
* :class:`InferenceSampler` (evaluation): contiguous shards of sizes that differ by at most one,
  so across the ranks every sample is seen exactly once.
"""

from __future__ import annotations

import math

import numpy as np


def _replicas_and_rank(num_replicas, rank, op):
    from ..distributed import comm

    num_replicas = comm.get_world_size() if num_replicas is None else num_replicas
    rank = comm.get_rank() if rank is None else rank
    if isinstance(num_replicas, bool) or not isinstance(num_replicas, (int, np.integer)) or num_replicas < 1:
        raise ValueError(f"{op}: expected num_replicas to be a positive integer, got {num_replicas!r}")
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 0 <= rank < num_replicas:
        raise ValueError(f"{op}: expected rank in [0, {num_replicas - 1}], got {rank!r}")
    return int(num_replicas), int(rank)


class DistributedSampler:
    """Rank ``rank``'s share of ``dataset`` for one epoch, as PyTorch's ``DistributedSampler``.

    With ``N = len(dataset)`` and ``R = num_replicas``, each rank yields ``num_samples`` indices::

        num_samples = ceil(N / R)                              (drop_last=False)
        num_samples = floor(N / R)                             (drop_last=True)

    The epoch's order (``0..N-1``, or a permutation drawn from a NumPy generator seeded with
    ``seed + epoch`` when ``shuffle``) is padded to ``R * num_samples`` by repeating its first
    indices, or cut to that length with ``drop_last``; rank ``r`` takes positions
    ``r, r + R, r + 2R, ...``. All ranks draw the same permutation, so the shards are disjoint
    and, with padding, cover every sample. Call :meth:`set_epoch` before each epoch for a new
    order (``fit`` does); the order is NumPy's, not the one ``torch.randperm`` would draw.

    Args:
        dataset: anything with ``__len__``.
        num_replicas, rank: the world size and this process's rank (default: from
            :mod:`minitorch_cnn.distributed`, 1 and 0 without ``mpiexec``).
        shuffle: draw a new permutation every epoch (default True).
        seed: the permutation's seed, the same on every rank (default 0).
        drop_last: drop the tail that does not divide evenly instead of padding (default False).
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        self.num_replicas, self.rank = _replicas_and_rank(num_replicas, rank, "DistributedSampler")
        self.dataset = dataset
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        N, R = len(dataset), self.num_replicas
        self.num_samples = N // R if self.drop_last else math.ceil(N / R)
        self.total_size = self.num_samples * R

    def set_epoch(self, epoch):
        """Use epoch ``epoch``'s permutation from the next iteration on."""
        self.epoch = int(epoch)

    def __iter__(self):
        N = len(self.dataset)
        order = np.random.default_rng(self.seed + self.epoch).permutation(N) if self.shuffle else np.arange(N)
        if self.total_size > N:
            order = np.resize(order, self.total_size)  # repeats the order from its start
        order = order[: self.total_size]
        return iter(order[self.rank :: self.num_replicas].tolist())

    def __len__(self):
        return self.num_samples

    def __repr__(self):
        return (f"DistributedSampler(N={len(self.dataset)}, num_replicas={self.num_replicas}, rank={self.rank}, "
                f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last})")


class InferenceSampler:
    """Rank ``rank``'s contiguous share of ``dataset`` for evaluation: no padding, no shuffle.

    The ``N`` indices are cut into ``R`` runs whose sizes differ by at most one (the first
    ``N mod R`` ranks get one more); across the ranks every sample is seen exactly once, so
    summed counts, losses and correct answers are those of one process over the whole set.
    The ranks then run different numbers of batches, which evaluation allows (no collective
    runs between its batches). The name is detectron2's; PyTorch has no such sampler.
    """

    def __init__(self, dataset, num_replicas=None, rank=None):
        self.num_replicas, self.rank = _replicas_and_rank(num_replicas, rank, "InferenceSampler")
        self.dataset = dataset
        N, R, r = len(dataset), self.num_replicas, self.rank
        self.start = r * (N // R) + min(r, N % R)
        self.stop = self.start + N // R + (1 if r < N % R else 0)

    def __iter__(self):
        return iter(range(self.start, self.stop))

    def __len__(self):
        return self.stop - self.start

    def __repr__(self):
        return (f"InferenceSampler(N={len(self.dataset)}, num_replicas={self.num_replicas}, rank={self.rank}, "
                f"indices {self.start}..{self.stop - 1})")
