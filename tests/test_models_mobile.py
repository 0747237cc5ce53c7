"""Mobile and efficient networks (models/squeezenet.py, mobilenet.py, mobilenetv3.py, efficientnet.py):
parameter counts against torchvision and the papers, MobileNet's width and resolution multipliers in
MACs, fire modules and ceil-mode pooling, inverted residuals, MobileNetV3's options against
torchvision, MBConv against a PyTorch oracle, compound scaling, float64 gradient checks of every
registered name at reduced size, and bad input."""

import math
import re

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import models, nn
from minitorch_cnn.models import efficientnet, mobilenet, mobilenetv3, squeezenet
from minitorch_cnn.nn import init
from minitorch_cnn.summary import summary

from helpers import (assert_namespace, check_model_grad, check_param_count, check_torch, check_torchvision_logits,
                     check_torchvision_names, count_params, model_on, no_random_init, param_count_cases,
                     random_images, torch_or_skip)

#: (name, options, trainable parameters at 1000 classes, source).
PARAMETER_COUNTS = [
    ("squeezenet1_0", {}, 1_248_424, "torchvision"),
    ("squeezenet1_1", {}, 1_235_496, "torchvision"),
    ("mobilenet_v1", {}, 4_231_976, "Howard et al. 2017 Table 1, counted (paper: 4.2M)"),
    ("mobilenet_v1", {"width_mult": 0.75}, 2_585_560, "Howard et al. 2017 Table 6: 2.6M"),
    ("mobilenet_v1", {"width_mult": 0.5}, 1_331_592, "Howard et al. 2017 Table 6: 1.3M"),
    ("mobilenet_v1", {"width_mult": 0.25}, 470_072, "Howard et al. 2017 Table 6: 0.5M"),
    ("mobilenet_v1", {"shallow": True}, 2_887_976, "Howard et al. 2017 Table 4: 2.9M"),
    ("mobilenet_v2", {}, 3_504_872, "torchvision"),
    ("mobilenet_v3_large", {}, 5_483_032, "torchvision"),
    ("mobilenet_v3_small", {}, 2_542_856, "torchvision"),
    ("efficientnet_b0", {}, 5_288_548, "torchvision"),
    ("efficientnet_b1", {}, 7_794_184, "torchvision"),
    ("efficientnet_b2", {}, 9_109_994, "torchvision"),
    ("efficientnet_b3", {}, 12_233_232, "torchvision"),
    ("efficientnet_b4", {}, 19_341_616, "torchvision"),
    ("efficientnet_b5", {}, 30_389_784, "torchvision"),
    ("efficientnet_b6", {}, 43_040_704, "torchvision"),
    ("efficientnet_b7", {}, 66_347_960, "torchvision"),
]

#: B0's first two stages: a t=1 block without expansion, a strided t=6 block and a residual one.
TINY_STAGES = efficientnet.B0_STAGES[:2]
#: MobileNet v2 cut to the same three kinds of block.
TINY_V2 = ((1, 16, 1, 1), (6, 24, 2, 2))
_TINY_FIRE = dict(stem_channels=4, base_e=8, incr_e=8)
_TINY_EFFICIENTNET = dict(width_mult=0.1, depth_mult=1.0, round_nearest=2, stages=TINY_STAGES)

#: Reduced copies for gradient checks (and the input side they run at). Reduced alike, B0-B7
#: differ only in their dropout and batch-norm constants, so B0 (PyTorch's BN) and B7 (TF's BN,
#: the most dropout) stand for all eight; test_reduced_efficientnets_share_two_structures proves it.
SMALL = {
    "squeezenet1_0": (_TINY_FIRE, 24),
    "squeezenet1_1": (_TINY_FIRE, 24),
    "mobilenet_v1": (dict(width_mult=0.125, shallow=True), 32),
    "mobilenet_v2": (dict(width_mult=0.1, round_nearest=2, inverted_residual_setting=TINY_V2), 32),
    "efficientnet_b0": (_TINY_EFFICIENTNET, 32),
    "efficientnet_b7": (_TINY_EFFICIENTNET, 32),
}
#: Every name in a narrow copy that keeps its own depth, for the forward-shape tests.
NARROW = {
    "squeezenet1_0": _TINY_FIRE,
    "squeezenet1_1": _TINY_FIRE,
    "mobilenet_v1": dict(width_mult=0.125),
    "mobilenet_v2": dict(width_mult=0.1, round_nearest=2),
    "mobilenet_v3_large": dict(width_mult=0.25),
    "mobilenet_v3_small": dict(width_mult=0.25),
    **{name: dict(width_mult=0.1, round_nearest=2) for name in efficientnet.CONFIGS},
}
FAMILY = sorted(NARROW)
_FILES = {squeezenet.__name__, mobilenet.__name__, mobilenetv3.__name__, efficientnet.__name__}


