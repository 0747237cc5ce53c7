# %%
# Quick mode (the small settings the tests run, seconds of training): uncomment the next line and
# run from the top; a script takes --quick. MINITORCH_CNN_QUICK=1 in the environment selects it too.
# # %env MINITORCH_CNN_QUICK=1

# %% [markdown]
# # Lecture 14: principled design (SimpNet)
#
# Hasanpour, Rouhani, Fayyaz, Sabokrou & Adeli 2018, "Towards Principled Design of Deep
# Convolutional Networks: Introducing SimpNet" (arXiv:1802.06205). Instead of searching
# architectures, the paper states design principles and backs each with a small controlled
# experiment on CIFAR: gradual expansion with minimum allocation, correlation preservation (3x3
# kernels, no 1x1 early), maximum information utilisation (pool late, pool rather than stride),
# balanced distribution of width, dropout in every layer. Its result, SimpNet, is a plain stack
# of 13 3x3 convolutions with batch norm, ReLU and dropout, two max pools and global max pooling.
#
# We build the zoo's `simpnet` and its slim versions, then rerun each principle's experiment at
# toy scale: 8x8 digits, networks of a few thousand parameters, three seeds each. Every table
# prints the paper's CIFAR number beside ours, labelled *quoted*; the verdict columns are computed
# from our runs, so they say whether our small-scale result agrees, whatever it turns out to be.

# %%
from typing import NamedTuple

import numpy as np

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import data, models, nn, optim
from minitorch_cnn.models import simpnet
from minitorch_cnn.summary import summary
from minitorch_cnn.training import evaluate, fit

from _common import QUICK, check, plt, show

SEEDS = (0, 1, 2)
#: Quick mode trains for two epochs instead of eight: the networks reach about 90% instead of 97%,
#: and several effects differ from the full-mode ones (each section says how).
EPOCHS = 2 if QUICK else 8
#: Accuracy gaps (points) that three seeds cannot tell from zero. Over seeds 0-9, every triple of
#: seeds gave mean gaps within +-3.6 points (quick) and +-1.8 (full) for the comparisons that
#: showed no consistent direction (2 against 3-4 layers, balanced against wide-end width).
NO_EFFECT = 4.0 if QUICK else 2.0
#: Appended to every verdict in quick mode, whose networks are trained for a quarter as long.
CAVEAT = " [quick mode: 2 epochs]" if QUICK else ""
train_set, test_set = data.digits("train", size=8), data.digits("test", size=8)
print(f"{len(train_set):,} training digits (8x8), {len(test_set):,} test digits, {EPOCHS} epoch(s), seeds {SEEDS}")

# %% [markdown]
# ## 1. SimpNet in the zoo
#
# The widths are those of the authors' released Caffe models (see `minitorch_cnn/models/simpnet.py`).
# The paper rounds its parameter counts; `summary` counts weights, biases and batch norm's scale
# and shift.

# %%
PAPER_PARAMS = {"simpnet": "5.48M", "simpnet_slim_300k": "300K", "simpnet_slim_600k": "600K"}
print(f"{'model':<19} {'widths of conv 1-13':<58} {'parameters':>11} {'paper (quoted)':>15}")
counts = {}
for name in PAPER_PARAMS:
    counts[name] = summary(models.create(name), (3, 32, 32)).total_params
    print(f"{name:<19} {' '.join(map(str, simpnet.WIDTHS[name])):<58} {counts[name]:>11,} {PAPER_PARAMS[name]:>15}")
check("simpnet parameters at 10 classes", counts["simpnet"], 5_478_223)
check("slim versions: parameters", (counts["simpnet_slim_300k"], counts["simpnet_slim_600k"]), (300_964, 601_021))

# %% [markdown]
# ## The toy networks
#
# Every experiment below trains a `PlainNet`: SimpNet's pattern at toy size. Each layer is a
# conv, batch norm and ReLU (optionally dropout); max pools after chosen layers; global max
# pooling and one linear layer. `equal_budget` picks the width that brings a design closest to
# a parameter budget, so two designs differ in the one thing under test.
#
# Three numbers per run: the test accuracy (the paper's measure), the test loss and the
# *training loss*, the cross-entropy on all the training digits once training is over (eval
# mode: batch norm's running statistics, no dropout). With 359 test digits one digit is 0.28
# points and seed-to-seed spread is a few points in quick mode, as large as several of the
# paper's effects; the losses move continuously and show smaller effects. Each check below
# compares the designs seed by seed (same seed, same initial draw and batch order) and bounds
# the mean gap with limits taken from seeds 0-9, run once beforehand in both modes: a limit
# holds for every triple of those ten seeds, so no check rests on the luck of seeds 0, 1, 2.


