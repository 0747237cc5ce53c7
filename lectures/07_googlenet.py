# %%
# Quick mode (the small settings the tests run, about a minute): uncomment the next line and run
# from the top; a script takes --quick. MINITORCH_CNN_QUICK=1 in the environment selects it too.
# # %env MINITORCH_CNN_QUICK=1

# %% [markdown]
# # Lecture 7: GoogLeNet (Inception v1)
#
# Szegedy et al. 2015, "Going Deeper with Convolutions". Three ideas, each measured here with
# `minitorch_cnn`:
#
# 1. the **inception module**: convolutions of several sizes side by side, made affordable by
#    1x1 "reduce" convolutions. We recompute the course's cost comparison on a 28x28x256 input,
#    and find that the slide's "358M ops" does not follow from the layer list it prints;
# 2. **auxiliary classifiers** on intermediate layers, used only in training;
# 3. **global average pooling** instead of large fully connected layers.

# %%
import numpy as np

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import models, nn
from minitorch_cnn.models.googlenet import INCEPTION, Inception, NaiveInception
from minitorch_cnn.summary import summary
from _common import QUICK, check, plt, show

mt.manual_seed(0)

# %% [markdown]
# ## 1. The cost of an inception module on a 28x28x256 input
#
# A convolution producing an `Ho x Wo x F` output from `C` input channels with `kh x kw`
# filters costs `Ho * Wo * F * kh * kw * C` multiply-accumulates (MACs), the "ops" of the
# slides. The course's example puts 256 channels at 28x28 through the **naive** module
# (1x1, 3x3 and 5x5 convs and a 3x3 max pool side by side) and through the
# **dimension-reduced** module (1x1 convs before the 3x3 and 5x5 convs and after the pool).
#
# The slides print each module as a list of convolutions `(name, Ho, Wo, F, kh, kw, C)` and a
# total. We copy both lists and both totals as the slides give them, and compute.

# %%
H = W = 28
C_IN = 256

#: The slide's naive module: "[1x1 conv, 128] 28x28x128x1x1x256" etc., "Total: 854M ops".
SLIDE_NAIVE = [
    ("1x1 conv, 128", 28, 28, 128, 1, 1, 256),
    ("3x3 conv, 192", 28, 28, 192, 3, 3, 256),
    ("5x5 conv, 96", 28, 28, 96, 5, 5, 256),
]
SLIDE_NAIVE_TOTAL_M = 854
#: The slide's reduced module, in the slide's order, and its "Total: 358M ops".
SLIDE_REDUCED = [
    ("1x1 conv, 64 (3x3 reduce)", 28, 28, 64, 1, 1, 256),
    ("1x1 conv, 64 (5x5 reduce)", 28, 28, 64, 1, 1, 256),
    ("1x1 conv, 128", 28, 28, 128, 1, 1, 256),
    ("3x3 conv, 192", 28, 28, 192, 3, 3, 64),
    ("5x5 conv, 96", 28, 28, 96, 5, 5, 64),
    ("1x1 conv, 64 (pool proj)", 28, 28, 64, 1, 1, 256),
]
SLIDE_REDUCED_TOTAL_M = 358


def term(row):
    _, Ho, Wo, F_, kh, kw, C = row
    return Ho * Wo * F_ * kh * kw * C


def slide_sum(rows, title):
    print(title)
    for row in rows:
        print(f"    {row[0]:<28} {'x'.join(str(v) for v in row[1:]):<22} = {term(row):>13,}")
    total = sum(term(r) for r in rows)
    print(f"    {'sum':<28} {'':<22} = {total:>13,}")
    return total


naive_list = slide_sum(SLIDE_NAIVE, "naive module, the slide's list:")
reduced_list = slide_sum(SLIDE_REDUCED, "dimension-reduced module, the slide's list:")

# %% [markdown]
# Now the same modules built from layers. `NaiveInception(256, 128, 192, 96)` and
# `Inception(256, 128, 64, 192, 64, 96, 64)` (arguments in the order of the paper's Table 1:
# `#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj`) are exactly the slides' modules;
# `summary` runs one 28x28x256 image through each and counts every conv's MACs.

# %%
naive = NaiveInception(C_IN, 128, 192, 96)
reduced = Inception(C_IN, 128, 64, 192, 64, 96, 64)
naive_summary = summary(naive, (C_IN, H, W))
reduced_summary = summary(reduced, (C_IN, H, W))
print(naive_summary)
print()
print(reduced_summary)