def images(N=2, C=3, H=32, seed=0):
    return random_images(N, C, H, seed)


def head_in_features(model):
    """Channels the classifier reads: its first linear layer, or SqueezeNet's 1x1 conv."""
    layer = next(m for m in model.classifier.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))
    return layer.in_features if isinstance(layer, nn.Linear) else layer.in_channels


def test_every_mobile_family_name_is_registered_and_has_a_narrow_configuration():
    registered = {name for name in models.list_models() if models.model_info(name)["fn"].__module__ in _FILES}
    assert registered == set(NARROW) and set(SMALL) <= registered


@param_count_cases(PARAMETER_COUNTS)
def test_parameter_count_matches_the_reference(name, options, expected, source):
    check_param_count(name, options, expected, source)


@pytest.mark.parametrize("name", FAMILY)
def test_output_shape_and_features_classifier_split(name):
    model = models.create(name, num_classes=7, in_channels=2, **NARROW[name]).eval()
    x = images(2, 2, 32)
    with mt.no_grad():
        out = model(x)
        feats = model.features(x)
    assert out.shape == (2, 7)
    assert feats.ndim == 4 and feats.shape[1] == head_in_features(model)
    assert feats.shape[2:] == (1, 1)  # total stride 32 (SqueezeNet: 32 -> 13 or 15 -> 6 or 7 -> 3 -> 1)


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_gradcheck_end_to_end(name, mode):
    options, side = SMALL[name]
    mt.manual_seed(0)
    model = models.create(name, num_classes=3, **options)
    if "squeezenet" in name:
        # torchvision's zero biases put a 1x1 conv over all-zero ReLU outputs exactly on the next
        # ReLU's kink (no batch norm here to move it off), where backward and the difference disagree.
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                init.uniform_(m.bias, -0.1, 0.1)
    check_model_grad(model, images(2, 3, side), mode)


@pytest.mark.parametrize("name", FAMILY)
def test_wrong_channel_count_names_the_first_conv_and_the_shape(name):
    model = models.create(name, num_classes=3, **NARROW[name])
    with pytest.raises(ValueError, match=r"Conv2d\(3, .*expected input with 3 channels.*got \(2, 1, 32, 32\)"):
        model(images(2, 1, 32))


@pytest.mark.parametrize("name", ["squeezenet1_1", "mobilenet_v1", "mobilenet_v2", "efficientnet_b0"])
def test_runs_and_backpropagates_on_any_array_backend(name, xp):
    """Training mode: dropout, stochastic depth, batch statistics and ceil-mode pooling included."""
    options, side = SMALL[name]
    model = models.create(name, num_classes=3, **options)
    model_on(xp, model)
    out = model(mt.Tensor(xp.asarray(images(2, 3, side).detach().numpy())))
    out.sum().backward()
    assert out.shape == (2, 3)
    assert_namespace(out, xp)
    for p in model.parameters():
        assert_namespace(p, xp)


# ---------------------------------------------------------------- SqueezeNet


TORCHVISION = ["squeezenet1_0", "squeezenet1_1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"] + sorted(
    efficientnet.CONFIGS)


@pytest.mark.parametrize("name", TORCHVISION)
def test_state_dict_keys_shapes_and_batch_norms_are_torchvisions(name):
    check_torchvision_names(name)


#: At full size; the EfficientNets on 32x32 images (B7's 600x600 would take minutes).
@pytest.mark.parametrize("name, size", [("squeezenet1_0", 64), ("squeezenet1_1", 64), ("mobilenet_v2", 64),
                                        ("mobilenet_v3_large", 32), ("mobilenet_v3_small", 64)]
                         + [(name, 32) for name in sorted(efficientnet.CONFIGS)])
