"""PyTorch's ``torch.utils`` path: ``mt.utils.data`` is :mod:`minitorch_cnn.data` itself, so
``from minitorch_cnn.utils.data import DataLoader, TensorDataset`` works as in PyTorch."""

import sys

from .. import data

sys.modules[__name__ + ".data"] = data
