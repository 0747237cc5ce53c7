"""Differentiable ops, one file per topic, each ``Function``'s forward and backward side by side.

Import as ``import minitorch_cnn.functional as F``.
"""

from .arithmetic import add, sub, mul, div, pow, neg, exp, log, matmul
from .reduction import sum, mean, max
from .shape import reshape, permute, getitem, concat, pad, flatten
from .setitem import setitem
from .sizes import conv_output_size, conv2d_output_shape
from .conv import conv2d, im2col, col2im
from .activation import relu, leaky_relu, tanh, sigmoid, silu, softmax, log_softmax
from .activation import hardtanh, relu6, elu, gelu, softplus, hardswish, mish
from .activation import hardsigmoid, selu, celu, softsign, logsigmoid
from .loss import cross_entropy, nll_loss, binary_cross_entropy, binary_cross_entropy_with_logits, mse_loss, one_hot
from .linear import linear, dropout
from .pooling import max_pool2d, avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d
from .pooling import max_unpool2d
from .normalization import batch_norm, local_response_norm
from .arithmetic import sqrt, rsqrt, abs, clamp, clip, where, maximum, minimum, to, clone
from .reduction import min, amax, amin, argmax, argmin, var, std, std_mean, var_mean
from .shape import cat, stack, squeeze, unsqueeze, expand
