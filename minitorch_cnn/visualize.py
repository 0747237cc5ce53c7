"""Visualising and understanding CNNs: which pixels made a decision, what a unit responds to.

``from minitorch_cnn import visualize as viz``. Every function takes any model (an ``nn.Module``
returning class scores ``(N, classes)``) and images ``x`` ``(N, C, H, W)`` as a Tensor or an array
of any Array-API library; the model runs in eval mode, its parameters' ``.grad`` are left alone,
and the result is a NumPy array ready for matplotlib. ``layer`` is a module name as
``model.named_modules()`` gives it (``"features.3"``; a module called more than once, such as a
shared ``nn.ReLU``, means its last call); ``target`` is a class index per image (an
int for all of them, or one per image), by default the class the model predicts.

Which pixels made the decision:

* :func:`saliency` - ``max_c |dS_t/dx_c|`` (Simonyan, Vedaldi & Zisserman 2014).
* :func:`occlusion` - the drop of the target's probability under a sliding grey square
  (Zeiler & Fergus 2014, Fig. 7).
* :func:`guided_backprop` - the input gradient with ReLU's backward replaced by
  ``grad * (x > 0) * (grad > 0)`` (Springenberg et al. 2015).
* :func:`cam` - ``sum_k w_tk A_k``, the classifier's weights on the maps that global average
  pooling summarises (Zhou et al. 2016).
* :func:`grad_cam` - ``ReLU(sum_k alpha_k A_k)`` with ``alpha_k`` the mean gradient of ``S_t`` on
  map ``k``, for any layer of any network (Selvaraju et al. 2017).

What a unit responds to:

* :func:`deconvnet` - one map's strongest activation projected back to pixels (Zeiler & Fergus
  2014, section 2.1).
* :func:`top_activations` - the image patches, cropped to the receptive field, that activate a
  map most (ZFNet's Fig. 2); :func:`feature_maps`, :func:`filter_grid`.

The three backward signals differ only at the ReLUs (:func:`minitorch_cnn.autograd.backward_rule`
swaps the rule for one backward pass), where the signal ``R`` coming down meets the forward input
``x``: the gradient passes ``R * (x > 0)``, the deconvnet ``max(R, 0)``, guided backpropagation
``max(R, 0) * (x > 0)``. Max pooling sends ``R`` back to the position that won the window in
every case (the deconvnet's "switches") and a convolution sends it back through the transposed
filters. Other activations (ReLU6, SiLU...) keep their gradient in all three.

``plot_maps``, ``plot_patches``, ``plot_filters`` and ``plot_feature_maps`` draw the results on a
``matplotlib.figure.Figure`` (no pyplot state), which ``fig.savefig(path)`` writes.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from typing import NamedTuple

import numpy as np

from . import backend
from .autograd import backward_rule, enable_grad, no_grad
from .functional.activation import ReLU, softmax
from .functional.sizes import conv_output_size
from .summary import named_layer, receptive_field
from .tensor import Tensor

__all__ = [
    "Activation", "saliency", "occlusion", "guided_backprop", "deconvnet", "cam", "grad_cam", "top_activations",
    "feature_maps", "filter_grid", "plot_maps", "plot_patches", "plot_filters", "plot_feature_maps",
]


class Activation(NamedTuple):
    """One of :func:`top_activations`' records.

    ``patch``: the ``(C, bottom - top, right - left)`` crop of image ``image_index``;
    ``value``: the activation; ``position``: the unit's ``(i, j)`` in the layer's map;
    ``box``: ``(top, left, bottom, right)``, the unit's receptive field clipped to the image.
    """

    patch: np.ndarray
    value: float
    image_index: int
    position: tuple
    box: tuple


# ---------------------------------------------------------------- the backward rules


def _guided_relu(ctx, grad):
    """Guided backpropagation through a ReLU: ``grad`` where both the forward input and ``grad``
    are positive, else 0 (Springenberg et al. 2015, Fig. 1). ``ctx`` holds ReLU's output ``y``,
    positive exactly where the input was."""
    (y,) = ctx.saved_tensors
    xp = backend.array_namespace(grad)
    return xp.where((grad > 0) & (y > 0), grad, xp.zeros_like(grad))


def _deconvnet_relu(ctx, grad):
    """The deconvnet's rectification: ``max(grad, 0)``, whatever the forward input was (Zeiler &
    Fergus 2014, section 2.1: "we pass the reconstructed signal through a relu non-linearity")."""
    xp = backend.array_namespace(grad)
    return xp.where(grad > 0, grad, xp.zeros_like(grad))


# ---------------------------------------------------------------- shared checks and plumbing


def _check_model(model, op):
    from .nn import Module

    if not isinstance(model, Module):
        raise TypeError(f"{op}: expected model to be an nn.Module, got {type(model).__name__}")


def _images(model, x, op):
    """``x`` as an ``(N, C, H, W)`` array in the model's array library and dtype, cut from any graph
    (host images for a model on another backend are copied there)."""
    _check_model(model, op)
    if isinstance(x, Tensor):
        x = x.array
    elif not backend.is_array(x):
        raise TypeError(f"{op}: expected images to be a Tensor or an array, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{op}: expected images of shape (N, C, H, W), got shape {tuple(x.shape)}")
    param = next(iter(model.parameters()), None)
    if param is not None:
        if backend.array_namespace(x) is not backend.array_namespace(param.array):
            x = backend.from_numpy(backend.to_numpy(x), like=param.array)
        x = backend.array_namespace(x).astype(x, param.dtype)
    return x


def _positive_int(value, name, op):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{op}: expected {name} to be a positive int, got {value!r}")
    return int(value)


@contextlib.contextmanager
def _inspecting(model):
    """Eval mode (running statistics, no dropout), graph recording on, and every parameter
    frozen so that a backward pass fills no ``.grad`` of the model; all restored on exit."""
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad = False
    try:
        with enable_grad():
            yield
    finally:
        for p, flag in flags:
            p.requires_grad = flag
        model.train(was_training)


@contextlib.contextmanager
def _recording(model, layer, op, leaf=False):
    """Yield a dict whose ``"out"`` becomes the output of ``layer`` (its last call).

    ``leaf=True`` hands the rest of the network a copy cut from the graph that requires grad:
    a backward from the scores then stops at the layer, with the gradient in ``.grad``.
    """
    module = named_layer(model, layer, op=op)
    record = {}

    def hook(module, inputs, output):
        if not isinstance(output, Tensor):
            raise ValueError(f"{op}: layer {layer!r} returns {type(output).__name__}, expected a Tensor")
        record["out"] = Tensor(output.array, requires_grad=True) if leaf else output
        return record["out"] if leaf else None

    handle = module.register_forward_hook(hook)
    try:
        yield record
    finally:
        handle.remove()


def _maps(record, layer, op):
    """The recorded output of ``layer``, checked to be feature maps ``(N, C, h, w)``."""
    if "out" not in record:
        raise ValueError(f"{op}: layer {layer!r} did not run in the model's forward pass")
    out = record["out"]
    if out.ndim != 4:
        raise ValueError(f"{op}: layer {layer!r} outputs shape {out.shape}; expected feature maps (N, C, h, w)")
    return out


def _check_channel(channel, maps, layer, op):
    C = maps.shape[1]
    if isinstance(channel, bool) or not isinstance(channel, numbers.Integral) or not 0 <= channel < C:
        raise ValueError(f"{op}: expected channel to be an int in [0, {C}) (layer {layer!r} has {C} maps), "
                         f"got {channel!r}")
    return int(channel)


def _scores(out, op):
    if not isinstance(out, Tensor) or out.ndim != 2:
        shape = out.shape if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"{op}: expected the model to return class scores (N, classes), got {shape}")
    return out


def _targets(scores, target, op):
    """One class index per image (host int64 ``(N,)``): the predicted class when ``target`` is None."""
    N, K = scores.shape
    if target is None:
        return backend.to_numpy(scores.xp.argmax(scores.array, axis=1)).astype(np.int64)
    if isinstance(target, Tensor):
        target = target.detach().numpy()
    elif backend.is_array(target):
        target = backend.to_numpy(target)
    host = np.asarray(target)
    if host.dtype.kind not in "iu" or host.ndim > 1 or (host.ndim == 1 and host.shape[0] != N):
        raise ValueError(f"{op}: expected target to be a class index or {N} of them (one per image), got {target!r}")
    host = np.broadcast_to(host, (N,)).astype(np.int64)
    if host.min() < 0 or host.max() >= K:
        raise ValueError(f"{op}: expected target class indices in [0, {K}), got {host.tolist()}")
    return host


def _one_hot(scores, targets):
    """``dS_t/dS``: 1 at each image's target class, the seed of a backward from the scores."""
    seed = np.zeros(scores.shape, dtype=backend.dtype_name(scores.dtype))
    seed[np.arange(len(targets)), targets] = 1.0
    return backend.from_numpy(seed, like=scores.array)


