# %%
# Torchvision's ImageNet weights for ResNet-18, if you have downloaded them (nothing here downloads
# anything; without them part A runs on a stand-in file it makes, and says so): uncomment and give
# the path, or set MINITORCH_CNN_RESNET18 in the environment before starting Jupyter or the script.
# # %env MINITORCH_CNN_RESNET18=/path/to/resnet18-f37072fd.pth
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
# **Part A** (sections 1-3) is the workflow as the course shows it: take torchvision's ResNet-18,
# trained on ImageNet's 1.28 million photos, classify two photos with it, then fine-tune it on a
# folder of photos of our own. The weights are a 45 MB file that you download once, from the link in
# torchvision's `ResNet18_Weights.IMAGENET1K_V1`
# (`https://download.pytorch.org/models/resnet18-f37072fd.pth`), and name in the first cell or in
# the environment as `MINITORCH_CNN_RESNET18`. Nothing in this lecture downloads anything: without
# the file, it makes a stand-in (a randomly initialised ResNet-18, written with
# `mt.save(model.state_dict(), path)`) and runs every step on that, labelling what the numbers then mean.
#
# **Part B** (sections 4-9) measures the mechanics on a network small enough to pretrain here.
# Which method to choose depends on how similar the new data is to the old and how much of it there
# is (the course's quadrant). Our stand-in for "a large pretraining set" is LeNet-5 trained on
# the digits 0-4; the new tasks are the digits 5-9 (similar data) and synthetic shapes (very
# different data), each with few or many labels. Everything uses `minitorch_cnn.transfer`; the
# pretraining recipe and the few-label learning rate are those of
# `minitorch_cnn.transfer_experiment`, the experiment behind `minitorch-cnn transfer-demo`.

# %%
import contextlib
import io
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_sample_images

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import cli, data, models, nn, optim, transfer, transfer_experiment
from minitorch_cnn.training import evaluate, fit
from _common import QUICK, check, plt, show

SEED = 0
mt.manual_seed(SEED)
SETTINGS = {
    # Part A. photo_size: side of the photos fine-tuned on (the weights were trained at 224);
    # photos_per_class: crops written per class; photo_epochs: (head only, then layer4 and head).
    # Part B. per_class: labelled images per class for "little" and "lots" of data.
    "full": {"photo_size": 224, "photos_per_class": 40, "photo_epochs": (4, 4),
             "pretrain_epochs": 15, "little": 10, "lots": 120, "epochs": {"little": 30, "lots": 12}, "repeats": 3,
             "shapes_test": 800, "probe_steps": 300},
    "quick": {"photo_size": 64, "photos_per_class": 12, "photo_epochs": (4, 2),
              "pretrain_epochs": 2, "little": 5, "lots": 30, "epochs": {"little": 8, "lots": 3}, "repeats": 1,
              "shapes_test": 200, "probe_steps": 40},
}
settings = SETTINGS["quick" if QUICK else "full"]
#: The few-label learning rate of ``minitorch-cnn transfer-demo``, the same for every method.
LR = transfer_experiment.DEMO_LR
print(settings)
workdir = tempfile.TemporaryDirectory()
WORK = Path(workdir.name)

# %% [markdown]
# # Part A: torchvision's ResNet-18 on real photos
#
# ## 1. The weights file
#
# `mt.load_weights(path)` reads a weights file into a state dict (name -> NumPy array) without
# PyTorch: torchvision's `.pth` (PyTorch's zip format or its older legacy one), `.safetensors`, or
# our `.npz`. A `.pth` file is a pickle, which may name any Python function to call while it is
# read; the reader resolves only PyTorch's tensor-rebuild functions and refuses anything else, so
# a file from the internet cannot run code here. Our ResNet-18 uses torchvision's module names
# (`conv1`, `bn1`, `layer1` ... `layer4`, `fc`), so the file's keys are our `state_dict`'s and
# `models.create("resnet18", weights=path)` loads it strictly.

# %%
WEIGHTS_VARIABLE = "MINITORCH_CNN_RESNET18"
weights = os.environ.get(WEIGHTS_VARIABLE, "")
REAL_WEIGHTS = bool(weights)
if REAL_WEIGHTS:
    if not Path(weights).is_file():
        raise FileNotFoundError(f"{WEIGHTS_VARIABLE}={weights}: no such file (expected torchvision's ResNet-18 "
                                "weights, e.g. resnet18-f37072fd.pth)")
    print(f"{WEIGHTS_VARIABLE}={weights}: ImageNet weights")
