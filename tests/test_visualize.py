"""visualize.py: each method pinned by a case where its answer is known by construction."""

import io
import itertools

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import models, nn
from minitorch_cnn import visualize as viz
from minitorch_cnn.summary import ReceptiveField, receptive_field
from helpers import assert_namespace, model_on, on, torch_or_skip


def images(N=2, C=1, H=8, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal((N, C, H, H)).astype(dtype)


def gap_net():
    """conv -> ReLU -> max-pool -> conv -> ReLU -> global average pooling -> linear: CAM's layout."""
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 5, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 3))


# ---------------------------------------------------------------- saliency


def test_saliency_of_a_linear_model_is_its_weights():
    """``S = W x + b`` has ``dS_t/dx = W_t``: the map is ``max_c |W_t|`` whatever the image."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 5 * 5, 3))
    x = images(2, 2, 5)
    got = viz.saliency(model, x, target=[2, 0])
    w = model[1].weight.detach().numpy().reshape(3, 2, 5, 5)
    np.testing.assert_allclose(got, np.stack([np.abs(w[2]).max(0), np.abs(w[0]).max(0)]), rtol=1e-6)
    assert got.shape == (2, 5, 5) and isinstance(got, np.ndarray)
    assert mt.visualize is viz


def test_default_target_is_the_predicted_class_and_the_model_is_left_as_it_was():
    model = gap_net()
    x = images()
    predicted = model.eval()(mt.tensor(x)).detach().numpy().argmax(1)
    model.train()
    np.testing.assert_array_equal(viz.saliency(model, x), viz.saliency(model, x, target=predicted))
    assert model.training and all(p.grad is None and p.requires_grad for p in model.parameters())


# ---------------------------------------------------------------- guided backprop and deconvnet


def two_layer_net():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(2, 3, 3, padding=1),
                        nn.ReLU(), nn.Flatten(), nn.Linear(3 * 3 * 3, 4))
    return net.to(dtype="float64")


def _conv(x, w, b):
    """``(C, H, W) * (F, C, 3, 3)`` with padding 1, the slide's loops."""
    F, C, k, _ = w.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    y = np.zeros((F, x.shape[1], x.shape[2]))
    for f in range(F):
        for i in range(x.shape[1]):
            for j in range(x.shape[2]):
                y[f, i, j] = np.sum(padded[:, i:i + k, j:j + k] * w[f]) + b[f]
    return y


def _conv_transposed(r, w):
    """The signal ``r`` ``(F, H, W)`` sent back through the transposed filters: each output adds
    ``w[f] * r[f, i, j]`` onto the window it read."""
    F, C, k, _ = w.shape
    padded = np.zeros((C, r.shape[1] + 2, r.shape[2] + 2))
    for f in range(F):
        for i in range(r.shape[1]):
            for j in range(r.shape[2]):
                padded[:, i:i + k, j:j + k] += w[f] * r[f, i, j]
    return padded[:, 1:-1, 1:-1]


def _through_relu(r, z, rule):
    """The three rules at a ReLU whose input was ``z``."""
    return {"gradient": r * (z > 0), "deconvnet": np.maximum(r, 0), "guided": np.maximum(r, 0) * (z > 0)}[rule]