def _input_gradient(model, x, target, op):
    """``dS_t/dx`` ``(N, C, H, W)`` on the host, through whatever ReLU rule is in force."""
    x = _images(model, x, op)
    with _inspecting(model):
        images = Tensor(x, requires_grad=True)
        scores = _scores(model(images), op)
        scores.backward(_one_hot(scores, _targets(scores, target, op)))
    return backend.to_numpy(images.grad.array)


def _bilinear(maps, size):
    """Resize ``(N, h, w)`` maps to ``size = (H, W)`` by bilinear interpolation with half-pixel
    centres (PyTorch's ``interpolate(mode="bilinear", align_corners=False)``)."""

    def taps(n_in, n_out):
        src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lo = np.floor(src).astype(np.int64)
        return lo, np.minimum(lo + 1, n_in - 1), src - lo

    r0, r1, fr = taps(maps.shape[1], size[0])
    c0, c1, fc = taps(maps.shape[2], size[1])
    rows = maps[:, r0] * (1 - fr)[:, None] + maps[:, r1] * fr[:, None]
    return rows[:, :, c0] * (1 - fc) + rows[:, :, c1] * fc


# ---------------------------------------------------------------- which pixels made the decision


def saliency(model, x, target=None):
    """Saliency map: ``M[n, i, j] = max_c |dS_t / dx[n, c, i, j]|`` (Simonyan, Vedaldi & Zisserman,
    "Deep Inside Convolutional Networks", ICLR 2014 workshop, section 3.1).

    ``S_t`` is the target class's score before the softmax. Returns ``(N, H, W)``. For a linear
    model ``S = W x + b`` the map is ``max_c |W_t|``: the weights themselves.
    """
    return np.abs(_input_gradient(model, x, target, "saliency")).max(axis=1)


