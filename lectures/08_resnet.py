# %%
# Quick mode (the small settings the tests run, about a minute): uncomment the next line and run
# from the top; a script takes --quick. MINITORCH_CNN_QUICK=1 in the environment selects it too.
# # %env MINITORCH_CNN_QUICK=1

# %% [markdown]
# # Lecture 8: ResNet and the degradation problem
#
# He, Zhang, Ren & Sun 2015, "Deep Residual Learning for Image Recognition". The observation
# that started it: stacking more layers onto a plain convolutional network (with batch norm,
# so gradients do not simply vanish) made it *worse*, and worse on the **training** set, so it
# is not overfitting. A deeper network could copy the shallower one and set the extra layers to
# the identity, so the deeper network is not worse in principle; the optimiser just fails to
# find such a solution. A residual block makes the identity the easy default:
# `y = relu(F(x) + x)`.
#
# This lecture reproduces the experiment of the paper's Fig. 1 and Fig. 6 with the CIFAR-style
# networks (He et al. section 4.2) on the scikit-learn digits, then looks at the bottleneck
# block that makes ResNet-50 and deeper affordable.
#
# **Time.** In full mode the degradation experiment (section 3) trains four networks, 20 and 56
# layers deep, for 12 epochs each: from several minutes to half an hour on a 2-core machine,
# depending on what else runs on it. It prints its expected time, measured on this machine,
# before it starts, a progress bar for every epoch and, after each network, the time left.
# Quick mode (first cell) runs the whole lecture in under a minute.

# %%
import math
import time

import numpy as np
from matplotlib.ticker import MaxNLocator

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import data, models, nn, optim
from minitorch_cnn.models.resnet import BasicBlock, Bottleneck
from minitorch_cnn.summary import summary
from minitorch_cnn.training import fit
from _common import QUICK, check, plt, show

# %% [markdown]
# ## 1. The networks
#
# `plain20`, `resnet20`, `plain56` and `resnet56` are the paper's CIFAR networks: a 3x3 conv,
# three stages of `n` basic blocks at 16, 32 and 64 channels (`depth = 6n + 2`), global
# average pooling, a linear layer. The residual ones use the paper's option A shortcuts
# (subsample and pad with zero channels), which have no parameters, so each residual network
# has *exactly* the parameters of its plain twin: any difference in training comes from the
# shortcuts alone.
#
# Quick mode (`--quick`, for the tests) cannot afford 56 layers: it runs the same experiment one
# step down, 8 layers (`n = 1`) against 20 (`n = 3`), at half the width, on part of the data.

# %%
SETTINGS = {
    # depth = 6n + 2: the registry's CIFAR constructors take ``layers=(n, n, n)`` and ``width``.
    "full": {"depths": (20, 56), "width": 16, "train_images": None, "epochs": 12},
    "quick": {"depths": (8, 20), "width": 8, "train_images": 400, "epochs": 3},
}
settings = SETTINGS["quick" if QUICK else "full"]
#: The paper's CIFAR optimiser: SGD, momentum 0.9, weight decay 1e-4, learning rate 0.1 at batch
#: 128, scaled linearly to our batch of 32 (Goyal et al. 2017): 0.025.
LR, MOMENTUM, WEIGHT_DECAY, BATCH = 0.1 * 32 / 128, 0.9, 1e-4, 32
#: The digits at their native 8x8 resolution: the three stages see 8x8, 4x4 and 2x2 maps.
IMAGE_SIZE = 8
SEED = 0
print(settings)

train_set = data.digits("train", size=IMAGE_SIZE)
test_set = data.digits("test", size=IMAGE_SIZE)
if settings["train_images"] is not None:
    keep = np.random.default_rng(SEED).permutation(len(train_set))[: settings["train_images"]]
    train_set = data.TensorDataset(train_set.images[keep], train_set.labels[keep], classes=train_set.classes)
print(f"{len(train_set)} training and {len(test_set)} test images of {IMAGE_SIZE}x{IMAGE_SIZE} pixels")


def build(kind, depth):
    """``kind`` is ``"plain"`` or ``"resnet"``; registered as plain20/resnet20 with ``n = (depth - 2) / 6``."""
    n = (depth - 2) // 6
    return models.create(f"{kind}20", num_classes=10, in_channels=1, width=settings["width"], layers=(n, n, n))


shallow, deep = settings["depths"]
for depth in (shallow, deep):
    plain_count = sum(p.numel() for p in build("plain", depth).parameters())
    residual_count = sum(p.numel() for p in build("resnet", depth).parameters())
    check(f"{depth} layers: plain and residual parameter counts are equal ({plain_count:,})",
          plain_count, residual_count)

