"""DenseNet family (minitorch_cnn/models/densenet.py): parameter counts against torchvision and
the paper, dense connectivity, transitions, float64 gradient checks of every registered name at
reduced growth/depth (train and eval mode), and bad input."""

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import models, nn
from minitorch_cnn.models import densenet

from helpers import (assert_namespace, check_model_grad, check_param_count, check_torchvision_logits,
                     check_torchvision_names, model_on, no_random_init, param_count_cases, random_images)

#: (name, options, trainable parameters, source).
PARAMETER_COUNTS = [
    ("densenet121", {}, 7_978_856, "torchvision"),
    ("densenet161", {}, 28_681_000, "torchvision"),
    ("densenet169", {}, 14_149_480, "torchvision"),
    ("densenet201", {}, 20_013_928, "torchvision"),
    ("densenet264", {}, 33_337_704, "Huang et al. 2017 Table 1 (k=32, 6-12-64-48), computed"),
    ("densenet_bc", {}, 769_162, "Huang et al. 2017 Table 2: DenseNet-BC (L=100, k=12) 0.8M"),
    ("densenet_bc", {"depth": 250, "growth_rate": 24}, 15_324_406, "Huang et al. 2017 Table 2: (L=250, k=24) 15.3M"),
    ("densenet_bc", {"depth": 190, "growth_rate": 40}, 25_624_430, "Huang et al. 2017 Table 2: (L=190, k=40) 25.6M"),
    ("densenet40", {}, 1_019_722, "Huang et al. 2017 Table 2: DenseNet (L=40, k=12) 1.0M"),
    ("densenet100", {}, 6_979_642, "Huang et al. 2017 Table 2: DenseNet (L=100, k=12) 7.0M"),
]

#: Reduced copies for gradient checks: one dense layer per block, growth rate 2.
SMALL = {
    "densenet121": dict(growth_rate=2, layers=(1, 1, 1, 1), num_init_features=4),
    "densenet161": dict(growth_rate=2, layers=(1, 1, 1, 1), num_init_features=4),
    "densenet169": dict(growth_rate=2, layers=(1, 1, 1, 1), num_init_features=4),
    "densenet201": dict(growth_rate=2, layers=(1, 1, 1, 1), num_init_features=4),
    "densenet264": dict(growth_rate=2, layers=(1, 2, 1, 1), num_init_features=4, drop_rate=0.2),
    "densenet_bc": dict(depth=16, growth_rate=2),
    "densenet40": dict(growth_rate=2, layers=(1, 1, 1), num_init_features=4),
    "densenet100": dict(growth_rate=2, layers=(1, 2, 1), num_init_features=4, drop_rate=0.2),
}
#: The CIFAR networks: a 3x3 stem without pooling, so 32x32 ends at 8x8.
CIFAR = {"densenet_bc", "densenet40", "densenet100"}


def images(N=2, C=3, H=32, seed=0):
    return random_images(N, C, H, seed)


def test_every_densenet_name_is_registered_and_has_a_small_configuration():
    registered = {n for n in models.list_models() if models.model_info(n)["fn"].__module__ == densenet.__name__}
    assert registered == set(SMALL)


@param_count_cases(PARAMETER_COUNTS)
def test_parameter_count_matches_the_reference(name, options, expected, source):
    check_param_count(name, options, expected, source)


def test_torchvision_block_and_transition_layout():
    with no_random_init():
        model = densenet.densenet121()
    blocks = [m for m in model.features if isinstance(m, densenet.DenseBlock)]
    assert [len(list(b.children())) for b in blocks] == [6, 12, 24, 16]
    transitions = [m for m in model.features if isinstance(m, nn.Sequential)]
    # 64 + 6*32 = 256 -> 128; 128 + 12*32 = 512 -> 256; 256 + 24*32 = 1024 -> 512; 512 + 16*32 = 1024
    assert [(t[2].in_channels, t[2].out_channels) for t in transitions] == [(256, 128), (512, 256), (1024, 512)]
    assert model.classifier.in_features == 1024
    layer = blocks[0].denselayer6
    assert (layer.conv1.in_channels, layer.conv1.out_channels, layer.conv2.out_channels) == (224, 128, 32)


TORCHVISION = ["densenet121", "densenet161", "densenet169", "densenet201"]


@pytest.mark.parametrize("name", TORCHVISION)
def test_state_dict_keys_shapes_and_batch_norms_are_torchvisions(name):
    check_torchvision_names(name)


def test_torchvision_weights_give_torchvisions_logits_at_full_size():
    check_torchvision_logits("densenet121", 64)


#: The bigger ones with the same code at a reduced growth rate: torchvision's ``DenseNet`` class
#: with the same block sizes (its named constructors fix the growth rate).
@pytest.mark.parametrize("name, layers", [
    ("densenet161", (6, 12, 36, 24)), ("densenet169", (6, 12, 32, 32)), ("densenet201", (6, 12, 48, 32))])
def test_torchvision_weights_give_torchvisions_logits_at_reduced_growth_rate(name, layers):
    check_torchvision_logits(name, 32, "DenseNet", options=dict(growth_rate=8, num_init_features=16),
                             tv_options=dict(growth_rate=8, num_init_features=16, block_config=layers))


