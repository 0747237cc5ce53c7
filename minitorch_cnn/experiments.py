"""The weight-initialisation experiments of the lectures (CS231n, "Training Neural Networks I").

Push a batch of Gaussian data through a deep stack of fully connected layers (no bias) whose
weights are drawn with a given scale, and look at each layer's activations::

    dims = [4096] * 7                                     # 6 layers of 4096 units
    x = randn(batch, dims[0])
    for Din, Dout in zip(dims[:-1], dims[1:]):
        W = std * randn(Din, Dout)
        x = tanh(x @ W)

A unit sums ``Din`` products, so ``Var(x @ W) = Din * std**2 * E[x**2]`` (see
:mod:`minitorch_cnn.nn.init`). What the lecture shows, and the tests check:

* ``std = 0.01`` with tanh: each layer scales the spread by about ``0.01 * sqrt(Din)`` (0.64 for
  4096 units), so activations collapse towards 0, and so do the weight gradients.
* ``std = 0.05`` with tanh: ``x @ W`` is several units wide, so tanh saturates at +-1 and its
  local gradient ``1 - tanh**2`` vanishes.
* ``"xavier"`` (the lecture's simplified ``std = 1/sqrt(Din)``) with tanh: well scaled in
  every layer.
* ``"xavier"`` with ReLU: ReLU zeroes half of each layer's inputs, so the spread shrinks by
  ``sqrt(2)`` per layer and collapses again.
* ``"kaiming"`` (``std = sqrt(2/Din)``, He et al. 2015) with ReLU: the factor 2 undoes the halving;
  the spread holds steady.
* ``"orthogonal"`` (Saxe et al. 2013, ``nn.init.orthogonal_`` with the activation's gain) keeps
  the spread like Kaiming; ``"lsuv"`` (Mishkin & Matas 2015, ``nn.init.lsuv_``) measures it
  instead, scaling each layer until its pre-activations have variance 1 on the batch.

:func:`constant_init_symmetry` is the other experiment of the slides: with every weight equal,
every hidden unit computes the same thing and receives the same gradient, so training never
tells them apart.
"""

from __future__ import annotations

import contextlib
import math

from . import backend, data, nn, optim
from .autograd import no_grad
from .nn import init as initialisers
from .serialization import save_figure
from .tensor import Tensor
from .training import fit

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}
#: Initialisations given by name rather than by a std: they use ``nn.init``'s own functions.
NAMED_INITS = ("xavier", "kaiming", "orthogonal", "lsuv")

#: A tanh unit with ``|a|`` above this is saturated: its local gradient ``1 - a**2`` is below 0.02.
TANH_SATURATION = 0.99


def weight_std(init, Din):
    """The std of the weights of a layer with ``Din`` inputs: a number, ``"xavier"`` -> ``1/sqrt(Din)``
    or ``"kaiming"`` -> ``sqrt(2/Din)``."""
    if init == "xavier":
        return 1.0 / math.sqrt(Din)
    if init == "kaiming":
        return math.sqrt(2.0 / Din)
    if isinstance(init, bool) or not isinstance(init, (int, float)) or init < 0:
        raise ValueError(f"activation_statistics: expected init to be a std >= 0 or one of {', '.join(NAMED_INITS)}, "
                         f"got {init!r}")
    return float(init)


def _initialise(model, init, activation, x):
    linears = [m for m in model if isinstance(m, nn.Linear)]
    if init == "orthogonal":
        for layer in linears:
            initialisers.orthogonal_(layer.weight, gain=initialisers.calculate_gain(activation))
    elif init == "lsuv":
        initialisers.lsuv_(model, x)
    else:
        for layer in linears:
            initialisers.normal_(layer.weight, 0.0, weight_std(init, layer.in_features))


