"""ResNet family (minitorch_cnn/models/resnet.py): parameter counts against torchvision and the
papers, output shapes, shortcuts, initialisation, a 152-layer backward pass, float64 gradient
checks of every registered name at reduced width/depth/resolution, and bad input."""

import inspect
import sys

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import models, nn, transfer
from minitorch_cnn.models import resnet

from helpers import (assert_namespace, check_model_grad, check_param_count, check_torchvision_logits,
                     check_torchvision_names, count_params, model_on, no_random_init, param_count_cases, random_images)

#: (name, options, trainable parameters, source). torchvision counts are its published ones.
PARAMETER_COUNTS = [
    ("resnet18", {}, 11_689_512, "torchvision"),
    ("resnet34", {}, 21_797_672, "torchvision"),
    ("resnet50", {}, 25_557_032, "torchvision"),
    ("resnet101", {}, 44_549_160, "torchvision"),
    ("resnet152", {}, 60_192_808, "torchvision"),
    ("wide_resnet50_2", {}, 68_883_240, "torchvision"),
    ("resnext50_32x4d", {}, 25_028_904, "torchvision"),
    ("resnext101_32x8d", {}, 88_791_336, "torchvision"),
    ("resnext101_64x4d", {}, 83_455_272, "torchvision"),
    ("wide_resnet101_2", {}, 126_886_696, "torchvision"),
    # resnet18/34 minus the three projection shortcuts (172,032 conv + 1,792 BN parameters)
    ("plain18", {}, 11_515_688, "He et al. 2015 Fig. 3, computed"),
    ("plain34", {}, 21_623_848, "He et al. 2015 Fig. 3, computed"),
    # resnet18 - 1,792 (shortcut BNs) - 1,024 (smaller/missing first BNs) + 1,024 (final BN)
    ("preact_resnet18", {}, 11_687_720, "He et al. 2016 / preresnet.lua, computed"),
    ("preact_resnet50", {}, 25_549_352, "He et al. 2016 / preresnet.lua, computed"),
    ("resnet20", {}, 269_722, "He et al. 2015 Table 6: 0.27M"),
    ("resnet20", {"shortcut": "B"}, 272_474, "computed: + two projections"),
    ("resnet32", {}, 464_154, "He et al. 2015 Table 6: 0.46M"),
    ("resnet44", {}, 658_586, "He et al. 2015 Table 6: 0.66M"),
    ("resnet56", {}, 853_018, "He et al. 2015 Table 6: 0.85M"),
    ("resnet110", {}, 1_727_962, "He et al. 2015 Table 6: 1.7M"),
    ("plain20", {}, 269_722, "option A adds no parameters"),
    ("plain56", {}, 853_018, "option A adds no parameters"),
    ("wrn", {}, 36_479_194, "Zagoruyko & Komodakis 2016 Table 3: WRN-28-10 36.5M"),
    ("wrn", {"depth": 16, "k": 4}, 2_748_890, "Zagoruyko & Komodakis 2016: WRN-16-4 2.7M"),
]

#: Reduced copies for gradient checks: one block per stage, a few channels.
SMALL = {
    "resnet18": dict(width=4, layers=(1, 1, 1, 1)),
    "resnet34": dict(width=4, layers=(1, 1, 1, 1)),
    "resnet50": dict(width=4, layers=(1, 1, 1, 1)),
    "resnet101": dict(width=4, layers=(1, 1, 1, 1)),
    "resnet152": dict(width=4, layers=(1, 1, 1, 1)),
    "plain18": dict(width=4, layers=(1, 1, 1, 1)),
    "plain34": dict(width=4, layers=(1, 1, 1, 1)),
    "preact_resnet18": dict(width=4, layers=(1, 1, 1, 1)),
    "preact_resnet50": dict(width=4, layers=(1, 1, 1, 1)),
    "resnet20": dict(width=4, layers=(1, 1, 1)),
    "resnet32": dict(width=4, layers=(1, 1, 1), shortcut="B"),
    "resnet44": dict(width=4, layers=(1, 1, 1)),
    "resnet56": dict(width=4, layers=(1, 1, 1)),
    "resnet110": dict(width=4, layers=(1, 1, 1)),
    "plain20": dict(width=4, layers=(1, 1, 1)),
    "plain56": dict(width=4, layers=(1, 1, 1)),
    "wide_resnet50_2": dict(width=4, layers=(1, 1, 1, 1)),
    "wrn": dict(depth=10, k=2, width=4, dropout=0.3),
    "resnext50_32x4d": dict(width=4, layers=(1, 1, 1, 1), groups=2, width_per_group=32),
    "resnext101_32x8d": dict(width=4, layers=(1, 1, 1, 1), groups=2, width_per_group=32),
    "resnext101_64x4d": dict(width=4, layers=(1, 1, 1, 1), groups=2, width_per_group=32),
    "wide_resnet101_2": dict(width=4, layers=(1, 1, 1, 1)),
}