# %% [markdown]
# ## 2. Is it vanishing gradients?
#
# The first guess is that the gradient dies on its way down the deep plain network. The paper
# argues against it: with batch norm after every convolution, the signals keep a healthy
# variance, so the plain network's trouble lies in how hard its loss is to optimise, not in a
# dead gradient. One backward pass at initialisation measures the gradient that reaches the
# first convolution of both deep networks.

# %%
batch_images = mt.tensor(train_set.images[:BATCH])
batch_labels = mt.tensor(train_set.labels[:BATCH])
first_conv_grad = {}
for kind in ("plain", "resnet"):
    mt.manual_seed(SEED)
    model = build(kind, deep)
    F.cross_entropy(model(batch_images), batch_labels).backward()
    first_conv_grad[kind] = float(np.linalg.norm(np.asarray(model.features[0].weight.grad)))
    print(f"{kind}{deep}: gradient norm at the first conv at initialisation: {first_conv_grad[kind]:.3g}")
check(f"first-conv gradient norm, plain{deep} / resnet{deep} (not vanishing: above 1)",
      first_conv_grad["plain"] / first_conv_grad["resnet"], lambda r: r > 1)

# %% [markdown]
# The plain network's gradient does not vanish: it is *larger* than the residual network's
# (ratio printed above), and the gap grows with depth (at 56 layers, in full mode, by orders
# of magnitude). Batch norm in a deep plain ReLU network makes gradients *explode* at
# initialisation (Yang et al. 2019, "A Mean Field Theory of Batch Normalization"): the early
# layers get huge, erratic updates, one concrete reason such a network is hard to optimise. In
# the residual network every block adds to an identity path, and the gradient stays moderate.
# The training curves below show what this does to training.

# %% [markdown]
# ## 3. The degradation experiment
#
# Four networks, the same data, the same seed, the same optimiser and the same number of
# epochs. `fit` records the training error (on the mini-batches, while training, as in the
# paper's thin curves) and the test error after every epoch. Before it starts, one timed
# training step of each network gives the expected time on this machine; in full mode every
# epoch shows a progress bar, and every finished network updates the estimate of the time left.

# %%
def seconds_per_step(kind, depth, timed=3):
    """Mean time of an SGD step of a throwaway ``kind``-``depth`` network on one batch, over
    ``timed`` steps after a first one that pays the one-time costs (compiling kernels, allocating
    buffers)."""
    model = build(kind, depth)
    optimizer = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    for step in range(1 + timed):
        if step == 1:
            start = time.perf_counter()
        optimizer.zero_grad()
        F.cross_entropy(model(batch_images), batch_labels).backward()
        optimizer.step()
    return (time.perf_counter() - start) / timed


runs = [(kind, depth) for kind in ("plain", "resnet") for depth in (shallow, deep)]
steps = settings["epochs"] * math.ceil(len(train_set) / BATCH)
expected = steps * sum(seconds_per_step(kind, depth) for kind, depth in runs)
print(f"{len(runs)} networks x {steps} training steps ({settings['epochs']} epochs): expected about "
      f"{expected / 60:.1f} min on this machine, plus the test-set passes")
histories, seconds = {}, {}
for i, (kind, depth) in enumerate(runs, start=1):
    mt.manual_seed(SEED)
    model = build(kind, depth)
    optimizer = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    train_loader = data.DataLoader(train_set, batch_size=BATCH, shuffle=True, seed=SEED)
    test_loader = data.DataLoader(test_set, batch_size=256)
    start = time.perf_counter()
    histories[kind, depth] = fit(model, train_loader, optimizer, settings["epochs"], test_loader=test_loader,
                                 progress=not QUICK)
    seconds[kind, depth] = time.perf_counter() - start
    last = histories[kind, depth][-1]
    # Every block costs about the same, so training time grows with depth: the seconds per layer
    # of the networks done so far predict the rest.
    layers_done = sum(d for _, d in runs[:i])
    left = sum(seconds.values()) / layers_done * sum(d for _, d in runs[i:])
    print(f"[{i}/{len(runs)}] {kind}-{depth}: final train error {1 - last['train_accuracy']:.3f}, "
          f"test error {last['test_top1_error']:.3f} ({seconds[kind, depth]:.0f} s)"
          + (f"; about {left / 60:.1f} min left" if left else ""))