def guided_backprop(model, x, target=None):
    """Guided backpropagation: ``dS_t/dx`` with every ReLU passing back only positive signal
    where its input was positive (Springenberg, Dosovitskiy, Brox & Riedmiller, "Striving for
    Simplicity: The All Convolutional Net", ICLR 2015 workshop, section 3.4). Returns
    ``(N, C, H, W)``; show it with ``plot_maps``."""
    with backward_rule(ReLU, _guided_relu):
        return _input_gradient(model, x, target, "guided_backprop")


def occlusion(model, x, target=None, patch=8, stride=4, fill=0.0, batch_size=64, upsample=False):
    """Occlusion sensitivity: the drop ``p_t(x) - p_t(x with a square filled)`` of the target's
    softmax probability as a ``patch x patch`` square of value ``fill`` slides over each image
    with step ``stride`` (Zeiler & Fergus, "Visualizing and Understanding Convolutional
    Networks", ECCV 2014, Fig. 7). The default ``fill=0.0`` is the mean grey of normalised images.

    Returns ``(N, Ho, Wo)`` with ``Ho = (H - patch) // stride + 1``: entry ``(i, j)`` is the drop
    with the square's top-left corner at ``(i*stride, j*stride)``. ``upsample=True`` returns
    ``(N, H, W)`` instead, each pixel the mean drop over the squares that covered it (0 where none
    did). The occluded copies run ``batch_size`` at a time, which bounds the memory.
    """
    op = "occlusion"
    x = _images(model, x, op)
    N, C, H, W = x.shape
    patch, stride = _positive_int(patch, "patch", op), _positive_int(stride, "stride", op)
    batch_size = _positive_int(batch_size, "batch_size", op)
    if patch > min(H, W):
        raise ValueError(f"occlusion: expected patch at most the image size {(H, W)}, got {patch}")
    Ho, Wo = conv_output_size(H, patch, stride, op=op), conv_output_size(W, patch, stride, op=op)
    corners = [(i * stride, j * stride) for i in range(Ho) for j in range(Wo)]
    xp = backend.array_namespace(x)
    drops = np.zeros((N, Ho * Wo))
    with _inspecting(model), no_grad():
        scores = _scores(model(Tensor(x)), op)
        targets = _targets(scores, target, op)
        clean = backend.to_numpy(softmax(scores, dim=1).array)[np.arange(N), targets]
        for n in range(N):
            for start in range(0, len(corners), batch_size):
                chunk = corners[start:start + batch_size]
                batch = xp.stack([x[n, ...]] * len(chunk))
                for b, (top, left) in enumerate(chunk):
                    batch[b, :, top:top + patch, left:left + patch] = fill
                probs = backend.to_numpy(softmax(model(Tensor(batch)), dim=1).array)
                drops[n, start:start + len(chunk)] = clean[n] - probs[:, targets[n]]
    if not upsample:
        return drops.reshape(N, Ho, Wo)
    total, count = np.zeros((N, H, W)), np.zeros((H, W))
    for k, (top, left) in enumerate(corners):
        total[:, top:top + patch, left:left + patch] += drops[:, k, None, None]
        count[top:top + patch, left:left + patch] += 1
    return total / np.maximum(count, 1)


