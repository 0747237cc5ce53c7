"""Squeeze-and-excitation (minitorch_cnn/models/senet.py): the SE block's arithmetic against
NumPy, its parameter count, SE-ResNet-50's count against the paper, and float64 gradient
checks of the block and of a reduced se_resnet50 in train and eval mode."""

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import models
from minitorch_cnn.models import senet

from helpers import check_forward, check_model_grad, count_params, no_random_init, random_images

#: Hu et al. 2018 Table 1 reports 28.09M; ResNet-50 (25,557,032) + SE FCs with bias (2,530,992).
SE_RESNET50_PARAMS = 28_088_024


def images(N=2, C=3, H=16, seed=0):
    return random_images(N, C, H, seed)


def test_se_resnet50_parameter_count_matches_the_paper():
    with no_random_init():
        model = models.create("se_resnet50")
    assert count_params(model) == SE_RESNET50_PARAMS


def test_every_bottleneck_carries_an_se_block_with_reduction_16():
    with no_random_init():
        model = senet.se_resnet50()
    blocks = [m for m in model.modules() if isinstance(m, senet.SEBottleneck)]
    assert len(blocks) == 3 + 4 + 6 + 3
    for block in blocks:
        C = block.conv3.out_channels
        assert (block.se.fc1.in_features, block.se.fc1.out_features, block.se.fc2.out_features) == (C, C // 16, C)


def test_se_block_parameters_are_two_fcs_with_bias():
    assert count_params(senet.SEBlock(256)) == 256 * 16 + 16 + 16 * 256 + 256


def test_se_block_rescales_each_channel_by_its_gate():
    block = senet.SEBlock(8, reduction=4)
    x = images(2, 8, 5)
    w1, b1 = block.fc1.weight.detach().numpy(), block.fc1.bias.detach().numpy()
    w2, b2 = block.fc2.weight.detach().numpy(), block.fc2.bias.detach().numpy()
    s = x.detach().numpy().mean(axis=(2, 3))
    gate = 1 / (1 + np.exp(-(np.maximum(s @ w1.T + b1, 0) @ w2.T + b2)))
    check_forward(block(x), x.detach().numpy() * gate[:, :, None, None])


def test_se_block_gradcheck():
    assert mt.gradcheck_module(senet.SEBlock(8, reduction=4), images(2, 8, 3), mode="full")


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_se_resnet50_gradcheck_end_to_end(mode):
    mt.manual_seed(0)
    model = models.create("se_resnet50", num_classes=3, width=4, layers=(1, 1, 1, 1))
    check_model_grad(model, images(2, 3, 64), mode)


def test_output_shape_and_options():
    model = models.create("se_resnet50", num_classes=5, in_channels=1, width=4, layers=(1, 1, 1, 1),
                          reduction=8, zero_init_residual=True).eval()
    with mt.no_grad():
        assert model(images(2, 1, 32)).shape == (2, 5)
    block = model.layer1[0]
    assert block.se.fc1.out_features == 16 // 8
    np.testing.assert_array_equal(block.bn3.weight.detach().numpy(), 0)
