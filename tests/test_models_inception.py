"""Inception-v3 (models/inception.py): parameter counts, torchvision's names, batch norms and logits
(with ``transform_input``, and from a ``.pth`` file carrying the auxiliary head), the auxiliary head
against torchvision's in training, the outputs per mode, minimum inputs, and a float64 gradient check."""

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import models, nn
from minitorch_cnn.models import inception
from minitorch_cnn.nn import init

from helpers import (check_model_grad, check_param_count, check_torch, check_torchvision_logits,
                     check_torchvision_names, no_random_init, param_count_cases, random_images, torch_or_skip,
                     torchvision_or_skip)

PARAMETER_COUNTS = [
    ("inception_v3", {}, 27_161_264, "torchvision, with its auxiliary head"),
    ("inception_v3", {"aux_logits": False}, 23_834_568, "torchvision minus AuxLogits' 3,326,696"),
]
#: Width of the small copies: every channel count / 16 (two channels in the stem).
TINY = {"width_mult": 1 / 16}


def test_inception_v3_is_registered_with_its_minimum_input():
    assert models.model_info("inception_v3")["min_input"] == inception.MIN_INPUT == 299


@param_count_cases(PARAMETER_COUNTS)
def test_parameter_count_matches_torchvision(name, options, expected, source):
    check_param_count(name, options, expected, source)


@pytest.mark.parametrize("aux_logits", [True, False])
def test_inception_v3_has_torchvisions_names(aux_logits):
    check_torchvision_names("inception_v3", options=dict(aux_logits=aux_logits),
                            tv_options=dict(aux_logits=aux_logits, init_weights=False))


def test_inception_v3_torchvision_file_with_its_auxiliary_head_loads_into_the_default_model(tmp_path):
    """A ``torch.save`` file of torchvision's model (AuxLogits included) loads with
    ``models.create(name, weights=path)`` and gives its eval-mode logits with ``transform_input``
    (as its ImageNet weights run), at 75x75, the smallest input in eval mode."""
    torch = torch_or_skip()
    path = tmp_path / "inception_v3.pth"

    def save(state):
        assert any(k.startswith("AuxLogits.") for k in state)
        torch.save(state, path)
        return path

    options = dict(transform_input=True)
    check_torchvision_logits("inception_v3", 75, options=options, tv_options=options, save=save)


def test_inception_v3_auxiliary_head_matches_torchvisions_in_training():
    torch = torch_or_skip()
    torchvision_or_skip()
    from torchvision.models.inception import InceptionAux

    torch.manual_seed(0)
    theirs = InceptionAux(16, 5).train()
    ours = inception.InceptionAux(16, 5).train()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    # 17x17, the grid the head reads at 299x299: pooled to 5x5, then the 5x5 conv gives 1x1.
    x = np.random.default_rng(0).standard_normal((3, 16, 17, 17))
    check_torch(ours, theirs, x, rtol=1e-4, atol=1e-5)


def test_inception_v3_outputs_per_mode_and_minimum_inputs():
    model = models.create("inception_v3", num_classes=4, **TINY)
    out = model.train()(random_images(2, 3, inception.MIN_INPUT))
    assert out._fields == ("logits", "aux_logits") and [o.shape for o in out] == [(2, 4)] * 2
    with mt.no_grad():
        assert model.eval()(random_images(1, 3, inception.MIN_INPUT_NO_AUX)).shape == (1, 4)
        with pytest.raises(ValueError,
                           match=r"layer 'Mixed_7a.branch3x3_2.conv' of Inception3 .* kernel spans 3 pixels"):
            model(random_images(1, 3, inception.MIN_INPUT_NO_AUX - 1))
    with pytest.raises(ValueError, match=r"layer 'AuxLogits.conv1.conv' of Inception3 .* kernel spans 5 pixels"):
        model.train()(random_images(2, 3, inception.MIN_INPUT - 1))
    bare = models.create("inception_v3", aux_logits=False, **TINY)
    assert bare.AuxLogits is None and bare.train()(random_images(2, 3, inception.MIN_INPUT_NO_AUX)).shape == (2, 1000)


def test_inception_v3_layout_and_initialisation():
    mt.manual_seed(0)
    model = models.create("inception_v3")
    widths = [getattr(model, f"Mixed_{k}").out_channels for k in ("5b", "5c", "5d", "6a", "6b", "6e", "7a", "7b", "7c")]
    assert widths == [256, 288, 288, 768, 768, 768, 1280, 2048, 2048]
    assert model.Mixed_6b.branch7x7_2.conv.kernel_size == (1, 7) and model.dropout.p == 0.5
    assert all((m.eps, m.momentum) == (1e-3, 0.1) for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    stds = [float(np.std(t.detach().numpy())) for t in
            (model.Mixed_7c.branch1x1.conv.weight, model.AuxLogits.conv1.conv.weight, model.AuxLogits.fc.weight)]
    np.testing.assert_allclose(stds, [0.1, 0.01, 0.001], rtol=0.05)
    with pytest.raises(ValueError, match="transform_input=True re-normalises 3 RGB channels, got in_channels=1"):
        inception.inception_v3(in_channels=1, transform_input=True)


def test_inception_v3_gradcheck_through_the_whole_network_and_the_auxiliary_head():
    """Training mode at 299x299 with the auxiliary head: the input, the first conv and both
    classifiers are checked; every backward of the network lies between them (checking all 292
    parameter tensors would cost 584 forward passes)."""
    mt.manual_seed(0)
    model = models.create("inception_v3", num_classes=3, **TINY)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):  # He weights: N(0, 0.01^2) would shrink the signal to nothing
            init.kaiming_normal_(m.weight, nonlinearity="relu")
    checked = (model.Conv2d_1a_3x3, model.fc, model.AuxLogits.fc)
    for p in model.parameters():
        p.requires_grad = any(p is q for layer in checked for q in layer.parameters())
    check_model_grad(model, random_images(2, 3, inception.MIN_INPUT), "train")
