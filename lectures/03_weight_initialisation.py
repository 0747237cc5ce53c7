# %%
# Quick mode (the small settings the tests run, about a minute): uncomment the next line and run
# from the top; a script takes --quick. MINITORCH_CNN_QUICK=1 in the environment selects it too.
# # %env MINITORCH_CNN_QUICK=1

# %% [markdown]
# # Lecture 3: weight initialisation
#
# A unit of a linear layer sums `Din` products `w * x`. With independent zero-mean weights of
# standard deviation `s`:
#
#     Var(x @ W) = Din * s**2 * E[x**2]
#
# so a layer multiplies the spread of its input by about `s * sqrt(Din)`, and a deep stack
# multiplies those factors. The course's experiment makes this visible: push a batch of 16
# Gaussian inputs through 6 fully connected layers of 4096 units (no bias) and look at every
# layer's activations. `minitorch_cnn.experiments.activation_statistics` runs it.
#
# The runs: tanh with `s = 0.01`, `s = 0.05` and Xavier (`s = 1/sqrt(Din)`); ReLU with Xavier
# and with Kaiming (`s = sqrt(2/Din)`). With `gradients=True` the experiment also
# back-propagates a random loss and reports `dL/da`, the gradient of each layer's activations.
#
# Quick mode uses 2048 units instead of 4096 (drawing six 4096x4096 weight matrices per run is
# the slow part); `s * sqrt(Din)` changes, the findings below do not, and they are asserted in
# both modes.

# %%
import math

import numpy as np

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import nn
from minitorch_cnn.experiments import activation_statistics, format_table
from minitorch_cnn.nn import init

from _common import QUICK, check, plt, show

UNITS = 2048 if QUICK else 4096
DIMS = [UNITS] * 7  # the input and 6 layers
BATCH = 16
RUNS = [("tanh", 0.01), ("tanh", 0.05), ("tanh", "xavier"), ("relu", "xavier"), ("relu", "kaiming")]

# %% [markdown]
# ## 1. The five runs, as tables
#
# `saturated_fraction` is the share of units where the activation is flat, so no gradient
# flows through them: `|a| > 0.99` for tanh, `a == 0` for ReLU (half of them, by symmetry, in
# every ReLU run).

# %%
results = {}
for activation, scale in RUNS:
    stats = activation_statistics(DIMS, activation, scale, batch=BATCH, seed=0, gradients=True)
    results[activation, scale] = stats
    Din = DIMS[0]
    std = {"xavier": 1 / math.sqrt(Din), "kaiming": math.sqrt(2 / Din)}.get(scale, scale)
    print(f"\n{activation} with {scale} (weight std {std:.4g}, std * sqrt(Din) = {std * math.sqrt(Din):.3g}):")
    print(format_table(stats))


def column(run, key):
    return [row[key] for row in results[run]]


def shrink(run, key="std"):
    """Last layer's value over the first layer's."""
    values = column(run, key)
    return values[-1] / values[0]

# %% [markdown]
# ## 2. Histograms of every layer's activations
#
# One row per run, one column per layer, all with the same x range within a row.

# %%
fig, axes = plt.subplots(len(RUNS), len(DIMS) - 1, figsize=(15, 2.3 * len(RUNS)), sharey="row")
for r, run in enumerate(RUNS):
    values = [row["values"].ravel() for row in results[run]]
    lo, hi = min(v.min() for v in values), max(v.max() for v in values)
    for l, v in enumerate(values):
        ax = axes[r, l]
        ax.hist(v, bins=50, range=(lo, hi))
        ax.set_title(f"{run[0]}, {run[1]}: layer {l + 1}\nmean {v.mean():.2g} std {v.std():.2g}", fontsize=8)
        ax.tick_params(labelsize=7)
fig.tight_layout()
show(fig, "03_activation_histograms")

# %% [markdown]
# And the gradients: the experiment reports the mean and standard deviation of `dL/da` per
# layer (not the values), so here is the standard deviation per layer, on a log scale.
# Back-propagation runs from layer 6 down to layer 1.

# %%
fig, (ax_a, ax_g) = plt.subplots(1, 2, figsize=(12, 4))
layers = np.arange(1, len(DIMS))
for run in RUNS:
    ax_a.semilogy(layers, column(run, "std"), "o-", label=f"{run[0]}, {run[1]}")
    ax_g.semilogy(layers, column(run, "grad_std"), "o-", label=f"{run[0]}, {run[1]}")
ax_a.set(xlabel="layer", ylabel="std of activations", title="forward")
ax_g.set(xlabel="layer", ylabel="std of dL/da", title="backward")
ax_a.legend(fontsize=8)
show(fig, "03_std_per_layer")

# %% [markdown]
# ## 3. What the numbers show
#
# * **tanh, `s = 0.01`:** each layer scales the spread by about `0.01 * sqrt(Din)` (below 1),
#   so the activations collapse towards zero. The gradients do the same on the way back:
#   `dL/da` at layer 1 is a small fraction of its size at layer 6. A weight's gradient is the
#   product of its input activation and the gradient above it, so both factors are small.
# * **tanh, `s = 0.05`:** `x @ W` is several units wide, so many tanh units sit at +-1, where
#   the local gradient `1 - a**2` vanishes.
# * **tanh, Xavier:** the spread stays of order one in every layer, and almost nothing saturates.
# * **ReLU, Xavier:** ReLU zeroes half of its inputs, halving `E[x**2]`, so the spread shrinks by
#   about `sqrt(2)` per layer and collapses again, more slowly.
# * **ReLU, Kaiming:** the factor 2 in `2/Din` undoes the halving; the spread holds steady.

