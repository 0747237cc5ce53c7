"""Layers as modules that own their parameters: ``import minitorch_cnn.nn as nn``.

The arithmetic of every layer is in :mod:`minitorch_cnn.functional`; a module stores the
weights, the hyper-parameters and the train/eval mode, and calls its functional op.

``nn.functional`` is :mod:`minitorch_cnn.functional` itself, registered under PyTorch's path too,
so ``import minitorch_cnn.nn.functional as F`` gives the same module object.
"""

import sys

from .. import functional
from . import init, utils
from .module import (
    Module, ModuleDict, ModuleList, Parameter, RemovableHandle, Sequential, UninitializedBuffer, UninitializedParameter,
)
from .conv import Conv2d
from .linear import Flatten, Identity, Linear
from .pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d
from .pooling import MaxUnpool2d
from .normalization import BatchNorm1d, BatchNorm2d, LocalResponseNorm
from .sync_batchnorm import SyncBatchNorm
from .dropout import Dropout
from .loss import CrossEntropyLoss, MSELoss
from .lazy import LazyBatchNorm1d, LazyBatchNorm2d, LazyConv2d, LazyLinear
from .activation import (
    ELU, GELU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSoftmax, Mish, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Softplus, Tanh,
)

sys.modules[__name__ + ".functional"] = functional
