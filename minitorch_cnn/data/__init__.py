"""Datasets, the mini-batch loader and augmentation transforms.

Everything here works on NumPy arrays on the host (CPU); a batch becomes a Tensor, on the requested
device, only when the :class:`DataLoader` hands it out. No loader downloads anything: ``digits``
ships with scikit-learn, the file-based loaders read files the user fetched, and the synthetic
sets are drawn on the fly. :func:`read_image` reads one image file (a photo to classify or
visualise) as a ``(C, H, W)`` array; :mod:`.imagenet` turns it into the input an ImageNet-trained
network expects and names its 1,000 outputs. :class:`ImageFolder` is a folder of photos, one
subfolder per class, decoded as the loader asks for them.
"""

from .dataset import Dataset, TensorDataset, Subset, stratified_split
from .loader import DataLoader
from .sampler import DistributedSampler, InferenceSampler
from .digits import digits
from .idx import mnist, fashion_mnist, read_idx
from .cifar import cifar10, read_cifar_batch
from .image_file import read_image
from .folder import ImageFolder
from .synthetic import synthetic_shapes, synthetic_gaussian
from . import transforms, imagenet

__all__ = [
    "Dataset", "TensorDataset", "Subset", "stratified_split", "ImageFolder", "DataLoader",
    "DistributedSampler", "InferenceSampler",
    "digits", "mnist", "fashion_mnist", "read_idx", "cifar10", "read_cifar_batch", "read_image",
    "synthetic_shapes", "synthetic_gaussian", "transforms", "imagenet",
]