else:
    # The stand-in: what the file would be if ResNet-18 had never been trained, saved as a state
    # dict with mt.save (a .npz file; load_weights reads it like torchvision's .pth).
    weights = str(WORK / "resnet18-random-init.npz")
    mt.manual_seed(SEED)
    mt.save(models.create("resnet18").state_dict(), weights)
    print(f"{WEIGHTS_VARIABLE} is not set, so there are no ImageNet weights here. Every step of part A runs on a "
          f"stand-in instead: a randomly initialised ResNet-18 saved to {weights}. Its 'predictions' are those of "
          "an untrained network and mean nothing; its fine-tuning starts from random features, not ImageNet's.")
WEIGHTS_LABEL = "ImageNet weights" if REAL_WEIGHTS else "stand-in: random weights, not ImageNet's"

state = mt.load_weights(weights)
print(f"{len(state)} tensors in the file, among them:")
for name in ("conv1.weight", "bn1.running_var", "layer1.0.conv1.weight", "layer4.1.bn2.weight", "fc.weight", "fc.bias"):
    print(f"    {name:<24} {str(state[name].shape):<18} {state[name].dtype}")
imagenet_model = models.create("resnet18", weights=weights)
imagenet_model.eval()
ours = imagenet_model.state_dict()
# Files saved before PyTorch 0.4.1 have no batch-norm counters; create() starts those at 0.
check("names in the file or the model but not both (counters aside)",
      sorted(k for k in set(state) ^ set(ours) if not k.endswith("num_batches_tracked")), [])
check("the model holds the file's conv1 weights", bool(np.array_equal(ours["conv1.weight"], state["conv1.weight"])),
      True)
check("ResNet-18 parameters", sum(p.numel() for p in imagenet_model.parameters()), 11_689_512)

# %% [markdown]
# ## 2. Classifying photos
#
# scikit-learn ships two JPEG photos, `china.jpg` (a temple) and `flower.jpg`, 640x427 each.
# `data.read_image` decodes a file into a `(3, H, W)` array in [0, 1]; the network expects what
# ImageNet training gave it, torchvision's preset for these weights
# (`data.imagenet.preprocessing("resnet18")`): shorter side resized to 256, the central 224x224
# cut out, each channel standardised with ImageNet's mean and std. The 1,000 output units are
# ImageNet's classes, whose names ship with the library (`data.imagenet.imagenet_classes()`).

# %%
photos = load_sample_images().filenames
preset = data.imagenet.preprocessing("resnet18")
print(preset)
pixels = [data.read_image(path) for path in photos]
batch = np.stack([preset(image) for image in pixels])
check("one photo through the preset", batch.shape[1:], (3, 224, 224))
with mt.no_grad():
    probabilities = F.softmax(imagenet_model(mt.tensor(batch)), dim=1).numpy()
CLASS_NAMES = data.imagenet.imagenet_classes()


def top_lines(p, names, k=5):
    """The top-k classes of one probability vector, one line each, as `minitorch-cnn predict` prints them."""
    return [f"  {rank}. {names[c]} ({c}): {p[c]:.4f}"
            for rank, c in enumerate(np.argsort(-p, kind="stable")[:k], start=1)]


print(f"top-5 ImageNet classes ({WEIGHTS_LABEL}):")
for path, p in zip(photos, probabilities):
    print(path)
    print("\n".join(top_lines(p, CLASS_NAMES)))
check("probabilities of each photo sum to 1, largest error", float(np.abs(probabilities.sum(axis=1) - 1).max()),
      lambda d: d < 1e-5)

# %%
fig, axes = plt.subplots(2, 2, figsize=(11, 6.5), gridspec_kw={"height_ratios": [3, 2]})
for j, (path, image, p) in enumerate(zip(photos, pixels, probabilities)):
    axes[0, j].imshow(image.transpose(1, 2, 0))
    # The square the network sees: the 224 crop of the photo resized to 256, in the photo's pixels.
    _, H, W = image.shape
    side = preset.crop_size * min(H, W) / preset.resize_size
    axes[0, j].add_patch(plt.Rectangle(((W - side) / 2, (H - side) / 2), side, side, fill=False, color="w", lw=2))
    axes[0, j].set(title=Path(path).name, xticks=[], yticks=[])
    top = np.argsort(-p, kind="stable")[:5]
    axes[1, j].barh(range(5)[::-1], p[top], color="C0")
    axes[1, j].set_yticks(range(5)[::-1], [CLASS_NAMES[c] for c in top])
    axes[1, j].set(xlabel="probability", xlim=(0, 1))
fig.suptitle(f"ResNet-18, top-5 ImageNet classes ({WEIGHTS_LABEL}); white: the crop the network sees")
fig.tight_layout()
show(fig, "11_sample_photos")

# %% [markdown]
# The command line does the same in one line, from any shell:
#
# ```sh
# minitorch-cnn predict resnet18 --weights $MINITORCH_CNN_RESNET18 photo.jpg other.png
# ```
#
# Here it runs in this process (`cli.main` takes the arguments as a list) on the same two files.

