# %%
# Torchvision's ImageNet weights for ResNet-18, if you have downloaded them, for section 9 (nothing
# here downloads anything; without them section 9 runs on a random ResNet-18 and says so).
# # %env MINITORCH_CNN_RESNET18=/path/to/resnet18-f37072fd.pth
#
# Quick mode (the small settings the tests run, about a minute): uncomment the next line and run
# from the top; a script takes --quick. MINITORCH_CNN_QUICK=1 in the environment selects it too.
# # %env MINITORCH_CNN_QUICK=1

# %% [markdown]
# # Lecture 13: visualising and understanding a CNN
#
# Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks" (ECCV 2014), the
# paper behind ZFNet, asked two questions of a trained network:
#
# * **what does a unit respond to?** Their Fig. 2 shows, for a few feature maps of every layer,
#   the 9 image patches that activate the map most across the validation data, and each
#   activation projected back to pixel space by a *deconvnet*;
# * **which pixels made this decision?** Their Fig. 7 slides a grey square over the image and
#   watches the probability of the true class drop.
#
# Later papers answered the second question faster: the saliency map of Simonyan, Vedaldi &
# Zisserman (2014), guided backpropagation (Springenberg et al. 2015), class activation maps
# (CAM, Zhou et al. 2016) and Grad-CAM (Selvaraju et al. 2017). This lecture trains a small
# ZFNet-style network on the digits and asks it both questions with `minitorch_cnn.visualize`.

# %%
import os
import time

import numpy as np

import minitorch_cnn as mt
from minitorch_cnn import data, models, nn, optim
from minitorch_cnn import visualize as viz
from minitorch_cnn.summary import receptive_field, summary
from minitorch_cnn.training import evaluate, fit

from _common import QUICK, check, plt, show

# %% [markdown]
# ## 1. A small ZFNet
#
# ZFNet's layout scaled down to 16x16 digits: blocks of a 3x3 convolution, batch norm, ReLU
# and 2x2 max pooling (16x16 -> 8x8 -> 4x4), a third block without pooling, then, instead of
# ZFNet's fully connected layers, global average pooling and one linear layer: the head that
# CAM needs (section 6). The max pools matter for the deconvnet: their "switches" (which input
# won each window) are how it finds its way back to the pixels.

# %%
#: The digits at twice their native 8x8: three blocks still leave 4x4 maps, and training stays
#: a few seconds.
IMAGE_SIZE = 16
SETTINGS = {"full": {"epochs": 10, "floor": 0.97}, "quick": {"epochs": 3, "floor": 0.9}}
settings = SETTINGS["quick" if QUICK else "full"]
#: Adam at a rate the cosine schedule takes down to 0 over the epochs.
LR, BATCH = 1e-2, 32


