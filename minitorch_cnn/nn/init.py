"""Weight initialisers: each fills a Tensor in place and returns it.

Why the scale matters (the lecture's activation-statistics experiment): a unit of a linear or
conv layer sums ``fan_in`` products ``w * x``. With independent zero-mean weights of variance
``s**2`` and inputs of second moment ``E[x**2]``::

    Var(y) = fan_in * s**2 * E[x**2]

so too small an ``s`` makes activations shrink layer after layer, too large an ``s`` makes them
explode (or saturate a tanh). Keeping ``Var(y)`` constant gives

* Xavier/Glorot (tanh, linear): ``s**2 = 2 / (fan_in + fan_out)``, a compromise between the
  forward (``1/fan_in``) and backward (``1/fan_out``) conditions (Glorot & Bengio, "Understanding
  the difficulty of training deep feedforward neural networks", AISTATS 2010);
* Kaiming/He (ReLU): ``s**2 = 2 / fan_in``, the factor 2 because a ReLU zeroes half of its
  inputs, halving ``E[x**2]`` (He, Zhang, Ren & Sun, "Delving Deep into Rectifiers", ICCV 2015).

Both are written as ``std = gain * sqrt(1 / fan)`` with :func:`calculate_gain`. A uniform
distribution on ``[-b, b]`` has variance ``b**2 / 3``, hence ``b = sqrt(3) * std``.

Every draw comes from the framework's seeded generator (``mt.manual_seed``) and is written to
``tensor.array`` directly, so nothing is recorded in the autograd graph.
"""

from __future__ import annotations

import math

from .. import backend
from .module import is_uninitialized

_SLOPE_OF_LEAKY_RELU = 0.01  # PyTorch's default negative slope


def calculate_gain(nonlinearity, param=None):
    """The factor by which an initialiser scales its std to undo a nonlinearity's shrinking.

    * ``"linear"``, ``"conv2d"``, ``"sigmoid"``: 1
    * ``"tanh"``: 5/3
    * ``"relu"``: sqrt(2)
    * ``"leaky_relu"``: sqrt(2 / (1 + slope**2)), with ``param`` the slope (default 0.01)

    The values are PyTorch's (``torch.nn.init.calculate_gain``).
    """
    if nonlinearity in ("linear", "conv1d", "conv2d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = _SLOPE_OF_LEAKY_RELU if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"calculate_gain: expected a number for the leaky_relu slope, got {param!r}")
        return math.sqrt(2.0 / (1 + slope**2))
    raise ValueError(
        f"calculate_gain: expected nonlinearity 'linear', 'conv2d', 'sigmoid', 'tanh', 'relu' or 'leaky_relu', "
        f"got {nonlinearity!r}"
    )


def calculate_fan_in_and_fan_out(tensor):
    """``(fan_in, fan_out)``: how many inputs feed one output unit, and how many outputs one input feeds.

    * Linear weight ``(out_features, in_features)``: ``fan_in = in_features``,
      ``fan_out = out_features``.
    * Conv weight ``(F, C/groups, kh, kw)``: one output value is a sum over its ``C/groups``
      input channels times the ``kh*kw`` taps of the filter, so ``fan_in = C/groups * kh * kw``.
      Symmetrically ``fan_out = F * kh * kw``: the backward pass spreads each output gradient
      over ``kh*kw`` taps of all ``F`` filters. Like PyTorch, ``fan_out`` does not divide by
      ``groups`` (the weight's shape does not record it).

    In general ``fan_in = shape[1] * receptive`` and ``fan_out = shape[0] * receptive`` with
    ``receptive`` the product of ``shape[2:]``.
    """
    _check_initialised(tensor, "calculate_fan_in_and_fan_out")
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(
            f"calculate_fan_in_and_fan_out: expected a weight with at least 2 dimensions, got shape {tuple(shape)}"
        )
    receptive = 1
    for s in shape[2:]:
        receptive *= s
    return shape[1] * receptive, shape[0] * receptive


def _check_initialised(tensor, op):
    # A lazy layer's placeholder has no shape to draw for yet; its empty array would otherwise
    # be "initialised" silently, or fail with a puzzling fan of an empty shape.
    if is_uninitialized(tensor):
        raise ValueError(f"{op}: expected an initialised tensor, got {tensor!r} (a lazy layer before its first "
                         f"call): run the model on a batch first, then initialise, as d2l's apply_init does")


def _fill(tensor, array):
    tensor.array = array
    return tensor


def constant_(tensor, value):
    """Fill ``tensor`` with ``value``."""
    _check_initialised(tensor, "constant_")
    return _fill(tensor, tensor.xp.full_like(tensor.array, value))


def zeros_(tensor):
    """Fill ``tensor`` with 0 (biases; never all weights: identical units learn identical things)."""
    return constant_(tensor, 0.0)


def ones_(tensor):
    """Fill ``tensor`` with 1 (batch norm's scale)."""
    return constant_(tensor, 1.0)


def normal_(tensor, mean=0.0, std=1.0):
    """Draw from ``N(mean, std**2)``: the lectures' "small random numbers" with e.g. ``std=0.01``."""
    if std < 0:
        raise ValueError(f"normal_: expected std >= 0, got {std}")
    _check_initialised(tensor, "normal_")
    return _fill(tensor, backend.random_normal(tensor.shape, tensor.array, mean, std))


def uniform_(tensor, a=0.0, b=1.0):
    """Draw from the uniform distribution on ``[a, b)``."""
    if b < a:
        raise ValueError(f"uniform_: expected a <= b, got a={a}, b={b}")
    _check_initialised(tensor, "uniform_")
    return _fill(tensor, backend.random_uniform(tensor.shape, tensor.array, a, b))


def xavier_uniform_(tensor, gain=1.0):
    """Glorot & Bengio (2010): uniform on ``[-b, b]``, ``b = gain * sqrt(6 / (fan_in + fan_out))``
    (variance ``gain**2 * 2 / (fan_in + fan_out)``)."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    """Glorot & Bengio (2010): ``N(0, std**2)`` with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: expected mode 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He et al. (2015): uniform on ``[-b, b]`` with ``b = sqrt(3) * gain / sqrt(fan)``.

    Args:
        a: negative slope of the leaky ReLU that follows (0 gives the ReLU gain ``sqrt(2)``).
        mode: ``"fan_in"`` keeps the forward activations' variance, ``"fan_out"`` the backward
            gradients'.
        nonlinearity: see :func:`calculate_gain`; the default ``"leaky_relu"`` with ``a=0`` is ReLU.

    PyTorch's default for Conv2d and Linear, ``a=sqrt(5)``, gives gain ``sqrt(1/3)`` and thus
    ``b = 1/sqrt(fan_in)``.
    """
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He et al. (2015): ``N(0, std**2)`` with ``std = gain / sqrt(fan)`` (``sqrt(2 / fan_in)`` for ReLU).

    Arguments as in :func:`kaiming_uniform_`.
    """
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))