# %%
check("naive module: MACs from summary", naive_summary.total_macs, naive_list)
check("naive module: the slide's list, in millions (the slide says 854M)", round(naive_list / 1e6),
      SLIDE_NAIVE_TOTAL_M)
check("reduced module: MACs from summary", reduced_summary.total_macs, reduced_list)
check("reduced module: the slide's own list, in millions (the slide says 358M)", round(reduced_list / 1e6),
      lambda m: m != SLIDE_REDUCED_TOTAL_M)
check("naive / reduced cost ratio (from summary)", naive_summary.total_macs / reduced_summary.total_macs,
      lambda r: r > 3)
check("naive module output channels (128 + 192 + 96 + the 256 pooled)", naive.out_channels, 672)
# The slide's "28x28x672": every branch of the naive module keeps the 28x28 map (the pool pads), so
# their outputs, as summary recorded them, concatenate along the channels.
naive_branches = [r["output_shape"][1:] for r in naive_summary.rows if r["type"] in ("Conv2d", "MaxPool2d")]
print("naive module branch outputs (C, H, W):", naive_branches)
check("naive module output from summary's branch shapes, H x W x C (the slide's 28x28x672)",
      (naive_branches[0][1], naive_branches[0][2], sum(c for c, _, _ in naive_branches)), (28, 28, 672))
check("reduced module output channels (128 + 192 + 96 + 64)", reduced.out_channels, 480)

# %% [markdown]
# The naive total agrees three ways: the slide's list, the slide's "854M" and `summary`.
# The reduced module does not: the slide's six rows sum to the figure printed above, and
# `summary` of the module built from the same widths gives exactly that sum, but the
# slide states 358M.
#
# **Where could 358M come from?** We try every single-factor slip in the reduced list: replace
# one of `F`, `C` in one row by another channel count that appears on the slide
# (64, 96, 128, 192, 256) and keep the variants whose sum rounds to 358M.

# %%
widths = sorted({row[3] for row in SLIDE_NAIVE + SLIDE_REDUCED} | {C_IN})
explanations = []
for i, row in enumerate(SLIDE_REDUCED):
    for position, factor in ((3, "F"), (6, "C")):
        for value in widths:
            if value == row[position]:
                continue
            changed = list(row)
            changed[position] = value
            total = reduced_list - term(row) + term(changed)
            if round(total / 1e6) == SLIDE_REDUCED_TOTAL_M:
                explanations.append((row[0], factor, row[position], value, total))
for name, factor, old, new, total in explanations:
    print(f"'{name}' with {factor} = {new} instead of {old}: total {total:,}")
check("single-factor slips that give 358M", len(explanations), 1)
slip = explanations[0]
check("the 358M slip is the 3x3 conv reading C = 128 channels", (slip[0], slip[1], slip[3]),
      ("3x3 conv, 192", "C", 128))

# %% [markdown]
# Exactly one slip of this kind reproduces the slide: the 3x3 convolution reading **128**
# input channels instead of the 64 that the 3x3-reduce layer feeds it. That is the 3x3 reduce
# width of inception **3b** in the paper's Table 1 (printed below), while every other number on
# the slide matches a 64-channel reduce. So the stated total most likely mixes two
# configurations; the module the slide actually draws costs the smaller figure above, an even
# larger saving than the slide claims. Either way the argument stands: the reduce layers cut the
# cost by the ratio printed above, because the expensive 3x3 and 5x5 filters now read 64
# channels instead of 256.

# %%
print("Table 1 widths (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj):")
for name, widths_row in INCEPTION.items():
    print(f"    inception {name}: {widths_row}")
check("3x3 reduce width of inception 3b (Table 1)", INCEPTION["3b"][1], slip[3])

# %% [markdown]
# Two more things the table shows. The naive module's pooling branch passes all 256 input
# channels through, so its output is wider than its input (672 channels), and stacking naive
# modules would make every following one more expensive. The reduced module's "pool proj"
# 1x1 conv fixes this too. And the 1x1 reduce layers add parameters only in proportion to
# `C * F`, which is why the reduced module also has fewer parameters:

# %%
check("naive module parameters", naive_summary.total_params, lambda p: p > 0)
check("reduced module parameters", reduced_summary.total_params, lambda p: p < naive_summary.total_params)

fig, ax = plt.subplots(figsize=(7, 3.5))
bars = {"naive (summary)": naive_summary.total_macs, "reduced (summary)": reduced_summary.total_macs,
        "slide: naive": SLIDE_NAIVE_TOTAL_M * 1e6, "slide: reduced": SLIDE_REDUCED_TOTAL_M * 1e6}
