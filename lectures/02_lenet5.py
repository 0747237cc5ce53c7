# %%
# Quick mode (the small settings the tests run, about a minute): uncomment the next line and run
# from the top; a script takes --quick. MINITORCH_CNN_QUICK=1 in the environment selects it too.
# # %env MINITORCH_CNN_QUICK=1

# %% [markdown]
# # Lecture 2: LeNet-5
#
# LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document recognition"
# (Proc. IEEE, 1998): conv, subsample, conv, subsample, then fully connected layers, trained end
# to end with back-propagation. This lecture prints the network's layer table, counts its
# parameters from the layer list, trains it on handwritten digits and looks at what its first
# layer learned.

# %%
import time

import numpy as np

import minitorch_cnn as mt
from minitorch_cnn import data, models, optim
from minitorch_cnn.summary import summary
from minitorch_cnn.training import evaluate, fit, plot_history

from _common import QUICK, check, plt, show

mt.manual_seed(0)

# %% [markdown]
# ## 1. The layer table
#
# `summary` runs one 32x32 image through the model and records every layer's output shape,
# parameters and multiply-accumulates (MACs). The names of the 1998 paper: C1 (6 maps of 28x28),
# S2 (subsampling to 14x14), C3 (16 maps of 10x10), S4 (5x5), C5 (120 units: a 5x5 conv on a
# 5x5 map is fully connected), F6 (84 units) and the 10 outputs.

# %%
lenet = models.create("lenet5")
table = summary(lenet, (1, 32, 32))
print(table)
main_layers = [r for r in table.rows if r["type"] in ("Conv2d", "AvgPool2d", "Linear")]
shapes = [r["output_shape"][1:] for r in main_layers]
for name, shape in zip(["C1", "S2", "C3", "S4", "C5", "F6", "output"], shapes):
    print(f"{name:>6}: {shape}")
check("C1, S2, C3, S4, C5, F6, output shapes", shapes,
      [(6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (120, 1, 1), (84,), (10,)])

# %% [markdown]
# Each conv layer has `F * (C*kh*kw + 1)` parameters, each fully connected layer
# `out * (in + 1)`; the pooling layers have none. The sum, computed from the layer list, must
# equal what `summary` counted in the model.

# %%
by_formula = {
    "C1": 6 * (1 * 5 * 5 + 1),
    "C3": 16 * (6 * 5 * 5 + 1),
    "C5": 120 * (16 * 5 * 5 + 1),
    "F6": 84 * (120 + 1),
    "output": 10 * (84 + 1),
}
for name, count in by_formula.items():
    print(f"{name:>6}: {count:,}")
check("LeNet-5 parameters from the layer list", sum(by_formula.values()), table.total_params)
check("C1 MACs: 28*28 outputs x 6 maps x 5*5 taps", main_layers[0]["macs"], 28 * 28 * 6 * 5 * 5)

# %% [markdown]
# In the paper C3 is not fully connected to S2: its Table I lets each C3 map see only 3, 4 or 6
# of the six S2 maps, "to break the symmetry" and to save connections. `c3_table="paper"`
# keeps the full weight array and zeroes the unused pairs with a fixed mask, so the weights that
# can actually train are the mask's ones times 5*5, plus 16 biases.

# %%
paper = models.create("lenet5", c3_table="paper")
c3_mask = paper.features[3].mask.detach().numpy()
pairs = int(c3_mask.sum())
print(f"C3 map-to-map connections in Table I: {pairs} of {6 * 16}")
check("trainable C3 parameters with the paper's table", pairs * 5 * 5 + 16, 1516)
check("C3 parameters fully connected", by_formula["C3"], 2416)

# %% [markdown]
# ## 2. Training on digits
#
# The data: scikit-learn's handwritten 8x8 digits (shipped with the package, no download),
# scaled up to LeNet's 32x32 input and split into a train and a test set (sizes printed below). The model is the
# classic variant (tanh, average pooling) with the paper's initialisation; it is trained with
# Adam and mini-batches of 32.

# %%
train_set, test_set = data.digits("train"), data.digits("test")
print(f"{len(train_set) + len(test_set):,} digits: {len(train_set):,} to train on, {len(test_set):,} to test")
epochs = 3 if QUICK else 20
mt.manual_seed(0)
lenet = models.create("lenet5")
c1_before = lenet.features[0].weight.detach().numpy()
start = time.perf_counter()
history = fit(lenet, data.DataLoader(train_set, 32, shuffle=True), optim.Adam(lenet.parameters(), lr=2e-3), epochs,
              test_loader=data.DataLoader(test_set, 256), progress=False)
print(f"{epochs} epochs in {time.perf_counter() - start:.1f} s")
for h in history:
    print(f"epoch {h['epoch']:>2}: train loss {h['train_loss']:.3f}, train accuracy {h['train_accuracy']:.3f}, "
          f"test accuracy {h['test_accuracy']:.3f}")
result = evaluate(lenet, data.DataLoader(test_set, 256))
check("test accuracy of LeNet-5 on digits", round(result["accuracy"], 4), lambda a: a > (0.85 if QUICK else 0.95))

# The curves: the same `plot_history` that `minitorch-cnn train` uses for its curves.png.
show(plot_history(history, title="LeNet-5 on digits"), "02_training")

# %% [markdown]
# ## 3. What C1 learned
#
# The six 5x5 filters of C1 after training, and the six 28x28 maps they produce (after the
# tanh) for one test digit, next to how far the weights moved from their uniform random start
# (printed below). These digits are 8x8 images blown up to 32x32, so they are blurry: there is
# little fine texture to detect, and most filters come out as coarse, tilted intensity
# patterns. Their maps are the strokes of the digit with one sign or the other, some stronger
# on one side of a stroke than the other: first-order edge detectors, far blurrier than the
# Sobel filters of lecture 1.

# %%
c1 = lenet.features[0].weight.detach().numpy()[:, 0]
change = float(np.abs(c1 - c1_before[:, 0]).mean() / np.abs(c1_before).mean())
check("mean change of the C1 weights relative to their initial size", round(change, 3), lambda v: v > 0.1)

digit, label = test_set[0]
lenet.eval()
with mt.no_grad():
    maps = lenet.features[:2](mt.tensor(digit[None])).detach().numpy()[0]
check("C1 feature maps of one digit", maps.shape, (6, 28, 28))

fig, axes = plt.subplots(2, 7, figsize=(14, 4.2))
axes[0, 0].imshow(digit[0], cmap="gray")
axes[0, 0].set_title(f"input (label {label})")
axes[1, 0].axis("off")
for k in range(6):
    axes[0, k + 1].imshow(c1[k], cmap="RdBu_r", vmin=-np.abs(c1).max(), vmax=np.abs(c1).max())
    axes[0, k + 1].set_title(f"C1 filter {k}")
    axes[1, k + 1].imshow(maps[k], cmap="RdBu_r", vmin=-1, vmax=1)
    axes[1, k + 1].set_title(f"C1 map {k}")
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
show(fig, "02_c1_filters_and_maps")