def block(c_in, c_out, pool=True):
    layers = [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class SmallZFNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.layer1 = block(1, 16)
        self.layer2 = block(16, 32)
        self.layer3 = block(32, 64, pool=False)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        return self.fc(self.flatten(self.avgpool(self.layer3(self.layer2(self.layer1(x))))))


mt.manual_seed(0)
model = SmallZFNet()
print(summary(model, (1, IMAGE_SIZE, IMAGE_SIZE)))

# %% [markdown]
# The units we look at are the ReLU outputs of the three blocks, `layer1.2`, `layer2.2` and
# `layer3.2` (module names as `model.named_modules()` gives them). Each sees a square of the
# input, its *receptive field*; lecture 1's recurrence, `r_out = r_in + (k - 1) * j_in` and
# `j_out = j_in * s` for a window of size `k` and stride `s`, gives its side from the layers on
# the way. `summary.receptive_field` follows the network's graph and must agree. A `layer3.2`
# unit sees 18 pixels, more than the whole 16-pixel image.

# %%
UNITS = ["layer1.2", "layer2.2", "layer3.2"]
#: (kernel, stride) of the windows below each unit: conv 3x3, then max pool 2x2 between blocks.
WINDOWS = {"layer1.2": [(3, 1)], "layer2.2": [(3, 1), (2, 2), (3, 1)],
           "layer3.2": [(3, 1), (2, 2), (3, 1), (2, 2), (3, 1)]}
for layer in UNITS:
    r, j = 1, 1
    for k, s in WINDOWS[layer]:
        r, j = r + (k - 1) * j, j * s
    field = receptive_field(model, layer, input_shape=(1, IMAGE_SIZE, IMAGE_SIZE))
    check(f"receptive field of a {layer} unit (side, jump) by the recurrence = from the graph", (r, j),
          (field.size[0], field.jump[0]))

# %% [markdown]
# ## 2. Training on the digits
#
# scikit-learn's 8x8 digits scaled to 16x16, standardised with the training set's mean and
# standard deviation, Adam with a cosine schedule.

# %%
train_set, test_set = data.digits("train", size=IMAGE_SIZE), data.digits("test", size=IMAGE_SIZE)
normalize = data.transforms.Normalize.from_images(train_set.images)
optimizer = optim.Adam(model.parameters(), lr=LR)
start = time.perf_counter()
history = fit(model, data.DataLoader(train_set, BATCH, shuffle=True, transform=normalize), optimizer,
              settings["epochs"], scheduler=optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings["epochs"]),
              progress=False)
print(f"{settings['epochs']} epochs in {time.perf_counter() - start:.1f} s")
accuracy = evaluate(model, data.DataLoader(test_set, 256, transform=normalize))["accuracy"]
check("test accuracy of the small ZFNet on digits", round(accuracy, 4), lambda a: a > settings["floor"])

# The test images as the model sees them (standardised), and as we show them (in [0, 1]).
images, pictures, labels = normalize(test_set.images), test_set.images, test_set.labels.astype(np.int64)

# %% [markdown]
# ## 3. The first layer's filters
#
# ZFNet began by looking at AlexNet's first layer: its 11x11 stride-4 filters were a mix of
# high- and low-frequency ones with few in between, and some were dead. Ours are 3x3 on grey
# digits, so there is little to see beyond edge and blob detectors of a few orientations; what
# we can count is how many of the 16 maps never fire on any test digit (dead filters).

# %%
show(viz.plot_filters(model.layer1[0].weight, title="layer 1: the 16 trained 3x3 filters"), "13_filters")
layer1 = viz.feature_maps(model, images, "layer1.2")
dead = int((layer1.max(axis=(0, 2, 3)) <= 0).sum())
check("layer-1 maps that never fire on the test digits", dead, lambda v: v <= 2)

# %% [markdown]
# ## 4. One digit through the layers
#
# The feature maps of one test digit after each block's ReLU: 16 maps of 16x16, 32 of 8x8, 64 of
# 4x4. The first still look like the digit (strokes and their edges); deeper maps are coarser
# and each lights up for a part or a shape of the digit, no longer for a pixel pattern.

# %%
digit = 0
for layer, shape in zip(UNITS, [(16, 16, 16), (32, 8, 8), (64, 4, 4)]):
    maps = viz.feature_maps(model, images[digit:digit + 1], layer)
    check(f"{layer} maps of one digit (C, h, w)", maps.shape[1:], shape)
    show(viz.plot_feature_maps(maps, title=f"{layer}: digit {labels[digit]}"), f"13_maps_{layer.replace('.', '_')}")

