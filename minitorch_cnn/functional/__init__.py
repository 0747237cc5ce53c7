"""Differentiable ops, one file per topic, each ``Function``'s forward and backward side by side.

Import as ``import minitorch_cnn.functional as F``.
"""

from .arithmetic import add, sub, mul, div, pow, neg, exp, log, matmul
from .reduction import sum, mean, max
from .shape import reshape, permute, getitem, concat, pad, flatten
from .sizes import conv_output_size, conv2d_output_shape