def activation_statistics(dims, activation="tanh", init="xavier", batch=16, seed=0, gradients=False):
    """Run the lecture experiment and return one dict of statistics per layer.

    The stack is ``nn.Sequential(Linear(dims[0], dims[1], bias=False), Tanh(), ...)``;
    ``nn.Linear`` stores the slide's ``W`` transposed, ``(Dout, Din)``, and computes ``x @ W.T``.

    Args:
        dims: layer widths, e.g. ``[4096] * 7`` (6 weight layers); ``dims[0]`` is the input size.
        activation: ``"tanh"`` or ``"relu"``.
        init: the weights' std (a number such as 0.01), ``"xavier"`` or ``"kaiming"``
            (:func:`weight_std`), ``"orthogonal"`` (``nn.init.orthogonal_`` with gain
            ``calculate_gain(activation)``) or ``"lsuv"`` (``nn.init.lsuv_`` on this batch).
        batch: number of input rows. seed: passed to ``mt.manual_seed`` before any draw.
        gradients: also back-propagate ``L = sum(a_last * R)`` (``R`` standard normal) and report
            the gradients of each layer's activations and of its weights.

    Returns:
        a list with, for layer ``l = 1 .. len(dims) - 1``, a dict with

        * ``"layer"``: ``l``; ``"weight_std"``: the std of the layer's weights as initialised;
        * ``"mean"``, ``"std"``: over all of the layer's activations;
        * ``"saturated_fraction"``: fraction of units in the flat part of the activation, where
          the local gradient is (almost) zero: ``|a| > 0.99`` for tanh, ``a == 0`` for ReLU;
        * ``"values"``: the activations, a NumPy array ``(batch, dims[l])``, for histograms;
        * with ``gradients=True``, ``"grad_mean"`` and ``"grad_std"`` of ``dL/da``, and
          ``"weight_grad_mean"`` and ``"weight_grad_std"`` of ``dL/dW = x_in.T @ dL/dz``: the
          layer's input times the gradient arriving from above, so it is small when either is.
    """
    dims = list(dims)
    if len(dims) < 2 or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dims):
        raise ValueError(f"activation_statistics: expected at least two positive int widths, got {dims!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation_statistics: expected activation 'tanh' or 'relu', got {activation!r}")
    if init not in ("orthogonal", "lsuv"):
        weight_std(init, dims[0])  # refuses a bad init before anything is drawn

    backend.manual_seed(seed)
    like = backend.asarray(0.0)
    x = Tensor(backend.random_normal((batch, dims[0]), like), requires_grad=gradients)
    model = nn.Sequential(*(m for Din, Dout in zip(dims[:-1], dims[1:])
                            for m in (nn.Linear(Din, Dout, bias=False), ACTIVATIONS[activation]())))
    _initialise(model, init, activation, x)
    layers = []
    with contextlib.nullcontext() if gradients else no_grad():
        a = x
        for module in model:
            a = module(a)
            if isinstance(module, nn.Linear):
                continue
            if gradients:
                a.retain_grad()
            layers.append(a)
    if gradients:
        R = Tensor(backend.random_normal(a.shape, like))
        (a * R).sum().backward()

    stats = []
    linears = [m for m in model if isinstance(m, nn.Linear)]
    for l, (a, linear) in enumerate(zip(layers, linears), start=1):
        values = a.detach().numpy()
        flat = abs(values) > TANH_SATURATION if activation == "tanh" else values == 0
        row = {
            "layer": l,
            "weight_std": float(linear.weight.detach().numpy().std()),
            # Summed in float64: a badly scaled stack reaches 1e18, whose float32 squares overflow.
            "mean": float(values.mean(dtype="float64")),
            "std": float(values.std(dtype="float64")),
            "saturated_fraction": float(flat.mean()),
            "values": values,
        }
        if gradients:
            grad = backend.to_numpy(a.grad.array)
            weight_grad = backend.to_numpy(linear.weight.grad.array)
            row.update(grad_mean=float(grad.mean()), grad_std=float(grad.std()),
                       weight_grad_mean=float(weight_grad.mean()), weight_grad_std=float(weight_grad.std()))
        stats.append(row)
    return stats


#: The symmetry experiment's weight value: any constant shows the effect; 0 would also stop the
#: output layer from learning anything but its bias (its input, the hidden layer, would be 0).
CONSTANT_WEIGHT = 0.05


