"""minitorch_cnn: a from-scratch teaching framework for convolutional networks."""

from .backend import cuda_is_available, manual_seed
from .autograd import Function, no_grad, enable_grad, is_grad_enabled
from .tensor import Tensor, tensor
from .gradcheck import gradcheck, gradcheck_module, GradcheckError
from .serialization import save, load
from .methods import reference_mode
from . import functional, nn, optim, data, models, utils
from . import engine  # registers the fast methods and the measured "auto" rules
from .summary import summary, receptive_field

__version__ = "0.1.0"