def cam(model, x, target=None, upsample=False):
    """Class activation map ``M_t[i, j] = sum_k w[t, k] A_k[i, j]`` (Zhou, Khosla, Lapedriza,
    Oliva & Torralba, "Learning Deep Features for Discriminative Localization", CVPR 2016).

    For a network whose head is global average pooling and one linear layer: ``A_k`` are the
    maps the pooling averages and ``w`` the linear layer's weight ``(classes, K)``, so the
    score is ``S_t = mean_ij M_t[i, j] + b_t``. Returns ``(N, h, w)`` at the maps' resolution, or
    ``(N, H, W)`` with ``upsample=True`` (bilinear). Any other network: :func:`grad_cam`.
    """
    from .nn import AdaptiveAvgPool2d, Dropout, Flatten, Identity, Linear

    op = "cam"
    x = _images(model, x, op)
    calls = []

    def hook(module, inputs, output):
        calls.append((module, inputs[0] if inputs else None))

    leaves = [m for _, m in model.named_modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with _inspecting(model), no_grad():
            scores = _scores(model(Tensor(x)), op)
    finally:
        for h in handles:
            h.remove()
    pools = [i for i, (m, _) in enumerate(calls)
             if isinstance(m, AdaptiveAvgPool2d) and m.output_size in (1, (1, 1))]
    head = calls[pools[-1] + 1:] if pools else []
    linears = [m for m, _ in head if isinstance(m, Linear)]
    if not pools or len(linears) != 1 or any(not isinstance(m, (Linear, Flatten, Dropout, Identity)) for m, _ in head):
        after = ", ".join(type(m).__name__ for m, _ in head) if pools else "no AdaptiveAvgPool2d(1) layer"
        raise ValueError(f"cam: {type(model).__name__} does not end in global average pooling and one linear layer "
                         f"(found after its last pooling: {after}); use viz.grad_cam(model, x, layer), which "
                         "works for any network")
    features = backend.to_numpy(calls[pools[-1]][1].array)
    weight = backend.to_numpy(linears[0].weight.array)
    maps = np.einsum("nk,nkhw->nhw", weight[_targets(scores, target, op)], features)
    return _bilinear(maps, x.shape[2:]) if upsample else maps


def grad_cam(model, x, layer, target=None, upsample=False):
    """Grad-CAM: ``M_t = ReLU(sum_k alpha_k A_k)`` with ``alpha_k = mean_ij dS_t/dA_k[i, j]``, for
    the maps ``A`` ``(N, K, h, w)`` that ``layer`` outputs (Selvaraju, Cogswell, Das, Vedantam,
    Parikh & Batra, "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
    Localization", ICCV 2017, eq. 1-2).

    At the layer that feeds global average pooling and one linear layer, ``alpha_k = w[t, k] /
    (h*w)``, so the map is ``ReLU(cam) / (h*w)``. Returns ``(N, h, w)``, or ``(N, H, W)`` with
    ``upsample=True`` (bilinear).
    """
    op = "grad_cam"
    x = _images(model, x, op)
    with _inspecting(model), _recording(model, layer, op, leaf=True) as record:
        scores = _scores(model(Tensor(x)), op)
        maps = _maps(record, layer, op)
        if not scores.requires_grad:
            raise ValueError(f"grad_cam: the scores do not depend on layer {layer!r}")
        scores.backward(_one_hot(scores, _targets(scores, target, op)))
    A = backend.to_numpy(maps.array)
    alpha = backend.to_numpy(maps.grad.array).mean(axis=(2, 3))
    result = np.maximum(np.einsum("nk,nkhw->nhw", alpha, A), 0.0)
    return _bilinear(result, x.shape[2:]) if upsample else result


# ---------------------------------------------------------------- what a unit responds to


def deconvnet(model, x, layer, channel):
    """ZFNet's deconvnet: the strongest activation of map ``channel`` of ``layer``, alone (every
    other activation of the layer set to 0), projected back to pixel space by unpooling with the
    max-pool switches, rectifying, and filtering with the transposed filters, layer by layer
    down to the input (Zeiler & Fergus, ECCV 2014, section 2.1 and Fig. 1).

    Those three steps are the backward pass of max pooling, a ReLU whose rule is ``max(R, 0)``
    and a convolution, so this is a backward from the layer with ReLU's rule swapped. Returns
    ``(N, C, H, W)``, one projection per image (of that image's strongest position).
    """
    op = "deconvnet"
    x = _images(model, x, op)
    with _inspecting(model), _recording(model, layer, op) as record:
        images = Tensor(x, requires_grad=True)
        model(images)
        maps = _maps(record, layer, op)
        channel = _check_channel(channel, maps, layer, op)
        host = backend.to_numpy(maps.array)
        seed = np.zeros_like(host)
        for n in range(host.shape[0]):
            i, j = np.unravel_index(np.argmax(host[n, channel]), host.shape[2:])
            seed[n, channel, i, j] = host[n, channel, i, j]
        if not maps.requires_grad:
            raise ValueError(f"deconvnet: layer {layer!r} does not depend on the input")
        with backward_rule(ReLU, _deconvnet_relu):
            maps.backward(backend.from_numpy(seed, like=maps.array))
    return backend.to_numpy(images.grad.array)


def feature_maps(model, x, layer):
    """The output of ``layer`` for images ``x``: ``(N, C, h, w)`` feature maps, on the host."""
    op = "feature_maps"
    x = _images(model, x, op)
    with _inspecting(model), no_grad(), _recording(model, layer, op) as record:
        model(Tensor(x))
    return backend.to_numpy(_maps(record, layer, op).array)


def top_activations(model, images, layer, channel, k=9, batch_size=64):
    """The ``k`` images whose map ``channel`` of ``layer`` reaches the largest values, as in
    ZFNet's Fig. 2 ("the top 9 activations ... across the validation data").

    Each image counts with its strongest position, so the ``k`` records come from ``k`` different
    images (fewer when ``images`` holds fewer), in decreasing order of ``value`` (ties: the
    earlier image first). Each record's ``patch`` is the image cropped to that unit's receptive
    field, from :func:`minitorch_cnn.summary.receptive_field` (which follows the network's graph),
    clipped to the image. ``images`` ``(N, C, H, W)`` runs ``batch_size`` at a time.
    """
    op = "top_activations"
    x = _images(model, images, op)
    k, batch_size = _positive_int(k, "k", op), _positive_int(batch_size, "batch_size", op)
    values, positions = [], []
    with _inspecting(model), no_grad(), _recording(model, layer, op) as record:
        for start in range(0, x.shape[0], batch_size):
            model(Tensor(x[start:min(start + batch_size, x.shape[0]), ...]))  # strict arrays refuse a stop past the end
            maps = _maps(record, layer, op)
            channel = _check_channel(channel, maps, layer, op)
            host = backend.to_numpy(maps.array[:, channel, ...])
            flat = host.reshape(host.shape[0], -1)
            best = np.argmax(flat, axis=1)
            values.extend(flat[np.arange(len(best)), best].tolist())
            positions.extend(zip(*np.unravel_index(best, host.shape[1:])))
    field = receptive_field(model, layer, input_shape=tuple(x.shape[1:]))
    records = []
    for n in np.argsort(-np.asarray(values), kind="stable")[:k]:
        position = (int(positions[n][0]), int(positions[n][1]))
        top, left, bottom, right = field.box(position, tuple(x.shape[2:]))
        patch = backend.to_numpy(x[int(n), :, top:bottom, left:right])
        records.append(Activation(patch, float(values[n]), int(n), position, (top, left, bottom, right)))
    return records


def filter_grid(weight, padding=1):
    """The filters ``(F, C, kh, kw)`` of a conv layer tiled into one image for ``imshow``.

    Each tile is scaled to ``[0, 1]`` on its own (min to max; a constant tile is 0.5); the gaps
    of ``padding`` pixels are white (1). ``C = 3``: one RGB tile per filter, ``(rows, cols, 3)``;
    ``C = 1``: one grey tile per filter; any other ``C``: one row per filter, one grey tile per
    input channel. The 3- and 1-channel grids are as square as ``F`` allows.
    """
    if isinstance(weight, Tensor):
        weight = weight.detach().array
    if not backend.is_array(weight):
        raise TypeError(f"filter_grid: expected weight to be a Tensor or an array, got {type(weight).__name__}")
    w = backend.to_numpy(weight).astype(np.float64)
    if w.ndim != 4:
        raise ValueError(f"filter_grid: expected a conv weight of shape (F, C, kh, kw), got shape {w.shape}")
    F, C, kh, kw = w.shape
    if C == 3:
        tiles = w.transpose(0, 2, 3, 1)  # (F, kh, kw, 3): each filter as an RGB image
    elif C == 1:
        tiles = w[:, 0]
    else:
        tiles = w.reshape(F * C, kh, kw)
    low = tiles.min(axis=tuple(range(1, tiles.ndim)), keepdims=True)
    span = tiles.max(axis=tuple(range(1, tiles.ndim)), keepdims=True) - low
    tiles = np.where(span > 0, (tiles - low) / np.where(span > 0, span, 1), 0.5)
    cols = math.ceil(math.sqrt(F)) if C in (1, 3) else C
    rows = math.ceil(len(tiles) / cols)
    grid = np.ones((rows * (kh + padding) - padding, cols * (kw + padding) - padding) + tiles.shape[3:])
    for t, tile in enumerate(tiles):
        r, c = divmod(t, cols)
        grid[r * (kh + padding):r * (kh + padding) + kh, c * (kw + padding):c * (kw + padding) + kw] = tile
    return grid


# ---------------------------------------------------------------- figures


def _displayable(image):
    """A ``(C, H, W)`` image as ``imshow`` takes it, scaled to ``[0, 1]``: ``(H, W)`` for one
    channel, ``(H, W, 3)`` for three, the channel mean otherwise."""
    image = np.asarray(image, dtype=np.float64)
    image = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0) if image.shape[0] == 3 else image.mean(0)
    low, high = image.min(), image.max()
    return (image - low) / (high - low) if high > low else np.full_like(image, 0.5)