ax.barh(list(bars), [v / 1e6 for v in bars.values()], color=["C0", "C0", "C1", "C1"])
for y, v in enumerate(bars.values()):
    ax.text(v / 1e6, y, f" {v / 1e6:.0f}M", va="center")
ax.set(xlabel="multiply-accumulates (millions)", title="inception module on 28x28x256")
ax.invert_yaxis()
show(fig, "07_inception_cost")

# %% [markdown]
# ## 2. The whole network
#
# `models.create("googlenet")` follows the paper's Table 1 (nine inception modules, two
# auxiliary classifiers). Its summary at 224x224 gives the network's parameters and MACs;
# with `aux_logits=False` the model is the network used at test time.

# %%
googlenet = models.create("googlenet")
inference_only = models.create("googlenet", aux_logits=False)
full_summary = summary(inference_only, (3, 224, 224))
print(f"GoogLeNet at 224x224 (no auxiliary heads): {full_summary.total_params:,} parameters, "
      f"{full_summary.total_macs / 1e9:.2f} G MACs")
total_params = sum(p.numel() for p in googlenet.parameters())
aux_params = {name: sum(p.numel() for p in getattr(googlenet, name).parameters()) for name in ("aux1", "aux2")}
check("parameters of the inference network", full_summary.total_params, 6_998_552)
check("parameters with both auxiliary heads", total_params, full_summary.total_params + sum(aux_params.values()))
for name, count in aux_params.items():
    print(f"{name}: {count:,} parameters ({count / total_params:.0%} of the training network)")
check("share of the training network's parameters in the two auxiliary heads",
      sum(aux_params.values()) / total_params, lambda share: 0.4 < share < 0.5)

# %% [markdown]
# **How many parameters has GoogLeNet?** The course's slides give three figures: "5M", "4M" and
# "7M", and say GoogLeNet has "12x fewer" parameters than AlexNet and "27x fewer" than VGG-16.
# The network at test time, counted above, has 7.0M, so "7M" is the network as built. We look
# for the other two among ways of counting part of it (all from the same summary): without the
# 1000-way classifier, the inception modules alone, the weights without biases. Then the two
# ratios, from the zoo's AlexNet (two-GPU grouping, the paper's 60M) and VGG-16, built without
# drawing their weights (`nn.utils.skip_init`), against our count and against the slide's 5M.

# %%
#: The slides' figures for GoogLeNet's parameters, in millions.
SLIDE_GOOGLENET_MPARAMS = (5, 4, 7)
#: A slide's figure "is" one of our counts if it is within 10% of it (the figures have one digit).
PARAMS_TOLERANCE = 0.10
named = dict(inference_only.named_parameters())
counts = {
    "the inference network": full_summary.total_params,
    "without the 1000-way classifier": full_summary.total_params - sum(
        p.numel() for p in inference_only.classifier.parameters()),
    "the nine inception modules": sum(p.numel() for name, p in named.items() if "inception" in name),
    "weights only (no biases)": sum(p.numel() for name, p in named.items() if not name.endswith("bias")),
}
for what, value in counts.items():
    print(f"    {what:<34} {value:>10,}")
matches = {}
for quoted in SLIDE_GOOGLENET_MPARAMS:
    matches[quoted] = [what for what, value in counts.items() if abs(value / 1e6 / quoted - 1) < PARAMS_TOLERANCE]
    print(f"slide's {quoted}M: within {PARAMS_TOLERANCE:.0%} of: {', '.join(matches[quoted]) or 'none of our counts'}")
check("the slide's 7M is the inference network", matches[7], lambda m: "the inference network" in m)
check("the slide's 5M and 4M match none of our counts", matches[5] + matches[4], [])

alexnet_params = sum(p.numel() for p in nn.utils.skip_init(models.create, "alexnet", two_gpu_groups=True).parameters())
vgg16_params = sum(p.numel() for p in nn.utils.skip_init(models.create, "vgg16").parameters())
print(f"AlexNet (two GPUs) {alexnet_params:,}, VGG-16 {vgg16_params:,} parameters")
check("AlexNet / the slide's 5M (the slide's '12x fewer')", alexnet_params / 5e6, lambda r: round(r) == 12)
check("VGG-16 / the slide's 5M (the slide's '27x fewer')", vgg16_params / 5e6, lambda r: int(r) == 27)
check("AlexNet / our 7.0M", alexnet_params / full_summary.total_params, lambda r: 8 < r < 9)
check("VGG-16 / our 7.0M", vgg16_params / full_summary.total_params, lambda r: 19 < r < 20.5)

