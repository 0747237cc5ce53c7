"""The weight-initialisation experiment of the lectures (CS231n, "Training Neural Networks I").

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
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

from . import backend
from . import functional as F
from .autograd import no_grad
from .tensor import Tensor

ACTIVATIONS = {"tanh": F.tanh, "relu": F.relu}

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
        raise ValueError(f"activation_statistics: expected init to be a std >= 0, 'xavier' or 'kaiming', got {init!r}")
    return float(init)


def activation_statistics(dims, activation="tanh", init="xavier", batch=16, seed=0, gradients=False):
    """Run the lecture experiment and return one dict of statistics per layer.

    Args:
        dims: layer widths, e.g. ``[4096] * 7`` (6 weight layers); ``dims[0]`` is the input size.
        activation: ``"tanh"`` or ``"relu"``.
        init: the weights' std (a number such as 0.01), ``"xavier"`` or ``"kaiming"``
            (:func:`weight_std`).
        batch: number of input rows. seed: passed to ``mt.manual_seed`` before any draw.
        gradients: also back-propagate ``L = sum(a_last * R)`` (``R`` standard normal) and report
            the gradient of each layer's activations.

    Returns:
        a list with, for layer ``l = 1 .. len(dims) - 1``, a dict with

        * ``"layer"``: ``l``; ``"mean"``, ``"std"``: over all of the layer's activations;
        * ``"saturated_fraction"``: fraction of units in the flat part of the activation, where
          the local gradient is (almost) zero: ``|a| > 0.99`` for tanh, ``a == 0`` for ReLU;
        * ``"values"``: the activations, a NumPy array ``(batch, dims[l])``, for histograms;
        * with ``gradients=True``, ``"grad_mean"`` and ``"grad_std"`` of ``dL/da``.
    """
    dims = list(dims)
    if len(dims) < 2 or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dims):
        raise ValueError(f"activation_statistics: expected at least two positive int widths, got {dims!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation_statistics: expected activation 'tanh' or 'relu', got {activation!r}")
    stds = [weight_std(init, Din) for Din in dims[:-1]]
    nonlinearity = ACTIVATIONS[activation]

    backend.manual_seed(seed)
    like = backend.asarray(0.0)
    x = Tensor(backend.random_normal((batch, dims[0]), like), requires_grad=gradients)
    layers = []
    # Without gradients nothing is recorded, so each (Din, Dout) weight is freed after its layer.
    with contextlib.nullcontext() if gradients else no_grad():
        a = x
        for Din, Dout, std in zip(dims[:-1], dims[1:], stds):
            W = Tensor(backend.random_normal((Din, Dout), like, std=std))
            a = nonlinearity(a @ W)
            if gradients:
                a.retain_grad()
            layers.append(a)
    if gradients:
        R = Tensor(backend.random_normal(a.shape, like))
        (a * R).sum().backward()

    stats = []
    for l, a in enumerate(layers, start=1):
        values = a.detach().numpy()
        flat = abs(values) > TANH_SATURATION if activation == "tanh" else values == 0
        row = {
            "layer": l,
            "mean": float(values.mean()),
            "std": float(values.std()),
            "saturated_fraction": float(flat.mean()),
            "values": values,
        }
        if gradients:
            grad = backend.to_numpy(a.grad.array)
            row.update(grad_mean=float(grad.mean()), grad_std=float(grad.std()))
        stats.append(row)
    return stats


def format_table(stats):
    """A plain-text table of the per-layer statistics (gradient columns when present)."""
    columns = ["layer", "mean", "std", "saturated_fraction"]
    if stats and "grad_std" in stats[0]:
        columns += ["grad_mean", "grad_std"]
    header = f"{'layer':>5}" + "".join(f"{c:>20}" for c in columns[1:])
    lines = [header, "-" * len(header)]
    for row in stats:
        lines.append(f"{row['layer']:>5}" + "".join(f"{row[c]:>20.6g}" for c in columns[1:]))
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
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=100)
    return figure
