# %%
# Quick mode (the small settings the tests run, about a minute): uncomment the next line and run
# from the top; a script takes --quick. MINITORCH_CNN_QUICK=1 in the environment selects it too.
# # %env MINITORCH_CNN_QUICK=1

# %% [markdown]
# # Lecture 9: beyond ResNet
#
# After ResNet, architectures varied one design choice at a time. Each section builds the
# idea from the framework's layers and measures its parameters and multiply-accumulates
# (MACs) with `summary`:
#
# * **Wide ResNet**: fewer, wider layers;
# * **ResNeXt**: many thin paths in parallel (cardinality), a grouped convolution;
# * **DenseNet**: every layer sees every earlier layer's maps (concatenation, growth rate);
# * **SqueezeNet**: fire modules, AlexNet's accuracy with a fraction of its parameters;
# * **SENet**: channel recalibration by a gate computed from the whole image;
# * **MobileNet**: depthwise-separable convolutions, about `1/N + 1/k^2` of the cost.
#
# The lecture ends with a table and a scatter plot of the whole model zoo.

# %%
import time

import numpy as np

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import models, nn
from minitorch_cnn.models.densenet import DenseBlock
from minitorch_cnn.models.mobilenet import DepthwiseSeparable
from minitorch_cnn.models.resnet import Bottleneck
from minitorch_cnn.models.senet import SEBlock
from minitorch_cnn.models.squeezenet import Fire
from minitorch_cnn.summary import summary
from _common import QUICK, check, plt, show

mt.manual_seed(0)
rng = np.random.default_rng(0)


def count(module):
    return sum(p.numel() for p in module.parameters())


def conv_params(s):
    """Weights and biases of the convolutions in a summary (batch-norm scales left out)."""
    return sum(r["params"] for r in s.rows if r["type"] == "Conv2d")


# %% [markdown]
# ## 1. Wide ResNet
#
# Zagoruyko & Komodakis 2016 argue that the residual connection, not extreme depth, is what
# matters: on CIFAR their 16- and 28-layer networks with blocks `k` times wider than a CIFAR
# ResNet's beat far deeper thin ResNets, and run much faster on a GPU, because a wide layer is
# one large parallel product while depth is sequential. WRN-`d`-`k` has `(d - 4) / 6` blocks
# per stage at widths `16k, 32k, 64k`. Below, the thin ResNet-110 against WRN-16-4 (and, in full
# mode, WRN-28-10): conv layers, parameters and MACs at 32x32.

# %%
wide = [("resnet110", {}), ("wrn", {"depth": 16, "k": 4})] + ([] if QUICK else [("wrn", {"depth": 28, "k": 10})])
wide_rows = {}
for name, options in wide:
    model = models.create(name, **options)
    s = summary(model, (3, 32, 32))
    convs = sum(1 for r in s.rows if r["type"] == "Conv2d")
    label = name if not options else f"WRN-{options['depth']}-{options['k']}"
    wide_rows[label] = (convs, s.total_params, s.total_macs)
    print(f"{label:<10} {convs:>4} conv layers {s.total_params:>12,} parameters {s.total_macs / 1e6:>9.1f}M MACs "
          f"at 32x32")
check("WRN-16-4 has fewer conv layers than ResNet-110", wide_rows["WRN-16-4"][0] < wide_rows["resnet110"][0], True)
check("WRN-16-4 parameters", wide_rows["WRN-16-4"][1], 2_748_890)

# %% [markdown]
# ## 2. ResNeXt: cardinality
#
# Xie et al. 2017 split a bottleneck's 3x3 convolution into `C = 32` parallel paths of width
# `d = 4` ("32x4d"): each path reduces 256 channels to 4, convolves 4 to 4 with a 3x3 kernel
# and expands back to 256, and the paths are summed. Per block at 256 channels:
#
# $$256 \cdot 4 \cdot 32 + 3 \cdot 3 \cdot 4 \cdot 4 \cdot 32 + 4 \cdot 32 \cdot 256$$
#
# (the course's "about 70k", the same as a ResNet bottleneck with 64 channels inside). The 32
# reductions together are one 1x1 conv to 128 channels, and the 32 small 3x3 convs are one
# *grouped* convolution with `groups=32`: that is how `Bottleneck(256, 64, groups=32,
# width_per_group=4)` builds it.

