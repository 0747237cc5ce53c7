"""PyTorch's ``torch.nn.utils``: ``skip_init`` (build a full-size model without its random
draws) and ``clip_grad_norm_`` (scale the gradients down to a largest total norm).

Counting a model's parameters and multiply-accumulates (:func:`~minitorch_cnn.summary.summary`)
needs its layers and their shapes, not their initial values. Drawing those values is most of the
cost of building a large model: VGG-16's 138 million normal draws take about 4 s, ResNet-152's
60 million about 1 s, while the forward pass that ``summary`` runs takes a fraction of that.
"""

from __future__ import annotations

import contextlib
import math

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


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale every gradient by ``max_norm / (total + 1e-6)`` when that is below 1, in place, and
    return ``total``: the ``norm_type``-norm of all the gradients taken as one vector,
    ``(sum_p ||g_p||^q)^(1/q)`` (``q = inf``: the largest ``|g|``), as PyTorch's
    ``torch.nn.utils.clip_grad_norm_``. Parameters without a gradient are skipped.

    Gradient clipping keeps one exploding step from throwing a recurrent or very deep network
    far off (Pascanu, Mikolov & Bengio 2013).
    """
    from ..tensor import Tensor

    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return Tensor(0.0)
    q = float(norm_type)
    if q == float("inf"):
        total = max(float(g.abs().max()) for g in grads)
    else:
        total = sum(float((g.abs() ** q).sum()) for g in grads) ** (1.0 / q)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}; "
                           f"set error_if_nonfinite=False to clip anyway")
    scale = float(max_norm) / (total + 1e-6)
    if scale < 1.0:
        for g in grads:
            g.array *= scale  # in place, as PyTorch: the optimiser reads these very arrays
    return Tensor(total)

