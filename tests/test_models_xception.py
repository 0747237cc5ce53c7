"""Xception (models/xception.py): Keras' parameter count, its block layout and sizes at 299x299,
TensorFlow's "same" max pooling and a downsampling block against PyTorch compositions, and a float64
gradient check."""

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import models, nn
from minitorch_cnn.models import xception

from helpers import (check_model_grad, check_param_count, check_torch, no_random_init, param_count_cases,
                     random_images, torch_or_skip)

PARAMETER_COUNTS = [("xception", {}, 22_855_952, "Keras: 22,910,480 total - 54,528 batch-norm statistics")]
TINY = {"width_mult": 1 / 32}


def test_xception_is_registered_with_keras_minimum_input():
    assert models.model_info("xception")["min_input"] == xception.MIN_INPUT == 71


@param_count_cases(PARAMETER_COUNTS)
def test_parameter_count_matches_keras(name, options, expected, source):
    check_param_count(name, options, expected, source)


def test_keras_total_counts_the_batch_norm_statistics_too():
    with no_random_init():
        model = models.create("xception")
    state = model.state_dict()
    statistics = sum(int(np.prod(v.shape)) for k, v in state.items() if k.endswith(("running_mean", "running_var")))
    assert statistics == 54_528
    assert sum(p.numel() for p in model.parameters()) + statistics == 22_910_480


def test_xception_layout_follows_keras_blocks_and_sizes():
    with no_random_init():
        model = models.create("xception")
    assert list(model.features._modules) == [f"block{n}" for n in range(1, 15)]
    assert list(model.features.block2.body._modules) == [
        "sepconv1", "sepconv1_bn", "sepconv2_act", "sepconv2", "sepconv2_bn", "pool"]
    widths = [getattr(model.features, f"block{n}").out_channels for n in (2, 3, 4, 5, 12, 13)]
    assert widths == [128, 256, 728, 728, 728, 1024]
    assert model.features.block5.skip is None and model.features.block13.skip.stride == (2, 2)
    assert all((m.eps, m.momentum) == (1e-3, 0.01) for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert model.features.block14.sepconv2.pointwise.weight.shape == (2048, 1536, 1, 1)
    small = models.create("xception", **TINY).eval()
    with mt.no_grad():
        assert small.features(random_images(1, 3, 299)).shape == (1, 64, 10, 10)  # Keras: 10x10x2048


@pytest.mark.parametrize("H, W", [(8, 9), (7, 10)])
def test_same_max_pool_pads_like_tensorflow(H, W):
    """TensorFlow pads a 3x3/2 pool by ``(ceil(s/2) - 1) * 2 + 3 - s`` in all, the odd pixel at the end."""
    torch = torch_or_skip()

    def tensorflow_same(t):
        ph, pw = [max((-(-s // 2) - 1) * 2 + 3 - s, 0) for s in (H, W)]
        padded = torch.nn.functional.pad(t, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=float("-inf"))
        return torch.nn.functional.max_pool2d(padded, 3, 2)

    x = np.random.default_rng(0).standard_normal((2, 3, H, W))
    check_torch(xception.MaxPool2dSame(), tensorflow_same, x)


def test_downsampling_block_matches_a_torch_composition():
    torch = torch_or_skip()
    mt.manual_seed(0)
    ours = xception.XceptionBlock(4, [6, 8], downsample=True).train()
    tnn = torch.nn

    def sep(c, f):
        return tnn.Sequential(tnn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), tnn.Conv2d(c, f, 1, bias=False))

    body = tnn.Sequential(tnn.ReLU(), sep(4, 6), tnn.BatchNorm2d(6, eps=1e-3), tnn.ReLU(), sep(6, 8),
                          tnn.BatchNorm2d(8, eps=1e-3), tnn.MaxPool2d(3, 2, padding=1))
    skip = tnn.Sequential(tnn.Conv2d(4, 8, 1, stride=2, bias=False), tnn.BatchNorm2d(8, eps=1e-3))
    with torch.no_grad():
        for p, q in zip(ours.parameters(), list(skip.parameters()) + list(body.parameters()), strict=True):
            assert tuple(p.shape) == tuple(q.shape)
            q.copy_(torch.from_numpy(p.detach().numpy()))
    x = np.random.default_rng(0).standard_normal((2, 4, 9, 9))  # odd: TensorFlow pads 1 on both ends
    check_torch(ours, lambda t: body(t) + skip(t), x, rtol=1e-4, atol=1e-5)


def test_xception_gradcheck_through_the_whole_network():
    """Training mode: the input, the first conv and the classifier are checked; every backward of the
    network lies between them (checking all 156 parameter tensors would take 312 forward passes)."""
    mt.manual_seed(0)
    model = models.create("xception", num_classes=3, **TINY)
    checked = (model.features.block1.conv1, model.classifier)
    for p in model.parameters():
        p.requires_grad = any(p is q for layer in checked for q in layer.parameters())
    check_model_grad(model, random_images(2, 3, xception.MIN_INPUT), "train")


def test_bad_width_is_named():
    with pytest.raises(ValueError, match="Xception: expected a positive width_mult, got 0"):
        xception.xception(width_mult=0)