# %%
resnext_block = Bottleneck(256, 64, groups=32, width_per_group=4)
resnet_block = Bottleneck(256, 64)
resnext_summary = summary(resnext_block, (256, 56, 56))
resnet_summary = summary(resnet_block, (256, 56, 56))
formula = 256 * 4 * 32 + 3 * 3 * 4 * 4 * 32 + 4 * 32 * 256
check("ResNeXt 32x4d block at 256 channels: conv parameters from our module", conv_params(resnext_summary), formula)
check("ResNet bottleneck 256 -> 64 -> 256: conv parameters", conv_params(resnet_summary),
      256 * 64 + 3 * 3 * 64 * 64 + 64 * 256)
check("ResNeXt / ResNet bottleneck MACs at 56x56", resnext_summary.total_macs / resnet_summary.total_macs,
      lambda r: 0.9 < r < 1.1)

# %% [markdown]
# The grouped convolution *is* 32 separate convolutions: split the input channels into 32
# groups of 4, convolve each with its own 4 filters, concatenate. We check it numerically.

# %%
groups, width = 32, 4
grouped = nn.Conv2d(groups * width, groups * width, 3, padding=1, groups=groups, bias=False)
x = mt.tensor(rng.standard_normal((2, groups * width, 8, 8)).astype(np.float32))
with mt.no_grad():
    together = grouped(x).detach().numpy()
    paths = [F.conv2d(x[:, g * width:(g + 1) * width], grouped.weight[g * width:(g + 1) * width], padding=1).detach().numpy()
             for g in range(groups)]
difference = float(np.max(np.abs(together - np.concatenate(paths, axis=1))))
check("grouped conv vs 32 separate convs, max difference", difference, lambda d: d < 1e-4)

# %% [markdown]
# The whole networks, as the ResNeXt paper's Table 1 compares them: ResNet-50 and ResNeXt-50
# (32x4d) at 224x224, "4.1" and "4.2 x 10^9 FLOPs", 25.5 and 25.0 million parameters. As in
# the ResNet table (lecture 8), those "FLOPs" are multiply-adds, our MACs. We build both without
# drawing their weights (`nn.utils.skip_init`) and compare within 2%.

# %%
#: Xie et al. 2017, Table 1 (224x224): multiply-adds in G and parameters in millions, as the slide gives them.
SLIDE_RESNEXT = {"resnet50": (4.1, 25.5), "resnext50_32x4d": (4.2, 25.0)}
TABLE_TOLERANCE = 0.02
for name, (quoted_gmacs, quoted_mparams) in SLIDE_RESNEXT.items():
    s = summary(nn.utils.skip_init(models.create, name), (3, 224, 224))
    print(f"{name:<16} {s.total_macs / 1e9:.3f} G MACs (slide: {quoted_gmacs}), "
          f"{s.total_params / 1e6:.2f} M parameters (slide: {quoted_mparams})")
    check(f"{name}: our MACs / the slide's {quoted_gmacs} G, within {TABLE_TOLERANCE:.0%}",
          s.total_macs / 1e9 / quoted_gmacs, lambda q: abs(q - 1) < TABLE_TOLERANCE)
    check(f"{name}: our parameters / the slide's {quoted_mparams} M, within {TABLE_TOLERANCE:.0%}",
          s.total_params / 1e6 / quoted_mparams, lambda q: abs(q - 1) < TABLE_TOLERANCE)

# %% [markdown]
# Both agree: at the same cost (4.1 against 4.2 G), ResNeXt buys its accuracy from cardinality,
# not from more computation. (ResNet-50 is 4.1 G here and 3.8 G in the ResNet paper's own table:
# lecture 8, section 5, shows that the difference is where the first block of a stage strides.)