def constant_init_symmetry(init="constant", hidden=32, epochs=10, lr=0.03, batch_size=32, seed=0, value=CONSTANT_WEIGHT):
    """Train a one-hidden-layer MLP on the digits (8x8, flattened) and report how alike its
    hidden units end up: the "every unit learns the same thing" argument against constant weights.

    The network is ``Linear(64, hidden) -> ReLU -> Linear(hidden, 10)``. With ``init="constant"``
    every weight is ``value`` and every bias 0, so every hidden unit ``h_i = relu(w_i . x + b_i)``
    computes the same number, and its gradient ``dL/dw_i = dL/dh_i * relu'(.) * x`` with
    ``dL/dh_i = sum_k W2[k, i] * dL/dy_k`` is the same for every ``i`` because the columns of
    ``W2`` are equal too: after any number of SGD steps the hidden units are still copies of
    each other (up to floating-point rounding), so the network has one hidden unit's worth of
    capacity. ``init="random"`` keeps the layers' default (Kaiming-uniform) initialisation.

    Training is SGD with momentum 0.9 at ``lr``, mini-batches of ``batch_size``. The default 0.03
    is measured: at 0.1 the constant network's ReLUs die in the first epoch and it sits at
    chance, which would hide the point (a network that does learn, yet with identical units).

    Returns a dict with ``"init"``, ``"hidden_weights"`` (``W1`` after training, a NumPy array
    ``(hidden, 64)``: one 8x8 filter per unit), ``"hidden_weight_spread"``
    (``max |W1[i, j] - W1[0, j]|`` over units ``i`` and inputs ``j``), ``"hidden_weight_std"``
    (the std of ``W1``, for scale), ``"test_accuracy"`` and ``"history"`` (from
    :func:`~minitorch_cnn.training.fit`).
    """
    if init not in ("constant", "random"):
        raise ValueError(f"constant_init_symmetry: expected init 'constant' or 'random', got {init!r}")
    backend.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    if init == "constant":
        for layer in (model[1], model[3]):
            initialisers.constant_(layer.weight, value)
            initialisers.zeros_(layer.bias)
    train = data.DataLoader(data.digits("train", size=8), batch_size=batch_size, shuffle=True)
    test = data.DataLoader(data.digits("test", size=8), batch_size=256)
    history = fit(model, train, optim.SGD(model.parameters(), lr=lr, momentum=0.9), epochs, test, progress=False)
    W1 = model[1].weight.detach().numpy()
    return {
        "init": init,
        "hidden_weights": W1,
        "hidden_weight_spread": float(abs(W1 - W1[:1]).max()),
        "hidden_weight_std": float(W1.std()),
        "test_accuracy": history[-1]["test_accuracy"],
        "history": history,
    }


def format_table(stats):
    """A plain-text table of the per-layer statistics (gradient columns when present)."""
    columns = ["layer", "weight_std", "mean", "std", "saturated_fraction"]
    if stats and "grad_std" in stats[0]:
        columns += ["grad_mean", "grad_std", "weight_grad_mean", "weight_grad_std"]
    widths = [max(12, len(c) + 2) for c in columns[1:]]
    header = f"{'layer':>5}" + "".join(f"{c:>{w}}" for c, w in zip(columns[1:], widths))
    lines = [header, "-" * len(header)]
    for row in stats:
        lines.append(f"{row['layer']:>5}" + "".join(f"{row[c]:>{w}.4g}" for c, w in zip(columns[1:], widths)))
    return "\n".join(lines)


def plot_activation_histograms(stats, path=None, title=None):
    """One histogram per layer, side by side with a shared x range (so a collapse towards 0 or a
    pile-up at +-1 is visible). Saved as a PNG at ``path`` when given (its folder is created);
    returns the ``matplotlib.figure.Figure``."""
    from matplotlib.figure import Figure

    lo = min(float(row["values"].min()) for row in stats)
    hi = max(float(row["values"].max()) for row in stats)
    if hi <= lo:
        lo, hi = lo - 1.0, hi + 1.0
    figure = Figure(figsize=(2.4 * len(stats), 2.8), layout="constrained")
    axes = figure.subplots(1, len(stats), sharex=True, squeeze=False)[0]
    for ax, row in zip(axes, stats):
        ax.hist(row["values"].ravel(), bins=50, range=(lo, hi))
        ax.set_title(f"layer {row['layer']}\nmean {row['mean']:.3g}  std {row['std']:.3g}", fontsize=9)
        ax.tick_params(labelsize=7)
    if title:
        figure.suptitle(title)
    if path is not None:
        save_figure(figure, path)
    return figure