# %%
class PlainNet(nn.Module):
    """conv-BN-ReLU(-dropout) layers of the given ``widths`` and ``kernels``, max pools after the
    layers in ``pool_after``, stride 2 at the layers in ``strided``, global max pool, linear."""

    def __init__(self, widths, kernels=None, pool_after=(), strided=(), dropout=0.0, num_classes=10):
        super().__init__()
        layers, C = {}, 1
        for i, width in enumerate(widths, start=1):
            k = kernels[i - 1] if kernels else 3
            layers[f"conv{i}"] = nn.Conv2d(C, width, k, stride=2 if i in strided else 1, padding=k // 2)
            layers[f"bn{i}"] = nn.BatchNorm2d(width)
            layers[f"relu{i}"] = nn.ReLU()
            if i in pool_after:
                layers[f"pool{i}"] = nn.MaxPool2d(2)
            if dropout:
                layers[f"drop{i}"] = nn.Dropout(dropout)
            C = width
        self.features = nn.Sequential(layers)
        self.fc = nn.Linear(C, num_classes)

    def forward(self, x):
        x = self.features(x)
        return self.fc(F.max_pool2d(x, tuple(x.shape[-2:])).flatten(1))


def params(model):
    return sum(p.numel() for p in model.parameters())


def equal_budget(build, budget, widths=range(2, 200)):
    """The width ``w`` whose ``build(w)`` has the parameter count closest to ``budget``."""
    return min(widths, key=lambda w: abs(params(build(w)) - budget))


class Runs(NamedTuple):
    """One design trained from every seed: per-seed arrays, the parameter count, the models."""

    accuracy: np.ndarray
    test_loss: np.ndarray
    train_loss: np.ndarray
    params: int
    models: list


def train(build, seed):
    """Train ``build()`` from seed ``seed``; returns the model, its test accuracy, test loss and
    training loss (cross-entropy on all the training digits after training, in eval mode)."""
    mt.manual_seed(seed)
    model = build()
    loader = data.DataLoader(train_set, 32, shuffle=True)
    fit(model, loader, optim.Adam(model.parameters(), lr=3e-3), EPOCHS, progress=False)
    test = evaluate(model, data.DataLoader(test_set, 512))
    return model, test["accuracy"], test["loss"], evaluate(model, data.DataLoader(train_set, 512))["loss"]


def experiment(designs):
    """Train every design with every seed: ``{label: Runs}``."""
    results = {}
    for label, build in designs.items():
        runs = [train(build, seed) for seed in SEEDS]
        accuracy, test_loss, train_loss = (np.array([run[i] for run in runs]) for i in (1, 2, 3))
        results[label] = Runs(accuracy, test_loss, train_loss, params(build()), [run[0] for run in runs])
    return results


def table(results, quoted, title):
    """Print ours beside the paper's (quoted) number for each design."""
    print(title)
    print(f"{'design':<24} {'params':>6} {'test accuracy %, per seed':>25} {'mean':>5} {'test loss':>9} "
          f"{'train loss':>10}   paper, % (quoted, CIFAR)")
    for label, r in results.items():
        seeds = " ".join(f"{100 * a:5.1f}" for a in r.accuracy)
        print(f"{label:<24} {r.params:>6,} {seeds:>25} {100 * r.accuracy.mean():>5.1f} {r.test_loss.mean():>9.3f} "
              f"{r.train_loss.mean():>10.3f}   {quoted.get(label, '-')}")


def gap(results, better, worse, metric="accuracy"):
    """Per seed, how far ``better`` is ahead of ``worse``: accuracy in points, a loss as
    ``worse``'s minus ``better``'s, so a positive gap always means ``better`` did better."""
    a, b = getattr(results[better], metric), getattr(results[worse], metric)
    return 100 * (a - b) if metric == "accuracy" else b - a


def check_gap(name, gaps, low, high):
    """Print the per-seed ``gaps`` and assert that their mean lies strictly between ``low`` and ``high``."""
    print(f"{name}, per seed: {' '.join(f'{g:+.3g}' for g in gaps)}")
    # Adding 0.0 turns a mean that rounds to -0.0 (a tie up to rounding) into 0.
    return check(f"{name}, mean over the seeds", round(float(gaps.mean()), 3) + 0.0, lambda m: low < m < high)


def noise(*accuracies):
    """Standard error of a difference of seed means: the size of effect three seeds can resolve."""
    return float(np.sqrt(sum(a.var(ddof=1) / len(a) for a in accuracies)))


def verdict(results, better, worse, paper_says, tie=False):
    """Does ``better`` beat ``worse`` in test accuracy here by more than twice the seed noise, and
    in how many seeds? ``tie``: the paper claims the two are equally good, so a difference within
    the noise agrees."""
    a, b = results[better].accuracy, results[worse].accuracy
    diff, se = a.mean() - b.mean(), noise(a, b)
    wins = int((a > b).sum())
    if abs(diff) <= 2 * se:
        word = "agrees: a tie within seed noise" if tie else "within seed noise: neither agrees nor disagrees"
    elif diff > 0:
        word = f"agrees ({wins} of {len(SEEDS)} seeds)"
    else:
        word = f"disagrees ({len(SEEDS) - wins} of {len(SEEDS)} seeds the other way)"
    print(f"paper: {paper_says}. Ours: {better} - {worse} = {100 * diff:+.1f} points, seed noise "
          f"{100 * se:.1f} (one test digit is {100 / len(test_set):.2f}): {word}{CAVEAT}")
    return diff, se


def plot(results, title, name):
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    labels = list(results)
    for i, label in enumerate(labels):
        acc = results[label].accuracy
        ax.bar(i, acc.mean(), color="C0", alpha=0.5)
        ax.plot([i] * len(acc), acc, "ko", ms=4)
    ax.set_xticks(range(len(labels)), [f"{lb}\n{results[lb].params:,} params" for lb in labels], fontsize=8)
    ax.set(ylabel="test accuracy (dots: seeds)", title=title)
    lo = min(r.accuracy.min() for r in results.values())
    ax.set_ylim(max(0.0, lo - 0.05), 1.0)
    show(fig, name)


# %% [markdown]
# ## 2. Strided convolution versus max-pooling (Table VI)
#
# Same network, same parameters: either a 3x3 conv at stride 1 followed by a 2x2 max pool, or
# the same conv at stride 2. Both halve the map; the strided conv does it for a quarter of the
# multiply-adds, but it simply skips three of every four positions, where the pool keeps the
# strongest response of each window. Over seeds 0-9 max pooling had the lower test loss in every
# seed in both modes; in quick mode it also won 0.6 to 5.0 points of test accuracy in every
# seed (mean 2.1), while after eight epochs the accuracy gap (mean +0.6, 7 of 10 seeds) is
# within the noise of three seeds, the same size as the paper's 0.3 to 0.8.

# %%
WIDTHS = (8, 8, 16, 16)
pooling = {"max pool after conv 2": lambda: PlainNet(WIDTHS, pool_after=(2,)),
           "stride 2 in conv 2": lambda: PlainNet(WIDTHS, strided=(2,))}
macs = {label: summary(build(), (1, 8, 8)).total_macs for label, build in pooling.items()}
check("equal parameters: pool and strided", params(pooling["max pool after conv 2"]()),
      params(pooling["stride 2 in conv 2"]()))
check("the strided version does fewer multiply-adds", macs["stride 2 in conv 2"],
      lambda m: m < macs["max pool after conv 2"])
results_pool = experiment(pooling)
table(results_pool, {"max pool after conv 2": "68.89 (15 layers, 360K, CIFAR-100); ResNet-32 93.75",
                     "stride 2 in conv 2": "68.10 (15 layers, 360K, CIFAR-100); ResNet-32 93.46"},
      "strided convolution vs max pooling")
verdict(results_pool, "max pool after conv 2", "stride 2 in conv 2", "max pooling beats the strided conv by 0.3-0.8 points")
# Seeds 0-9: three-seed means of 0.023 to 0.100 (quick) and 0.007 to 0.039 (full).
check_gap("test loss, strided conv minus max pool", gap(results_pool, "max pool after conv 2", "stride 2 in conv 2",
                                                        "test_loss"), 0, 0.2)
if QUICK:
    # Seeds 0-9: +0.6 to +5.0 points per seed; three-seed means of +0.8 to +3.3.
    check_gap("quick mode: test accuracy, max pool minus strided conv (points)",
              gap(results_pool, "max pool after conv 2", "stride 2 in conv 2"), 0, 5)
plot(results_pool, "max pooling vs strided conv (equal parameters)", "14_pool_vs_stride")

# %% [markdown]
# ## 3. Gradual expansion: depth at a fixed budget (Table II), shallow-wide vs deep-narrow (Table III)
#
# The paper keeps 300K parameters and adds layers: accuracy rises from 8 to 10 layers (90.21,
# 90.55, 90.61) and falls at 13 (89.78): deeper helps only up to a point for a fixed budget. We
# do the same with 2, 3, 4 and 6 layers of equal width at a budget of about 3K parameters
# (one pool, after the middle layer). Table III then says a deeper, thinner network can match
# a shallower one with twice the parameters (10 layers, 570K: 92.23 against 6 layers, 1.1M:
# 92.18); we compare 2 layers at 6K with 4 layers at 3K.
#
# What seeds 0-9 showed. The fall is clear after two epochs: 6 layers (only 7 channels wide) had
# a higher test loss than 3 layers in every seed (mean 0.69 against 0.49) and 5 points less
# accuracy; after eight epochs it is small (highest mean test loss, above 4 layers in 9 of 10
# seeds, accuracy within a point). The rise is not measurable in test accuracy in either mode:
# 2, 3 and 4 layers stay within seed noise of each other (quick 92.4, 92.1, 92.8; full 96.9,
# 97.4, 97.0). In full mode seeds 0, 1, 2 happen to put 3 layers ahead of both 2 and 6 layers
# in each seed, so the verdict line reads "agrees"; over seeds 0-9 that held in 6 of 10
# seeds, and the check below asserts only the band. After eight epochs the extra depth shows in the fit instead: 4 layers reach a
# lower training loss than 2 in every seed (0.025 against 0.041). So the paper's shape (up, then
# down) appears only partly at our scale: the fall in quick mode, the rise in the training loss
# in full mode. Table III: after eight epochs the 4-layer net at the budget ties with the
# 2-layer net at twice the budget, as in the paper (per seed within 1.4 points); after two the
# wider net is ahead, with the lower test loss in every seed: the narrow deep net starts slower.

# %%
BUDGET = 3_000


def plain(depth, budget):
    w = equal_budget(lambda w: PlainNet([w] * depth, pool_after=(max(1, depth // 2),)), budget)
    return lambda: PlainNet([w] * depth, pool_after=(max(1, depth // 2),))


depths = {f"{d} layers": plain(d, BUDGET) for d in (2, 3, 4, 6)}
results_depth = experiment(depths)
PAPER_DEPTH = {"2 layers": "8 layers: 90.21", "3 layers": "9 layers: 90.55", "4 layers": "10 layers: 90.61",
               "6 layers": "13 layers: 89.78"}
table(results_depth, PAPER_DEPTH, f"depth at a budget of {BUDGET:,} parameters")
for label, r in results_depth.items():
    check(f"{label}: parameters within 10% of the budget", r.params, lambda n: abs(n - BUDGET) < 0.1 * BUDGET)
means = [r.accuracy.mean() for r in results_depth.values()]
best = list(results_depth)[int(np.argmax(means))]
spread, se = max(means) - min(means), max(noise(r.accuracy) for r in results_depth.values())
if spread <= 2 * se:
    word = "within seed noise: the depths cannot be told apart"
else:
    word = "agrees" if best not in ("2 layers", "6 layers") else "disagrees"
print(f"paper: the best depth is neither the shallowest nor the deepest. Ours: best mean at {best}, "
      f"means spread over {100 * spread:.1f} points, seed noise {100 * se:.1f}: {word}{CAVEAT}")
deeper = max(("3 layers", "4 layers"), key=lambda label: results_depth[label].accuracy.mean())
# No rise: seeds 0-9 gave three-seed means of -1.7 to +3.1 points (quick), -0.4 to +1.8 (full).
check_gap(f"test accuracy, {deeper} (the better of 3 and 4) minus 2 layers (points)",
          gap(results_depth, deeper, "2 layers"), -NO_EFFECT, NO_EFFECT)
if QUICK:
    shallower = min(("2 layers", "3 layers", "4 layers"), key=lambda label: results_depth[label].test_loss.mean())
    # The fall: seeds 0-9 gave three-seed means of 0.09 to 0.41.
    check_gap(f"quick mode: test loss, 6 layers minus {shallower} (the best of 2-4)",
              gap(results_depth, shallower, "6 layers", "test_loss"), 0, 1)
else:
    # The rise in the fit: seeds 0-9 gave +0.004 to +0.031 per seed, three-seed means of 0.007 to 0.024.
    check_gap("full mode: training loss, 2 layers minus 4 layers", gap(results_depth, "4 layers", "2 layers", "train_loss"),
              0, 0.1)

results_wide = experiment({"2 layers, 2x budget": plain(2, 2 * BUDGET)})
results_wide["4 layers, budget"] = results_depth["4 layers"]
table(results_wide, {"2 layers, 2x budget": "6 layers, 1.1M: 92.18", "4 layers, budget": "10 layers, 570K: 92.23"},
      "shallow and wide against deep and narrow")
verdict(results_wide, "4 layers, budget", "2 layers, 2x budget", "the deeper net with half the parameters is as good (+0.05)",
        tie=True)
if QUICK:
    # Against the paper after two epochs: seeds 0-9 gave 0.07 to 0.29 per seed, three-seed means of 0.08 to 0.25.
    check_gap("quick mode: test loss, 4 layers at the budget minus 2 layers at twice it",
              gap(results_wide, "2 layers, 2x budget", "4 layers, budget", "test_loss"), 0, 1)
else:
    # The paper's tie: seeds 0-9 gave -1.4 to +1.1 points per seed, three-seed means of -1.3 to +0.7.
    check_gap("full mode: test accuracy, 4 layers at the budget minus 2 layers at twice it (points)",
              gap(results_wide, "4 layers, budget", "2 layers, 2x budget"), -NO_EFFECT, NO_EFFECT)
plot({**results_depth, "2 layers, 2x budget": results_wide["2 layers, 2x budget"]},
     f"depth at ~{BUDGET:,} parameters (and a shallow net at twice that)", "14_depth_at_budget")

# %% [markdown]
# ## 4. Balanced versus wide-end width (Table IV)
#
# At equal parameters, spread the width evenly or save it for the end? The paper: balanced
# width wins, 95.51 against 95.19 at 8M and 89.70 against 87.20 at 128K. Ours: four layers, one
# pool; *balanced* grows gently (w, w, 1.5w, 1.5w), *wide end* keeps three thin layers and a
# last one four times as wide, both at about 3K parameters.
#
# Seeds 0-9 show no accuracy difference in either mode (wide end ahead by 0.8 points in quick
# mode and 0.2 in full, in 7 and 6 seeds of 10): the paper's +2.5 at 128K is not reproduced.
# In full mode seeds 0, 1, 2 happen to put the wide end ahead in each, by 2-3 test digits, so
# the verdict line reads "disagrees"; over seeds 3-9 balanced width is ahead in 4 of 7.
# After two epochs the wide end has the lower training loss in every seed (0.27 against 0.36):
# against the paper, it fits faster; after eight epochs that is gone too (0.022 against 0.025,
# 7 seeds of 10).

# %%
w_bal = equal_budget(lambda w: PlainNet([w, w, 3 * w // 2, 3 * w // 2], pool_after=(2,)), BUDGET)
w_end = equal_budget(lambda w: PlainNet([w, w, w, 4 * w], pool_after=(2,)), BUDGET)
BALANCED = (w_bal, w_bal, 3 * w_bal // 2, 3 * w_bal // 2)
balance = {"balanced": lambda: PlainNet(BALANCED, pool_after=(2,)),
           "wide end": lambda: PlainNet([w_end, w_end, w_end, 4 * w_end], pool_after=(2,))}
n_bal, n_end = params(balance["balanced"]()), params(balance["wide end"]())
check("balanced and wide-end parameters differ by under 10%", abs(n_bal - n_end) / n_bal, lambda r: r < 0.1)
results_balance = experiment(balance)
table(results_balance, {"balanced": "95.51 (8M), 89.70 (128K)", "wide end": "95.19 (8M), 87.20 (128K)"},
      "balanced vs wide-end width")
verdict(results_balance, "balanced", "wide end", "balanced width wins (+0.3 at 8M, +2.5 at 128K)")
# Seeds 0-9 gave three-seed means of -3.5 to +2.0 points (quick), -1.1 to +0.9 (full).
check_gap("test accuracy, balanced minus wide end (points)", gap(results_balance, "balanced", "wide end"),
          -NO_EFFECT, NO_EFFECT)
if QUICK:
    # Against the paper: seeds 0-9 gave +0.006 to +0.30 per seed, three-seed means of 0.015 to 0.19.
    check_gap("quick mode: training loss, balanced minus wide end",
              gap(results_balance, "wide end", "balanced", "train_loss"), 0, 1)
plot(results_balance, "balanced vs wide-end width (equal parameters)", "14_balanced_width")

# %% [markdown]
# ## 5. Dropout in every layer: dead ReLUs and first-layer filters
#
# SimpNet puts dropout after every layer. One argument for it: a unit that dropout sometimes
# removes cannot be relied on, so the others must stay useful too. We train the balanced
# network of section 4 (its runs without dropout are reused) with dropout (p = 0.1) after every
# layer and count the *dead* ReLU channels: those whose output is zero for every test digit at
# every position. The paper gives no number for this; the column of quoted numbers is empty.
# We also show the first layer's 3x3 filters. Over seeds 0-9 no channel was dead, with or
# without dropout, in either mode: batch norm recentres every channel before its ReLU. Dropout
# cost accuracy in every seed after two epochs (3.9 to 15.3 points) and in 9 of 10 after eight
# (mean 1.0), and raised the training loss in every seed in both modes: these networks
# under-fit, the opposite of the situation dropout is for.

# %%
dropout = {"dropout 0.1": lambda: PlainNet(BALANCED, pool_after=(2,), dropout=0.1)}
results_drop = {"no dropout": results_balance["balanced"], **experiment(dropout)}
table(results_drop, {}, "dropout in every layer")
# Seeds 0-9: +0.33 to +0.60 per seed (quick), +0.037 to +0.078 (full).
dearer = gap(results_drop, "no dropout", "dropout 0.1", "train_loss")
check("dropout raises the training loss in every seed, smallest rise", round(float(dearer.min()), 3), lambda g: g > 0)
# Seeds 0-9: three-seed means of +4.1 to +11.5 points (quick), +0.2 to +1.9 (full).
check_gap("test accuracy, no dropout minus dropout (points)", gap(results_drop, "no dropout", "dropout 0.1"), 0, 20)
x_test = mt.tensor(np.stack([test_set[i][0] for i in range(len(test_set))]))


def dead_fraction(model):
    """Per ReLU layer: the fraction of channels that are zero on every test image and position."""
    model.eval()
    fractions, x = [], x_test
    with mt.no_grad():
        for name, layer in model.features.named_children():
            x = layer(x)
            if name.startswith("relu"):
                fractions.append(float((x.numpy().max(axis=(0, 2, 3)) <= 0).mean()))
    return np.array(fractions)


dead = {label: np.array([dead_fraction(m) for m in r.models]) for label, r in results_drop.items()}
for label, d in dead.items():
    print(f"{label:<12} dead ReLU channels per layer (mean over seeds): {np.round(d.mean(axis=0), 3)}, "
          f"all layers: {d.mean():.3f}")
check("dead fractions are one per ReLU layer and seed", dead["no dropout"].shape, (len(SEEDS), len(BALANCED)))
fewer = int((dead["dropout 0.1"].mean(axis=1) < dead["no dropout"].mean(axis=1)).sum())
print(f"seeds where dropout leaves fewer dead channels: {fewer} of {len(SEEDS)}{CAVEAT}")
check("dead ReLU channels, with and without dropout, all seeds and layers", max(d.max() for d in dead.values()), 0.0)

fig, axes = plt.subplots(2, 9, figsize=(11, 3))
for row, (label, r) in enumerate(results_drop.items()):
    w = r.models[0].features.conv1.weight.detach().numpy()[:8, 0]
    axes[row, 0].bar(range(1, len(BALANCED) + 1), dead[label].mean(axis=0))
    axes[row, 0].set(ylim=(0, 1), title=f"{label}: dead", xlabel="layer")
    for k in range(8):
        axes[row, k + 1].imshow(w[k], cmap="RdBu_r", vmin=-np.abs(w).max(), vmax=np.abs(w).max())
        axes[row, k + 1].set_xticks([])
        axes[row, k + 1].set_yticks([])
    axes[row, 1].set_title("conv1 filters (seed 0)", loc="left", fontsize=8)
fig.tight_layout()
show(fig, "14_dropout_dead_relus")

# %% [markdown]
# ## 6. Correlation preservation: 1x1 versus 3x3 kernels early (Table VIII)
#
# A 3x3 kernel combines neighbouring pixels, which are strongly correlated; a 1x1 kernel sees
# one pixel and can only mix channels. The paper puts 1x1 kernels in the first layers of a
# 128K network and loses accuracy (87.71, against 88.50 with 2x2 kernels there). We use 1x1 or
# 3x3 kernels in the first two of four layers and widen the 1x1 version to the same budget. The
# 3x3 version is the 4-layer network of section 3, whose runs are reused.

# %%
w_1 = equal_budget(lambda w: PlainNet([w] * 4, kernels=(1, 1, 3, 3), pool_after=(2,)), BUDGET)
results_kernel = {"3x3 early": results_depth["4 layers"],
                  **experiment({"1x1 early": lambda: PlainNet([w_1] * 4, kernels=(1, 1, 3, 3), pool_after=(2,))})}
n_3, n_1 = results_kernel["3x3 early"].params, results_kernel["1x1 early"].params
check("1x1-early and 3x3-early parameters differ by under 10%", abs(n_3 - n_1) / n_3, lambda r: r < 0.1)
table(results_kernel, {"3x3 early": "2x2 early: 88.50", "1x1 early": "1x1 early: 87.71"}, "kernels in the first layers")
verdict(results_kernel, "3x3 early", "1x1 early", "larger early kernels win (+0.8 for 2x2 over 1x1)")
# Seeds 0-9: +11.4 to +24.8 points per seed (quick), +6.4 to +13.6 (full).
gap_kernel = gap(results_kernel, "3x3 early", "1x1 early")
check("3x3 early beats 1x1 early in every seed, smallest gap (points)", round(float(gap_kernel.min()), 1), lambda g: g > 3)
plot(results_kernel, "1x1 vs 3x3 kernels in the first two layers", "14_kernels_early")

# %% [markdown]
# ## What to take away
#
# Each verdict line above is computed from our three seeds, against twice the standard error
# of the seed means; each check is bounded by what seeds 0-9 gave. Over those ten seeds:
#
# | principle | paper (quoted, CIFAR) | ours, quick (2 epochs) | ours, full (8 epochs) |
# |---|---|---|---|
# | max pooling vs strided conv | pooling +0.3 to +0.8 | pooling +2.1, every seed: agrees | pooling +0.6 (7 of 10 seeds), lower test loss in every seed: agrees, at the noise level |
# | depth at a fixed budget | best in the middle (10 of 8-13 layers) | 2-4 layers tie, 6 layers clearly worse: only the fall | accuracies within a point; 4 layers fit better than 2 in every seed: only the rise, in the fit |
# | deep-narrow vs shallow-wide | as good with half the parameters | **shallow-wide ahead (lower test loss in every seed): disagrees** | a tie (within 1.4 points per seed): agrees |
# | balanced vs wide-end width | balanced +0.3 (8M), +2.5 (128K) | no accuracy difference; **wide end fits faster, every seed** | no difference: not reproduced |
# | dropout in every layer | (no number for dead units) | no dead ReLU channels either way; costs 6.9 points | no dead channels; costs 1.0 point |
# | 1x1 vs larger kernels early | 2x2 +0.8 over 1x1 | 3x3 +17.0 over 1x1, every seed | 3x3 +9.3, every seed |
#
# Correlation preservation is the clearest effect at this scale: on 8x8 images a 1x1 first
# layer sees one pixel and must leave all spatial structure to the later layers. Max pooling's
# advantage over a strided conv is the next clearest. Depth at a fixed budget shows the paper's
# rise and fall only in pieces, and the quick-mode results say as much about how fast a
# network learns in two epochs as about what it can reach: the narrow 6-layer and the
# deep-narrow networks start slower, the wide-end network faster. Dropout mostly costs
# accuracy here: the networks are small and under-fitted rather than over-fitted. An earlier
# version of this lecture asserted, in full mode, that 3 layers beat 2 and 6 and that the wide
# end beat balanced width in every seed; both held for seeds 0, 1, 2 and failed on other seeds,
# so the checks above assert only what held across seeds 0-9.