# %% [markdown]
# ## 3. DenseNet: concatenation and growth rate
#
# Huang et al. 2017: inside a dense block, layer `l` receives the concatenation of the block
# input and *all* earlier layers' outputs and adds `k` new maps (the growth rate), so a block of
# `L` layers turns `C` channels into `C + L k`. Each layer is BN-ReLU-1x1 conv (to `4k`
# maps)-BN-ReLU-3x3 conv (to `k` maps), so its cost grows only with the input it reads.

# %%
C0, L, k = 64, 6, 32
block = DenseBlock(C0, L, k)
x = mt.tensor(rng.standard_normal((1, C0, 56, 56)).astype(np.float32))
channels = [C0]
with mt.no_grad():
    for layer in block.children():  # denselayer1, denselayer2, ... (torchvision's names)
        new = layer(x)
        x = F.concat([x, new], axis=1)
        channels.append(x.shape[1])
print("channels after each dense layer:", channels)
check("the first dense block of DenseNet-121 ends with C0 + L k channels", channels[-1], C0 + L * k)
check("every layer adds k maps", set(np.diff(channels).tolist()), {k})
block_summary = summary(block, (C0, 56, 56))
print(f"dense block (64 + 6 x 32): {block_summary.total_params:,} parameters, "
      f"{block_summary.total_macs / 1e6:.1f}M MACs")

# %% [markdown]
# Because every layer reuses all earlier maps, a DenseNet needs few new maps per layer:
# DenseNet-121 has far fewer parameters than ResNet-50 (both in the zoo table below).
#
# ## 4. SqueezeNet: fire modules
#
# Iandola et al. 2016: a fire module *squeezes* to `s` channels with 1x1 convs, then
# *expands* with `e1` 1x1 and `e3` 3x3 convs side by side. Only the `s` squeezed channels
# reach the expensive 3x3 filters, and half the expand filters are 1x1. We compare fire2
# (`s, e1, e3 = 16, 64, 64` on 96 channels) with a plain 3x3 conv with the same 96 inputs and
# 128 outputs.

# %%
fire = Fire(96, 16, 64, 64)
plain = nn.Conv2d(96, 128, 3, padding=1)
fire_summary = summary(fire, (96, 55, 55))
plain_summary = summary(plain, (96, 55, 55))
check("fire2 parameters: 96*16+16 + 16*64+64 + 3*3*16*64+64", fire_summary.total_params,
      96 * 16 + 16 + 16 * 64 + 64 + 3 * 3 * 16 * 64 + 64)
check("3x3 conv 96 -> 128 parameters / fire2 parameters", plain_summary.total_params / fire_summary.total_params,
      lambda r: r > 5)

# %% [markdown]
# ## 5. SENet: squeeze and excitation
#
# Hu et al. 2018: average each channel over the image (squeeze), pass the `C` averages through
# two small fully connected layers (`C -> C/16 -> C`) and a sigmoid (excite), and multiply each
# channel by its gate in `(0, 1)`. The block recalibrates channels using information from the
# whole image, for very few parameters.

# %%
C = 256
se = SEBlock(C)
feature_map = mt.tensor(np.abs(rng.standard_normal((1, C, 14, 14))).astype(np.float32))
with mt.no_grad():
    recalibrated = se(feature_map).detach().numpy()
    pooled = F.flatten(se.pool(feature_map), 1)
    gates = F.sigmoid(se.fc2(F.relu(se.fc1(pooled)))).detach().numpy()[0]
