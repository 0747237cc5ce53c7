# %%
# Quick mode (the small settings the tests run, about a minute): uncomment the next line and run
# from the top; a script takes --quick. MINITORCH_CNN_QUICK=1 in the environment selects it too.
# # %env MINITORCH_CNN_QUICK=1

# %% [markdown]
# # Lecture 6: VGG
#
# Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition"
# (ICLR 2015): only 3x3 convolutions with stride 1 and padding 1, and 2x2 max pools with stride
# 2, stacked 16 or 19 layers deep. This lecture checks why small filters are enough (receptive
# fields and parameter counts) and recomputes VGG-16's memory and parameter table, including
# the course's totals.

# %%
import numpy as np

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import models, nn
from minitorch_cnn.summary import receptive_field, summary

from _common import check, plt, show

mt.manual_seed(0)

# %% [markdown]
# ## 1. Three stacked 3x3 convolutions see a 7x7 patch
#
# Each 3x3 stride-1 layer widens what one output can see by 2 pixels, so three of them see
# 1 + 2 + 2 + 2 = 7 pixels across, like a single 7x7 filter. `receptive_field` applies
# `r_out = r_in + (k - 1) * jump` layer by layer:

# %%
check("receptive field of three stacked 3x3 convs", receptive_field([(3, 1)] * 3)[0], 7)
check("receptive field of one 7x7 conv", receptive_field([(7, 1)])[0], 7)

# %% [markdown]
# The same thing seen through the gradient: stack three 3x3 convolutions with all-ones
# filters, back-propagate from one output pixel and count the input pixels that receive a
# gradient, i.e. that the output depends on.

# %%
x = mt.tensor(np.ones((1, 1, 13, 13), dtype=np.float32), requires_grad=True)
ones3 = mt.tensor(np.ones((1, 1, 3, 3), dtype=np.float32))
y = F.conv2d(F.conv2d(F.conv2d(x, ones3), ones3), ones3)
y[0, 0, 3, 3].backward()
rows, cols = np.nonzero(x.grad[0, 0])
print(f"output {y.shape}: output pixel (3, 3) depends on input rows {rows.min()}..{rows.max()}, "
      f"columns {cols.min()}..{cols.max()}")
check("input pixels that reach one output of the 3-layer stack", len(rows), 7 * 7)

# %% [markdown]
# ## 2. ... with fewer parameters: 3 * (9 C^2) versus 49 C^2
#
# With `C` channels in and out (no biases), one 3x3 layer has `3*3*C*C` weights, three of them
# `3 * 9C^2 = 27C^2`; one 7x7 layer has `49C^2`. The stack also puts three ReLUs where the 7x7
# layer has one. Counted on the framework's layers for a few widths:

# %%
for C in (64, 256, 512):
    stack = sum(nn.Conv2d(C, C, 3, padding=1, bias=False).weight.numel() for _ in range(3))
    single = nn.Conv2d(C, C, 7, padding=3, bias=False).weight.numel()
    print(f"C = {C:>3}: three 3x3 layers {stack:>10,} weights, one 7x7 layer {single:>10,}, ratio {stack / single:.3f}")
    check(f"C = {C}: three 3x3 layers = 3 * (9 C^2)", stack, 3 * 9 * C * C)
    check(f"C = {C}: one 7x7 layer = 49 C^2", single, 49 * C * C)
check("the ratio 27/49, independent of C", round(27 / 49, 4), round(stack / single, 4))

# %% [markdown]
# ## 3. VGG-16's table
#
# The framework's `vgg16` (configuration D of the paper, torchvision's layout) on one
# 224x224x3 image. `summary` lists every layer's output shape (so its memory: one float per
# value) and parameters (weights + biases).

# %%
vgg16 = models.create("vgg16")
table = summary(vgg16, (3, 224, 224))
print(table)

# %% [markdown]
# The course's slide (CS231n) presents the same network row by row, the activation memory as
# `H*W*C` and the parameters as `(kh*kw*C)*F` per layer (weights only), and ends with
# "TOTAL memory: 24M * 4 bytes ~= 96MB / image" and "TOTAL params: 138M parameters". Here are
# the rows of the layers the slide lists (convs, pools, fully connected), from `summary`:

# %%
input_values = 224 * 224 * 3
listed = [r for r in table.rows if r["type"] in ("Conv2d", "MaxPool2d", "Linear")]
print(f"{'layer':<14} {'output':<16} {'memory (values)':>16} {'weights (slide)':>16} {'+ biases (ours)':>16}")
print(f"{'INPUT':<14} {'224x224x3':<16} {input_values:>16,}")
weights_only = 0
for r in listed:
    shape = r["output_shape"][1:]
    out = "x".join(map(str, shape[1:] + shape[:1])) if len(shape) == 3 else str(shape[0])
    weights = 0
    if r["type"] in ("Conv2d", "Linear"):
        weights = r["params"] - r["output_shape"][1]  # one bias per output channel / unit
    weights_only += weights
    label = {"Conv2d": f"CONV3-{shape[0]}", "MaxPool2d": "POOL2", "Linear": f"FC-{shape[0]}"}[r["type"]]
    print(f"{label:<14} {out:<16} {r['activations']:>16,} {weights:>16,} {r['params']:>16,}")