# %% [markdown]
# ## 5. What a unit responds to: top-9 patches and their deconvnet projections (ZFNet Fig. 2)
#
# For a few feature maps of each layer, `top_activations` finds the 9 test digits on which the
# map reaches its largest values and crops each to the receptive field of the winning unit.
# `deconvnet` projects that one activation back to pixels: every other activation of the layer
# set to 0, then down through the network with the max pools' switches, a ReLU on the way down,
# and the transposed filters. Those are a backward pass in which ReLU passes `max(R, 0)` of the
# signal `R` coming down, whatever its input was (the gradient would pass `R * (x > 0)`).
#
# Left of each row: the 9 projections; right: the 9 patches. A layer-1 unit sees a 3x3 patch (an
# edge or a blob); a layer-2 unit an 8x8 part of a digit (a curve, a junction of strokes); a
# layer-3 unit the whole digit. The patches say more than the projections here. A layer-1
# projection is the unit's filter itself (one transposed 3x3 filter, scaled), the same for all
# 9 digits. Deeper ones are speckled: unpooling puts the signal on one pixel of each 2x2 window,
# and the deconvnet's ReLU keeps every positive signal whether or not that unit was active going
# up, so the 3x3 filters of inactive units add their patterns too (guided backpropagation, in
# section 6, masks those out). ZFNet's 7x7 filters on 224x224 photos smoothed this much more.
#
# The projection of one unit can only reach the pixels its receptive field covers: the check
# below counts any pixel outside it that a projection moves.

# %%
UNITS_PER_LAYER = 2 if QUICK else 4
rng = np.random.default_rng(0)
# ZFNet showed "a random subset of feature maps": a random pick (seeded) from each layer.
channels = {layer: sorted(rng.choice(viz.feature_maps(model, images[:1], layer).shape[1], UNITS_PER_LAYER,
                                     replace=False).tolist()) for layer in UNITS}
rows = [(layer, c) for layer in UNITS for c in channels[layer]]
fig, axes = plt.subplots(len(rows), 19, figsize=(19 * 0.7, len(rows) * 0.8))
outside = 0
for row, (layer, c) in zip(axes, rows):
    top9 = viz.top_activations(model, images, layer, c, k=9)
    projections = viz.deconvnet(model, images[[a.image_index for a in top9]], layer, c)
    for k, (activation, projection) in enumerate(zip(top9, projections)):
        top, left, bottom, right = activation.box
        rest = np.ones(projection.shape[1:], dtype=bool)
        rest[top:bottom, left:right] = False
        outside += int((projection[:, rest] != 0).sum())
        crop = projection[0, top:bottom, left:right]
        row[k].imshow(crop, cmap="gray", vmin=-np.abs(crop).max(), vmax=np.abs(crop).max())
        row[10 + k].imshow(pictures[activation.image_index, 0, top:bottom, left:right], cmap="gray", vmin=0, vmax=1)
    row[0].set_ylabel(f"{layer}\nmap {c}", rotation=0, ha="right", va="center", fontsize=8)
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
    ax.spines[:].set_visible(False)
axes[0, 4].set_title("deconvnet projections", fontsize=9)
axes[0, 14].set_title("top-9 patches", fontsize=9)
show(fig, "13_top9_deconvnet")
check("pixels outside a unit's receptive field that its deconvnet projection moves", outside, 0)

# %% [markdown]
# ## 6. Which pixels made the decision: occlusion and saliency
#
# **Occlusion** (ZFNet Fig. 7): a 4x4 grey square (0 after standardisation: the training set's
# mean pixel) slides over the digit in steps of 2, and each position records how much the
# probability of the true class drops. **Saliency**: the gradient of the class score (before
# the softmax) with respect to each pixel, its largest absolute value over the channels; one
# backward pass instead of 49 forward ones. **Guided backpropagation** passes back only positive
# signal through each ReLU, and only where its input was positive, which gives sharper pictures.
#
# Both maps should care about the strokes. Over the first test digits we compare the drop when
# the square covers ink (mean pixel above 0.3 under it) with the drop when it covers empty
# paper (below 0.02), and the saliency of ink pixels with that of empty ones.

# %%
PATCH, STRIDE = 4, 2
shown = slice(0, 3)
show(viz.plot_maps(pictures[shown], viz.occlusion(model, images[shown], target=labels[shown], patch=PATCH,
                                                   stride=STRIDE, upsample=True),
                   title="drop in p(true class)"), "13_occlusion")
