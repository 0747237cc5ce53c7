# %%
# Quick mode (the small settings the tests run, about a minute): uncomment the next line and run
# from the top; a script takes --quick. MINITORCH_CNN_QUICK=1 in the environment selects it too.
# # %env MINITORCH_CNN_QUICK=1

# %% [markdown]
# # Lecture 4: batch normalisation
#
# Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing Internal
# Covariate Shift" (ICML 2015). For each feature (each channel, for conv layers), over the `m`
# values a mini-batch holds of it:
#
#     mu = mean(x)     var = mean((x - mu)**2)     xhat = (x - mu) / sqrt(var + eps)
#     y  = gamma * xhat + beta
#
# This lecture writes the forward and backward out step by step and checks them against the
# framework's `F.batch_norm` and a numerical gradient check; then measures what BN does to the
# activation statistics of lecture 3, to training speed, and why it behaves differently in
# train and eval mode.

# %%
import time

import numpy as np

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import data, nn, optim
from minitorch_cnn.data import transforms
from minitorch_cnn.nn import init
from minitorch_cnn.training import fit

from _common import QUICK, check, plt, show

mt.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The forward pass, one step at a time
#
# Written for an `(m, D)` input: `D` features, `m` examples. Every intermediate is kept, because
# the backward pass walks the same steps in reverse.

# %%
EPS = 1e-5


def batchnorm_forward(x, gamma, beta, eps=EPS):
    m = x.shape[0]
    mu = x.sum(axis=0) / m
    xc = x - mu
    var = (xc**2).sum(axis=0) / m
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = xc * inv_std
    y = gamma * xhat + beta
    return y, (xc, inv_std, xhat, gamma)

# %% [markdown]
# ## 2. The backward pass, the same steps reversed
#
# Each line is the chain rule through one forward line; where a forward value was used twice
# (`xc` feeds both `var` and `xhat`), its gradient is the sum of both contributions.

# %%
def batchnorm_backward(dy, cache):
    xc, inv_std, xhat, gamma = cache
    m = dy.shape[0]
    dbeta = dy.sum(axis=0)                      # y = gamma * xhat + beta
    dgamma = (dy * xhat).sum(axis=0)
    dxhat = dy * gamma
    dinv_std = (dxhat * xc).sum(axis=0)         # xhat = xc * inv_std
    dxc = dxhat * inv_std
    dvar = -0.5 * inv_std**3 * dinv_std         # inv_std = (var + eps) ** -0.5
    dxc = dxc + 2.0 * xc * dvar / m             # var = sum(xc**2) / m
    dmu = -dxc.sum(axis=0)                      # xc = x - mu
    dx = dxc + dmu / m                          # mu = sum(x) / m
    return dx, dgamma, dbeta


def batchnorm_backward_compact(dy, cache):
    """The same gradient simplified on paper, the form the framework's backward uses."""
    _, inv_std, xhat, gamma = cache
    m = dy.shape[0]
    dxhat = dy * gamma
    dx = inv_std / m * (m * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
    return dx, (dy * xhat).sum(axis=0), dy.sum(axis=0)

# %% [markdown]
# ## 3. Checked against the framework and against finite differences
#
# The same float64 data through both; the framework's gradients come from its autograd, fed
# the same upstream gradient `dy`.

# %%
m, D = 32, 10
x_np = rng.normal(3.0, 2.5, size=(m, D))  # deliberately off-centre and wide
gamma_np, beta_np = rng.normal(1.0, 0.2, size=D), rng.normal(0.0, 0.2, size=D)
dy_np = rng.normal(size=(m, D))

y_ours, cache = batchnorm_forward(x_np, gamma_np, beta_np)
dx_ours, dgamma_ours, dbeta_ours = batchnorm_backward(dy_np, cache)
dx_compact, _, _ = batchnorm_backward_compact(dy_np, cache)

x_t = mt.tensor(x_np, requires_grad=True)
gamma_t, beta_t = mt.tensor(gamma_np, requires_grad=True), mt.tensor(beta_np, requires_grad=True)
y_t = F.batch_norm(x_t, None, None, gamma_t, beta_t, training=True, eps=EPS)
(y_t * mt.tensor(dy_np)).sum().backward()


def largest_gap(a, b):
    return float(np.abs(np.asarray(a) - np.asarray(b)).max())


check("forward: ours vs F.batch_norm", largest_gap(y_ours, y_t.detach().numpy()), lambda v: v < 1e-12)
check("dx: step by step vs F.batch_norm", largest_gap(dx_ours, x_t.grad), lambda v: v < 1e-12)
check("dx: step by step vs compact formula", largest_gap(dx_ours, dx_compact), lambda v: v < 1e-12)
check("dgamma: ours vs F.batch_norm", largest_gap(dgamma_ours, gamma_t.grad), lambda v: v < 1e-12)
check("dbeta: ours vs F.batch_norm", largest_gap(dbeta_ours, beta_t.grad), lambda v: v < 1e-12)
xhat = cache[2]
check("xhat: largest |per-feature mean|", float(np.abs(xhat.mean(axis=0)).max()), lambda v: v < 1e-12)
check("xhat: per-feature std furthest from 1", float(np.abs(xhat.std(axis=0) - 1).max()), lambda v: v < 1e-5)

# %% [markdown]
# `mt.gradcheck` perturbs every input element by `+-eps`, in float64, and compares the central
# difference with the analytic gradient. It passes for `x`, `gamma` and `beta`:

# %%
passed = mt.gradcheck(lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True),
                      [mt.tensor(x_np[:8, :4], requires_grad=True), mt.tensor(gamma_np[:4], requires_grad=True),
                       mt.tensor(beta_np[:4], requires_grad=True)])
