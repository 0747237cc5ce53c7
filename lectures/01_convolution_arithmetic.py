# %%
# Quick mode (the small settings the tests run, about a minute): uncomment the next line and run
# from the top; a script takes --quick. MINITORCH_CNN_QUICK=1 in the environment selects it too.
# # %env MINITORCH_CNN_QUICK=1

# %% [markdown]
# # Lecture 1: convolution arithmetic
#
# A convolution layer slides small filters over an image and takes a dot product at every
# position. This lecture computes every number the slides state about that operation with
# `minitorch_cnn`: one output by hand, output sizes, padding, parameter counts, what classic
# filters do to a photo, why a 1x1 convolution is a fully connected layer, and how im2col turns
# the whole thing into one matrix product.
#
# Run it as a script (`python lectures/01_convolution_arithmetic.py --quick` for the small
# version) or open it as a notebook with jupytext.

# %%
import numpy as np
from sklearn.datasets import load_sample_image

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import nn
from minitorch_cnn.functional import conv_output_size

from _common import QUICK, check, plt, show

mt.manual_seed(0)

# %% [markdown]
# ## 1. Cross-correlation by hand
#
# Deep-learning "convolution" does not flip the kernel: output pixel `(i, j)` is the sum of the
# kernel times the input window whose top-left corner is `(i, j)`:
#
#     y[i, j] = sum_{a, b} x[i + a, j + b] * k[a, b]
#
# A 3x3 input holding 0..8 and the 2x2 kernel `[[0, 1], [2, 3]]`: first the four sums written
# out with Python loops, then the framework's `F.conv2d` (input `(N, C, H, W)`, weight
# `(F, C, kh, kw)`).

# %%
x_small = np.arange(9, dtype=np.float32).reshape(3, 3)
k_small = np.array([[0, 1], [2, 3]], dtype=np.float32)
by_hand = [
    [sum(x_small[i + a, j + b] * k_small[a, b] for a in range(2) for b in range(2)) for j in range(2)]
    for i in range(2)
]
print("input:\n", x_small, "\nkernel:\n", k_small)
print("by hand, top-left window: 0*0 + 1*1 + 3*2 + 4*3 =", 0 * 0 + 1 * 1 + 3 * 2 + 4 * 3)
y_small = F.conv2d(mt.tensor(x_small[None, None]), mt.tensor(k_small[None, None]))
print("F.conv2d output:\n", y_small.detach().numpy()[0, 0])
check("cross-correlation by hand", [int(v) for row in by_hand for v in row], [19, 25, 37, 43])
check("cross-correlation with F.conv2d", [int(v) for v in y_small.detach().numpy().ravel()], [19, 25, 37, 43])

# %% [markdown]
# ## 2. Output size: (N - F + 2P) / S + 1
#
# A 7x7 input and a 3x3 filter: with stride 1 the filter fits in 5 positions per row, with
# stride 2 in 3. With stride 3 the formula gives (7 - 3)/3 + 1, which is not a whole number:
# the stride "does not fit". Every layer of the framework gets its sizes from one helper,
# `conv_output_size(W, F, S, P)`.

# %%
for S in (1, 2, 3):
    print(f"7x7 input, 3x3 filter, stride {S}: (7 - 3)/{S} + 1 = {(7 - 3) / S + 1:.4g}"
          f" -> conv_output_size gives {conv_output_size(7, 3, S)}")
check("output size at stride 1", conv_output_size(7, 3, 1), 5)
check("output size at stride 2", conv_output_size(7, 3, 2), 3)

# %% [markdown]
# What the framework does about stride 3: by default it floors, as PyTorch does. The windows
# start at columns 0 and 3; a third window would start at column 6 and stick out, so it is
# dropped, and column 6 is never read at all. Asked for `exact=True`, the helper refuses
# instead of rounding.

# %%
check("output size at stride 3 (floor)", conv_output_size(7, 3, 3), 2)
try:
    conv_output_size(7, 3, 3, exact=True)
    refused = False
except ValueError as error:
    print("exact=True:", error)
    refused = True
check("exact=True refuses stride 3", refused, True)