FAMILY = sorted(SMALL)
#: Networks for 32x32 CIFAR images: total stride 4 instead of 32.
CIFAR = {"resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "plain20", "plain56", "wrn"}


def images(N=2, C=3, H=16, seed=0):
    return random_images(N, C, H, seed)


def test_every_resnet_family_name_is_registered_and_has_a_small_configuration():
    registered = {name for name in models.list_models() if models.model_info(name)["fn"].__module__ == resnet.__name__}
    assert registered == set(SMALL)


@param_count_cases(PARAMETER_COUNTS)
def test_parameter_count_matches_the_reference(name, options, expected, source):
    check_param_count(name, options, expected, source)


def test_full_size_resnet18_runs_a_forward_pass_with_the_imagenet_head():
    model = models.create("resnet18").eval()
    with mt.no_grad():
        out = model(images(1, 3, 64))
    assert out.shape == (1, 1000)
    assert np.all(np.isfinite(out.detach().numpy()))


#: The ImageNet networks have torchvision's names: the base ends with ``layer4``, the head is ``fc``.
TORCHVISION_LAYOUT = {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "plain18", "plain34",
                      "wide_resnet50_2", "wide_resnet101_2", "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d"}


@pytest.mark.parametrize("name", FAMILY)
def test_output_shape_and_base_head_split(name):
    model = models.create(name, num_classes=7, in_channels=2, **SMALL[name]).eval()
    x = images(2, 2, 32)
    base, head = ("layer4", model.fc) if name in TORCHVISION_LAYOUT else ("features", model.classifier)
    with mt.no_grad(), transfer.FeatureExtractor(model, [base]) as extract:
        feats = extract(x)[base]
        out = model(x)
    assert out.shape == (2, 7)
    assert feats.ndim == 4 and feats.shape[1] == head.in_features
    side = 32 // (4 if name in CIFAR else 32)
    assert feats.shape[2:] == (side, side)


def test_replacing_the_fc_layer_retargets_the_model():
    model = models.create("resnet18", **SMALL["resnet18"])
    model.fc = nn.Linear(model.fc.in_features, 5)
    with mt.no_grad():
        assert model(images()).shape == (2, 5)


#: Family members torchvision defines, built at full size for the names (cheap: no forward).
TORCHVISION = sorted(TORCHVISION_LAYOUT - {"plain18", "plain34"})


@pytest.mark.parametrize("name", TORCHVISION)
def test_state_dict_keys_shapes_and_batch_norms_are_torchvisions(name):
    check_torchvision_names(name)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_torchvision_weights_give_torchvisions_logits_at_full_size(name):
    check_torchvision_logits(name, 64)


#: The widest at reduced bottleneck width (torchvision's resnet101 with the same options is the
#: same network), ResNet-152 at full size on a small input.
@pytest.mark.parametrize("name, options, tv_name, tv_options", [
    ("resnet152", {}, "resnet152", {}),
    ("wide_resnet101_2", dict(width_per_group=16), "resnet101", dict(width_per_group=16)),
    ("resnext101_32x8d", dict(groups=4, width_per_group=4), "resnet101", dict(groups=4, width_per_group=4)),
    ("resnext101_64x4d", dict(groups=8, width_per_group=2), "resnet101", dict(groups=8, width_per_group=2)),
    ("resnext50_32x4d", dict(groups=4, width_per_group=4), "resnet50", dict(groups=4, width_per_group=4)),
    ("wide_resnet50_2", dict(width_per_group=16), "resnet50", dict(width_per_group=16)),
    ("resnet34", {}, "resnet34", {}),
])
def test_torchvision_weights_give_torchvisions_logits_on_a_small_input(name, options, tv_name, tv_options):
    check_torchvision_logits(name, 32, tv_name, options=options, tv_options=tv_options)


@pytest.mark.parametrize("name", FAMILY)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_gradcheck_end_to_end(name, mode):
    mt.manual_seed(0)
    model = models.create(name, num_classes=3, **SMALL[name])
    # 64x64 leaves a 2x2 map in the last ImageNet stage: train-mode BN over 2 samples x 1 pixel
    # is nearly degenerate (two values normalised to +-1) and its curvature fails the check.
    check_model_grad(model, images(2, 3, 16 if name in CIFAR else 64), mode)


def test_resnet152_full_depth_backpropagates_iteratively():
    """The graph is ~500 ops deep (50 bottlenecks); backward gets only 100 spare frames, so a
    recursive graph walk would raise RecursionError."""
    model = models.create("resnet152", num_classes=3, width=2)
    x = images(2, 3, 32)
    x.requires_grad = True
    loss = model(x).sum()
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 100)
    try:
        loss.backward()
    finally:
        sys.setrecursionlimit(limit)
    assert x.grad is not None
    assert all(p.grad is not None for p in model.parameters())