check("gradcheck of F.batch_norm (x, gamma, beta)", passed, True)

# %% [markdown]
# After a conv layer the features are channels, and each channel is normalised over all of its
# `m = N*H*W` values (every position of every image shares the channel's `gamma` and `beta`).
# So `(N, C, H, W)` batch norm is the `(m, D)` version applied to the maps with channels last,
# flattened to `(N*H*W, C)`:

# %%
N, C, H, W = 4, 3, 5, 5
maps = rng.normal(size=(N, C, H, W))
gamma_c, beta_c = rng.normal(1.0, 0.2, size=C), rng.normal(0.0, 0.2, size=C)
as_rows = maps.transpose(0, 2, 3, 1).reshape(N * H * W, C)
y_rows, _ = batchnorm_forward(as_rows, gamma_c, beta_c)
y_maps = F.batch_norm(mt.tensor(maps), None, None, mt.tensor(gamma_c), mt.tensor(beta_c), training=True)
check("(N, C, H, W) batch norm = (N*H*W, C) batch norm",
      largest_gap(y_rows.reshape(N, H, W, C).transpose(0, 3, 1, 2), y_maps.detach().numpy()), lambda v: v < 1e-12)

# %% [markdown]
# ## 4. Activation statistics with and without BN
#
# Lecture 3's failing case: tanh layers whose weights have `std = 0.01`, so each layer shrinks
# the spread and the activations collapse towards 0. Now a `BatchNorm1d` goes between each
# linear layer and its tanh. Whatever scale the weights give `x @ W`, BN brings it back to
# zero mean and unit variance, and the tanh sees the same well-scaled input in every layer
# (`gamma = 1`, `beta = 0` at the start).

# %%
UNITS = 512 if QUICK else 2048
DEPTH = 6
x_deep = mt.tensor(rng.standard_normal((64, UNITS)).astype(np.float32), requires_grad=True)


def layer_statistics(batch_norm):
    mt.manual_seed(0)
    a, acts = x_deep, []
    for _ in range(DEPTH):
        linear = nn.Linear(UNITS, UNITS, bias=False)
        init.normal_(linear.weight, 0.0, 0.01)
        z = linear(a)
        a = F.tanh(nn.BatchNorm1d(UNITS)(z) if batch_norm else z).retain_grad()
        acts.append(a)
    (a * mt.tensor(rng.standard_normal(a.shape).astype(np.float32))).sum().backward()
    return [float(t.detach().numpy().std()) for t in acts], [float(t.grad.numpy().std()) for t in acts]


plain_std, plain_grad = layer_statistics(False)
bn_std, bn_grad = layer_statistics(True)
print(f"{'layer':>6} {'std, plain':>12} {'std, BN':>10} {'dL/da std, plain':>18} {'dL/da std, BN':>15}")
for l in range(DEPTH):
    print(f"{l + 1:>6} {plain_std[l]:>12.4g} {bn_std[l]:>10.4g} {plain_grad[l]:>18.4g} {bn_grad[l]:>15.4g}")
check("without BN: std of layer 6 / layer 1", round(plain_std[-1] / plain_std[0], 5), lambda v: v < 0.1)
check("with BN: smallest std over the layers", round(min(bn_std), 4), lambda v: v > 0.5)
check("with BN: largest / smallest std over the layers", round(max(bn_std) / min(bn_std), 4), lambda v: v < 1.1)

fig, (ax_a, ax_g) = plt.subplots(1, 2, figsize=(11, 3.8))
for label, stds, grads in (("no BN", plain_std, plain_grad), ("BN", bn_std, bn_grad)):
    ax_a.semilogy(range(1, DEPTH + 1), stds, "o-", label=label)
    ax_g.semilogy(range(1, DEPTH + 1), grads, "o-", label=label)
ax_a.set(xlabel="layer", ylabel="std of activations", title="tanh, weights N(0, 0.01^2)")
ax_g.set(xlabel="layer", ylabel="std of dL/da", title="gradients")
ax_a.legend()
show(fig, "04_statistics_with_and_without_bn")

# %% [markdown]
# ## 5. Training speed
#
# The same small CNN on the digits (8x8, standardised), with and without a `BatchNorm2d` after
# each conv, the same initialisation, the same SGD (learning rate 0.01, momentum 0.9) and the
# same order of mini-batches.