def reference_projection(net, image, seed, rule):
    """Hand-written forward of ``two_layer_net`` on one image ``(1, 6, 6)`` keeping the ReLU inputs
    and the max-pool switches, then ``seed`` (at the second ReLU's output) sent back to the pixels."""
    w1, b1, w2, b2 = (t.detach().numpy() for t in (net[0].weight, net[0].bias, net[3].weight, net[3].bias))
    z1 = _conv(image, w1, b1)
    a1 = np.maximum(z1, 0)
    pooled, switches = np.zeros((2, 3, 3)), {}
    for c, i, j in itertools.product(range(2), range(3), range(3)):
        window = a1[c, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
        di, dj = np.unravel_index(np.argmax(window), (2, 2))  # ties: the first maximum
        pooled[c, i, j], switches[c, i, j] = window[di, dj], (2 * i + di, 2 * j + dj)
    z2 = _conv(pooled, w2, b2)
    r = _through_relu(seed, z2, rule)
    r = _conv_transposed(r, w2)
    unpooled = np.zeros_like(a1)
    for (c, i, j), (u, v) in switches.items():
        unpooled[c, u, v] = r[c, i, j]
    return _conv_transposed(_through_relu(unpooled, z1, rule), w1)


def test_guided_backprop_and_deconvnet_match_a_hand_written_reference_and_differ_from_the_gradient():
    net = two_layer_net()
    x = images(2, 1, 6, dtype=np.float64)
    scores = net(mt.tensor(x)).detach().numpy()
    targets = scores.argmax(1)
    seeds = [net[6].weight.detach().numpy()[t].reshape(3, 3, 3) for t in targets]  # dS_t / d(second ReLU's output)
    ref = {rule: np.stack([reference_projection(net, x[n], seeds[n], rule) for n in range(2)])
           for rule in ("gradient", "deconvnet", "guided")}

    # The reference's plain rule is the true gradient (so its other two rules are trusted too)...
    xt = mt.tensor(x, requires_grad=True)
    net(xt).backward(mt.tensor(np.eye(4)[targets]))
    np.testing.assert_allclose(xt.grad.numpy(), ref["gradient"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(viz.saliency(net, x), np.abs(ref["gradient"]).max(1), rtol=1e-10)
    # ...guided backpropagation is the reference's guided rule from the class score...
    np.testing.assert_allclose(viz.guided_backprop(net, x), ref["guided"], rtol=1e-10, atol=1e-12)
    # ...and the three signals differ on this network.
    for a, b in itertools.combinations(ref, 2):
        assert not np.allclose(ref[a], ref[b]), f"{a} and {b} agree"

    # The deconvnet starts from the strongest activation of one map of the layer, alone.
    channel = 1
    maps = viz.feature_maps(net, x, "4")
    projected = []
    for n in range(2):
        seed = np.zeros((3, 3, 3))
        i, j = np.unravel_index(np.argmax(maps[n, channel]), (3, 3))
        seed[channel, i, j] = maps[n, channel, i, j]
        assert seed.max() > 0
        projected.append(reference_projection(net, x[n], seed, "deconvnet"))
    np.testing.assert_allclose(viz.deconvnet(net, x, "4", channel), np.stack(projected), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- CAM and Grad-CAM


@pytest.mark.parametrize("make, layer", [
    (gap_net, "4"),
    (lambda: models.create("resnet20", num_classes=3, width=4, layers=(1, 1, 1)), "features.5"),
])
def test_grad_cam_at_the_layer_feeding_global_pooling_is_relu_of_cam(make, layer):
    """``alpha_k = w[t, k] / (h*w)`` there, so Grad-CAM is ``ReLU(cam) / (h*w)``."""
    model = make()
    x = images(2, model.features[0].in_channels if hasattr(model, "features") else 1, 8)
    maps = viz.cam(model, x, target=[0, 2])
    h, w = maps.shape[1:]
    np.testing.assert_allclose(viz.grad_cam(model, x, layer, target=[0, 2]), np.maximum(maps, 0) / (h * w),
                               rtol=1e-5, atol=1e-7)
    assert (maps < 0).any() and (maps > 0).any(), "the ReLU must matter in this case"


def test_cam_is_the_class_weights_on_the_pooled_maps():
    """``S_t = mean_ij cam_t[i, j] + b_t``: averaging the map gives back the score."""
    model = gap_net()
    x = images()
    scores = model.eval()(mt.tensor(x)).detach().numpy()
    maps = viz.cam(model, x, target=1)
    np.testing.assert_allclose(maps.mean(axis=(1, 2)) + model[7].bias.detach().numpy()[1], scores[:, 1], rtol=1e-5)


def test_upsample_is_bilinear_as_torch_interpolates():
    torch = torch_or_skip()
    model = gap_net()
    x = images(2, 1, 10)
    small = viz.grad_cam(model, x, "1")
    expected = torch.nn.functional.interpolate(torch.tensor(small)[:, None], size=(10, 10), mode="bilinear",
                                               align_corners=False)[:, 0].numpy()
    np.testing.assert_allclose(viz.grad_cam(model, x, "1", upsample=True), expected, rtol=1e-5, atol=1e-6)
    coarse = viz.cam(model, x)
    expected = torch.nn.functional.interpolate(torch.tensor(coarse)[:, None], size=(10, 10), mode="bilinear",
                                               align_corners=False)[:, 0].numpy()
    np.testing.assert_allclose(viz.cam(model, x, upsample=True), expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- occlusion


def test_occluding_what_the_model_cannot_see_changes_nothing():
    """A 2x2 conv with stride 4 reads rows and columns 0, 1, 4, 5 of an 8x8 image only: a 2x2
    square at rows 2-3 or 6-7 (or those columns) hides nothing from it."""
    model = nn.Sequential(nn.Conv2d(1, 3, 2, stride=4), nn.Flatten(), nn.Linear(3 * 2 * 2, 4))
    x = images(2, 1, 8) + 3.0  # no pixel equals the fill
    drops = viz.occlusion(model, x, patch=2, stride=2, batch_size=3)
    assert drops.shape == (2, 4, 4)
    seen = np.zeros((4, 4), dtype=bool)
    seen[::2, ::2] = True
    # Zero up to float32 rounding: the occluded copies and the original run in different batches,
    # whose products may round differently (an ulp of a probability is 3e-8).
    assert np.abs(drops[:, ~seen]).max() < 1e-6
    assert np.abs(drops[:, seen]).min() > 1e-4


def test_occlusion_is_the_drop_of_the_target_probability():
    model = gap_net()
    x = images(1, 1, 8)
    drops = viz.occlusion(model, x, target=2, patch=3, stride=5, fill=0.5)
    assert drops.shape == (1, 2, 2)
    probability = lambda a: mt.functional.softmax(model.eval()(mt.tensor(a)), dim=1).detach().numpy()[0, 2]
    hidden = x.copy()
    hidden[0, :, 5:8, 0:3] = 0.5
    np.testing.assert_allclose(drops[0, 1, 0], probability(x) - probability(hidden), rtol=1e-5, atol=1e-7)
    # Upsampled, a pixel under exactly one square has that square's drop; a pixel under none, 0.
    full = viz.occlusion(model, x, target=2, patch=3, stride=5, fill=0.5, upsample=True)
    assert full.shape == (1, 8, 8)
    assert full[0, 6, 1] == drops[0, 1, 0] and full[0, 4, 4] == 0.0


# ---------------------------------------------------------------- top activations


def test_top_k_patches_are_the_largest_activations_cropped_to_the_receptive_field():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(2, 3, 3))
    data = images(7, 1, 12, seed=3)
    # conv 3 (padding 1) -> pool 2 -> conv 3: size 3 + 1 + 2*2 = 8, jump 2, starting one row above the image.
    assert receptive_field(net, "3", input_shape=(1, 12, 12)) == ReceptiveField((8, 8), (2, 2), (-1, -1))
    maps = viz.feature_maps(net, data, "3")[:, 1]
    strongest = maps.reshape(7, -1).max(1)
    records = viz.top_activations(net, data, "3", 1, k=4, batch_size=3)
    assert [r.image_index for r in records] == np.argsort(-strongest)[:4].tolist()
    for r in records:
        i, j = r.position
        assert r.value == strongest[r.image_index] == maps[r.image_index, i, j]
        top, left = 2 * i - 1, 2 * j - 1
        assert r.box == (max(top, 0), max(left, 0), min(top + 8, 12), min(left + 8, 12))
        np.testing.assert_array_equal(r.patch, data[r.image_index, :, r.box[0]:r.box[2], r.box[1]:r.box[3]])
    assert len(viz.top_activations(net, data, "3", 1, k=20)) == 7


# ---------------------------------------------------------------- any backend, any zoo model


METHODS = {
    "saliency": lambda m, x: viz.saliency(m, x, target=1),
    "occlusion": lambda m, x: viz.occlusion(m, x, patch=4, stride=4),
    "guided_backprop": lambda m, x: viz.guided_backprop(m, x),
    "deconvnet": lambda m, x: viz.deconvnet(m, x, "3", 2),
    "cam": lambda m, x: viz.cam(m, x, upsample=True),
    "grad_cam": lambda m, x: viz.grad_cam(m, x, "4", target=[0, 1]),
    "feature_maps": lambda m, x: viz.feature_maps(m, x, "2"),
    "top_activations": lambda m, x: np.concatenate([np.concatenate([r.patch.ravel(), [r.value, *r.box]])
                                                    for r in viz.top_activations(m, x, "3", np.int64(0), k=2)]),
}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_runs_through_the_array_api(xp, method):
    model = gap_net()
    x = images()
    expected = METHODS[method](model, x)
    model_on(xp, model)
    for images_there in (on(xp, x), x):  # images on the model's backend, or host images copied there
        got = METHODS[method](model, images_there)
        assert isinstance(got, np.ndarray)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    for p in model.parameters():
        assert p.grad is None
        assert_namespace(p, xp)


ZOO = {
    "lenet5": ({}, 1, 32, "features.3"),
    "resnet18": (dict(width=4, layers=(1, 1, 1, 1)), 3, 32, "layer3"),
    "densenet121": (dict(growth_rate=2, layers=(1, 1, 1, 1), num_init_features=4), 3, 32, "features.denseblock2"),
    "squeezenet1_1": (dict(stem_channels=4, base_e=8, incr_e=8), 3, 24, "features.4"),
    "mobilenet_v2": (dict(width_mult=0.1, round_nearest=2, inverted_residual_setting=((1, 16, 1, 1), (6, 24, 2, 2))),
                     3, 32, "features.2"),
}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_method_runs_on_zoo_models(name):
    options, C, H, layer = ZOO[name]
    model = models.create(name, num_classes=4, **options)
    x = images(2, C, H)
    assert viz.saliency(model, x).shape == (2, H, H)
    assert viz.guided_backprop(model, x).shape == viz.deconvnet(model, x, layer, 0).shape == (2, C, H, H)
    assert viz.occlusion(model, x, patch=H // 2, stride=H // 2).shape == (2, 2, 2)
    assert viz.grad_cam(model, x, layer, upsample=True).shape == (2, H, H)
    field = receptive_field(model, layer, input_shape=(C, H, H))
    for r in viz.top_activations(model, x, layer, 0, k=2):
        assert r.box == field.box(r.position, (H, H)) and r.patch.shape[0] == C
    assert all(p.grad is None for p in model.parameters())


# ---------------------------------------------------------------- errors


def test_an_unknown_layer_lists_the_names():
    model, x = gap_net(), images()
    for call in (lambda: viz.grad_cam(model, x, "conv1"), lambda: viz.deconvnet(model, x, "conv1", 0),
                 lambda: viz.top_activations(model, x, "conv1", 0), lambda: viz.feature_maps(model, x, "conv1")):
        with pytest.raises(ValueError, match="has no layer 'conv1'; its layers are: 0, 1, 2, 3, 4, 5, 6, 7"):
            call()


def test_cam_without_global_average_pooling_points_to_grad_cam():
    with pytest.raises(ValueError, match="cam: LeNet5 does not end in global average pooling and one linear "
                                         r"layer.*use viz.grad_cam\(model, x, layer\)"):
        viz.cam(models.create("lenet5"), images(1, 1, 32))
    two_linears = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 2),
                                nn.ReLU(), nn.Linear(2, 2))
    with pytest.raises(ValueError, match="found after its last pooling: Flatten, Linear, ReLU, Linear"):
        viz.cam(two_linears, images())


@pytest.mark.parametrize("call, message", [
    (lambda m, x: viz.saliency(m, x[0]), r"saliency: expected images of shape \(N, C, H, W\), got shape \(1, 8, 8\)"),
    (lambda m, x: viz.saliency("net", x), "saliency: expected model to be an nn.Module, got str"),
    (lambda m, x: viz.saliency(m, x, target=3), r"saliency: expected target class indices in \[0, 3\), got \[3, 3\]"),
    (lambda m, x: viz.cam(m, x, target=[0, 1, 2]), "cam: expected target to be a class index or 2 of them"),
    (lambda m, x: viz.deconvnet(m, x, "3", 5), r"deconvnet: expected channel to be an int in \[0, 5\) "
                                                r"\(layer '3' has 5 maps\), got 5"),
    (lambda m, x: viz.grad_cam(m, x, "6"), r"grad_cam: layer '6' outputs shape \(2, 5\); expected feature maps"),
    (lambda m, x: viz.occlusion(m, x, patch=9), r"occlusion: expected patch at most the image size \(8, 8\), got 9"),
    (lambda m, x: viz.occlusion(m, x, batch_size=0), "occlusion: expected batch_size to be a positive int, got 0"),
    (lambda m, x: viz.top_activations(m, x, "3", 0, k=0), "top_activations: expected k to be a positive int, got 0"),
    (lambda m, x: viz.filter_grid(m[7].weight), r"filter_grid: expected a conv weight of shape \(F, C, kh, kw\)"),
])
def test_bad_arguments_say_what_was_expected(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(gap_net(), images())


# ---------------------------------------------------------------- drawing


def test_filter_grid_tiles_each_filter_scaled_to_its_own_range():
    w = np.random.default_rng(0).standard_normal((5, 3, 2, 2))
    grid = viz.filter_grid(w)
    assert grid.shape == (2 * 3 - 1, 3 * 3 - 1, 3)  # 5 filters in 2 rows of 3, 1-pixel white gaps
    first = w[0].transpose(1, 2, 0)
    np.testing.assert_allclose(grid[:2, :2], (first - first.min()) / (first.max() - first.min()))
    assert np.all(grid[2] == 1.0) and np.all(grid[3:, 6:] == 1.0)  # a gap row and the empty sixth cell
    assert viz.filter_grid(mt.tensor(np.zeros((4, 2, 3, 3)))).shape == (4 * 4 - 1, 2 * 4 - 1)  # a row per filter


def test_plot_helpers_return_figures():
    from matplotlib.figure import Figure

    model, x = gap_net(), images()
    figures = [
        viz.plot_maps(x, viz.grad_cam(model, x, "4"), title="Grad-CAM"),
        viz.plot_maps(x, viz.guided_backprop(model, x)),
        viz.plot_patches(viz.top_activations(model, x, "3", 0, k=2), title="top 2"),
        viz.plot_filters(model[0].weight),
        viz.plot_feature_maps(viz.feature_maps(model, x, "1"), image_index=1, ncols=2),
    ]
    for fig in figures:
        assert isinstance(fig, Figure)
        fig.savefig(io.BytesIO(), format="png")
    assert len(figures[0].axes) == 2 * 2 + 2  # image and map per row, plus the colour bars
    assert len(figures[4].axes) == 4
    with pytest.raises(ValueError, match=r"plot_maps: expected maps \(N, h, w\) or \(N, C, H, W\) for 2 images"):
        viz.plot_maps(x, np.zeros((3, 4, 4)))
