"""Optimisers (``SGD``, ``Adam``) and learning-rate schedules (``optim.lr_scheduler``)."""

from . import lr_scheduler
from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam
