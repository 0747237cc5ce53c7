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
# back-propagates a random loss and reports `dL/da`, the gradient of each layer's activations,
# and `dL/dW`, the gradient of its weights (what SGD actually uses).
#
# Later sections: orthogonal and LSUV initialisation beside Xavier and Kaiming (section 6),
# constant weights and the symmetry they never break (7), Fixup, which trains a deep ResNet
# without batch norm by its initialisation alone (8), and a slip in the slides' He-init code (9).
#
# Quick mode uses 2048 units instead of 4096 (drawing six 4096x4096 weight matrices per run is
# the slow part); `s * sqrt(Din)` changes, the findings below do not, and they are asserted in
# both modes.

# %%
import math

import numpy as np

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import data, experiments, models, nn, optim
from minitorch_cnn.experiments import activation_statistics, format_table
from minitorch_cnn.nn import init
from minitorch_cnn.training import fit, plot_history

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
# And the gradients: the experiment reports the mean and standard deviation of `dL/da` and of
# `dL/dW` per layer (not the values), so here are the standard deviations per layer, on a log
# scale. Back-propagation runs from layer 6 down to layer 1.

# %%
fig, (ax_a, ax_g, ax_w) = plt.subplots(1, 3, figsize=(16, 4))
layers = np.arange(1, len(DIMS))
for run in RUNS:
    ax_a.semilogy(layers, column(run, "std"), "o-", label=f"{run[0]}, {run[1]}")
    ax_g.semilogy(layers, column(run, "grad_std"), "o-", label=f"{run[0]}, {run[1]}")
    ax_w.semilogy(layers, column(run, "weight_grad_std"), "o-", label=f"{run[0]}, {run[1]}")
ax_a.set(xlabel="layer", ylabel="std of activations", title="forward")
ax_g.set(xlabel="layer", ylabel="std of dL/da", title="backward: activations")
ax_w.set(xlabel="layer", ylabel="std of dL/dW", title="backward: weights")
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

# %% [markdown]
# ## 5. The weights' gradients, dL/dW
#
# SGD moves a weight by its gradient. For a layer `z = a_prev @ W`:
#
#     dL/dW = a_prev.T @ dL/dz
#
# the layer's input times the gradient arriving from above. So `dL/dW` is small when either
# factor is: when the activations collapse on the way up, or the gradients on the way down.
# In the tanh run with `s = 0.01` both happen, one shrinking towards the top and the other
# towards the bottom; their product is about the same in every layer, and several times
# smaller than with Xavier in every layer (4 times at 4096 units, 20 times at 2048, where
# `0.01 * sqrt(Din)` is smaller): every layer learns slowly, not only the first or the last.
# With ReLU and Xavier both factors shrink by `sqrt(2)` per layer, so
# every layer's `dL/dW` is `sqrt(2)**5` times smaller than with Kaiming (for 6 layers).

# %%
print(f"{'run':>16}" + "".join(f"{f'layer {l}':>11}" for l in layers))
for run in RUNS:
    print(f"{f'{run[0]}, {run[1]}':>16}" + "".join(f"{v:>11.3g}" for v in column(run, "weight_grad_std")))

small_over_xavier = max(a / b for a, b in zip(column(("tanh", 0.01), "weight_grad_std"),
                                               column(("tanh", "xavier"), "weight_grad_std")))
check("tanh, 0.01: largest ratio over the layers of its std of dL/dW to Xavier's", round(small_over_xavier, 4),
      lambda v: v < 0.3)
small_w = column(("tanh", 0.01), "weight_grad_std")
check("tanh, 0.01: largest / smallest std of dL/dW over the layers", round(max(small_w) / min(small_w), 3),
      lambda v: v < 1.5)
relu_ratio = [a / b for a, b in zip(column(("relu", "xavier"), "weight_grad_std"),
                                    column(("relu", "kaiming"), "weight_grad_std"))]
expected_ratio = 2 ** (-(len(DIMS) - 2) / 2)
check(f"ReLU: std of dL/dW, Xavier / Kaiming, every layer (sqrt(2)**-5 = {expected_ratio:.3f})",
      [round(r, 3) for r in relu_ratio], lambda v: all(abs(r / expected_ratio - 1) < 0.2 for r in v))
kaiming_w = column(("relu", "kaiming"), "weight_grad_std")
check("ReLU, Kaiming: largest / smallest std of dL/dW over the layers", round(max(kaiming_w) / min(kaiming_w), 3),
      lambda v: v < 1.3)

# %% [markdown]
# ## 6. Orthogonal and LSUV beside Xavier and Kaiming
#
# Xavier and Kaiming get the variance right on average. Two later papers go further:
#
# * **Orthogonal** (Saxe, McClelland & Ganguli 2013): `nn.init.orthogonal_` takes the Q of the QR
#   factorisation of a Gaussian matrix, so every singular value of `W` equals the gain. A linear
#   layer then keeps the length of *every* input exactly, not just on average. With the
#   activation's gain (`sqrt(2)` for ReLU, `5/3` for tanh, `nn.init.calculate_gain`) it plays
#   Kaiming's role.
# * **LSUV** (Mishkin & Matas 2015, "All you need is a good init"): `nn.init.lsuv_(model, x)`
#   starts from orthogonal weights and then measures: layer by layer, it runs the batch and
#   divides the weights by the std of the layer's output until that output has variance 1. No
#   formula for the nonlinearity is needed; the data decides.
#
# Orthogonal initialisation needs a QR factorisation per layer (seconds for 4096x4096, and LSUV
# needs it too), so this section uses 2048 units (512 in quick mode); the findings hold at any width.

# %%
COMPARE_UNITS = 512 if QUICK else 2048
COMPARE_DIMS = [COMPARE_UNITS] * 7
COMPARE_RUNS = [("relu", "xavier"), ("relu", "kaiming"), ("relu", "orthogonal"), ("relu", "lsuv"),
                ("tanh", "xavier"), ("tanh", "orthogonal"), ("tanh", "lsuv")]
compare = {run: activation_statistics(COMPARE_DIMS, *run, batch=BATCH, seed=0) for run in COMPARE_RUNS}
print(f"std of the activations per layer, {COMPARE_UNITS} units:")
print(f"{'run':>18}" + "".join(f"{f'layer {l}':>11}" for l in layers) + f"{'weight std':>12}")
for run, stats in compare.items():
    print(f"{f'{run[0]}, {run[1]}':>18}" + "".join(f"{row['std']:>11.3g}" for row in stats)
          + f"{stats[0]['weight_std']:>12.4g}")

fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
for run, stats in compare.items():
    ax = axes[0 if run[0] == "relu" else 1]
    ax.semilogy(layers, [row["std"] for row in stats], "o-", label=run[1])
for ax, name in zip(axes, ("ReLU", "tanh")):
    ax.set(xlabel="layer", ylabel="std of activations", title=f"{name}, {COMPARE_UNITS} units")
    ax.legend(fontsize=8)
show(fig, "03_orthogonal_lsuv")

# %% [markdown]
# The orthogonal matrix's singular values, and what the runs show: orthogonal with the ReLU
# gain holds the spread as Kaiming does; LSUV gives every layer pre-activations of variance 1,
# so after a ReLU every layer has the std of `relu(z)` for `z ~ N(0, 1)`,
# `sqrt(1/2 - 1/(2 pi)) = 0.584`, whatever the width; with tanh it settles every layer at the
# same spread as well.

# %%
W = init.orthogonal_(mt.zeros(256, 512), gain=math.sqrt(2))
singular = np.linalg.svd(W.detach().numpy().astype(np.float64), compute_uv=False)
check("orthogonal_ (gain sqrt(2)), 256x512: largest |singular value - sqrt(2)|",
      float(np.abs(singular - math.sqrt(2)).max()), lambda v: v < 1e-4)


def spread_ratio(run):
    return compare[run][-1]["std"] / compare[run][0]["std"]


check("ReLU, orthogonal: std of layer 6 / std of layer 1", round(spread_ratio(("relu", "orthogonal")), 4),
      lambda v: 0.8 < v < 1.25)
check("ReLU, Xavier at the same width: std of layer 6 / std of layer 1", round(spread_ratio(("relu", "xavier")), 4),
      lambda v: v < 0.25)
relu_of_unit_normal = math.sqrt(0.5 - 1 / (2 * math.pi))
check(f"ReLU, LSUV: std of every layer (relu of N(0, 1): {relu_of_unit_normal:.3f})",
      [round(row["std"], 3) for row in compare["relu", "lsuv"]],
      lambda v: all(abs(s / relu_of_unit_normal - 1) < 0.1 for s in v))
tanh_lsuv = [row["std"] for row in compare["tanh", "lsuv"]]
check("tanh, LSUV: largest / smallest std over the layers", round(max(tanh_lsuv) / min(tanh_lsuv), 3),
      lambda v: v < 1.1)
check("tanh, Xavier at the same width: largest / smallest std over the layers",
      round(max(r["std"] for r in compare["tanh", "xavier"]) / min(r["std"] for r in compare["tanh", "xavier"]), 3),
      lambda v: v > 1.5)

# %% [markdown]
# ## 7. Constant weights: every unit learns the same thing
#
# Why random at all? Give every weight the same value and every hidden unit computes the same
# function of the input. Each unit's gradient `dL/dw_i = dL/dh_i * relu'(z_i) * x` is then the
# same too, since `dL/dh_i = sum_k W2[k, i] dL/dy_k` and the columns of `W2` are equal. So
# after any number of steps the units are still copies of each other: a layer of 32 units has
# the capacity of one. `experiments.constant_init_symmetry` trains a 64-32-10 MLP on the 8x8
# digits from constant weights (0.05, biases 0) and from the default random ones.

# %%
symmetry = {kind: experiments.constant_init_symmetry(kind, seed=0) for kind in ("constant", "random")}
for kind, result in symmetry.items():
    print(f"{kind:>9}: largest difference between two hidden units' weights "
          f"{result['hidden_weight_spread']:.3g} (weights' std {result['hidden_weight_std']:.3g}), "
          f"test accuracy {result['test_accuracy']:.3f}")

fig, axes = plt.subplots(2, 16, figsize=(14, 2.2))
for r, (kind, result) in enumerate(symmetry.items()):
    for u in range(16):
        ax = axes[r, u]
        ax.imshow(result["hidden_weights"][u].reshape(8, 8), cmap="gray")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[r, 0].set_ylabel(kind, fontsize=8)
fig.suptitle("the first 16 hidden units' weights after training, as 8x8 images")
show(fig, "03_constant_symmetry")

# %%
constant = symmetry["constant"]
check("constant init: the weights moved (std of W1 after training)", round(constant["hidden_weight_std"], 4),
      lambda v: v > 1e-3)
check("constant init: largest difference between hidden units / std of W1",
      constant["hidden_weight_spread"] / constant["hidden_weight_std"], lambda v: v < 1e-6)
check("random init: largest difference between hidden units", round(symmetry["random"]["hidden_weight_spread"], 3),
      lambda v: v > 0.5)
check("test accuracy, random minus constant", round(symmetry["random"]["test_accuracy"] - constant["test_accuracy"], 3),
      lambda v: v > 0.3)

# %% [markdown]
# ## 8. Fixup: a deep ResNet without batch norm
#
# A residual block adds its branch to its input, `y = x + F(x)`. With He-initialised branches
# and no normalisation, each addition roughly doubles the variance, so the output grows
# exponentially with the number of blocks. Fixup (Zhang, Dauphin & Ma 2019) fixes this by
# initialisation alone: the last conv of every branch and the classifier start at zero (every
# block starts as the identity), the other convs in the branches are scaled by
# `L ** (-1/(2m - 2))` (`L` branches of `m` layers), and scalar biases and a multiplier take over
# batch norm's affine part. The zoo has `fixup_resnet20/56/110`.
#
# First the effect at initialisation: the std of the features the classifier sees, for the
# Fixup networks and for the same networks with every conv He-initialised, on a batch of digits.

# %%
digits_batch = mt.tensor(data.digits("train", size=16).images[:32])
feature_std = {}
for depth in (20, 56, 110):
    for kind in ("He, no normalisation", "Fixup"):
        mt.manual_seed(0)
        net = models.create(f"fixup_resnet{depth}", in_channels=1)
        if kind.startswith("He"):
            for m in net.modules():
                if isinstance(m, nn.Conv2d):
                    init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        with mt.no_grad():
            feature_std[kind, depth] = float(net.features(digits_batch).detach().numpy().std())
        print(f"ResNet-{depth:<4} {kind:>21}: std of the features {feature_std[kind, depth]:.4g}")

check("He without normalisation: feature std, ResNet-110 / ResNet-20",
      feature_std["He, no normalisation", 110] / feature_std["He, no normalisation", 20], lambda v: v > 1e3)
