"""The classic ImageNet networks (models/alexnet.py, vgg.py, nin.py, googlenet.py): parameter
counts against torchvision and the papers, layer sizes the lectures quote, the inception cost
comparison, GoogLeNet's auxiliary outputs, float64 gradient checks of every registered name at
reduced width and resolution, and bad input."""

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import models, nn
from minitorch_cnn.models import alexnet, googlenet, nin, vgg
from minitorch_cnn.nn import init
from minitorch_cnn.summary import summary

from helpers import (check_model_grad, check_param_count, check_torch, check_torchvision_logits,
                     check_torchvision_names, no_random_init, param_count_cases, random_images, torch_or_skip,
                     torchvision_or_skip)

#: (name, options, trainable parameters at 1000 classes, source).
PARAMETER_COUNTS = [
    ("alexnet", {}, 62_378_344, "Krizhevsky et al. 2012, counted from the layer list (module docstring)"),
    ("alexnet", {"two_gpu_groups": True}, 60_965_224, "same, groups=2 in conv2/4/5: the paper's '60 million'"),
    ("alexnet_owt", {}, 61_100_840, "torchvision"),
    ("zfnet", {}, 107_627_624, "Zeiler & Fergus 2013, Fig. 3 with 512-1024-512, counted"),
    ("vgg11", {}, 132_863_336, "torchvision"),
    ("vgg11_bn", {}, 132_868_840, "torchvision"),
    ("vgg11_lrn", {}, 132_863_336, "= vgg11, LRN has no parameters (paper Table 2: 133M)"),
    ("vgg11_lrn_bn", {}, 132_868_840, "= vgg11_bn"),
    ("vgg13", {}, 133_047_848, "torchvision"),
    ("vgg13_bn", {}, 133_053_736, "torchvision"),
    ("vgg16_c", {}, 133_638_952, "vgg16 - 8*(256*256 + 2*512*512) (paper Table 2: 134M)"),
    ("vgg16_c_bn", {}, 133_647_400, "vgg16_bn - 8*(256*256 + 2*512*512)"),
    ("vgg16", {}, 138_357_544, "torchvision"),
    ("vgg16_bn", {}, 138_365_992, "torchvision"),
    ("vgg19", {}, 143_667_240, "torchvision"),
    ("vgg19_bn", {}, 143_678_248, "torchvision"),
    ("nin", {}, 7_595_176, "Lin et al. 2014, released NIN-Imagenet prototxt, counted"),
    ("googlenet", {}, 13_378_280, "Szegedy et al. 2015 Table 1 widths + two auxiliary heads, counted"),
    ("googlenet", {"aux_logits": False}, 6_998_552, "Table 1 widths, counted (paper: ~6.8M)"),
    ("googlenet_bn", {}, 13_004_888, "torchvision, with its auxiliary heads"),
    ("googlenet_bn", {"aux_logits": False}, 6_624_904, "torchvision"),
]

