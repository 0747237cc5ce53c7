"""Optimisers (``SGD``, ``Adam``, ``AdamW``) and learning-rate schedules (``optim.lr_scheduler``)."""

from . import lr_scheduler
from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam, AdamW