def test_block_layouts_follow_the_papers():
    with no_random_init():
        r18, r50, plain = resnet.resnet18(), resnet.resnet50(), resnet.plain18()
        rx = resnet.resnext50_32x4d().layer1[0].conv2
        wide = resnet.wide_resnet50_2().layer1[0].conv2
    stage2 = r18.layer2
    assert isinstance(stage2[0], resnet.BasicBlock) and stage2[0].conv1.stride == (2, 2)
    assert stage2[0].downsample[0].kernel_size == (1, 1) and stage2[1].downsample is None
    assert r18.layer1[0].downsample is None  # same shape in the first stage: identity
    first = r50.layer1[0]
    assert (first.conv1.out_channels, first.conv3.out_channels) == (64, 256)
    assert first.downsample is not None  # 64 -> 256 channels: projection
    assert r50.layer2[0].conv2.stride == (2, 2)  # torchvision puts the stride on the 3x3
    assert (rx.groups, rx.out_channels) == (32, 128)
    assert wide.out_channels == 128
    assert all(m.downsample is None and getattr(m, "residual", False) is False
               for m in plain.modules() if isinstance(m, resnet.BasicBlock))


def test_plain_blocks_add_nothing_and_residual_blocks_add_the_input():
    x = images(2, 4, 8)
    mt.manual_seed(0)
    res = resnet.BasicBlock(4, 4).eval()
    mt.manual_seed(0)
    plain = resnet.BasicBlock(4, 4, residual=False).eval()
    with mt.no_grad():
        branch = res.branch(x)
        np.testing.assert_allclose(res(x).detach().numpy(), np.maximum(branch.detach().numpy() + x.detach().numpy(), 0), rtol=1e-6)
        np.testing.assert_allclose(plain(x).detach().numpy(), np.maximum(branch.detach().numpy(), 0), rtol=1e-6)


def test_option_a_shortcut_subsamples_and_pads_with_zero_channels():
    x = images(2, 4, 7)
    out = resnet.ZeroPadShortcut(4, 8, 2)(x)
    assert out.shape == (2, 8, 4, 4)
    np.testing.assert_array_equal(out.detach().numpy()[:, :4], x.detach().numpy()[:, :, ::2, ::2])
    np.testing.assert_array_equal(out.detach().numpy()[:, 4:], 0)
    assert count_params(resnet.ZeroPadShortcut(4, 8, 2)) == 0