# Which input columns does a stride-3 conv read? Backpropagate through it and see which pixels get a gradient.
x77 = mt.tensor(np.ones((1, 1, 7, 7), dtype=np.float32), requires_grad=True)
F.conv2d(x77, mt.tensor(np.ones((1, 1, 3, 3), dtype=np.float32)), stride=3).sum().backward()
columns_read = np.flatnonzero(x77.grad[0, 0].sum(axis=0))
print("columns that receive a gradient:", columns_read.tolist())
check("columns never read at stride 3", sorted(set(range(7)) - set(columns_read.tolist())), [6])
check("padding 1 makes stride 3 fit: (7 - 3 + 2)/3 + 1", conv_output_size(7, 3, 3, 1, exact=True), 3)

# %% [markdown]
# ## 3. "Same" padding
#
# With stride 1, padding `P = (F - 1)/2` zeros on each side keeps the output the size of the
# input: (W - F + 2(F - 1)/2)/1 + 1 = W. That is what lets a deep network stack many 3x3
# layers without the maps shrinking away.

# %%
W_in = 32
for F_size in (3, 5, 7):
    P = (F_size - 1) // 2
    Wo = conv_output_size(W_in, F_size, 1, P)
    print(f"{W_in}x{W_in} input, {F_size}x{F_size} filter, stride 1, pad {P}: output {Wo}x{Wo}")
    check(f"same padding for a {F_size}x{F_size} filter", Wo, W_in)
y_same = nn.Conv2d(3, 10, 5, padding=2)(mt.tensor(np.zeros((1, 3, 32, 32), dtype=np.float32)))
check("Conv2d(3, 10, 5, padding=2) on 32x32x3: output shape", y_same.shape, (1, 10, 32, 32))

# %% [markdown]
# ## 4. The parameters of a conv layer
#
# Ten 5x5 filters on a 3-channel input: each filter has 5*5*3 weights plus one bias. The
# layer's parameter count does not depend on the image size.

# %%
conv = nn.Conv2d(3, 10, 5)
counted = sum(p.numel() for p in conv.parameters())
print("weight", conv.weight.shape, "bias", conv.bias.shape)
check("ten 5x5x3 filters: 10 * (5*5*3 + 1)", 10 * (5 * 5 * 3 + 1), 760)
check("parameters of nn.Conv2d(3, 10, 5)", counted, 760)

# %% [markdown]
# ## 5. Edge detectors on a real photo
#
# Hand-made filters from image processing: the Sobel filters respond to horizontal and vertical
# intensity changes, the Laplacian to any change. Each sums to zero, so a flat region gives
# exactly zero. Stacked as the `F = 3` filters of one conv layer, they run on a grey-scale
# version of scikit-learn's sample photo `china.jpg` (scikit-learn decodes the JPEG with
# Pillow, one of the framework's dependencies). The first layer of a network trained on
# photos learns oriented edge filters of this kind (AlexNet's paper shows its 96, Figure 3).

# %%
photo = load_sample_image("china.jpg").astype(np.float32) / 255.0
if QUICK:
    photo = photo[::2, ::2]  # half resolution: the edges are the same, the conv four times cheaper
grey = photo @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601 luma weights
sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
edges = np.stack([sobel_x, sobel_x.T, np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float32)])
names = ["Sobel x (vertical edges)", "Sobel y (horizontal edges)", "Laplacian"]
H, W = grey.shape
response = F.conv2d(mt.tensor(grey[None, None]), mt.tensor(edges[:, None]), padding=1)
print("photo", photo.shape, "-> grey input", (1, 1, H, W), "-> responses", response.shape)
check("same padding keeps the photo's size", response.shape, (1, 3, H, W))
flat = F.conv2d(mt.tensor(np.full((1, 1, 5, 5), 0.7, dtype=np.float32)), mt.tensor(edges[:, None]))
check("largest response of the three filters on a flat patch", float(np.abs(flat.detach().numpy()).max()), lambda v: v < 1e-6)
strength = np.abs(response.detach().numpy()[0]).mean(axis=(1, 2))
for name, s in zip(names, strength):
    print(f"mean |response| of {name}: {s:.4f}")

fig, axes = plt.subplots(1, 4, figsize=(16, 3.5))
axes[0].imshow(photo)
axes[0].set_title("china.jpg")
for ax, name, r in zip(axes[1:], names, response.detach().numpy()[0]):
    ax.imshow(np.abs(r), cmap="gray", vmax=np.percentile(np.abs(r), 99))
    ax.set_title(name)
for ax in axes:
    ax.axis("off")
show(fig, "01_edges")

