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

Both get the variance right on average only. Three later papers go further:

* :func:`orthogonal_` (Saxe et al. 2013) makes every singular value of the weight matrix equal,
  so a linear layer keeps the norm of every input exactly, not just on average;
* :func:`lsuv_` (Mishkin & Matas 2015) starts from orthogonal weights and then measures: it runs
  a batch through the model and rescales each layer until its output variance is 1;
* :func:`data_dependent_` (Krähenbühl et al. 2015) measures too, per unit: every unit's
  pre-activation gets zero mean and unit variance on the batch.

The last two take a model and a batch instead of a tensor.

Every draw comes from the framework's seeded generator (``mt.manual_seed``), in the tensor's own
dtype, and is written to ``tensor.array`` directly (into its memory, for a NumPy array), so
nothing is recorded in the autograd graph and a model's build needs no second copy of a weight.
"""

from __future__ import annotations

import math
import warnings

from .. import backend
from ..autograd import no_grad
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
    return _fill(tensor, backend.random_normal(tensor.shape, tensor.array, mean, std, out=tensor.array))


def uniform_(tensor, a=0.0, b=1.0):
    """Draw from the uniform distribution on ``[a, b)``."""
    if b < a:
        raise ValueError(f"uniform_: expected a <= b, got a={a}, b={b}")
    _check_initialised(tensor, "uniform_")
    return _fill(tensor, backend.random_uniform(tensor.shape, tensor.array, a, b, out=tensor.array))


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


def orthogonal_(tensor, gain=1.0):
    """Saxe, McClelland & Ganguli, "Exact solutions to the nonlinear dynamics of learning in deep
    linear neural networks" (2013): a (semi-)orthogonal matrix times ``gain``.

    The weight is viewed as a matrix of ``rows = shape[0]`` and ``cols = prod(shape[1:])``: a
    Linear weight ``(out, in)`` as it is, a conv weight ``(F, C, kh, kw)`` as ``(F, C*kh*kw)``,
    one row per filter. Then::

        A ~ N(0, 1), shape (rows, cols), transposed to (cols, rows) when rows < cols
        A = Q R                       reduced QR: Q has orthonormal columns
        Q = Q * sign(diag(R))         column j times the sign of R[j, j]
        W = gain * Q                  transposed back when rows < cols, reshaped to the weight

    so ``W @ W.T = gain**2 * I`` (orthonormal rows) when ``rows <= cols`` and
    ``W.T @ W = gain**2 * I`` (orthonormal columns) when ``rows >= cols``. Every singular value
    of ``W`` is ``gain``: a stack of such linear layers keeps the norm of every input and of every
    gradient, which is why the paper's deep linear networks learn as fast as shallow ones.

    The sign correction makes the factorisation unique (``R`` with a positive diagonal); without
    it ``Q`` would inherit the QR routine's sign convention instead of being uniformly
    distributed over the orthogonal matrices. PyTorch's ``torch.nn.init.orthogonal_`` computes
    the same ``W`` from the same ``A``.
    """
    _check_initialised(tensor, "orthogonal_")
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError(f"orthogonal_: expected a weight with at least 2 dimensions, got shape {shape}")
    if math.prod(shape) == 0:
        return tensor
    xp = tensor.xp
    rows = shape[0]
    cols = math.prod(shape[1:])
    A = backend.random_normal((rows, cols), tensor.array)
    # QR orthonormalises columns: make A tall, so Q gets min(rows, cols) orthonormal columns.
    wide = rows < cols
    if wide:
        A = A.T
    Q, R = xp.linalg.qr(A)
    Q = Q * xp.sign(xp.linalg.diagonal(R))
    if wide:
        Q = Q.T
    return _fill(tensor, xp.reshape(gain * Q, shape))


# ---------------------------------------------------------------- data-driven initialisation


def _affine_layers(model, op):
    """The model's Conv2d and Linear layers in registration order (the order a Sequential runs)."""
    # Imported here: conv.py and linear.py import this module for their default initialisation.
    from .conv import Conv2d
    from .linear import Linear

    layers = [m for m in model.modules() if isinstance(m, (Conv2d, Linear))]
    if not layers:
        raise ValueError(f"{op}: expected a model with Conv2d or Linear layers, got {type(model).__name__}")
    for layer in layers:
        _check_initialised(layer.weight, op)
    return layers


def _layer_output(model, layer, x):
    """The array ``layer`` outputs when ``model`` runs on ``x``, in eval mode and without a graph.

    Eval mode, so that dropout draws nothing and batch norm's running statistics stay as they
    were; each module's own train/eval flag is restored afterwards.
    """
    seen = []
    handle = layer.register_forward_hook(lambda module, inputs, output: seen.append(output.array))
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad():
            model(x)
    finally:
        handle.remove()
        for m, training in modes:
            object.__setattr__(m, "training", training)
    if not seen:
        raise ValueError(f"{type(layer).__name__} is not called by the model's forward: nothing to measure")
    return seen[-1]