per_channel_scale = recalibrated[0].reshape(C, -1).sum(axis=1) / feature_map.detach().numpy()[0].reshape(C, -1).sum(axis=1)
check("SE block parameters: 2 * 256 * 16 + 16 + 256", count(se), 2 * C * (C // 16) + C // 16 + C)
check("every gate lies in (0, 1)", bool(np.all((gates > 0) & (gates < 1))), True)
check("the output is each channel times its gate (max deviation)", float(np.max(np.abs(per_channel_scale - gates))),
      lambda d: d < 1e-4)
print(f"gates of the first 8 channels at initialisation: {np.round(gates[:8], 3)}")

# %% [markdown]
# ## 6. MobileNet: depthwise-separable convolutions
#
# A standard `k x k` convolution from `C` to `N` channels on an `Ho x Wo` map costs
# `Ho Wo N C k^2` MACs. Howard et al. 2017 factor it into a depthwise `k x k` conv (one filter
# per input channel, `groups = C`: `Ho Wo C k^2`) and a pointwise 1x1 conv (`Ho Wo C N`).
# The ratio of the two costs is
#
# $$\frac{H_o W_o C k^2 + H_o W_o C N}{H_o W_o N C k^2} = \frac{1}{N} + \frac{1}{k^2}.$$
#
# We measure both with `summary` for a few layer shapes and compare with the formula.

# %%
shapes = [(32, 64, 3, 112), (256, 256, 3, 28), (512, 512, 3, 14), (1024, 1024, 3, 7), (512, 512, 5, 14)]
print(f"{'C':>5} {'N':>5} {'k':>2} {'map':>4} {'standard MACs':>15} {'separable MACs':>15} {'ratio':>8} "
      f"{'1/N + 1/k^2':>12}")
for C, N, k, size in shapes:
    standard = summary(nn.Conv2d(C, N, k, padding=k // 2, bias=False), (C, size, size)).total_macs
    separable_block = nn.Sequential(nn.Conv2d(C, C, k, padding=k // 2, groups=C, bias=False),
                                    nn.Conv2d(C, N, 1, bias=False))
    separable = summary(separable_block, (C, size, size)).total_macs
    ratio, predicted = separable / standard, 1 / N + 1 / k**2
    print(f"{C:>5} {N:>5} {k:>2} {size:>4} {standard:>15,} {separable:>15,} {ratio:>8.4f} {predicted:>12.4f}")
    check(f"C={C}, N={N}, k={k}: measured ratio equals 1/N + 1/k^2", ratio, predicted)

layer = DepthwiseSeparable(512, 512)
print(f"MobileNet's own layer (with BN and ReLU), 512 -> 512 at 14x14: "
      f"{summary(layer, (512, 14, 14)).total_macs:,} MACs")

# %% [markdown]
# With 3x3 kernels the separable version is 8 to 9 times cheaper; the `1/k^2` term dominates
# once `N` is large.
#
# The MobileNet paper's comparison with popular models (Howard et al. 2017, Table 8) puts the
# whole network beside GoogLeNet and VGG-16: 569, 1550 and 15300 million multiply-adds, 4.2, 6.8
# and 138 million parameters. We measure the three networks at 224x224, built without their random
# draws; GoogLeNet without its auxiliary heads, which do not run at test time.

# %%
#: Howard et al. 2017, Table 8: (million multiply-adds, million parameters), as the slide gives them.
SLIDE_MOBILENET_TABLE = {"mobilenet_v1": (569, 4.2), "googlenet": (1550, 6.8), "vgg16": (15300, 138)}
#: Our counts against the slide's rounded figures: within 3%.
MOBILENET_TOLERANCE = 0.03
print(f"{'model':<13} {'slide MACs (M)':>14} {'ours (M)':>9} {'ratio':>6} {'slide params (M)':>17} {'ours (M)':>9} "
      f"{'ratio':>6}")
mobilenet_table = {}
for name, (quoted_macs, quoted_params) in SLIDE_MOBILENET_TABLE.items():
    options = {"aux_logits": False} if name == "googlenet" else {}
    s = summary(nn.utils.skip_init(models.create, name, **options), (3, 224, 224))
    macs, params = s.total_macs / 1e6, s.total_params / 1e6
    mobilenet_table[name] = (macs, params)
    print(f"{name:<13} {quoted_macs:>14} {macs:>9.0f} {macs / quoted_macs:>6.3f} {quoted_params:>17} {params:>9.2f} "
          f"{params / quoted_params:>6.3f}")
    check(f"{name}: our MACs / the slide's {quoted_macs}M, within {MOBILENET_TOLERANCE:.0%}", macs / quoted_macs,
          lambda q: abs(q - 1) < MOBILENET_TOLERANCE)
    check(f"{name}: our parameters / the slide's {quoted_params}M, within {MOBILENET_TOLERANCE:.0%}",
          params / quoted_params, lambda q: abs(q - 1) < MOBILENET_TOLERANCE)
check("MobileNet's MACs: fewer than GoogLeNet's by a factor", mobilenet_table["googlenet"][0]
      / mobilenet_table["mobilenet_v1"][0], lambda r: 2.5 < r < 3)

# %% [markdown]
# Every entry agrees within the tolerance (ratios above). The largest gaps: VGG-16 comes out 1%
# above 15300M (the slide rounds to three figures), and GoogLeNet 2 to 3% above both of its
# figures, 1583M and 7.0M parameters against 1550M and 6.8M; lecture 7 counts GoogLeNet's
# parameters several ways (with and without the classifier, the inception modules alone, without
# biases) and none of them gives 6.8M. MobileNet matches to the million: 569M multiply-adds and
# 4.2M parameters.
#
# ## 7. The whole zoo
#
# Every registered model, through `summary`: the ImageNet models at 224x224x3, the CIFAR
# models (and LeNet-5) at the 32x32 they were designed for. EfficientNet B1-B7 are meant for
# larger images; lecture 10 measures them at their own resolutions. Models are counted as
# registered, so GoogLeNet includes its two auxiliary heads (lecture 07). Quick mode measures
# a subset.

# %%
QUICK_ZOO = ["lenet5", "resnet20", "densenet_bc", "squeezenet1_1", "mobilenet_v2", "efficientnet_b0", "resnet18",
             "googlenet"]
names = QUICK_ZOO if QUICK else models.list_models()


def input_shape(name, model):
    """``(C, H, W)``: the first conv's input channels, at 32x32 for CIFAR models and LeNet, else 224x224."""
    channels = next(m for m in model.modules() if isinstance(m, nn.Conv2d)).weight.shape[1]
    small = name == "lenet5" or "CIFAR" in models.model_info(name)["reference"]
    return (channels, 32, 32) if small else (channels, 224, 224)


zoo = {}
start = time.perf_counter()
for name in names:
    model = models.create(name)
    shape = input_shape(name, model)
    s = summary(model, shape)
    zoo[name] = {"input": shape, "params": s.total_params, "macs": s.total_macs,
                 "reference": models.model_info(name)["reference"]}
    del model
print(f"measured {len(zoo)} models in {time.perf_counter() - start:.0f} s\n")
print(f"{'model':<18} {'input':<14} {'parameters':>13} {'GMACs':>8}  reference")
for name, row in sorted(zoo.items(), key=lambda item: item[1]["macs"]):
    print(f"{name:<18} {'x'.join(map(str, row['input'])):<14} {row['params']:>13,} {row['macs'] / 1e9:>8.3f}  "
          f"{row['reference'][:60]}")

check("models measured", len(zoo), len(names))
if "resnet50" in zoo and "densenet121" in zoo:
    check("DenseNet-121 / ResNet-50 parameters", zoo["densenet121"]["params"] / zoo["resnet50"]["params"],
          lambda r: r < 0.5)
if "squeezenet1_0" in zoo and "alexnet" in zoo:
    check("AlexNet / SqueezeNet 1.0 parameters (the paper's '50x fewer')",
          zoo["alexnet"]["params"] / zoo["squeezenet1_0"]["params"], lambda r: r > 45)
if "se_resnet50" in zoo and "resnet50" in zoo:
    check("SE-ResNet-50 - ResNet-50 parameters (all SE blocks)",
          zoo["se_resnet50"]["params"] - zoo["resnet50"]["params"], 2_530_992)
check("MobileNet v2 parameters", zoo["mobilenet_v2"]["params"], 3_504_872)

# %%
fig, ax = plt.subplots(figsize=(11, 7))
for name, row in zoo.items():
    small = row["input"][1] == 32
    ax.scatter(row["macs"] / 1e9, row["params"] / 1e6, marker="s" if small else "o",
               color="C1" if small else "C0", alpha=0.8)
    ax.annotate(name, (row["macs"] / 1e9, row["params"] / 1e6), fontsize=7, xytext=(3, 3),
                textcoords="offset points")
ax.set(xscale="log", yscale="log", xlabel="multiply-accumulates per image (G)", ylabel="parameters (M)",
       title="the model zoo: circles at 224x224, squares at 32x32 (CIFAR models, LeNet-5)")
ax.grid(alpha=0.3, which="both")
show(fig, "09_zoo_scatter")

# %% [markdown]
# Reading the plot (full mode, where every model is on it): the VGGs sit at the top right, with
# the most parameters; AlexNet has the most parameters per MAC (its fully connected layers hold
# most of them); SqueezeNet and the MobileNets sit at the bottom left, with few of both.

# %%
imagenet = {name: row for name, row in zoo.items() if row["input"][1] == 224}
if not QUICK:
    most_params = max(imagenet, key=lambda name: imagenet[name]["params"])
    check("the ImageNet model with the most parameters", most_params, lambda name: name.startswith("vgg"))
    densest = max(imagenet, key=lambda name: imagenet[name]["params"] / imagenet[name]["macs"])
    check("the ImageNet model with the most parameters per MAC", densest, "alexnet")
fewest = min(imagenet, key=lambda name: imagenet[name]["params"])
check("the ImageNet model with the fewest parameters", fewest,
      lambda name: name.startswith(("squeezenet", "mobilenet")))

# %% [markdown]
# ## Operations are not time: the zoo on the clock (Canziani et al. 2016)
#
# Canziani, Paszke & Culurciello ("An Analysis of Deep Neural Network Models for Practical
# Applications") timed the ImageNet models on one device and found inference time close to linear
# in operations. `python -m bench --suite canziani` repeats that on our zoo (each model in its own
# process, with its peak memory measured); it takes minutes, so this section reads the run
# committed in `bench/results/` (docs/canziani.md discusses it) rather than timing anything here.

# %%
import json

from _common import FIGURES

runs = sorted((FIGURES.parent.parent / "bench" / "results").glob("canziani-*.json"))
with open(runs[-1]) as f:
    canziani = json.load(f)
batch1 = {r["case"]: r for r in canziani["rows"] if r["geometry"]["batch"] == 1}
print(f"{'model':<16} {'GMACs':>6} {'ms, batch 1':>12} {'ps per MAC':>11}")
for name, r in sorted(batch1.items(), key=lambda item: item[1]["macs"]):
    print(f"{name:<16} {r['macs'] / 1e9:>6.2f} {r['median_s'] * 1e3:>12.0f} {r['median_s'] / r['macs'] * 1e12:>11.0f}")
line = canziani["canziani"]["fit"]
print(f"least squares over {line['models']} models: {line['slope_s_per_gmac'] * 1e3:.1f} ms/GMAC, R^2 = {line['r2']:.2f}")
per_mac = {name: r["median_s"] / r["macs"] for name, r in batch1.items()}
dense = np.median([v for name, v in per_mac.items() if name not in ("mobilenet_v2", "efficientnet_b0")])
check("MobileNetV2 time per MAC / the dense networks' median (depthwise convolutions)",
      per_mac["mobilenet_v2"] / dense, lambda r: r > 5)

# %% [markdown]
# The networks built from ordinary convolutions lie near one line; the depthwise-separable ones
# (MobileNetV2, EfficientNet-B0) do the fewest operations and yet cost many times more per
# operation at batch 1, since a depthwise 3x3 has no large matrix product to run on. Counting
# MACs ranks them fastest; the clock does not.