for key, history in histories.items():
    check(f"{key[0]}-{key[1]} ran all its epochs", len(history), settings["epochs"])
    errors = [1 - h["train_accuracy"] for h in history] + [h["test_top1_error"] for h in history]
    check(f"{key[0]}-{key[1]}: every error is a number in [0, 1]", all(0 <= e <= 1 for e in errors), True)

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for ax, kind, title in zip(axes, ("plain", "resnet"), ("plain networks", "residual networks")):
    for depth, color in ((shallow, "C0"), (deep, "C3")):
        history = histories[kind, depth]
        epochs = [h["epoch"] for h in history]
        ax.plot(epochs, [100 * (1 - h["train_accuracy"]) for h in history], "--", color=color, marker="o",
                label=f"{kind}-{depth} train")
        ax.plot(epochs, [100 * h["test_top1_error"] for h in history], "-", color=color, marker="s",
                label=f"{kind}-{depth} test")
    ax.set(title=title, xlabel="epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend()
axes[0].set_ylabel("error (%)")
fig.suptitle(f"digits {IMAGE_SIZE}x{IMAGE_SIZE}: dashed = training error, solid = test error")
fig.tight_layout()
show(fig, "08_degradation")

# %% [markdown]
# What was observed in this run: the lines below compare the final training errors (the
# quantity the degradation problem is about) and say which ordering came out. With a budget
# this small the numbers change with the seed and the number of epochs; the paper's effect is that the deep plain
# network stays above the shallow one for the whole of training while the deep residual
# network ends at or below the shallow one.

# %%
final = {key: 1 - history[-1]["train_accuracy"] for key, history in histories.items()}
final_test = {key: history[-1]["test_top1_error"] for key, history in histories.items()}
print(f"{'network':<12} {'train error':>12} {'test error':>11}")
for key in histories:
    print(f"{key[0]}-{key[1]:<6} {final[key]:>12.3f} {final_test[key]:>11.3f}")
plain_degrades = final["plain", deep] > final["plain", shallow]
residual_keeps = final["resnet", deep] <= final["plain", deep]
print(f"observed: plain-{deep} trained {'worse' if plain_degrades else 'no worse'} than plain-{shallow} "
      f"(train error {final['plain', deep]:.3f} vs {final['plain', shallow]:.3f})")
residual_improves = final["resnet", deep] < final["resnet", shallow]
print(f"observed: resnet-{deep} trained {'better' if residual_improves else 'no better'} "
      f"than resnet-{shallow} (train error {final['resnet', deep]:.3f} vs {final['resnet', shallow]:.3f})")
print(f"observed: at {deep} layers the residual network's training error is "
      f"{'at or below' if residual_keeps else 'above'} the plain one's "
      f"({final['resnet', deep]:.3f} vs {final['plain', deep]:.3f})")
matches = plain_degrades and residual_keeps
print(f"observed ordering {'matches' if matches else 'does not match'} the paper's "
      f"(deep plain worse than shallow plain; deep residual not worse than deep plain)")

# %% [markdown]
# ## 4. The bottleneck block
#
# ResNet-50 and deeper replace the two 3x3 convs of a basic block by a 1x1 conv that reduces
# the channels 4x, a 3x3 conv on the reduced width, and a 1x1 conv back up. At 256 channels on
# a 56x56 map (ResNet-50's first stage) we compare it with a basic block that keeps 256
# channels in both 3x3 convs, and with the comparison the paper makes (its Fig. 5): a basic
# block at 64 channels, which has about the same cost as the bottleneck at 256.

# %%
blocks = {
    "bottleneck 256 -> 64 -> 64 -> 256": Bottleneck(256, 64),
    "two 3x3 convs at 256 channels": BasicBlock(256, 256),
    "two 3x3 convs at 64 channels (Fig. 5 left)": BasicBlock(64, 64),
}
block_summary = {}
for name, block in blocks.items():
    channels = 64 if "at 64" in name else 256
    s = summary(block, (channels, 56, 56))
    conv_params = sum(r["params"] for r in s.rows if r["type"] == "Conv2d")
    block_summary[name] = (s.total_params, conv_params, s.total_macs)
    print(f"{name:<44} {s.total_params:>10,} parameters ({conv_params:,} in convs) {s.total_macs / 1e6:>8.1f}M MACs")

bottleneck_params, bottleneck_conv, bottleneck_macs = block_summary["bottleneck 256 -> 64 -> 64 -> 256"]
wide_params, wide_conv, wide_macs = block_summary["two 3x3 convs at 256 channels"]
check("bottleneck conv weights: 256*64 + 3*3*64*64 + 64*256", bottleneck_conv, 256 * 64 + 3 * 3 * 64 * 64 + 64 * 256)
check("two 3x3 convs at 256 channels: 2 * 3*3*256*256", wide_conv, 2 * 3 * 3 * 256 * 256)
check("MACs: two 3x3 at 256 / bottleneck", wide_macs / bottleneck_macs, lambda r: r > 10)
check("MACs: basic block at 64 / bottleneck at 256 (the paper's 'similar time complexity')",
      block_summary["two 3x3 convs at 64 channels (Fig. 5 left)"][2] / bottleneck_macs, lambda r: 0.9 < r < 1.2)

# %% [markdown]
# The bottleneck does the work of a 256-channel block for the cost of a 64-channel one (ratios
# printed above): that is what lets ResNet-50/101/152 be deeper than ResNet-34 at a similar
# cost per layer.

# %% [markdown]
# ## 5. The FLOPs row of the ResNet table
#
# The paper's Table 1 ends with a row "FLOPs": 1.8, 3.6, 3.8, 7.6 and 11.3 x 10^9 for ResNet-18,
# 34, 50, 101 and 152 at 224x224. Those "FLOPs" are **multiply-adds**, the quantity `summary`
# counts as MACs (one multiply-add is two floating-point operations, so the same networks do
# about twice as many FLOPs in the strict sense). We build each network without drawing its
# random weights (`nn.utils.skip_init`: only the structure matters for counting) and compare.
#
# One difference is known in advance: the zoo's bottleneck, like torchvision's, strides its 3x3
# conv (the "v1.5" ResNet), while the 2015 paper strides the first 1x1 conv of the first block
# of stages 2 to 4. That 1x1 conv then runs on a map a quarter the size, so the paper's network
# costs 3/4 of those three convs' MACs less. We compute that correction from the same summary.

# %%
#: He et al. 2015, Table 1, the "FLOPs" row (billions of multiply-adds at 224x224), as the slide gives it.
SLIDE_GFLOPS = {"resnet18": 1.8, "resnet34": 3.6, "resnet50": 3.8, "resnet101": 7.6, "resnet152": 11.3}
#: Our MACs against the slide's rounded figures: within 3%.
GFLOPS_TOLERANCE = 0.03
print(f"{'model':<10} {'slide (G)':>9} {'ours, v1.5 (G)':>15} {'ours, strided 1x1 (G)':>22} {'ratio':>6} "
      f"{'FLOPs = 2 x MACs (G)':>21}")
v15 = {}
for name, quoted in SLIDE_GFLOPS.items():
    rows = summary(nn.utils.skip_init(models.create, name), (3, 224, 224)).rows
    macs = sum(r["macs"] for r in rows)
    # The first block of stages 2-4 (layer2.0, layer3.0, layer4.0): its conv1 runs at stride 2 in the paper.
    strided_1x1 = sum(r["macs"] for r in rows if r["name"] in ("layer2.0.conv1", "layer3.0.conv1", "layer4.0.conv1"))
    bottleneck = any(r["name"] == "layer2.0.conv3" for r in rows)
    paper_macs = macs - 3 * strided_1x1 // 4 if bottleneck else macs
    v15[name] = macs
    print(f"{name:<10} {quoted:>9} {macs / 1e9:>15.3f} {paper_macs / 1e9:>22.3f} {paper_macs / 1e9 / quoted:>6.3f} "
          f"{2 * paper_macs / 1e9:>21.2f}")
    check(f"{name}: our MACs (paper's strides) / the slide's FLOPs, within {GFLOPS_TOLERANCE:.0%}",
          paper_macs / 1e9 / quoted, lambda q: abs(q - 1) < GFLOPS_TOLERANCE)

# %% [markdown]
# With the paper's strides every entry of the row agrees within the stated tolerance (ratios
# printed above). The zoo's own v1.5 networks cost more: ResNet-50 comes out at about 4.1 G,
# which is the figure the ResNeXt paper (lecture 9) quotes for the same network, because its
# code also strides the 3x3 conv. Both slides are right, about two variants of ResNet-50. For
# ResNet-18 and 34 (basic blocks, no 1x1 conv) there is nothing to move and the numbers agree
# directly. A last convention: some later papers and tools report 2 x MACs as "FLOPs" (last
# column); the slide's row counts each multiply-add once.

# %%
check("ResNet-50 v1.5 (the zoo's), in G MACs: the ResNeXt paper's 4.1", round(v15["resnet50"] / 1e9, 1), 4.1)
check("the v1.5 stride costs ResNet-50 this share more than the paper's", v15["resnet50"] / 1e9 / 3.8 - 1,
      lambda share: 0.05 < share < 0.1)