def test_torchvision_weights_give_torchvisions_logits(name, size):
    check_torchvision_logits(name, size)


def test_fire_widths_reproduce_table_1_from_the_metaparameters():
    assert squeezenet.fire_widths() == [
        (16, 64, 64), (16, 64, 64), (32, 128, 128), (32, 128, 128),
        (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256),
    ]


def test_fire_module_concatenates_the_1x1_and_3x3_expansions():
    fire = squeezenet.Fire(6, 2, 3, 5)
    x = images(2, 6, 7)
    with mt.no_grad():
        out = fire(x).detach().numpy()
        s = mt.functional.relu(fire.squeeze(x))
        e1 = mt.functional.relu(fire.expand1x1(s)).detach().numpy()
        e3 = mt.functional.relu(fire.expand3x3(s)).detach().numpy()
    assert out.shape == (2, 8, 7, 7)
    np.testing.assert_array_equal(out[:, :3], e1)
    np.testing.assert_array_equal(out[:, 3:], e3)


@pytest.mark.parametrize("name", ["squeezenet1_0", "squeezenet1_1"])
def test_squeezenet_ends_at_13x13_on_224_pixel_images(name):
    model = models.create(name, **_TINY_FIRE)
    with mt.no_grad():
        assert model.features(images(1, 3, 224)).shape[2:] == (13, 13)


@pytest.mark.parametrize("name", ["squeezenet1_0", "squeezenet1_1"])
def test_squeezenet_minimum_input_runs_and_one_pixel_less_names_the_pool(name):
    side = models.model_info(name)["min_input"]
    model = models.create(name, num_classes=3, **_TINY_FIRE).eval()
    with mt.no_grad():
        assert model(images(1, 3, side)).shape == (1, 3)
        with pytest.raises(ValueError, match=r"got input of shape \(1, \d+, 1, 1\): MaxPool2d\(kernel_size=3.*ceil_mode=True\)"):
            model(images(1, 3, side - 1))


def test_squeezenet_initialisation_and_torchvision_keys():
    mt.manual_seed(0)
    model = squeezenet.squeezenet1_1()
    final = model.classifier[1]
    assert abs(float(np.std(final.weight.detach().numpy())) - 0.01) < 0.001
    conv = model.features[0]  # kaiming_uniform_, ReLU gain: bound sqrt(6 / fan_in)
    assert float(np.max(np.abs(conv.weight.detach().numpy()))) <= math.sqrt(6 / 27)
    assert all(np.all(m.bias.detach().numpy() == 0) for m in model.modules() if isinstance(m, nn.Conv2d))
    keys = model.state_dict()
    assert {"features.3.squeeze.weight", "features.12.expand3x3.bias", "classifier.1.weight"} <= set(keys)


# ---------------------------------------------------------------- MobileNet


def test_mobilenet_v1_count_splits_into_stem_separable_layers_and_classifier():
    with no_random_init():
        model = mobilenet.mobilenet_v1()
    separable, C = 0, mobilenet.V1_STEM
    for F, _ in mobilenet.V1_LAYERS:
        separable += 9 * C + 2 * C + C * F + 2 * F  # depthwise + BN, pointwise + BN
        C = F
    assert count_params(model.features[0]) == 3 * 3 * 3 * 32 + 2 * 32 == 928
    assert count_params(model.features) - 928 == separable == 3_206_048
    assert count_params(model.classifier) == 1024 * 1000 + 1000


@pytest.mark.parametrize("width_mult, side, paper_macs", [(1.0, 224, 569), (0.25, 224, 41), (1.0, 128, 186)],
                         ids=["1.0-224", "0.25-224", "1.0-128"])
def test_mobilenet_v1_macs_follow_the_width_and_resolution_multipliers(width_mult, side, paper_macs):
    """Howard et al. 2017, Tables 6 and 7 (millions of multiply-adds); parameters do not depend
    on the resolution."""
    with no_random_init():
        model = mobilenet.mobilenet_v1(width_mult=width_mult)
    result = summary(model, (3, side, side))
    assert round(result.total_macs / 1e6) == paper_macs
    assert result.total_params == count_params(model)