# %% [markdown]
# ## 6. A 1x1 convolution is a fully connected layer applied at every pixel
#
# A 1x1 filter sees one pixel's `C` channel values and nothing else, so a 1x1 conv with `F`
# filters multiplies each pixel's `C`-vector by the same `(F, C)` matrix. Below: the conv,
# and the same weights used by `F.linear` on every pixel's channel vector (put channels last,
# apply, put them back). The two agree to float32 rounding.

# %%
N, C, Hs, Ws, F_out = 2, 64, 7, 7, 32
x_pix = mt.tensor(np.random.default_rng(0).standard_normal((N, C, Hs, Ws)).astype(np.float32))
conv1x1 = nn.Conv2d(C, F_out, 1)
by_conv = conv1x1(x_pix)
per_pixel = F.linear(x_pix.permute(0, 2, 3, 1), conv1x1.weight.reshape(F_out, C), conv1x1.bias)
by_linear = per_pixel.permute(0, 3, 1, 2)
difference = float(np.abs(by_conv.detach().numpy() - by_linear.detach().numpy()).max())
check("1x1 conv vs linear on every pixel: largest difference", difference, lambda v: v < 1e-5)
check("parameters of a 1x1 conv from 64 to 32 channels: 64*32 + 32", conv1x1.weight.numel() + conv1x1.bias.numel(),
      64 * 32 + 32)

# %% [markdown]
# ## 7. im2col made visible
#
# `F.im2col` copies every receptive field into a column: for a 4x4 input holding 0..15 and a
# 3x3 kernel, there are 2x2 = 4 windows, so 4 columns of 3*3 = 9 values each. Column `ho*Wo + wo`
# is the window at output pixel `(ho, wo)`; neighbouring columns share 6 of their 9 values,
# which is the price of the trick: the same pixel is copied several times. The convolution is
# then a single matrix product, the filters as rows `(F, C*kh*kw)` times the columns.

# %%
x16 = mt.tensor(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4))
cols = F.im2col(x16, 3)
print("input:\n", x16.detach().numpy()[0, 0])
print("im2col columns (one per window), shape", cols.shape, ":\n", cols.detach().numpy()[0])
check("im2col shape for a 4x4 input and 3x3 kernel", cols.shape, (1, 9, 4))
check("column 0 is the top-left window", cols.detach().numpy()[0, :, 0].tolist(), [0, 1, 2, 4, 5, 6, 8, 9, 10])

w3 = mt.tensor(np.random.default_rng(1).standard_normal((5, 1, 3, 3)).astype(np.float32))
as_matmul = (w3.reshape(5, 9) @ cols).reshape(1, 5, 2, 2)
gap = float(np.abs(as_matmul.detach().numpy() - F.conv2d(x16, w3).detach().numpy()).max())
check("filters (5, 9) @ columns (9, 4) vs F.conv2d: largest difference", gap, lambda v: v < 1e-5)

fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), gridspec_kw={"width_ratios": [1, 1.2]})
axes[0].imshow(x16.detach().numpy()[0, 0], cmap="viridis")
for (i, j), v in np.ndenumerate(x16.detach().numpy()[0, 0]):
    axes[0].text(j, i, int(v), ha="center", va="center", color="w")
axes[0].set_title("input 4x4")
axes[1].imshow(cols.detach().numpy()[0], cmap="viridis", aspect="auto")
for (i, j), v in np.ndenumerate(cols.detach().numpy()[0]):
    axes[1].text(j, i, int(v), ha="center", va="center", color="w")
axes[1].set(title="im2col: one column per 3x3 window", xlabel="window (ho*Wo + wo)", ylabel="tap (c*kh + i)*kw + j")
show(fig, "01_im2col")

# %% [markdown]
# The copying costs memory. AlexNet's first layer (96 filters of 11x11x3 at stride 4 on a
# 227x227x3 image) becomes a `(96, 363) @ (363, 3025)` product: the column matrix holds
# several times more numbers than the image it was cut from, because the 11x11 windows
# overlap (stride 4 < 11).

# %%
image = mt.tensor(np.zeros((1, 3, 227, 227), dtype=np.float32))
alex_cols = F.im2col(image, 11, stride=4)
check("AlexNet conv1 columns: (N, 11*11*3, 55*55)", alex_cols.shape, (1, 363, 3025))
blow_up = alex_cols.numel() / image.numel()
check("column values per image value", round(blow_up, 2), lambda v: v > 1)
print(f"im2col stores {alex_cols.numel():,} values for an image of {image.numel():,}: {blow_up:.2f}x")