show(viz.plot_maps(pictures[shown], viz.saliency(model, images[shown], target=labels[shown]), title="saliency"),
     "13_saliency")
show(viz.plot_maps(pictures[shown], viz.guided_backprop(model, images[shown], target=labels[shown]),
                   title="guided backpropagation"), "13_guided")

n = 40 if QUICK else len(images)
drops = viz.occlusion(model, images[:n], target=labels[:n], patch=PATCH, stride=STRIDE)
Ho, Wo = drops.shape[1:]
ink = np.array([[pictures[:n, 0, i * STRIDE:i * STRIDE + PATCH, j * STRIDE:j * STRIDE + PATCH].mean(axis=(1, 2))
                 for j in range(Wo)] for i in range(Ho)]).transpose(2, 0, 1)
on_strokes, on_paper = float(drops[ink > 0.3].mean()), float(drops[ink < 0.02].mean())
print(f"mean drop of p(true class): square on strokes {on_strokes:.3f}, on empty paper {on_paper:.3f}")
check("occluding strokes costs more than occluding empty paper (ratio)", round(on_strokes / on_paper, 1),
      lambda v: v > 3)
saliency = viz.saliency(model, images[:n], target=labels[:n])
on_ink, off_ink = float(saliency[pictures[:n, 0] > 0.3].mean()), float(saliency[pictures[:n, 0] < 0.02].mean())
check("mean saliency of ink pixels / of empty pixels", round(on_ink / off_ink, 2), lambda v: v > 1.3)

# %% [markdown]
# ## 7. CAM and Grad-CAM
#
# With global average pooling and one linear layer, the score of class `t` is
# `S_t = sum_k w_tk mean_ij A_k[i, j] + b_t = mean_ij M_t[i, j] + b_t`, with the class
# activation map `M_t = sum_k w_tk A_k`: the score is the map's average, so the map says where
# the evidence for `t` sits (Zhou et al. 2016). Grad-CAM weights the maps of *any* layer by the
# average gradient of the score, `alpha_k = mean_ij dS_t/dA_k[i, j]`, and keeps the positive
# part. At the layer that feeds the pooling, `dS_t/dA_k[i, j] = w_tk / (h*w)`, so Grad-CAM is
# `ReLU(M_t) / (h*w)` exactly; at an earlier layer (`layer2.2`, 8x8) it is finer, and no longer
# tied to CAM.

# %%
cams = viz.cam(model, images[:n], target=labels[:n])
model.eval()
with mt.no_grad():
    scores = model(mt.tensor(images[:n])).detach().numpy()
bias = model.fc.bias.detach().numpy()
check("CAM: |S_t - (mean of M_t + b_t)|, largest over the digits",
      float(np.abs(scores[np.arange(n), labels[:n]] - (cams.mean(axis=(1, 2)) + bias[labels[:n]])).max()),
      lambda v: v < 1e-4)
h, w = cams.shape[1:]
grad_cams = viz.grad_cam(model, images[:n], "layer3.2", target=labels[:n])
check("Grad-CAM at layer3.2 * h*w against ReLU(CAM), largest difference",
      float(np.abs(grad_cams * h * w - np.maximum(cams, 0)).max()), lambda v: v < 1e-4)
show(viz.plot_maps(pictures[shown], viz.cam(model, images[shown], target=labels[shown], upsample=True),
                   title="CAM (4x4)"), "13_cam")
show(viz.plot_maps(pictures[shown], viz.grad_cam(model, images[shown], "layer2.2", target=labels[shown],
                                                 upsample=True), title="Grad-CAM at layer2.2 (8x8)"),
     "13_grad_cam")