def test_depthwise_separable_block_factorises_a_3x3_conv():
    block = mobilenet.DepthwiseSeparable(8, 16, stride=2)
    depthwise, pointwise = block.depthwise[0], block.pointwise[0]
    assert (depthwise.groups, depthwise.weight.shape, depthwise.stride) == (8, (8, 1, 3, 3), (2, 2))
    assert (pointwise.groups, pointwise.weight.shape) == (1, (16, 8, 1, 1))
    assert block(images(2, 8, 9)).shape == (2, 16, 5, 5)


@pytest.mark.parametrize("v, divisor, expected", [(32 * 0.35, 8, 16), (40 * 1.1, 8, 48), (320 * 1.2, 8, 384),
                                                  (16 * 1.2, 8, 24), (3.0, 8, 8), (5.0, 2, 6)])
def test_make_divisible_rounds_like_the_reference(v, divisor, expected):
    assert mobilenet.make_divisible(v, divisor) == expected


def test_inverted_residual_adds_the_input_only_when_the_shape_is_kept():
    keep = mobilenet.InvertedResidual(8, 8, 1, 6).eval()
    assert keep.use_res_connect and keep.conv[0][0].out_channels == 48 and keep.conv[1][0].groups == 48
    assert not mobilenet.InvertedResidual(8, 8, 2, 6).use_res_connect
    assert not mobilenet.InvertedResidual(8, 16, 1, 6).use_res_connect
    x = images(2, 8, 5)
    with mt.no_grad():
        np.testing.assert_allclose(keep(x).detach().numpy(), x.detach().numpy() + keep.conv(x).detach().numpy(), rtol=1e-6)


def test_mobilenet_v2_width_multiplier_rounding_and_keys():
    with no_random_init():
        narrow = mobilenet.mobilenet_v2(width_mult=0.35)
        wide = mobilenet.mobilenet_v2(width_mult=1.4)
        model = mobilenet.mobilenet_v2()
    assert narrow.features[0][0].out_channels == 16 and narrow.last_channel == 1280
    assert wide.features[0][0].out_channels == 48 and wide.last_channel == 1792
    assert {"features.1.conv.0.0.weight", "features.2.conv.3.running_var", "classifier.1.weight"} <= set(
        model.state_dict())


def test_mobilenet_initialisation():
    mt.manual_seed(0)
    model = mobilenet.mobilenet_v2(width_mult=0.5)
    assert abs(float(np.std(model.classifier[1].weight.detach().numpy())) - 0.01) < 0.001
    conv = model.features[-1][0]  # 1x1, He normal with fan_out = out_channels
    std = float(np.std(conv.weight.detach().numpy()))
    assert abs(std - math.sqrt(2 / conv.out_channels)) < 0.05 * std


# ---------------------------------------------------------------- MobileNetV3


#: One block of each kind MobileNetV3 has: no expansion with squeeze-and-excitation and ReLU
#: (strided), an expanding hard-swish residual block, a 5x5 strided one with both. Large and Small
#: are this class with other tables, so this copy checks the gradient of both.
TINY_V3 = [(8, 3, 8, 8, True, "RE", 2, 1), (8, 3, 16, 8, False, "HS", 1, 1), (8, 5, 16, 16, True, "HS", 2, 1)]


def test_mobilenet_v3_gradcheck_end_to_end():
    mt.manual_seed(0)
    check_model_grad(mobilenetv3.MobileNetV3(TINY_V3, 16, num_classes=3), images(2, 3, 16), "train")


@pytest.mark.parametrize("name", ["mobilenet_v3_large", "mobilenet_v3_small"])
def test_mobilenet_v3_options_give_torchvisions_names(name):
    options = dict(width_mult=0.75, reduced_tail=True, dilated=True)
    check_torchvision_names(name, options=options, tv_options=options)


def test_mobilenet_v3_dilated_reduced_tail_gives_torchvisions_logits():
    options = dict(width_mult=0.5, reduced_tail=True, dilated=True)
    check_torchvision_logits("mobilenet_v3_small", 48, options=options, tv_options=options)


def test_mobilenet_v3_squeeze_excitation_gates_with_the_hard_sigmoid():
    with no_random_init():
        block = mobilenetv3.mobilenet_v3_small().features[1].block
    se = block[1]
    assert (se.fc1.in_channels, se.fc1.out_channels) == (16, 8)  # make_divisible(16 // 4, 8)
    assert isinstance(se.activation, nn.ReLU) and isinstance(se.scale_activation, nn.Hardsigmoid)