def test_preact_projection_reads_the_preactivated_input():
    block = resnet.PreActBasicBlock(4, 8, stride=2, shortcut=resnet.conv1x1(4, 8, 2)).eval()
    x = images(2, 4, 8)
    with mt.no_grad():
        pre = mt.functional.relu(block.bn1(x))
        branch = block.conv2(mt.functional.relu(block.bn2(block.conv1(pre))))
        expected = branch.detach().numpy() + block.shortcut(pre).detach().numpy()
        np.testing.assert_allclose(block(x).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_torchvision_initialisation_and_zero_init_residual():
    mt.manual_seed(0)
    model = resnet.resnet50(width=16, zero_init_residual=True)
    conv = model.layer3[0].conv2  # 3x3, fan_out = 9 * out_channels
    std = float(np.std(conv.weight.detach().numpy()))
    assert abs(std - np.sqrt(2.0 / (9 * conv.out_channels))) < 0.1 * std
    for block in model.modules():
        if isinstance(block, resnet.Bottleneck):
            np.testing.assert_array_equal(block.bn3.weight.detach().numpy(), 0)
            np.testing.assert_array_equal(block.bn1.weight.detach().numpy(), 1)
    assert not np.all(resnet.resnet18(width=8).layer1[0].bn2.weight.detach().numpy() == 0)


def test_zero_init_residual_blocks_start_as_the_identity():
    block = resnet.BasicBlock(4, 4)
    resnet.init_resnet(block, zero_init_residual=True)
    x = images(2, 4, 6)
    with mt.no_grad():
        np.testing.assert_allclose(block(x).detach().numpy(), np.maximum(x.detach().numpy(), 0), atol=1e-6)


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnet20", "wrn"])
def test_inputs_below_32_still_run_because_every_stride_two_layer_pads(name):
    model = models.create(name, **SMALL[name]).eval()
    with mt.no_grad():
        assert model(images(1, 3, 9)).shape[0] == 1


def test_runs_on_any_array_backend(xp):
    model = models.create("resnet20", num_classes=3, width=4, layers=(1, 1, 1))
    model_on(xp, model)
    x = mt.Tensor(xp.asarray(images(2, 3, 8).detach().numpy()))
    out = model(x)
    out.sum().backward()
    assert_namespace(out, xp)
    for p in model.parameters():
        assert_namespace(p, xp)


@pytest.mark.parametrize("name", ["resnet18", "resnet20", "preact_resnet18", "wrn"])
def test_wrong_channel_count_names_the_layer_and_the_shape(name):
    model = models.create(name, **SMALL[name])
    with pytest.raises(ValueError, match=r"Conv2d\(3, 4, kernel_size=.*expected input with 3 channels.*got \(1, 1, 32, 32\)"):
        model(images(1, 1, 32))


@pytest.mark.parametrize("bad, message", [
    (dict(layers=(2, 2, 2)), "expected layers to be 4 positive block counts"),
    (dict(layers=(2, 0, 2, 2)), "expected layers to be 4 positive block counts"),
])
def test_bad_imagenet_options_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        resnet.resnet18(**bad)


def test_bad_options_are_refused_with_a_message():
    with pytest.raises(ValueError, match="expected shortcut 'A', 'B' or None"):
        resnet.resnet20(shortcut="C")
    with pytest.raises(ValueError, match="depth = 6n \\+ 4"):
        resnet.wrn(depth=27)
    with pytest.raises(ValueError, match="widening factor"):
        resnet.wrn(k=0)
    with pytest.raises(ValueError, match="groups=1 and width_per_group=64"):
        resnet.ResNet(resnet.BasicBlock, (1, 1, 1, 1), groups=2)
    with pytest.raises(ValueError, match="plain network"):
        resnet.ResNet(resnet.BasicBlock, (1, 1, 1, 1), residual=False, zero_init_residual=True)


def test_wrn_takes_depth_and_k_positionally_as_in_the_paper():
    with no_random_init():
        assert count_params(resnet.wrn(16, 4)) == 2_748_890
