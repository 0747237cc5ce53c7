# %%
# Quick mode (the small settings the tests run, about a minute): uncomment the next line and run
# from the top; a script takes --quick. MINITORCH_CNN_QUICK=1 in the environment selects it too.
# # %env MINITORCH_CNN_QUICK=1

# %% [markdown]
# # Lecture 11: transfer learning
#
# A network trained on a large dataset has learned features (edges, strokes, blobs, parts)
# that are useful beyond its own classes. Transfer learning reuses them: keep the
# convolutional *base*, put a new *head* on it for the new classes, and train
#
# * only the head, with the base frozen (**feature extraction**), or
# * the head first and then some or all of the base too, at lower learning rates, earlier
#   layers lower still (**fine-tuning** with **differential learning rates**).
#
# Which to choose depends on how similar the new data is to the old and how much of it there
# is (the course's quadrant). Our stand-in for "a large pretraining set" is LeNet-5 trained on
# the digits 0-4; the new tasks are the digits 5-9 (similar data) and synthetic shapes (very
# different data), each with few or many labels. Everything uses `minitorch_cnn.transfer`; the
# pretraining recipe and the few-label learning rate are those of
# `minitorch_cnn.transfer_experiment`, the experiment behind `minitorch-cnn transfer-demo`.

# %%
import tempfile
import time
from pathlib import Path

import numpy as np

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import data, models, nn, optim, transfer, transfer_experiment
from minitorch_cnn.training import evaluate, fit
from _common import QUICK, check, plt, show

SEED = 0
mt.manual_seed(SEED)
SETTINGS = {
    # per_class: labelled images per class for "little" and "lots" of data.
    "full": {"pretrain_epochs": 15, "little": 10, "lots": 120, "epochs": {"little": 30, "lots": 12}, "repeats": 3,
             "shapes_test": 800, "probe_steps": 300},
    "quick": {"pretrain_epochs": 2, "little": 5, "lots": 30, "epochs": {"little": 8, "lots": 3}, "repeats": 1,
              "shapes_test": 200, "probe_steps": 40},
}
settings = SETTINGS["quick" if QUICK else "full"]
#: The few-label learning rate of ``minitorch-cnn transfer-demo``, the same for every method.
LR = transfer_experiment.DEMO_LR
print(settings)

# %% [markdown]
# ## 1. The pretrained network
#
# `transfer.pretrain` trains a zoo model from scratch and returns it with metadata (the
# architecture, the classes, the input normalisation); `save_pretrained`/`load_pretrained`
# write and read it as a checkpoint, and `load_pretrained(path, num_classes=...)` comes back
# with a fresh head for a new task. We pretrain with the recipe of `minitorch-cnn
# transfer-demo`: Adam with a little weight decay and random shifts of a couple of pixels.
# Without them LeNet-5's C5 units saturate into near-binary codes for the five digits, which
# carry over poorly to anything else.

# %%
train_digits, test_digits = data.digits("train"), data.digits("test")
source_train = transfer.keep_classes(train_digits, (0, 1, 2, 3, 4))
source_test = transfer.keep_classes(test_digits, (0, 1, 2, 3, 4))
start = time.perf_counter()
pretrained, metadata = transfer.pretrain(
    "lenet5", source_train, source_test, settings["pretrain_epochs"], lr=transfer_experiment.PRETRAIN_LR,
    shift=transfer_experiment.PRETRAIN_SHIFT, dataset="digits 0-4",
    make_optimizer=lambda params, lr: optim.Adam(params, lr=lr,
                                                 weight_decay=transfer_experiment.PRETRAIN_WEIGHT_DECAY))
workdir = tempfile.TemporaryDirectory()
checkpoint = str(Path(workdir.name) / "lenet5-digits04.npz")
transfer.save_pretrained(pretrained, metadata, checkpoint)
print(f"pretrained on {len(source_train)} images in {time.perf_counter() - start:.0f} s")
check("pretrained LeNet-5: test accuracy on the digits 0-4", metadata["test_accuracy"], lambda a: a > 0.5)
normalize = transfer.normalization(metadata)

# %% [markdown]
# ## 2. Base and head
#
# `transfer.split_stages` lists the stages that own parameters, in forward order, split into
# the pretrained *base* (LeNet-5's convolutions C1, C3, C5 and its hidden layer F6) and the
# *head*, the output layer that a new task replaces (the names are printed below).
# `FeatureExtractor` returns the output of any named sub-module, here for one image.