def test_mobilenet_v3_rejects_bad_rows_and_activations():
    with pytest.raises(ValueError, match=r"MobileNetV3: expected rows \(C, kernel"):
        mobilenetv3.MobileNetV3([(8, 3, 8, 8, True, "RE", 2)], 16)
    with pytest.raises(ValueError, match="InvertedResidualV3: expected activation 'RE' or 'HS', got 'GELU'"):
        mobilenetv3.InvertedResidualV3(8, 3, 8, 8, True, "GELU", 1)
    with pytest.raises(ValueError, match="mobilenet_v3_small: expected a positive width_mult, got 0"):
        mobilenetv3.mobilenet_v3_small(width_mult=0)


# ---------------------------------------------------------------- EfficientNet


def test_compound_scaling_multipliers_and_flops():
    s = efficientnet.compound_scaling(1)
    assert (s.depth, s.width, s.resolution) == (1.2, 1.1, 1.15)
    assert s.flops == pytest.approx(1.2 * 1.1**2 * 1.15**2) and abs(s.flops - 2) < 0.1
    s7 = efficientnet.compound_scaling(7)
    assert s7.flops == pytest.approx(s.flops**7)
    assert s7.depth * s7.width**2 * s7.resolution**2 == pytest.approx(s7.flops)
    with pytest.raises(ValueError, match="alpha, beta, gamma >= 1"):
        efficientnet.compound_scaling(1, beta=0.9)


def test_docstring_table_is_the_released_coefficients_against_the_power_law():
    rows = re.findall(r"^\s+B(\d)\s+(\d)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+([\d.]+)$",
                      efficientnet.__doc__, re.M)
    assert len(rows) == 8
    for b, phi, width, width_law, depth, depth_law, res, res_law, dropout in rows:
        s = efficientnet.compound_scaling(int(phi))
        assert efficientnet.CONFIGS[f"efficientnet_b{b}"] == (float(width), float(depth), int(res), float(dropout))
        assert (float(width_law), float(depth_law), int(res_law)) == (
            round(s.width, 2), round(s.depth, 2), round(224 * s.resolution))
        ratios = np.array([float(width) / s.width, float(depth) / s.depth, int(res) / (224 * s.resolution)])
        if 1 <= int(phi) <= 3:
            assert np.all(ratios < 1)
        elif int(phi) >= 4:
            assert np.all(np.abs(ratios[[0, 2]] - 1) < 0.05) and 0.85 < ratios[1] < 0.9


def test_efficientnet_b3_rounds_widths_and_depths_like_the_reference():
    with no_random_init():
        model = efficientnet.efficientnet_b3()
    stages = [model.features[i] for i in range(1, 8)]
    assert [len(stage) for stage in stages] == [2, 3, 3, 5, 5, 6, 2]
    assert [stage[0].block[-1][0].out_channels for stage in stages] == [24, 32, 48, 96, 136, 232, 384]
    assert model.features[0][0].out_channels == 40 and model.classifier[1].in_features == 4 * 384


def _layout(model):
    """Every module's type and parameter shapes, plus dropout's p and batch norm's constants."""
    rows = []
    for _, m in model.named_modules():
        extra = {"p": getattr(m, "p", None), "eps": getattr(m, "eps", None), "momentum": getattr(m, "momentum", None)}
        own = tuple(p.shape for key, p in m.named_parameters() if "." not in key)
        rows.append((type(m).__name__, own, extra))
    return rows


def _strip_constants(layout):
    return [(kind, shapes) for kind, shapes, _ in layout]


@pytest.mark.parametrize("name", sorted(efficientnet.CONFIGS))
def test_reduced_efficientnets_share_two_structures(name):
    """The gradient-checked B0 and B7 copies cover every B: same layers, same shapes; only
    dropout and the batch-norm constants (B5-B7 use TF's) differ."""
    with no_random_init():
        model, b0, b7 = (models.create(n, num_classes=3, **_TINY_EFFICIENTNET)
                         for n in (name, "efficientnet_b0", "efficientnet_b7"))
    assert _strip_constants(_layout(model)) == _strip_constants(_layout(b0))
    twin = b7 if name in ("efficientnet_b5", "efficientnet_b6", "efficientnet_b7") else b0
    bn = [extra for kind, _, extra in _layout(model) if kind == "BatchNorm2d"]
    assert bn == [extra for kind, _, extra in _layout(twin) if kind == "BatchNorm2d"]