# %%
digits_train = data.digits("train", size=8)
digits_test = data.digits("test", size=8)
standardise = transforms.Normalize(digits_train.images.mean(), digits_train.images.std())


def small_cnn(batch_norm):
    norm = nn.BatchNorm2d if batch_norm else (lambda channels: nn.Identity())
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), norm(32), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), norm(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), norm(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 2 * 2, 10),
    )


EPOCHS = 2 if QUICK else 8
histories, models_trained = {}, {}
for batch_norm in (False, True):
    mt.manual_seed(0)
    model = small_cnn(batch_norm)
    start = time.perf_counter()
    loader = data.DataLoader(digits_train, 32, shuffle=True, transform=standardise, seed=0)
    histories[batch_norm] = fit(model, loader, optim.SGD(model.parameters(), lr=0.01, momentum=0.9), EPOCHS,
                                progress=False)
    models_trained[batch_norm] = model
    label = "with BN" if batch_norm else "without BN"
    print(f"{label}: {time.perf_counter() - start:.1f} s, training loss per epoch "
          + ", ".join(f"{h['train_loss']:.3f}" for h in histories[batch_norm]))
first_plain, first_bn = histories[False][0]["train_loss"], histories[True][0]["train_loss"]
check("training loss after epoch 1, with BN / without", round(first_bn / first_plain, 3), lambda v: v < 0.7)

fig, ax = plt.subplots(figsize=(6, 3.8))
for batch_norm, hist in histories.items():
    ax.semilogy([h["epoch"] for h in hist], [h["train_loss"] for h in hist], "o-",
                label="with BN" if batch_norm else "without BN")
ax.set(xlabel="epoch", ylabel="training loss", title="small CNN on digits, SGD lr 0.01")
ax.legend()
show(fig, "04_training_speed")

# %% [markdown]
# ## 6. Train mode versus eval mode
#
# In training, BN normalises with the statistics of the current mini-batch, so an image's
# output depends on which other images share its batch. A trained model must give one answer
# per image, so in eval mode BN uses running averages collected during training (`momentum`
# 0.1; the running variance is the unbiased `m/(m-1)` estimate) and becomes a fixed affine map.
#
# First: the same test image in two different batches.

# %%
bn_model = models_trained[True]
images = standardise(digits_test.images)
image_batch_a = mt.tensor(np.concatenate([images[:1], images[1:32]]))
image_batch_b = mt.tensor(np.concatenate([images[:1], images[32:63]]))
saved_state = bn_model.state_dict()  # train-mode forwards update the running statistics: restore them after
with mt.no_grad():
    bn_model.train()
    train_gap = largest_gap(bn_model(image_batch_a).detach().numpy()[0], bn_model(image_batch_b).detach().numpy()[0])
    bn_model.eval()
    eval_gap = largest_gap(bn_model(image_batch_a).detach().numpy()[0], bn_model(image_batch_b).detach().numpy()[0])
bn_model.load_state_dict(saved_state)
check("train mode: one image's logits in two different batches, largest difference", round(train_gap, 4),
      lambda v: v > 1e-3)
check("eval mode: the same comparison", eval_gap, 0.0)

# %% [markdown]
# Second: the running statistics estimate the training data's statistics. The first BN layer's
# `running_mean` against the actual per-channel mean of the first conv's output over the whole
# training set:

# %%
first_bn = bn_model[1]
with mt.no_grad():
    conv1_out = bn_model[0](mt.tensor(standardise(digits_train.images))).detach().numpy()
channel_mean = conv1_out.mean(axis=(0, 2, 3))
running = first_bn.running_mean.detach().numpy()
print("channels 0-3, running_mean:", np.round(running[:4], 4), " training-set mean:", np.round(channel_mean[:4], 4))
check("largest |running_mean - training-set mean| / channel std", round(float(
    (np.abs(running - channel_mean) / conv1_out.std(axis=(0, 2, 3))).max()), 4), lambda v: v < 0.1)

# %% [markdown]
# Third: what goes wrong when a trained model is left in train mode at test time. Feed the test
# set one class at a time, 16 images per batch: in train mode every batch is normalised by its
# own statistics, which for a batch of identical digits are not the statistics the later layers
# were trained on. The accuracy drops (by the number of points printed below).

# %%
labels = digits_test.labels
accuracy = {}
for mode in ("eval", "train"):
    bn_model.train(mode == "train")
    correct = total = 0
    with mt.no_grad():
        for digit in range(10):
            members = images[labels == digit][:16]
            predicted = bn_model(mt.tensor(members)).detach().numpy().argmax(axis=1)
            correct += int((predicted == digit).sum())
            total += len(members)
    accuracy[mode] = correct / total
    bn_model.load_state_dict(saved_state)
bn_model.eval()
check("accuracy on single-class batches, eval mode", round(accuracy["eval"], 4), lambda v: v > 0.8)
check("accuracy on single-class batches, train mode", round(accuracy["train"], 4), lambda v: v < accuracy["eval"])
print(f"leaving BN in train mode costs {100 * (accuracy['eval'] - accuracy['train']):.1f} points of accuracy here")