check("Fixup: feature std, ResNet-110 / ResNet-20", round(feature_std["Fixup", 110] / feature_std["Fixup", 20], 3),
      lambda v: v < 3)

# %% [markdown]
# And Fixup trains: a Fixup ResNet-20 on the 8x8 digits, with no batch norm anywhere (Adam;
# quick mode uses 8 channels in the first stage and 4 epochs, full mode the paper's 16 and 10
# epochs). At the start its output is exactly 0, so its first loss is `log(10)`; the zero
# classifier and the zero last convs need each other to move, so the first epoch learns little.

# %%
FIXUP_WIDTH, FIXUP_EPOCHS = (8, 4) if QUICK else (16, 10)
mt.manual_seed(0)
fixup_net = models.create("fixup_resnet20", in_channels=1, width=FIXUP_WIDTH)
check("BatchNorm layers in the Fixup ResNet-20", sum(isinstance(m, nn.BatchNorm2d) for m in fixup_net.modules()), 0)
fixup_history = fit(
    fixup_net,
    data.DataLoader(data.digits("train", size=8), batch_size=32, shuffle=True),
    optim.Adam(fixup_net.parameters(), lr=3e-3),
    FIXUP_EPOCHS,
    data.DataLoader(data.digits("test", size=8), batch_size=256),
    progress=False,
)
for h in fixup_history:
    print(f"epoch {h['epoch']}: train loss {h['train_loss']:.3f}, test accuracy {h['test_accuracy']:.3f}")
fig = plot_history(fixup_history)
show(fig, "03_fixup_training")

check("Fixup ResNet-20: last epoch's train loss / first epoch's",
      round(fixup_history[-1]["train_loss"] / fixup_history[0]["train_loss"], 3), lambda v: v < 0.5)
check("Fixup ResNet-20 without batch norm: test accuracy on the digits", round(fixup_history[-1]["test_accuracy"], 3),
      lambda v: v > 0.7)

# %% [markdown]
# ## 9. A slip in the slides' He-init code
#
# The slides write Kaiming/He initialisation as
#
#     W = np.random.randn(Din, Dout) / np.sqrt(2/Din)
#
# Dividing by `sqrt(2/Din)` multiplies by `sqrt(Din/2)`, which is 45 at `Din = 4096`: the weights
# come out about 2048 times too large. The intended standard deviation is `sqrt(2/Din) = 0.022`,
# so the code should *multiply* by `np.sqrt(2/Din)` (equivalently divide by `np.sqrt(Din/2)`).
# Computed, exactly as the slide writes it:

# %%
Din, Dout = 4096, (512 if QUICK else 4096)  # the std does not depend on Dout
rng = np.random.default_rng(0)
W_slide = rng.standard_normal((Din, Dout)) / np.sqrt(2 / Din)
W_right = rng.standard_normal((Din, Dout)) * np.sqrt(2 / Din)
check(f"std of randn(Din, Dout) / sqrt(2/Din) at Din = 4096 (sqrt(Din/2) = {math.sqrt(Din / 2):.2f})",
      round(float(W_slide.std()), 2), lambda v: abs(v / math.sqrt(Din / 2) - 1) < 0.02 and v > 40)
check(f"std of randn(Din, Dout) * sqrt(2/Din) (sqrt(2/Din) = {math.sqrt(2 / Din):.4f})",
      round(float(W_right.std()), 4), lambda v: abs(v / math.sqrt(2 / Din) - 1) < 0.02)

# %% [markdown]
# In the ReLU stack of section 1 the slide's weights multiply the spread by
# `sqrt(Din/2) * sqrt(Din/2) = Din/2` per layer (the ReLU's halving included) instead of keeping it:

# %%
slide_stats = activation_statistics(DIMS, "relu", math.sqrt(UNITS / 2), batch=BATCH, seed=0)
growth = (slide_stats[-1]["std"] / slide_stats[0]["std"]) ** (1 / (len(DIMS) - 2))
print("std per layer with the slide's weights:", [f"{row['std']:.3g}" for row in slide_stats])
check(f"ReLU with the slide's He code: std growth per layer (Din/2 = {UNITS // 2})", round(growth, 1),
      lambda v: abs(v / (UNITS / 2) - 1) < 0.1)