# %%
with contextlib.redirect_stdout(io.StringIO()) as printed:
    cli.main(["predict", "resnet18", "--weights", weights, *photos])
print(printed.getvalue())
check("predict printed the top-5 computed above",
      all(line in printed.getvalue().splitlines() for p in probabilities for line in top_lines(p, CLASS_NAMES)), True)

# %% [markdown]
# ## 3. Fine-tuning on a folder of photos
#
# A new task comes as photos sorted into one folder per class, torchvision's `ImageFolder`
# layout. Ours is made from the two photos: random square crops of each (a third to two thirds
# of its height, half of them mirrored), written as JPEG files into `photos/china/` and
# `photos/flower/`. Telling the two photos' crops apart is an easy task; the point here is the
# workflow, which is the same for a few thousand photos of flowers.

# %%
rng = np.random.default_rng(SEED)
photo_root = WORK / "photos"
for path in photos:
    photo = np.asarray(Image.open(path).convert("RGB"))
    H, W, _ = photo.shape
    class_folder = photo_root / Path(path).stem
    class_folder.mkdir(parents=True)
    for k in range(settings["photos_per_class"]):
        side = int(rng.integers(H // 3, 2 * H // 3 + 1))
        top, left = int(rng.integers(0, H - side + 1)), int(rng.integers(0, W - side + 1))
        crop = photo[top:top + side, left:left + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        Image.fromarray(np.ascontiguousarray(crop)).save(class_folder / f"{k:03d}.jpg", quality=90)
print(f"wrote {sum(1 for _ in photo_root.rglob('*.jpg'))} JPEG files under {photo_root}")

# %% [markdown]
# `data.ImageFolder(root, transform)` lists the files and labels them by folder (classes in sorted
# order); each photo is decoded only when a batch needs it, so the folder may be larger than
# memory. The transform resizes the shorter side and crops the centre, here to
# `settings["photo_size"]` pixels (quick mode fine-tunes at 64x64 to stay fast; full mode at the
# weights' 224). `data.stratified_split` holds out a quarter of *each* class for validation, so a
# small class cannot end up on one side only.

# %%
photo_size = settings["photo_size"]
folder = data.ImageFolder(photo_root, transform=data.transforms.Compose(
    [data.imagenet.ResizeShorter(photo_size), data.imagenet.CenterCrop(photo_size)]))
train_photos, val_photos = data.stratified_split(folder, 0.25, seed=SEED)
print(folder)
for label, name in enumerate(folder.classes):
    print(f"    {name}: {np.sum(train_photos.labels == label)} train, {np.sum(val_photos.labels == label)} validation")
check("classes in the training and the validation split", [np.unique(s.labels).tolist() for s in (train_photos, val_photos)],
      [[0, 1], [0, 1]])
imagenet_normalize = transfer.normalization(transfer.imagenet_metadata("resnet18"))
photo_train_loader = data.DataLoader(train_photos, batch_size=8, shuffle=True, transform=imagenet_normalize)
photo_val_loader = data.DataLoader(val_photos, batch_size=64, transform=imagenet_normalize)

# %% [markdown]
# `models.create("resnet18", num_classes=2, weights=path)` is the transfer-learning start: every
# tensor of the file is loaded except the classifier, which has 1,000 outputs in the file and 2
# here; it keeps a fresh initialisation, and a `HeadReplacedWarning` names what was skipped
# (caught and printed below).

# %%
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", models.HeadReplacedWarning)
    photo_model = models.create("resnet18", num_classes=len(folder.classes), weights=weights)
for warning in caught:
    print(f"{warning.category.__name__}: {warning.message}")
check("warnings from create", [w.category.__name__ for w in caught], ["HeadReplacedWarning"])
check("the tensors it skipped", str(caught[0].message).rpartition(" for ")[2], "fc.weight, fc.bias")
check("new classifier (out, in)", tuple(photo_model.fc.weight.shape), (2, 512))

# %% [markdown]
# Which layers to freeze? `transfer.layers(model)` lists the *layers*, the modules that own
# parameters (convolutions, batch norms, the linear classifier), in forward order;
# `minitorch-cnn layers resnet18` prints the same list. ResNet-18 has 41: the stem's convolution
# and batch norm, 10 in each of `layer1` ... `layer4` (each stage after the first has a 1x1
# `downsample` convolution and batch norm on its shortcut), and `fc`. Keras also counts
# activations, poolings and additions, so "freeze the first 140 layers" of a Keras recipe is a
# different cut.

# %%
named_layers = transfer.layers(photo_model)
for k, (name, module) in enumerate(named_layers, start=1):
    print(f"{k:4d}  {name:<22} {type(module).__name__:<12} {sum(p.numel() for p in module.parameters(recurse=False)):>9,}")
check("ResNet-18 layers (modules that own parameters)", len(named_layers), 41)
FREEZE_LAYERS = 30
frozen_layers = transfer.freeze_layers(photo_model, FREEZE_LAYERS)
print(f"frozen: {frozen_layers[0]} ... {frozen_layers[-1]}")
check(f"the first {FREEZE_LAYERS} layers are the layers under conv1, bn1, layer1, layer2 and layer3",
      frozen_layers == transfer.freeze_layers(photo_model, ["conv1", "bn1", "layer1", "layer2", "layer3"]), True)

# %% [markdown]
# `transfer.finetune` runs the course's two phases with those 30 layers kept frozen: first only
# the new head trains, on the frozen base (its batch norms keep ImageNet's statistics); then
# `layer4` joins in, at a tenth of the rate, lower still for the earlier groups. On the command
# line the whole of this section is
#
# ```sh
# minitorch-cnn finetune resnet18 --weights $MINITORCH_CNN_RESNET18 --dataset folder:photos \
#     --freeze-layers 30 --head-epochs 4 --finetune-epochs 4 --lr 1e-3 --batch-size 8 --out photos.npz
# minitorch-cnn predict photos.npz new-photo.jpg
# ```
#
# (full mode's epochs; the command always works at the weights' 224x224 and holds out a fifth of
# each class).

# %%
mt.manual_seed(SEED)
start = time.perf_counter()
head_epochs, tune_epochs = settings["photo_epochs"]
phases = transfer.finetune(photo_model, photo_train_loader, photo_val_loader, strategy="fine-tune-top",
                           head_epochs=head_epochs, finetune_epochs=tune_epochs, lr=1e-3,
                           keep_frozen=FREEZE_LAYERS, log=print)
print(f"fine-tuned in {time.perf_counter() - start:.0f} s")
tuned = photo_model.state_dict()
in_frozen = {name: any(name.startswith(layer + ".") for layer in frozen_layers) for name in tuned}
check("no weight or statistic of the 30 frozen layers moved",
      all(np.array_equal(tuned[n], state[n]) for n in tuned if in_frozen[n] and not n.endswith("num_batches_tracked")),
      True)
check("every parameter of layer4 moved", all(not np.array_equal(p.detach().numpy(), state[n])
                                             for n, p in photo_model.named_parameters() if n.startswith("layer4.")), True)
photo_accuracy = check("validation accuracy after fine-tuning", phases[-1]["test_accuracy"], lambda a: 0 <= a <= 1)
print(f"observed ({WEIGHTS_LABEL}): validation accuracy {phases[0]['test_accuracy']:.3f} after the head alone, "
      f"{photo_accuracy:.3f} after layer4 too, on {len(val_photos)} held-out crops")

# %% [markdown]
# With ImageNet weights those numbers measure transfer: features learnt on other photos, a new
# two-unit head, a few minutes of CPU. With the stand-in they measure only how well a linear head
# on *random* convolutional features, plus one stage trained on a few dozen crops, separates two
# photos with very different colours; that can be high too, which is why a real comparison needs
# a baseline (part B measures one).
#
# The fine-tuned network is a checkpoint like any other: `transfer.save_pretrained` writes it with
# its classes, input size and statistics, and `predict` reads it back.

# %%
tuned_checkpoint = str(WORK / "resnet18-photos.npz")
transfer.save_pretrained(photo_model, dict(transfer.imagenet_metadata("resnet18"), dataset=f"folder:{photo_root}",
                                           classes=folder.classes, image_size=photo_size), tuned_checkpoint)
held_out = folder.samples[val_photos.indices[0]][0]
photo_model.eval()
with mt.no_grad():
    p = F.softmax(photo_model(mt.tensor(imagenet_normalize(val_photos[0][0][None]))), dim=1).numpy()[0]
with contextlib.redirect_stdout(io.StringIO()) as printed:
    cli.main(["predict", tuned_checkpoint, held_out])
print(printed.getvalue())
check("predict on the checkpoint gives the model's probabilities for a held-out crop",
      all(line in printed.getvalue().splitlines() for line in top_lines(p, folder.classes, k=2)), True)

# %% [markdown]
# # Part B: the mechanics, measured on a small network
#
# ## 4. A network pretrained here
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
checkpoint = str(WORK / "lenet5-digits04.npz")
transfer.save_pretrained(pretrained, metadata, checkpoint)
print(f"pretrained on {len(source_train)} images in {time.perf_counter() - start:.0f} s")
check("pretrained LeNet-5: test accuracy on the digits 0-4", metadata["test_accuracy"], lambda a: a > 0.5)
normalize = transfer.normalization(metadata)

# %% [markdown]
# ## 5. Base and head
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
# ## 6. Feature extraction: a new head on a frozen base
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
# ## 7. Fine-tuning with differential learning rates
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
# ## 8. The quadrant: similar or different data, little or lots of it
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
# ## 9. Different data, little of it: which stage transfers?
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