# %% [markdown]
# "7M" is the network as built. "5M" and "4M" are none of the sub-counts above (the closest,
# the network without its classifier, has about 6M). "5M" is how the later papers describe
# GoogLeNet (the Inception-v3 paper writes that it "employed only 5 million parameters"), a
# rounded-down figure rather than a count of this layer list; where "4M" comes from we could not
# reproduce by any way of counting the network of Table 1. The ratios follow the figure they
# divide by: "12x" and "27x" are 60M / 5M and 138M / 5M; with the 7.0M the network has, GoogLeNet
# has about 9x fewer parameters than AlexNet and 20x fewer than VGG-16 (printed above). The
# argument survives, with smaller factors.

# %% [markdown]
# ## 3. Auxiliary classifiers
#
# Two small classifiers read the outputs of inception 4a and 4d. In training mode the model
# returns three sets of logits, and the loss is `main + 0.3 * (aux1 + aux2)` (the weight the
# paper uses, `fit`'s default `aux_weight`); in eval mode it returns only the main logits and
# never runs the auxiliary heads, whose parameters (counted above: a large share of the
# training network) are thrown away after training.

# %%
batch = 1 if QUICK else 2
x = mt.tensor(np.random.default_rng(0).standard_normal((batch, 3, 224, 224)).astype(np.float32))
googlenet.train()
with mt.no_grad():
    outputs = googlenet(x)
print("training mode:", [tuple(o.shape) for o in outputs])
check("training mode returns main, aux1, aux2", len(outputs), 3)
googlenet.eval()
with mt.no_grad():
    main_only = googlenet(x)
check("eval mode returns one Tensor of shape", tuple(main_only.shape), (batch, 1000))

# %% [markdown]
# Why they were added: the paper's argument is that they inject gradient into the middle of a
# 22-layer network (before batch norm existed) and act as a regulariser. We can measure the
# first part: the gradient reaching inception 4a's weights from the main loss alone, and with
# the auxiliary losses added, at initialisation. A smaller copy (`width_mult`) keeps this quick.

# %%
small = models.create("googlenet", num_classes=10, width_mult=0.25 if QUICK else 1.0)
small.train()
size = 96 if QUICK else 224
images = mt.tensor(np.random.default_rng(1).standard_normal((4, 3, size, size)).astype(np.float32))
labels = mt.tensor(np.arange(4) % 10)
main_logits, aux1_logits, aux2_logits = small(images)
losses = {"main": F.cross_entropy(main_logits, labels),
          "aux": 0.3 * (F.cross_entropy(aux1_logits, labels) + F.cross_entropy(aux2_logits, labels))}
probe = small.features.inception4a.branch1[0].weight
norms = {}
for name, loss in losses.items():
    small.zero_grad()
    loss.backward(retain_graph=True)  # both losses run back through the same trunk, as in PyTorch
    norms[name] = float(np.linalg.norm(np.asarray(probe.grad)))
print(f"gradient norm at inception 4a's 1x1 conv: from the main loss {norms['main']:.3g}, "
      f"from the weighted auxiliary losses {norms['aux']:.3g}")
check("the auxiliary losses send gradient into inception 4a", norms["aux"], lambda g: g > 0)

# %% [markdown]
# ## 4. Global average pooling instead of fully connected layers
#
# GoogLeNet ends with a 7x7x1024 map. A VGG-style head would flatten it into a fully
# connected layer; GoogLeNet averages each of the 1024 maps over the 7x7 positions (no
# parameters) and feeds the 1024 averages to the classifier. We build both heads, up to the
# same 1024-dimensional feature vector, and count their parameters with `summary`.

# %%
fc_head = nn.Sequential(nn.Flatten(), nn.Linear(7 * 7 * 1024, 1024))
gap_head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
fc_summary = summary(fc_head, (1024, 7, 7))
gap_summary = summary(gap_head, (1024, 7, 7))
check("FC 7x7x1024 -> 1024: parameters", fc_summary.total_params, 7 * 7 * 1024 * 1024 + 1024)
check("global average pooling 7x7x1024 -> 1024: parameters", gap_summary.total_params, 0)
check("the FC head alone / the whole inference GoogLeNet", fc_summary.total_params / full_summary.total_params,
      lambda r: r > 7)
check("GoogLeNet's own classifier (1024 -> 1000) parameters",
      sum(p.numel() for p in inference_only.classifier.parameters()), 1024 * 1000 + 1000)

# %% [markdown]
# One fully connected layer on the flattened map would have several times more parameters than
# the whole of GoogLeNet (ratio printed above). Global average pooling has none, makes the
# network accept any input size, and, as the paper reports, did not cost accuracy.
