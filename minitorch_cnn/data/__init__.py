"""Datasets, the mini-batch loader and augmentation transforms.

Everything here works on NumPy arrays on the host (CPU); a batch becomes a Tensor, on the requested
device, only when the :class:`DataLoader` hands it out. No loader downloads anything: ``digits``
ships with scikit-learn, the file-based loaders read files the user fetched, and the synthetic
sets are drawn on the fly.
"""

from .dataset import Dataset, TensorDataset
from .loader import DataLoader
from .sampler import DistributedSampler, InferenceSampler
from .digits import digits
from .idx import mnist, fashion_mnist, read_idx
from .cifar import cifar10, read_cifar_batch
from .synthetic import synthetic_shapes, synthetic_gaussian
from . import transforms

__all__ = [
    "Dataset", "TensorDataset", "DataLoader", "DistributedSampler", "InferenceSampler",
    "digits", "mnist", "fashion_mnist", "read_idx", "cifar10", "read_cifar_batch",
    "synthetic_shapes", "synthetic_gaussian", "transforms",
]