# %%
check("tanh, 0.01: std of layer 6 / std of layer 1", round(shrink(("tanh", 0.01)), 4), lambda v: v < 0.15)
check("tanh, 0.01: std of dL/da at layer 1 / at layer 6", round(1 / shrink(("tanh", 0.01), "grad_std"), 4),
      lambda v: v < 0.15)
check("tanh, 0.05: smallest saturated fraction over the layers",
      round(min(column(("tanh", 0.05), "saturated_fraction")), 4), lambda v: v > 0.1)
check("tanh, Xavier: largest saturated fraction over the layers",
      round(max(column(("tanh", "xavier"), "saturated_fraction")), 4), lambda v: v < 0.01)
check("tanh, Xavier: std of layer 6", round(column(("tanh", "xavier"), "std")[-1], 4), lambda v: v > 0.2)
ratio_per_layer = shrink(("relu", "xavier")) ** (1 / (len(DIMS) - 2))
check(f"ReLU, Xavier: std shrink per layer (1/sqrt(2) = {1 / math.sqrt(2):.3f})", round(ratio_per_layer, 3),
      lambda v: abs(v - 1 / math.sqrt(2)) < 0.05)
check("ReLU, Kaiming: std of layer 6 / std of layer 1", round(shrink(("relu", "kaiming")), 4),
      lambda v: 0.8 < v < 1.25)

# %% [markdown]
# ## 4. The same for a deep CNN: fan_in = kh * kw * C
#
# A conv output sums over `C` input channels times the `kh*kw` taps of its filter, so the
# `Din` of the formula is `fan_in = kh*kw*C`. The framework's initialisers take it from the
# weight's shape `(F, C, kh, kw)`:

# %%
C, K = 64, 3
probe = nn.Conv2d(C, C, K, padding=1, bias=False)
fan_in, _ = init.calculate_fan_in_and_fan_out(probe.weight)
check("fan_in of a 3x3 conv on 64 channels: kh*kw*C", fan_in, K * K * C)

# %% [markdown]
# A stack of 8 such 3x3 convolutions (same padding, no bias) on Gaussian input, drawing each
# weight with `std = gain / sqrt(fan)` for four choices of fan and gain. The third one is the
# classic mistake: using `fan = C` (forgetting the 9 taps), which makes the weights 3 times too
# large, so every layer multiplies the spread by 3.

# %%
CONV_LAYERS = 8
SIZE = 16 if QUICK else 32
CONV_RUNS = {
    "relu, Kaiming sqrt(2/(kh*kw*C))": (F.relu, math.sqrt(2 / fan_in)),
    "relu, Xavier 1/sqrt(kh*kw*C)": (F.relu, 1 / math.sqrt(fan_in)),
    "relu, Kaiming with fan = C": (F.relu, math.sqrt(2 / C)),
    "tanh, Xavier 1/sqrt(kh*kw*C)": (F.tanh, 1 / math.sqrt(fan_in)),
}


def conv_stack_stds(activation, std, seed=0):
    """Standard deviation of each layer's output in a stack of 3x3 convs with N(0, std^2) weights."""
    mt.manual_seed(seed)
    x = mt.tensor(np.random.default_rng(seed).standard_normal((8, C, SIZE, SIZE)).astype(np.float32))
    stds = []
    with mt.no_grad():
        for _ in range(CONV_LAYERS):
            conv = nn.Conv2d(C, C, K, padding=1, bias=False)
            init.normal_(conv.weight, 0.0, std)
            x = activation(conv(x))
            stds.append(float(x.detach().numpy().std()))
    return stds


conv_stds = {name: conv_stack_stds(*spec) for name, spec in CONV_RUNS.items()}
print(f"{'layer':>33}" + "".join(f"{l:>9}" for l in range(1, CONV_LAYERS + 1)))
for name, stds in conv_stds.items():
    print(f"{name:>33}" + "".join(f"{s:>9.3g}" for s in stds))

fig, ax = plt.subplots(figsize=(7, 4))
for name, stds in conv_stds.items():
    ax.semilogy(range(1, CONV_LAYERS + 1), stds, "o-", label=name)
ax.set(xlabel="conv layer", ylabel="std of activations", title=f"8 stacked 3x3 convs, C = {C}")
ax.legend(fontsize=8)
show(fig, "03_conv_stack")


def conv_shrink(name):
    stds = conv_stds[name]
    return stds[-1] / stds[0]


check("conv, ReLU + Kaiming (fan_in = kh*kw*C): std of layer 8 / layer 1",
      round(conv_shrink("relu, Kaiming sqrt(2/(kh*kw*C))"), 4), lambda v: 0.5 < v < 2)
check("conv, ReLU + Xavier: std of layer 8 / layer 1", round(conv_shrink("relu, Xavier 1/sqrt(kh*kw*C)"), 4),
      lambda v: v < 0.2)
check("conv, ReLU + Kaiming with fan = C: std of layer 8 / layer 1",
      round(conv_shrink("relu, Kaiming with fan = C"), 1), lambda v: v > 100)
per_layer = math.sqrt(K * K)
print(f"growth expected from a factor sqrt(kh*kw) = {per_layer:g} per layer over 7 layers: {per_layer**7:g}")

# %% [markdown]
# The same three findings as for the fully connected stack: Kaiming with the right fan-in keeps
# the spread, Xavier halves the variance at every ReLU, and a fan-in that forgets the filter's
# `kh*kw` taps grows the spread by about `sqrt(kh*kw) = 3` per layer. The measured growth over
# 7 layers comes out somewhat below `3**7` (both printed above): at the border of a small map,
# part of every 3x3 window reads zero padding, so those outputs sum fewer terms.