#: Reduced copies for gradient checks and shape tests: (options, input size).
SMALL = {
    "alexnet": ({"width_mult": 1 / 32}, 67),
    "alexnet_owt": ({"width_mult": 1 / 32}, 63),
    "zfnet": ({"width_mult": 1 / 32}, 53),
    "nin": ({"width_mult": 1 / 32}, 67),
    "googlenet": ({"width_mult": 1 / 16}, 79),
    "googlenet_bn": ({"width_mult": 1 / 16}, 15),
    **{name: ({"width_mult": 1 / 32}, 32) for name in [
        "vgg11", "vgg11_bn", "vgg11_lrn", "vgg11_lrn_bn", "vgg13", "vgg13_bn",
        "vgg16_c", "vgg16_c_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]},
}
FAMILIES = (alexnet.__name__, vgg.__name__, nin.__name__, googlenet.__name__)
NAMES = sorted(SMALL)


def images(N=2, C=3, H=32, seed=0):
    return random_images(N, C, H, seed)


def small(name, **options):
    base, size = SMALL[name]
    return models.create(name, **{**base, **options}), size


def test_every_classic_name_is_registered_with_a_small_configuration_and_its_minimum_input():
    registered = {n for n in models.list_models() if models.model_info(n)["fn"].__module__ in FAMILIES}
    assert registered == set(SMALL)
    for name in NAMES:
        assert models.model_info(name)["min_input"] == SMALL[name][1], name


@param_count_cases(PARAMETER_COUNTS)
def test_parameter_count_matches_the_reference(name, options, expected, source):
    check_param_count(name, options, expected, source)


def test_alexnet_conv1_gives_55x55x96_with_34944_parameters_on_227x227():
    with no_random_init():
        model = models.create("alexnet")
    rows = {r["name"]: r for r in summary(model, (3, 227, 227)).rows}
    assert rows["features.conv1"]["output_shape"] == (1, 96, 55, 55)
    assert rows["features.conv1"]["params"] == 34_944 == 11 * 11 * 3 * 96 + 96
    assert [rows[f"features.{n}"]["output_shape"][2] for n in ("pool1", "pool2", "pool5")] == [27, 13, 6]
    assert rows["avgpool"]["output_shape"] == (1, 256, 6, 6)


def test_alexnet_two_towers_group_conv2_conv4_conv5_only():
    with no_random_init():
        f = models.create("alexnet", two_gpu_groups=True).features
    assert [getattr(f, f"conv{i}").groups for i in range(1, 6)] == [1, 2, 1, 2, 2]
    assert isinstance(f.norm1, nn.LocalResponseNorm) and isinstance(f.norm2, nn.LocalResponseNorm)


def test_alexnet_initialisation_follows_the_paper():
    model = models.create("alexnet", width_mult=1 / 4)
    ones = {"features.conv2", "features.conv4", "features.conv5", "classifier.fc6", "classifier.fc7"}
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            np.testing.assert_array_equal(m.bias.detach().numpy(), 1.0 if name in ones else 0.0, err_msg=name)
    assert abs(float(np.std(model.classifier.fc6.weight.detach().numpy())) - 0.01) < 0.001


def test_zfnet_layer_sizes_on_224x224_match_the_paper_figure():
    model, _ = small("zfnet")
    rows = {r["name"]: r["output_shape"] for r in summary(model, (3, 224, 224)).rows}
    sizes = [rows[f"features.{n}"][2] for n in ("conv1", "pool1", "conv2", "pool2", "conv5", "pool5")]
    assert sizes == [110, 55, 26, 13, 13, 6]
    assert model.features.conv1.kernel_size == (7, 7) and model.features.conv1.stride == (2, 2)
    with no_random_init():
        full = models.create("zfnet").features
    assert [full.conv3.out_channels, full.conv4.out_channels, full.conv5.out_channels] == [512, 1024, 512]


def test_vgg_layouts_follow_table_1_in_torchvision_numbering():
    c, lrn, d = (f(width_mult=1 / 32) for f in (vgg.vgg16_c, vgg.vgg11_lrn, vgg.vgg16))
    kernels = [m.kernel_size[0] for m in c.features if isinstance(m, nn.Conv2d)]
    assert kernels == [3] * 6 + [1] + [3, 3, 1] + [3, 3, 1]
    assert [type(m).__name__ for m in lrn.features][:4] == ["Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d"]
    keys = set(d.state_dict())
    assert {"features.0.weight", "features.28.bias", "classifier.0.weight", "classifier.6.bias"} <= keys
    assert sum(isinstance(m, nn.Conv2d) for m in d.features) == 13
    assert sum(isinstance(m, nn.BatchNorm2d) for m in vgg.vgg16_bn(width_mult=1 / 32).features) == 13


def test_alexnet_owt_has_torchvisions_names_and_logits():
    check_torchvision_names("alexnet_owt", "alexnet")
    check_torchvision_logits("alexnet_owt", 63, "alexnet")


TORCHVISION_VGG = ["vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]


@pytest.mark.parametrize("name", TORCHVISION_VGG)
def test_vgg_state_dict_keys_shapes_and_batch_norms_are_torchvisions(name):
    check_torchvision_names(name)


#: torchvision's VGG has no width option (its classifier is fixed at 512 * 7 * 7 -> 4096), so the
#: logits are checked once, at full size on 32x32 images, with batch norm; the other
#: configurations differ only in their conv counts and batch norms, which the keys pin.
def test_vgg_torchvision_weights_give_torchvisions_logits_at_full_size():
    check_torchvision_logits("vgg16_bn", 32)


def test_nin_ends_in_class_maps_and_global_average_pooling():
    model, _ = small("nin", num_classes=5)
    assert model.classifier.cccp8.out_channels == 5
    assert not any(isinstance(m, nn.Linear) for m in model.modules())
    with mt.no_grad():
        assert model.eval()(images(2, 3, 224)).shape == (2, 5)


def test_naive_inception_costs_more_than_twice_the_dimension_reduced_module():
    naive = googlenet.NaiveInception(256, 128, 192, 96)
    reduced = googlenet.Inception(256, 128, 64, 192, 64, 96, 64)
    naive_macs = googlenet.inception_macs(naive, (256, 28, 28))
    reduced_macs = googlenet.inception_macs(reduced, (256, 28, 28))
    positions = 28 * 28
    assert naive_macs == positions * 256 * (128 * 1 + 192 * 9 + 96 * 25) == 854_196_224
    assert reduced_macs == positions * (256 * (128 + 64 + 64 + 64) + 64 * (192 * 9 + 96 * 25)) == 271_351_808
    assert naive_macs > 2 * reduced_macs
    assert (naive.out_channels, reduced.out_channels) == (128 + 192 + 96 + 256, 128 + 192 + 96 + 64)


def test_inception_modules_work_on_their_own():
    x = images(2, 8, 7)
    with mt.no_grad():
        assert googlenet.NaiveInception(8, 2, 3, 4)(x).shape == (2, 17, 7, 7)
        assert googlenet.Inception(8, 2, 3, 4, 1, 5, 6)(x).shape == (2, 17, 7, 7)
    assert googlenet.Inception(8, 2, 3, 4, 1, 5, 6).branch3[2].kernel_size == (5, 5)


def test_googlenet_returns_auxiliary_logits_only_while_training():
    model, size = small("googlenet", num_classes=4)
    x = images(2, 3, size)
    main, aux1, aux2 = model.train()(x)
    assert main.shape == aux1.shape == aux2.shape == (2, 4)
    with mt.no_grad():
        assert model.eval()(x).shape == (2, 4)
    bare, _ = small("googlenet", aux_logits=False)
    assert bare.aux1 is None and bare.aux2 is None
    assert bare.train()(images(1, 3, size)).shape == (1, 1000)


@pytest.mark.parametrize("aux_logits, mode, side, outputs, pool", [
    (True, "train", googlenet.MIN_INPUT, 3, "aux1.pool"),
    (True, "eval", googlenet.MIN_INPUT_NO_AUX, 1, "features.pool4"),
    (False, "train", googlenet.MIN_INPUT_NO_AUX, 1, "features.pool4"),
])
def test_googlenet_runs_at_its_minimum_input_and_one_pixel_less_names_the_pool(aux_logits, mode, side, outputs, pool):
    model, _ = small("googlenet", num_classes=3, aux_logits=aux_logits)
    getattr(model, mode)()
    with mt.no_grad():
        out = model(images(1, 3, side))
        assert [o.shape for o in (out if isinstance(out, tuple) else (out,))] == [(1, 3)] * outputs
        with pytest.raises(ValueError, match=rf"layer '{pool}' of GoogLeNet .*: kernel spans \d+ pixels"):
            model(images(1, 3, side - 1))


def test_googlenet_docstrings_state_its_minimum_inputs():
    for doc in (googlenet.__doc__, googlenet.googlenet.__doc__):
        for side in (googlenet.MIN_INPUT, googlenet.MIN_INPUT_NO_AUX):
            assert f"{side}x{side}" in doc


def test_googlenet_follows_table_1():
    with no_random_init():
        model = googlenet.googlenet()
    f = model.features
    assert [getattr(f, f"inception{k}").out_channels for k in googlenet.INCEPTION] == [
        256, 480, 512, 512, 512, 528, 832, 832, 1024]
    assert (model.aux1.conv.in_channels, model.aux2.conv.in_channels) == (512, 528)
    assert model.aux1.pool.kernel_size == 5 and model.aux1.pool.stride == 3 and model.aux1.drop.p == 0.7
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    small_model, _ = small("googlenet")
    rows = {r["name"]: r["output_shape"] for r in summary(small_model.train(), (3, 224, 224)).rows}
    assert [rows[f"features.pool{i}"][2] for i in range(1, 5)] == [56, 28, 14, 7]


def test_googlenet_bn_returns_torchvisions_outputs_in_training_and_the_logits_in_eval():
    model, size = small("googlenet_bn", num_classes=4)
    out = model.train()(images(2, 3, size + 29))
    assert out._fields == ("logits", "aux_logits2", "aux_logits1")
    assert [o.shape for o in out] == [(2, 4)] * 3
    with mt.no_grad():
        assert model.eval()(images(2, 3, size)).shape == (2, 4)
    bare, _ = small("googlenet_bn", aux_logits=False)
    assert bare.aux1 is None and bare.train()(images(2, 3, size)).shape == (2, 1000)
    with pytest.raises(ValueError, match=r"layer 'maxpool3' of GoogLeNetBN"):
        model.eval()(images(1, 3, size - 1))


def test_googlenet_bn_layout_is_torchvisions():
    with no_random_init():
        model = googlenet.googlenet_bn()
    assert [getattr(model, f"inception{k}").out_channels for k in googlenet.INCEPTION] == [
        256, 480, 512, 512, 512, 528, 832, 832, 1024]
    assert model.inception3a.branch3[1].conv.kernel_size == (3, 3)  # torchvision's "5x5" branch
    assert all(m.eps == 1e-3 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert (model.maxpool4.kernel_size, model.dropout.p, model.aux1.dropout.p) == (2, 0.2, 0.7)
    with pytest.raises(ValueError, match="transform_input=True re-normalises 3 RGB channels, got in_channels=1"):
        googlenet.googlenet_bn(in_channels=1, transform_input=True)


@pytest.mark.parametrize("aux_logits", [True, False])
def test_googlenet_bn_has_torchvisions_names(aux_logits):
    check_torchvision_names("googlenet_bn", "googlenet", options=dict(aux_logits=aux_logits),
                            tv_options=dict(aux_logits=aux_logits))


#: At 112x112 inception 4a and 4d see 7x7 maps, which the auxiliary heads pool to 4x4 in
#: overlapping windows; ``transform_input`` as torchvision's ImageNet weights use it.
@pytest.mark.parametrize("transform_input", [False, True])
def test_googlenet_bn_torchvision_weights_give_torchvisions_logits(transform_input):
    options = dict(transform_input=transform_input)
    check_torchvision_logits("googlenet_bn", 112, "googlenet", options=options, tv_options=options)


def test_googlenet_bn_auxiliary_head_matches_torchvisions_in_training():
    torch = torch_or_skip()
    torchvision_or_skip()
    from torchvision.models.googlenet import InceptionAux

    torch.manual_seed(0)
    theirs = InceptionAux(16, 5, dropout=0.0).train()
    ours = googlenet.InceptionAuxBN(16, 5, dropout=0.0).train()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((3, 16, 7, 7))
    check_torch(ours, theirs, x, rtol=1e-4, atol=1e-5)


def test_googlenet_initialisation_is_the_caffe_reproductions():
    model, _ = small("googlenet")
    np.testing.assert_allclose(model.features.conv1.bias.detach().numpy(), 0.2, rtol=1e-6)
    np.testing.assert_allclose(model.aux1.fc.bias.detach().numpy(), 0.2, rtol=1e-6)
    for head in (model.classifier[1], model.aux1.classifier, model.aux2.classifier):
        np.testing.assert_array_equal(head.bias.detach().numpy(), 0.0)


@pytest.mark.parametrize("name", [n for n in NAMES if n != "googlenet_bn"])  # torchvision's has no features
def test_output_shape_and_features_classifier_split(name):
    model, size = small(name, num_classes=7, in_channels=2)
    x = images(2, 2, size)
    with mt.no_grad():
        out = model.eval()(x)
        feats = model.features(x)
        larger = model(images(1, 2, size + 29))
    assert out.shape == (2, 7) and larger.shape == (1, 7)
    assert feats.ndim == 4 and feats.shape[0] == 2
    assert isinstance(model.classifier, nn.Sequential)


def _he_init(model):
    """Variance-preserving weights and small non-zero biases before a gradient check.

    The papers' N(0, 0.01^2) weights shrink the signal ~100x per layer, and a check on near-zero
    outputs proves little. Zero biases put a pixel whose inputs are all ReLU zeros exactly on the
    next ReLU's kink, where the central difference sees half a slope and backward none.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                init.normal_(m.bias, 0.0, 0.1)
    return model


@pytest.mark.parametrize("name, options", [(n, {}) for n in NAMES] + [("alexnet", {"two_gpu_groups": True})],
                         ids=NAMES + ["alexnet-two_gpu_groups"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_gradcheck_end_to_end(name, options, mode):
    mt.manual_seed(0)
    model, size = small(name, num_classes=3, **options)
    batch = 2 if name.endswith("_bn") else 1  # batch norm in training mode needs N > 1
    check_model_grad(_he_init(model), images(batch, 3, size), mode)


@pytest.mark.parametrize("name", ["alexnet", "zfnet", "vgg16_bn", "nin", "googlenet"])
def test_wrong_channel_count_names_the_layer_and_the_shape(name):
    model, size = small(name)
    with pytest.raises(ValueError, match=r"Conv2d\(3, \d+, kernel_size=.*expected input with 3 channels.*"
                                         rf"got \(1, 1, {size}, {size}\)"):
        model(images(1, 1, size))


@pytest.mark.parametrize("name, layer", [("alexnet", "MaxPool2d"), ("zfnet", "MaxPool2d"), ("vgg11", "MaxPool2d"),
                                         ("nin", "MaxPool2d"), ("googlenet", "AvgPool2d")])
def test_too_small_an_image_names_the_layer(name, layer):
    model, size = small(name)
    message = rf"{layer}\(kernel_size=.*kernel spans \d+ pixels but the padded input is only"
    with pytest.raises(ValueError, match=message):
        model(images(2, 3, size - 1))