# %% [markdown]
# ## 8. The same from the command line
#
# `minitorch-cnn visualize` draws each of these for any checkpoint written by `train` and any
# image file (PNG, JPEG; read with `data.read_image`, resized to the model's input):
#
# ```sh
# minitorch-cnn train resnet20 --dataset digits --image-size 16 --out runs/r20
# minitorch-cnn visualize runs/r20/checkpoint.npz --method occlusion --image digit.png --out occlusion.png
# minitorch-cnn visualize runs/r20/checkpoint.npz --method gradcam --layer features.5 --image digit.png \
#     --out gradcam.png
# minitorch-cnn visualize runs/r20/checkpoint.npz --method top9 --layer features.4 --channel 3 --out top9.png
# ```
#
# `--method` is one of `saliency`, `occlusion`, `guided`, `deconvnet`, `cam`, `gradcam`, `top9`;
# a wrong `--layer` lists the model's layers.

# %% [markdown]
# ## 9. A network trained on ImageNet, on photos
#
# The same questions, asked of torchvision's ResNet-18 about scikit-learn's two sample photos
# (`china.jpg`, a temple, and `flower.jpg`), prepared as its weights expect
# (`data.imagenet.preprocessing("resnet18")`: shorter side 256, central 224x224, ImageNet's mean
# and std). Give the weights file in `MINITORCH_CNN_RESNET18` (the first cell; lecture 11 loads
# the same file). Without it this section runs on a randomly initialised ResNet-18 and says so:
# its maps show how each method works on a 224x224 photo, not what an ImageNet network looks at.
# ResNet-18 ends in global average pooling and one linear layer, so CAM applies, and the identity
# of section 7 (Grad-CAM at the pooled layer is `ReLU(CAM) / (h*w)`) holds for any weights.

# %%
from sklearn.datasets import load_sample_images

weights = os.environ.get("MINITORCH_CNN_RESNET18", "")
if weights:
    photo_net = models.create("resnet18", weights=weights)
    label = tag = "ImageNet weights"
else:
    mt.manual_seed(0)
    photo_net = models.create("resnet18")
    label, tag = "stand-in: random weights, not ImageNet's", "random weights"
    print("MINITORCH_CNN_RESNET18 is not set, so there are no ImageNet weights here: the maps below are "
          "those of a randomly initialised ResNet-18, and show only the mechanics.")
photo_net.eval()
preset = data.imagenet.preprocessing("resnet18")
photos = np.stack([preset(data.read_image(path)) for path in load_sample_images().filenames])
mean = np.asarray(data.imagenet.IMAGENET_MEAN, dtype=np.float32)[:, None, None]
std = np.asarray(data.imagenet.IMAGENET_STD, dtype=np.float32)[:, None, None]
seen = np.clip(photos * std + mean, 0.0, 1.0)  # the crops as the network sees them, before standardising
names = data.imagenet.imagenet_classes()
with mt.no_grad():
    predicted = photo_net(mt.tensor(photos)).detach().numpy().argmax(axis=1)
for path, k in zip(load_sample_images().filenames, predicted):
    print(f"{os.path.basename(path)}: predicted {names[k]!r} ({label})")

photo_cams = viz.cam(photo_net, photos)
h, w = photo_cams.shape[1:]
check("ResNet-18's CAM resolution at 224x224 (layer4: 224 / 32)", (h, w), (7, 7))
check("Grad-CAM at layer4 * h*w against ReLU(CAM), largest difference, relative",
      float(np.abs(viz.grad_cam(photo_net, photos, "layer4") * h * w - np.maximum(photo_cams, 0)).max()
            / max(np.abs(photo_cams).max(), 1e-12)), lambda v: v < 1e-4)
show(viz.plot_maps(seen, viz.grad_cam(photo_net, photos, "layer4", upsample=True),
                   title=f"Grad-CAM, layer4 ({tag})"), "13_photos_grad_cam")
show(viz.plot_maps(seen, viz.saliency(photo_net, photos), title=f"saliency ({tag})"), "13_photos_saliency")