def test_plain_cifar_densenet_layout_has_no_bottleneck_and_no_compression():
    model = densenet.densenet40()
    assert model.features.conv0.out_channels == 16
    blocks = [m for m in model.features if isinstance(m, densenet.DenseBlock)]
    assert [len(list(b.children())) for b in blocks] == [12, 12, 12]
    assert all(isinstance(layer, densenet.BasicDenseLayer) for b in blocks for layer in b.children())
    assert blocks[0].denselayer12.conv1.kernel_size == (3, 3)
    transitions = [m for m in model.features if isinstance(m, nn.Sequential)]
    # 16 + 12*12 = 160 kept whole; 160 + 144 = 304 kept whole; 304 + 144 = 448
    assert [(t[2].in_channels, t[2].out_channels) for t in transitions] == [(160, 160), (304, 304)]
    assert model.classifier.in_features == 448


def test_dense_block_output_starts_with_its_input_and_grows_by_k_per_layer():
    block = densenet.DenseBlock(4, 3, growth_rate=2).eval()
    x = images(2, 4, 5)
    with mt.no_grad():
        out = block(x)
        first = block.denselayer1(x)
    assert out.shape == (2, 4 + 3 * 2, 5, 5)
    np.testing.assert_array_equal(out.detach().numpy()[:, :4], x.detach().numpy())
    np.testing.assert_allclose(out.detach().numpy()[:, 4:6], first.detach().numpy(), rtol=1e-6)


def test_cifar_densenet_bc_layout():
    model = densenet.densenet_bc(40, 12)  # (40 - 4) / 6 = 6 bottleneck layers per block
    stem = model.features.conv0
    assert (stem.kernel_size, stem.stride, stem.out_channels) == ((3, 3), (1, 1), 24)
    assert [len(list(m.children())) for m in model.features if isinstance(m, densenet.DenseBlock)] == [6, 6, 6]
    with mt.no_grad():
        assert model.eval().features(images(1, 3, 32)).shape[2:] == (8, 8)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_output_shape_and_features_classifier_split(name):
    model = models.create(name, num_classes=7, in_channels=2, **SMALL[name]).eval()
    with mt.no_grad():
        out = model(images(2, 2, 32))
        feats = model.features(images(2, 2, 32))
    assert out.shape == (2, 7)
    side = 8 if name in CIFAR else 1
    assert feats.shape == (2, model.classifier.in_features, side, side)


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_gradcheck_end_to_end(name, mode):
    mt.manual_seed(0)
    model = models.create(name, num_classes=3, **SMALL[name])
    check_model_grad(model, images(2, 3, 16 if name in CIFAR else 32), mode)


def test_torchvision_initialisation():
    mt.manual_seed(0)
    model = densenet.densenet121(growth_rate=16)
    conv = model.features.denseblock1.denselayer1.conv1  # 1x1, fan_in = 64
    std = float(np.std(conv.weight.detach().numpy()))
    assert abs(std - np.sqrt(2.0 / 64)) < 0.1 * std
    np.testing.assert_array_equal(model.classifier.bias.detach().numpy(), 0)
    np.testing.assert_array_equal(model.features.norm0.weight.detach().numpy(), 1)


def test_runs_on_any_array_backend(xp):
    model = densenet.densenet_bc(10, 2, num_classes=3)
    model_on(xp, model)
    out = model(mt.Tensor(xp.asarray(images(2, 3, 8).detach().numpy())))
    out.sum().backward()
    assert_namespace(out, xp)
    for p in model.parameters():
        assert_namespace(p, xp)


def test_wrong_channel_count_names_the_layer_and_the_shape():
    model = models.create("densenet121", **SMALL["densenet121"])
    with pytest.raises(ValueError, match=r"Conv2d\(3, 4, kernel_size=\(7, 7\).*expected input with 3 channels.*got \(1, 1, 32, 32\)"):
        model(images(1, 1, 32))


def test_too_small_image_names_the_transition_pool_that_ran_out_of_pixels():
    model = models.create("densenet121", **SMALL["densenet121"]).eval()
    with mt.no_grad():
        assert model(images(1, 3, 29)).shape == (1, 1000)  # the documented floor
        with pytest.raises(ValueError, match=r"AvgPool2d\(kernel_size=2.*avg_pool2d: .*only 1"):
            model(images(1, 3, 28))


def test_bad_options_are_refused_with_a_message():
    with pytest.raises(ValueError, match="depth = 6n \\+ 4"):
        densenet.densenet_bc(depth=99)
    with pytest.raises(ValueError, match="expected layers to be positive layer counts"):
        densenet.densenet121(layers=(6, 0, 24, 16))
    with pytest.raises(ValueError, match="expected stem 'imagenet' or 'cifar'"):
        densenet.DenseNet(stem="mnist")
    with pytest.raises(ValueError, match="expected bn_size to be a count of maps per k .* got -1"):
        densenet.DenseNet(bn_size=-1)
    with pytest.raises(ValueError, match="compression in \\(0, 1\\]"):
        densenet.densenet_bc(compression=0.0)
