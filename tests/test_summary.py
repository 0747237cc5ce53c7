"""summary(), conv_output_size() and receptive_field(): the lecture facts come out of the tools."""

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import models, nn
from minitorch_cnn.functional import conv_output_size
from minitorch_cnn.summary import ReceptiveField, named_layer, receptive_field, summary


def test_lenet5_table_matches_the_paper_layout():
    s = summary(models.create("lenet5"), (1, 32, 32))
    shapes = [r["output_shape"] for r in s.rows if r["type"] in ("Conv2d", "AvgPool2d", "Linear")]
    assert shapes == [(1, 6, 28, 28), (1, 6, 14, 14), (1, 16, 10, 10), (1, 16, 5, 5), (1, 120, 1, 1), (1, 84), (1, 10)]
    assert s.total_params == 61_706
    conv1 = s.rows[0]
    assert conv1["macs"] == 28 * 28 * 6 * 1 * 5 * 5
    assert "total MACs" in s.table()


def test_macs_of_grouped_conv_and_linear():
    model = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1, groups=4), nn.Flatten(), nn.Linear(16 * 5 * 5, 10))
    s = summary(model, (8, 5, 5))
    assert s.rows[0]["macs"] == 5 * 5 * 16 * (8 // 4) * 3 * 3
    assert s.rows[-1]["macs"] == 400 * 10
    assert s.total_macs == s.rows[0]["macs"] + 4000
    assert s.activation_mb == s.total_activations * 4 / 1e6


def test_three_stacked_3x3_convs_see_7x7():
    assert receptive_field([(3, 1)] * 3) == (7, 1)
    stack = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3))
    assert receptive_field(stack) == ReceptiveField(size=(7, 7), jump=(1, 1), offset=(0, 0))


def test_output_size_formula_and_stride_that_does_not_fit():
    assert [conv_output_size(7, 3, S) for S in (1, 2)] == [5, 3]
    assert conv_output_size(7, 3, 3) == 2  # floor: the last column is never visited

    with pytest.raises(ValueError, match="not an integer"):
        conv_output_size(7, 3, 3, exact=True)


class TwoBranches(nn.Module):
    """A 3x3 stride-2 branch and a dilated 3x3 stride-2 branch summed, then a 3x3 conv: the
    fields of the two branches differ, so the union and the offsets are both exercised."""

    def __init__(self):
        super().__init__()
        self.narrow = nn.Conv2d(1, 1, 3, stride=2, padding=1, bias=False)
        self.wide = nn.Conv2d(1, 1, 3, stride=2, padding=2, dilation=2, bias=False)
        self.pool = nn.AvgPool2d(2, 1)
        self.top = nn.Conv2d(1, 1, 3, padding=1, bias=False)

    def forward(self, x):
        return self.top(self.pool(self.narrow(x) + self.wide(x)))


def test_receptive_field_box_is_where_the_gradient_of_a_unit_reaches_the_input():
    """With weights of 1 and no activation, a unit's gradient is non-zero exactly on the pixels
    its field covers (clipped to the image), so the graph walk can be checked pixel by pixel."""
    net = TwoBranches()
    for p in net.parameters():
        p.data = mt.ones(p.shape)
    field = receptive_field(net, "top", input_shape=(1, 13, 13))
    # narrow: 3, wide: 5 (both jump 2, offsets -1 and -2) -> union 5, offset -2; pool +2 -> 7; top +2*2 -> 11.
    assert field == ReceptiveField(size=(11, 11), jump=(2, 2), offset=(-4, -4))
    for i, j in [(0, 0), (2, 3), (5, 5)]:
        x = mt.ones((1, 1, 13, 13), requires_grad=True)
        net(x)[0, 0, i, j].backward()
        rows, cols = np.nonzero(x.grad.numpy()[0, 0])
        top, left, bottom, right = field.box((i, j), (13, 13))
        assert (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1) == (top, left, bottom, right)


def test_resnet_shortcuts_count_once_and_the_jump_matches_the_map():
    """Module order would chain the stride-2 1x1 shortcuts after the blocks' convs and count
    each stride twice; the graph walk follows the longest path: 3 + 2*(1 + 1 + 1 + 2 + 2 + 4) = 25."""
    model = models.create("resnet20", num_classes=3, width=4, layers=(1, 1, 1))
    field = receptive_field(model, input_shape=(3, 16, 16))
    assert field == ReceptiveField(size=(25, 25), jump=(4, 4), offset=(-12, -12))
    assert receptive_field(model, "features.5", input_shape=(3, 16, 16)) == field
    # The shortcut's 1x1 stride-2 conv sees what the first stage's output sees (3 + 2 + 2 = 7).
    assert receptive_field(model, "features.4.0.downsample", input_shape=(3, 16, 16)) == ((7, 7), (2, 2), (-3, -3))


def test_a_channel_gate_does_not_widen_the_field():
    """Squeeze-and-excitation multiplies each map by a number computed from the whole image: it
    rescales the units without moving them (EfficientNet's blocks)."""
    class Gated(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.squeeze = nn.AdaptiveAvgPool2d(1)

        def forward(self, x):
            y = self.conv(x)
            return y * mt.functional.sigmoid(self.squeeze(y))

    assert receptive_field(Gated(), input_shape=(1, 8, 8)) == ReceptiveField((3, 3), (1, 1), (0, 0))
    assert receptive_field(Gated(), "squeeze", input_shape=(1, 8, 8)).size == (8, 8)


def test_receptive_field_and_named_layer_errors_name_the_layers():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 2))
    with pytest.raises(ValueError, match="receptive_field: Sequential has no layer 'conv'; its layers are: 0, 1, 2"):
        receptive_field(model, "conv", input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match=r"layer '2' outputs shape \(1, 2\), which has no spatial positions"):
        receptive_field(model, "2", input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="receptive_field: Sequential has no convolution or pooling layer"):
        receptive_field(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), input_shape=(1, 2, 2))
    assert named_layer(model, "2") is model[2]
    with pytest.raises(TypeError, match="named_layer: expected layer to be a module name \\(str\\), got int"):
        named_layer(model, 2)


def test_published_receptive_fields_of_vgg16_and_resnet18():
    """VGG-16's pool5 sees 212 pixels (Araujo, Norris & Sim, Distill 2019, Table 1; conv5_3: 196).
    ResNet-18's last stage sees 435: 7 (conv1, jump 2) + 2*2 (max-pool, jump 4) + 4 convs * 2*4
    + (2*4 + 3*2*8) + (2*8 + 3*2*16) + (2*16 + 3*2*32), each stage's first conv striding.
    Widths do not change a field, so thin copies run on 32x32 inputs."""
    vgg = models.create("vgg16", width_mult=1 / 16)
    assert receptive_field(vgg, input_shape=(3, 32, 32)) == ((212, 212), (32, 32), (-90, -90))
    assert receptive_field(vgg, "features.29", input_shape=(3, 32, 32)).size == (196, 196)
    resnet = models.create("resnet18", width=4)
    assert receptive_field(resnet, "layer4", input_shape=(3, 32, 32)) == ((435, 435), (32, 32), (-217, -217))
