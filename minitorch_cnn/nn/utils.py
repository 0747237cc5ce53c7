"""PyTorch's ``torch.nn.utils.skip_init``: build a full-size model without its random draws.

Counting a model's parameters and multiply-accumulates (:func:`~minitorch_cnn.summary.summary`)
needs its layers and their shapes, not their initial values. Drawing those values is most of the
cost of building a large model: VGG-16's 138 million normal draws take about 4 s, ResNet-152's
60 million about 1 s, while the forward pass that ``summary`` runs takes a fraction of that.
"""

from __future__ import annotations

import contextlib

from .. import backend


@contextlib.contextmanager
def no_random_init():
    """Inside this block, every random initialiser keeps the array it was given (the zeros a layer
    allocates) instead of drawing from the framework's generator, which stays where it was."""
    saved = backend.random_normal, backend.random_uniform
    backend.random_normal = backend.random_uniform = lambda shape, like, *args, **kwargs: like
    try:
        yield
    finally:
        backend.random_normal, backend.random_uniform = saved


def skip_init(module_cls, *args, **kwargs):
    """``module_cls(*args, **kwargs)`` built without drawing its random initial values.

    As PyTorch's ``torch.nn.utils.skip_init``, the parameters' values are unspecified (here: the
    zeros the layers allocated, and whatever constant initialisers set, such as batch norm's ones)
    and the module is for its structure only: counting parameters, shapes and MACs, or loading
    weights into it. ``module_cls`` is any callable that returns a module, so
    ``skip_init(models.create, "resnet152")`` works too.
    """
    with no_random_init():
        return module_cls(*args, **kwargs)