def lsuv_(model, x, tol=0.1, max_iter=10):
    """Layer-sequential unit-variance initialisation (Mishkin & Matas, "All you need is a good
    init", ICLR 2016, arXiv 2015).

    1. Every Conv2d and Linear weight gets :func:`orthogonal_` (gain 1).
    2. Layer by layer, in the order the model registers them (the order a ``Sequential`` runs),
       with ``v`` the variance of the layer's output over the whole batch (all samples, channels
       and positions)::

           repeat at most max_iter times:
               v = Var(layer(...)(x))          a forward pass of the model on x
               if |v - 1| < tol: stop
               W = W / sqrt(v)

    The output is linear in ``W``, so one division puts ``v`` at 1 unless a bias or the layers
    before it disturb it; the loop absorbs that. Because each layer is scaled after the ones
    before it, the variance that reaches it is already the final one. Biases are left as they
    are; the output measured is the layer's own (before its nonlinearity).

    Args:
        model: a Module with Conv2d/Linear layers (initialised: run a lazy model once first).
        x: a batch ``(N, ...)`` the model accepts; the paper uses one mini-batch of training data.
        tol: accepted distance of the output variance from 1.
        max_iter: most rescalings per layer; a layer still outside ``tol`` after them gets a
            warning naming it.

    Returns ``model``. Runs in eval mode (dropout off, batch norm's running statistics untouched)
    without recording a graph; each module's train/eval flag is restored.
    """
    if not tol > 0:
        raise ValueError(f"lsuv_: expected tol > 0, got {tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"lsuv_: expected max_iter to be a positive int, got {max_iter!r}")
    layers = _affine_layers(model, "lsuv_")
    for layer in layers:
        orthogonal_(layer.weight)
    names = {id(m): name for name, m in model.named_modules()}
    for layer in layers:
        for _ in range(max_iter):
            y = _layer_output(model, layer, x)
            v = float(layer.weight.xp.var(y))
            if abs(v - 1.0) < tol:
                break
            if not v > 0:
                raise ValueError(f"lsuv_: layer '{names[id(layer)]}' outputs a constant on this batch (variance "
                                 f"{v}): no scaling can give it unit variance")
            _fill(layer.weight, layer.weight.array / math.sqrt(v))
        else:
            v = float(layer.weight.xp.var(_layer_output(model, layer, x)))
            if abs(v - 1.0) >= tol:
                warnings.warn(f"lsuv_: layer '{names[id(layer)]}' has output variance {v:.4g} after "
                              f"{max_iter} rescalings (tol {tol})", stacklevel=2)
    return model


def data_dependent_(model, x):
    """Data-dependent initialisation (Krähenbühl, Doersch, Donahue & Darrell, "Data-dependent
    Initializations of Convolutional Neural Networks", ICLR 2016, arXiv 2015), its within-layer
    step with Gaussian weights.

    Layer by layer, in the order the model registers its Conv2d and Linear layers:

    1. draw ``W ~ N(0, 1)`` (the scale does not matter: step 3 removes it);
    2. run the model on ``x`` and take the layer's pre-activation ``z``, ``(N, F, Ho, Wo)`` for
       a conv, ``(N, out)`` for a linear layer; per unit ``i`` (a conv's channel, over ``N, Ho,
       Wo``; a linear layer's output, over ``N``), its mean ``mu_i`` and std ``sigma_i``;
    3. ``W_i = W_i / sigma_i`` and ``b_i = (b_i - mu_i) / sigma_i``, so that
       ``z_i = (z_i - mu_i) / sigma_i``: every unit has mean 0 and variance 1 on the batch,
       exactly, since the layers before it are already fixed.

    A layer without a bias (one followed by batch norm) only gets the scaling; the next batch
    norm removes its mean anyway.

    Not implemented from the paper: the k-means and PCA alternatives to the Gaussian draw, and
    the between-layer step (its Algorithm 2), which rescales whole layers so that every layer's
    weights change at the same relative rate ``||dL/dW_k|| / ||W_k||`` under SGD.

    Returns ``model``. Runs in eval mode without recording a graph.
    """
    layers = _affine_layers(model, "data_dependent_")
    names = {id(m): name for name, m in model.named_modules()}
    for layer in layers:
        normal_(layer.weight)
        z = _layer_output(model, layer, x)
        xp = layer.weight.xp
        # Linear: units on the last axis; Conv2d: channels on axis 1 of (N, F, Ho, Wo).
        unit_axis = z.ndim - 1 if layer.weight.ndim == 2 else 1
        others = tuple(a for a in range(z.ndim) if a != unit_axis)
        mu, sigma = xp.mean(z, axis=others), xp.std(z, axis=others)
        if not bool(xp.all(sigma > 0)):
            raise ValueError(f"data_dependent_: a unit of layer '{names[id(layer)]}' outputs a constant on this "
                             f"batch: no scaling can give it unit variance")
        W = layer.weight.array
        _fill(layer.weight, W / xp.reshape(sigma, (W.shape[0],) + (1,) * (W.ndim - 1)))
        if layer.bias is not None:
            _fill(layer.bias, (layer.bias.array - mu) / sigma)
    return model