def test_mbconv_squeezes_to_a_quarter_of_the_block_input():
    block = efficientnet.MBConv(40, 80, 6, 3, 2)
    se = block.block[2]
    assert (se.fc1.in_channels, se.fc1.out_channels) == (240, 10)
    assert efficientnet.MBConv(16, 24, 1, 3, 1).block[1].fc1.out_channels == 4  # t = 1: depthwise, SE, project


def test_mbconv_matches_a_torch_composition():
    torch = torch_or_skip()
    tf = torch.nn.functional
    mt.manual_seed(0)
    block = efficientnet.MBConv(8, 8, 4, 5, 1).eval()
    for m in block.modules():
        if isinstance(m, nn.BatchNorm2d):
            init.uniform_(m.weight, 0.5, 1.5)
            init.uniform_(m.bias, -0.5, 0.5)
    w = {k: torch.tensor(v) for k, v in block.state_dict().items()}

    def bn(x, i):
        p = f"block.{i}.1."
        return tf.batch_norm(x, w[p + "running_mean"], w[p + "running_var"], w[p + "weight"], w[p + "bias"], eps=1e-5)

    def theirs(x):
        h = tf.silu(bn(tf.conv2d(x, w["block.0.0.weight"]), 0))
        h = tf.silu(bn(tf.conv2d(h, w["block.1.0.weight"], padding=2, groups=32), 1))
        squeezed = tf.silu(tf.conv2d(h.mean((2, 3), keepdim=True), w["block.2.fc1.weight"], w["block.2.fc1.bias"]))
        scale = torch.sigmoid(tf.conv2d(squeezed, w["block.2.fc2.weight"], w["block.2.fc2.bias"]))
        return bn(tf.conv2d(h * scale, w["block.3.0.weight"]), 3) + x

    check_torch(block, theirs, np.random.default_rng(0).standard_normal((2, 8, 6, 6)), rtol=1e-4, atol=1e-5)


def test_stochastic_depth_drops_whole_samples_in_training_only():
    mt.manual_seed(0)
    drop = efficientnet.StochasticDepth(0.5)
    x = mt.tensor(np.ones((400, 2, 3, 3), dtype=np.float32))
    out = drop(x).detach().numpy()
    per_sample = out.reshape(400, -1)
    assert set(np.unique(per_sample)) == {0.0, 2.0}
    assert np.all(per_sample.min(axis=1) == per_sample.max(axis=1))
    assert 0.4 < np.mean(per_sample[:, 0] == 0) < 0.6
    assert drop.eval()(x) is x


def test_efficientnet_stochastic_depth_schedule_and_batch_norm_settings():
    with no_random_init():
        b0, b5 = efficientnet.efficientnet_b0(), efficientnet.efficientnet_b5()
    probs = [m.stochastic_depth.p for m in b0.modules() if isinstance(m, efficientnet.MBConv)]
    assert len(probs) == 16 and probs[0] == 0 and probs[-1] == pytest.approx(0.2 * 15 / 16)
    bn0 = [m for m in b0.modules() if isinstance(m, nn.BatchNorm2d)]
    bn5 = [m for m in b5.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all((m.eps, m.momentum) == (1e-5, 0.1) for m in bn0)
    assert all((m.eps, m.momentum) == (1e-3, 0.01) for m in bn5)
    assert {"features.1.0.block.1.fc1.weight", "features.8.1.running_mean", "classifier.1.bias"} <= set(
        b0.state_dict())


def test_efficientnet_initialisation():
    mt.manual_seed(0)
    model = efficientnet.efficientnet_b0(num_classes=100, width_mult=0.5)
    weight = model.classifier[1].weight.detach().numpy()
    assert float(np.max(np.abs(weight))) <= 1 / math.sqrt(100) and np.all(model.classifier[1].bias.detach().numpy() == 0)


def test_efficientnet_rejects_a_stage_table_that_does_not_chain():
    with pytest.raises(ValueError, match="each starting with the previous one's F"):
        efficientnet.EfficientNet(stages=((1, 3, 1, 32, 16, 1), (6, 3, 2, 24, 40, 2)))