def _host_images(x, op):
    if isinstance(x, Tensor):
        x = x.detach().array
    host = backend.to_numpy(x) if backend.is_array(x) else np.asarray(x)
    if host.ndim != 4:
        raise ValueError(f"{op}: expected images of shape (N, C, H, W), got shape {host.shape}")
    return host


def plot_maps(images, maps, title=None, cmap="jet", alpha=0.5):
    """One row per image: the image, then the map. A map ``(N, h, w)`` (saliency, occlusion, CAM,
    Grad-CAM) is laid over the image, stretched to it, in colour map ``cmap`` with opacity
    ``alpha``; a map ``(N, C, H, W)`` (guided backpropagation, deconvnet) is shown as an image."""
    from matplotlib.figure import Figure

    images = _host_images(images, "plot_maps")
    maps = np.asarray(maps)
    if maps.ndim not in (3, 4) or maps.shape[0] != images.shape[0]:
        raise ValueError(f"plot_maps: expected maps (N, h, w) or (N, C, H, W) for {images.shape[0]} images, "
                         f"got shape {maps.shape}")
    N, (H, W) = images.shape[0], images.shape[2:]
    fig = Figure(figsize=(5, 2.5 * N))
    axes = fig.subplots(N, 2, squeeze=False)
    for n in range(N):
        shown = _displayable(images[n])
        axes[n, 0].imshow(shown, cmap="gray")
        if maps.ndim == 4:
            axes[n, 1].imshow(_displayable(maps[n]), cmap="gray")
        else:
            axes[n, 1].imshow(shown, cmap="gray")
            image = axes[n, 1].imshow(maps[n], cmap=cmap, alpha=alpha, extent=(-0.5, W - 0.5, H - 0.5, -0.5))
            fig.colorbar(image, ax=axes[n, 1], fraction=0.046)
        for ax in axes[n]:
            ax.set_axis_off()
    axes[0, 0].set_title("image")
    axes[0, 1].set_title(title or "map")
    fig.tight_layout()
    return fig


def plot_patches(activations, ncols=3, title=None):
    """The patches of :func:`top_activations` in a grid, each titled with its image, position and value."""
    from matplotlib.figure import Figure

    if not activations:
        raise ValueError("plot_patches: expected at least one Activation record, got none")
    ncols = _positive_int(ncols, "ncols", "plot_patches")
    rows = math.ceil(len(activations) / ncols)
    fig = Figure(figsize=(2.2 * ncols, 2.4 * rows))
    axes = fig.subplots(rows, ncols, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, record in zip(axes.flat, activations):
        ax.imshow(_displayable(record.patch), cmap="gray")
        ax.set_title(f"image {record.image_index} at {record.position}\n{record.value:.3g}", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_filters(weight, title=None):
    """A conv layer's filters as :func:`filter_grid` tiles them."""
    from matplotlib.figure import Figure

    grid = filter_grid(weight)
    fig = Figure(figsize=(6, 6 * grid.shape[0] / grid.shape[1] + 0.5))
    ax = fig.subplots()
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_feature_maps(maps, image_index=0, ncols=8, title=None):
    """The maps ``(N, C, h, w)`` of one image (from :func:`feature_maps`) in a grid, one per channel."""
    from matplotlib.figure import Figure

    maps = np.asarray(maps)
    if maps.ndim != 4:
        raise ValueError(f"plot_feature_maps: expected feature maps (N, C, h, w), got shape {maps.shape}")
    if isinstance(image_index, bool) or not isinstance(image_index, numbers.Integral) or not 0 <= image_index < maps.shape[0]:
        raise ValueError(f"plot_feature_maps: expected image_index in [0, {maps.shape[0]}), got {image_index!r}")
    ncols = _positive_int(ncols, "ncols", "plot_feature_maps")
    C = maps.shape[1]
    ncols = min(ncols, C)
    rows = math.ceil(C / ncols)
    fig = Figure(figsize=(1.5 * ncols, 1.6 * rows))
    axes = fig.subplots(rows, ncols, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for c, ax in zip(range(C), axes.flat):
        ax.imshow(maps[image_index, c], cmap="viridis")
        ax.set_title(str(c), fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