# %%
base, head = transfer.split_stages(pretrained)
print("base:", [name for name, _ in base], " head:", [name for name, _ in head])
with transfer.FeatureExtractor(pretrained, ["features.2", "features.5", "features.7"]) as extract, mt.no_grad():
    features = extract(mt.tensor(normalize(source_test.images[:1])))
for name, value in features.items():
    print(f"    {name}: {tuple(value.shape)}")
check("C5 output of one 32x32 image", tuple(features["features.7"].shape), (1, 120, 1, 1))

# %% [markdown]
# The stages are named by module, and the zoo's ImageNet networks use torchvision's module names,
# so a state dict saved by torchvision has the keys of ours (`layer1.0.conv1.weight`). LeNet-5,
# VGG, DenseNet, MobileNet and EfficientNet keep a `features` base and a `classifier` head;
# torchvision's ResNets have their stem and four stages at the top level and call the head `fc`.

# %%
resnet = models.create("resnet18", num_classes=5)
resnet_base, resnet_head = transfer.split_stages(resnet)
print("ResNet-18 base:", [name for name, _ in resnet_base], " head:", [name for name, _ in resnet_head])
check("ResNet-18 stages", [name for name, _ in resnet_base + resnet_head],
      ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"])
check("freezing up to layer2 freezes the stem and the first two stages", transfer.freeze(resnet, upto="layer2"),
      ["conv1", "bn1", "layer1", "layer2"])

# %% [markdown]
# ## 3. Feature extraction: a new head on a frozen base
#
# The new task, the digits 5-9, has five classes. `replace_head` swaps the output layer for a
# fresh 84 -> 5 one and keeps every other weight; `freeze` sets `requires_grad=False` on the
# base, so backward gives it no gradient and the optimiser never moves it.

# %%
target_train = transfer.keep_classes(train_digits, (5, 6, 7, 8, 9))
target_test = transfer.keep_classes(test_digits, (5, 6, 7, 8, 9))
labelled, _ = transfer.split_per_class(target_train, settings["little"], seed=SEED)
train_loader = data.DataLoader(labelled, batch_size=10, shuffle=True, transform=normalize)
test_loader = data.DataLoader(target_test, batch_size=256, transform=normalize)

model, _ = transfer.load_pretrained(checkpoint)
transfer.replace_head(model, 5)
check("new output layer shape (out, in)", tuple(model.classifier[-1].weight.shape), (5, 84))
check("the base is the pretrained one",
      bool(np.array_equal(model.features[0].weight.detach().numpy(), pretrained.features[0].weight.detach().numpy())), True)
frozen = transfer.freeze(model)
base, head = transfer.split_stages(model)
head_ids = {id(p) for _, stage in head for p in stage.parameters()}
trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
total = sum(p.numel() for p in model.parameters())
print(f"frozen stages: {frozen}; trainable parameters {trainable:,} of {total:,}")
check("trainable parameters = the head's", trainable, sum(p.numel() for p in model.parameters() if id(p) in head_ids))

before = {name: p.detach().numpy().copy() for name, p in model.named_parameters()}
in_head = {name: id(p) in head_ids for name, p in model.named_parameters()}
fit(model, train_loader, optim.Adam([p for p in model.parameters() if p.requires_grad], lr=LR),
    settings["epochs"]["little"], progress=False)
moved = {name: not np.array_equal(before[name], p.detach().numpy()) for name, p in model.named_parameters()}
check("no base weight moved during feature extraction", not any(moved[n] for n in moved if not in_head[n]), True)
check("the head trained", all(moved[n] for n in moved if in_head[n]), True)
feature_extraction_accuracy = evaluate(model, test_loader)["accuracy"]
print(f"feature extraction with {len(labelled)} labels: test accuracy {feature_extraction_accuracy:.3f}")

# %% [markdown]
# ## 4. Fine-tuning with differential learning rates
#
# Next, unfreeze the base and keep training everything, at a lower rate, and lower still for
# earlier stages: their edge and stroke detectors suit almost any images, while later stages
# are specific to the old classes. `differential_param_groups(model, base_lr, factor)` gives
# the head `base_lr` and the `k`-th stage back from the head `base_lr / factor^k`, as optimiser
# parameter groups.

# %%
transfer.unfreeze(model)
fine_lr = LR * transfer.FINETUNE_LR_SCALE
groups = transfer.differential_param_groups(model, fine_lr, factor=3.0)
for group in groups:
    print(f"    {', '.join(group['stages']):<12} lr {group['lr']:.2e}  ({sum(p.numel() for p in group['params']):,} "
          f"parameters)")
rates = [group["lr"] for group in groups]
check("learning rates rise by the factor 3 from input to head", [b / a for a, b in zip(rates, rates[1:])],
      lambda ratios: all(abs(r - 3.0) < 1e-9 for r in ratios))

before = {name: p.detach().numpy().copy() for name, p in model.named_parameters()}
fit(model, train_loader, optim.Adam(groups, lr=fine_lr), settings["epochs"]["little"], progress=False)
relative_change = {}
for name, p in model.named_parameters():
    if name.endswith("weight"):
        relative_change[name] = float(np.linalg.norm(p.detach().numpy() - before[name]) / np.linalg.norm(before[name]))
for name, change in relative_change.items():
    print(f"    {name:<22} relative change {change:.2e}")
check("every stage moved during fine-tuning", all(c > 0 for c in relative_change.values()), True)
check("C1 (lowest learning rate) moved less than C5", relative_change["features.0.weight"]
      < relative_change["features.6.weight"], True)
fine_tuning_accuracy = evaluate(model, test_loader)["accuracy"]
print(f"after fine-tuning: test accuracy {fine_tuning_accuracy:.3f} (feature extraction gave "
      f"{feature_extraction_accuracy:.3f})")

# %% [markdown]
# Adam moves every weight by about its learning rate per step, whatever its gradient's size,
# so the changes above follow the learning rates: the earliest stage moved least.
#
# ## 5. The quadrant: similar or different data, little or lots of it
#
# The course's advice:
#
# |              | similar data             | very different data                          |
# |--------------|--------------------------|----------------------------------------------|
# | little data  | linear classifier on top | trouble: try a linear classifier on an earlier stage |
# | lots of data | fine-tune a few layers   | fine-tune many layers (or train from scratch) |
#
# We measure it. In each of the four cells, three methods get the same labelled images and the
# same number of passes over them: a fresh LeNet-5 (**scratch**), the frozen pretrained base with
# a new head (**feature extraction**), and the head for half the passes, then everything at a
# tenth of the rate with earlier stages 3x lower (**fine-tuning**, `transfer.finetune` with
# `strategy="full"`). Similar data: the digits 5-9, tested on their test split. Different data:
# synthetic shapes (square, circle, cross, stripes), tested on a fresh set.

# %%
shapes_pool = data.synthetic_shapes(len(data.synthetic.SHAPES) * settings["lots"] * 2, seed=SEED + 1)
shapes_test = data.synthetic_shapes(settings["shapes_test"], seed=SEED + 2)
TASKS = {"similar": (target_train, target_test), "different": (shapes_pool, shapes_test)}
METHODS = ("scratch", "feature extraction", "fine-tuning")


def run(method, labelled, test, epochs, seed):
    mt.manual_seed(seed)
    classes = len(labelled.classes)
    loader = data.DataLoader(labelled, batch_size=10, shuffle=True, transform=normalize)
    tester = data.DataLoader(test, batch_size=256, transform=normalize)
    if method == "scratch":
        model = models.create("lenet5", num_classes=classes)
        fit(model, loader, optim.Adam(model.parameters(), lr=LR), epochs, progress=False)
        return evaluate(model, tester)["accuracy"]
    model, _ = transfer.load_pretrained(checkpoint, num_classes=classes)
    if method == "feature extraction":
        phases = transfer.finetune(model, loader, tester, strategy="feature-extract", head_epochs=epochs, lr=LR)
    else:
        phases = transfer.finetune(model, loader, tester, strategy="full", head_epochs=max(1, epochs // 2),
                                   finetune_epochs=max(1, epochs - epochs // 2), lr=LR)
    return phases[-1]["test_accuracy"]


results = {}
start = time.perf_counter()
for similarity, (pool, test) in TASKS.items():
    for amount in ("little", "lots"):
        runs = {method: [] for method in METHODS}
        for repeat in range(settings["repeats"]):
            labelled, _ = transfer.split_per_class(pool, settings[amount], seed=SEED + repeat)
            for method in METHODS:
                runs[method].append(run(method, labelled, test, settings["epochs"][amount], SEED + repeat))
        results[similarity, amount] = {method: float(np.mean(values)) for method, values in runs.items()}
        results[similarity, amount]["labels"] = len(labelled)
        print(f"{similarity:>9} data, {amount:>6} ({len(labelled):>4} labels): " +
              ", ".join(f"{m} {results[similarity, amount][m]:.3f}" for m in METHODS))
print(f"quadrant measured in {time.perf_counter() - start:.0f} s")
for cell, row in results.items():
    check(f"{cell[0]}/{cell[1]}: every accuracy is in [0, 1]", all(0 <= row[m] <= 1 for m in METHODS), True)

# %%
fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharey=True)
for (i, amount), (j, similarity) in [((i, a), (j, s)) for i, a in enumerate(("little", "lots"))
                                     for j, s in enumerate(("similar", "different"))]:
    ax = axes[i, j]
    row = results[similarity, amount]
    ax.bar(range(len(METHODS)), [row[m] for m in METHODS], color=["C7", "C0", "C2"])
    ax.set_xticks(range(len(METHODS)), METHODS)
    for k, m in enumerate(METHODS):
        ax.text(k, row[m], f"{row[m]:.2f}", ha="center", va="bottom")
    ax.set(title=f"{similarity} data, {amount} ({row['labels']} labels)", ylim=(0, 1.05))
    ax.grid(alpha=0.3, axis="y")
for ax in axes[:, 0]:
    ax.set_ylabel("test accuracy")
fig.tight_layout()
show(fig, "11_transfer_quadrant")

# %% [markdown]
# What came out, cell by cell: the best method, and whether the better of the two pretrained
# methods beat training from scratch. Small differences are within the noise of a few labelled
# draws.

# %%
helped = 0
for cell, row in results.items():
    best = max(METHODS, key=lambda m: row[m])
    pretrained_best = max(row["feature extraction"], row["fine-tuning"])
    helped += pretrained_best > row["scratch"]
    print(f"observed: {cell[0]} data, {cell[1]} of it: best {best}; pretraining "
          f"{'helped' if pretrained_best > row['scratch'] else 'did not help'} "
          f"({pretrained_best:.3f} vs scratch {row['scratch']:.3f})")
print(f"observed: pretraining beat training from scratch in {helped} of {len(results)} cells")

# %% [markdown]
# Compare the printed outcome with the course's table, and keep its premise in mind: the
# advice assumes a base pretrained on a large, diverse dataset such as ImageNet, whose features
# are better than anything a few new labels can teach. Our base saw the few hundred training
# images of five digits, and LeNet-5 learns the upsampled scikit-learn digits from scratch with
# very few labels, so a pretrained base may have little to offer here; where the measurement and the
# table disagree, that is the first thing to suspect. A base is worth reusing only if its
# features beat what the new data can teach on its own, and the quadrant is the way to measure
# it before trusting it.

# %% [markdown]
# ## 6. Different data, little of it: which stage transfers?
#
# For the hard cell the course suggests a linear classifier on an *earlier* stage, whose
# generic features may suit the new data better than the last stage's digit-specific ones.
# `FeatureExtractor` gives the frozen features after S2, S4 and C5; a linear layer is trained on
# each (full batch, Adam) and tested.

# %%
labelled, _ = transfer.split_per_class(shapes_pool, settings["little"], seed=SEED)
stages = ("features.2", "features.5", "features.7")
model, _ = transfer.load_pretrained(checkpoint)
model.eval()
with transfer.FeatureExtractor(model, stages) as extract, mt.no_grad():
    train_features = extract(mt.tensor(normalize(labelled.images)))
    test_features = extract(mt.tensor(normalize(shapes_test.images)))
probe_accuracy = {}
for stage in stages:
    x_train = train_features[stage].reshape(len(labelled), -1)
    x_test = test_features[stage].reshape(len(shapes_test), -1)
    mt.manual_seed(SEED)
    probe = nn.Linear(x_train.shape[1], len(labelled.classes))
    optimizer = optim.Adam(probe.parameters(), lr=LR)
    for _ in range(settings["probe_steps"]):
        loss = F.cross_entropy(probe(x_train), mt.tensor(labelled.labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with mt.no_grad():
        probe_accuracy[stage] = float(np.mean(np.argmax(probe(x_test).detach().numpy(), axis=1) == shapes_test.labels))
    print(f"linear probe on {stage} ({x_train.shape[1]} features): test accuracy {probe_accuracy[stage]:.3f}")
best_stage = max(probe_accuracy, key=probe_accuracy.get)
check("every probe accuracy is in [0, 1]", all(0 <= a <= 1 for a in probe_accuracy.values()), True)
print(f"observed: the best stage for a linear classifier on the shapes is {best_stage}")
workdir.cleanup()