summary_listed_memory = input_values + sum(r["activations"] for r in listed)
print(f"{'total':<14} {'':<16} {summary_listed_memory:>16,} {weights_only:>16,} {table.total_params:>16,}")

# %% [markdown]
# ## 4. Do the course's totals follow from its rows?
#
# The slide's own activation rows, typed in as the slide writes them:

# %%
slide_rows = [
    224 * 224 * 3,                                                # INPUT
    224 * 224 * 64, 224 * 224 * 64, 112 * 112 * 64,               # CONV3-64 x2, POOL2
    112 * 112 * 128, 112 * 112 * 128, 56 * 56 * 128,             # CONV3-128 x2, POOL2
    56 * 56 * 256, 56 * 56 * 256, 56 * 56 * 256, 28 * 28 * 256,  # CONV3-256 x3, POOL2
    28 * 28 * 512, 28 * 28 * 512, 28 * 28 * 512, 14 * 14 * 512,  # CONV3-512 x3, POOL2
    14 * 14 * 512, 14 * 14 * 512, 14 * 14 * 512, 7 * 7 * 512,    # CONV3-512 x3, POOL2
    4096, 4096, 1000,                                             # FC
]
slide_memory = sum(slide_rows)
slide_claim = 24_000_000
print(f"sum of the slide's rows:           {slide_memory:>12,} values = {slide_memory * 4 / 1e6:.1f} MB "
      f"({slide_memory * 4 / 2**20:.1f} MiB) of float32")
print(f"the slide's total:                 {slide_claim:>12,} values = {slide_claim * 4 / 1e6:.0f} MB")
print(f"summary, the slide's layers only:  {summary_listed_memory:>12,} values")
print(f"summary, every layer's output:     {table.total_activations:>12,} values = {table.activation_mb:.1f} MB")
check("summary over the slide's layers = sum of the slide's rows", summary_listed_memory, slide_memory)
check("the slide's 24M over the sum of its own rows", round(slide_claim / slide_memory, 3), lambda v: v > 1.5)

# %% [markdown]
# What the computation shows:
#
# * The slide's rows add up to the first number printed above, about 15 million values (about
#   61 MB of float32 per image), not 24 million and 96 MB. The total on the slide does not follow
#   from the rows printed above it; it overstates them by the ratio printed last.
# * The framework's `summary`, restricted to the layers the slide lists, gives exactly the sum of
#   the slide's rows: the rows themselves are right.
# * `summary`'s own total is larger than both, because it counts every layer's output as its own
#   tensor, including each ReLU (a copy of its conv's output here; frameworks usually overwrite
#   in place), the dropouts and the adaptive pool. What a framework really keeps for the
#   backward pass depends on which of those it stores, which is why the slide adds "~*2 for bwd"
#   as an estimate.
#
# The parameter total does follow from the rows: the slide's weights-only rows plus one bias per
# filter and per unit give `summary`'s count, which rounds to the slide's 138M.

# %%
slide_weights = (
    3 * 3 * 3 * 64 + 3 * 3 * 64 * 64
    + 3 * 3 * 64 * 128 + 3 * 3 * 128 * 128
    + 3 * 3 * 128 * 256 + 2 * 3 * 3 * 256 * 256
    + 3 * 3 * 256 * 512 + 2 * 3 * 3 * 512 * 512
    + 3 * 3 * 3 * 512 * 512
    + 7 * 7 * 512 * 4096 + 4096 * 4096 + 4096 * 1000
)
biases = 2 * 64 + 2 * 128 + 3 * 256 + 6 * 512 + 4096 + 4096 + 1000
check("weights from the slide's rows", slide_weights, weights_only)
check("weights + biases = summary's parameter count", slide_weights + biases, table.total_params)
check("parameters in millions (the slide: 138M)", round(table.total_params / 1e6), 138)
fc_share = sum(r["params"] for r in listed if r["type"] == "Linear") / table.total_params
first_fc = listed[-3]["params"] / table.total_params
print(f"the three fully connected layers hold {fc_share:.1%} of the parameters, the first alone {first_fc:.1%}; "
      f"the two 224x224x64 conv outputs hold {2 * 224 * 224 * 64 / slide_memory:.1%} of the slide's memory")
check("share of the parameters in the first fully connected layer", round(first_fc, 4), lambda v: v > 0.7)

# %% [markdown]
# Memory and parameters sit at opposite ends of the network: most activation memory in the
# early high-resolution conv layers, most parameters in the fully connected layers.

# %%
labels = ["input"] + [r["name"] for r in listed]
fig, (ax_m, ax_p) = plt.subplots(2, 1, figsize=(12, 6), sharex=True)
ax_m.bar(range(len(labels)), [input_values] + [r["activations"] for r in listed])
ax_p.bar(range(len(labels)), [0] + [r["params"] for r in listed], color="tab:orange")
ax_m.set(ylabel="activation values", title="VGG-16 per layer, 224x224 input")
ax_p.set(ylabel="parameters")
ax_p.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
show(fig, "06_vgg16_memory_and_params")
