"""minitorch_cnn: a from-scratch teaching framework for convolutional networks."""

from .backend import cuda_is_available, device, manual_seed, get_rng_state, set_rng_state
from .autograd import Function, no_grad, enable_grad, inference_mode, is_grad_enabled
from .tensor import Tensor, tensor, as_tensor, from_numpy, is_tensor
from .gradcheck import gradcheck, gradcheck_module, GradcheckError
from .serialization import save, load
from .weights import load_weights
from .methods import reference_mode
from . import cuda, functional, nn, optim, data, models, utils, distributed
from . import engine  # registers the fast methods and the measured "auto" rules
from .summary import summary, receptive_field
from . import visualize

__version__ = "0.1.0"
from .creation import zeros, ones, full, rand, randn, randint, normal, arange, eye
from .creation import zeros_like, ones_like, full_like, rand_like, randn_like
from .creation import float16, half, float32, float64, double, int32, int64, long, uint8
from .creation import float32 as float  # noqa: A001 - PyTorch's torch.float, shadowing the builtin only here
from .functional.arithmetic import add, sub, mul, div, pow, exp, log, sqrt, rsqrt, abs, clamp, clip, where, maximum, minimum, matmul, clone
from .functional.activation import relu, sigmoid, tanh, softmax, log_softmax
from .functional.reduction import sum, mean, var, std, std_mean, var_mean, max, min, amax, amin, argmax, argmin
from .functional.shape import cat, concat, stack, flatten, reshape, permute, squeeze, unsqueeze
