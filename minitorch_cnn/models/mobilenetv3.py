"""MobileNetV3 Large and Small (Howard et al. 2019, "Searching for MobileNetV3", ICCV;
arXiv:1905.02244, Tables 1 and 2), torchvision's layout.

The block is MobileNet v2's inverted residual (``mobilenet.py``): a 1x1 expansion (left out
when the expanded width equals the input's), a ``k x k`` depthwise conv, an optional
squeeze-and-excitation unit, a linear 1x1 projection, and the input added back when the stride
is 1 and the width does not change. What the architecture search and the paper's section 5
changed:

* **hard swish** ``x * relu6(x + 3) / 6`` in the deeper half of the network ("HS" in the tables)
  and ReLU ("RE") in the shallow half, where activations are large and cheap non-linearities
  cost little accuracy; ``hardswish`` replaces ``x * sigmoid(x)`` with piecewise-linear pieces
  that quantise well;
* **squeeze-and-excitation** on some blocks, squeezing the *expanded* width to
  ``make_divisible(exp / 4, 8)`` channels, with ReLU inside and the hard sigmoid
  ``relu6(x + 3) / 6`` as its gate (:class:`~minitorch_cnn.models.efficientnet.SqueezeExcitation`);
* a cheaper tail (section 5.1): a 1x1 conv to ``6 *`` the last block's width (960 Large, 576
  Small), global average pooling, and only then the wide layer (1280 Large, 1024 Small), which
  now runs on a 1x1 map: a linear layer, hard swish, dropout 0.2 and the classifier.

The stem is a 3x3 stride-2 conv with 16 filters and hard swish. Batch norm has eps 1e-3 and
momentum 0.01 (TensorFlow's 0.99 decay), as in torchvision. Each row of :data:`LARGE` and
:data:`SMALL` is ``(C, kernel, expanded, F, SE, activation, stride)``, the paper's Tables 1 and 2
(torchvision's ``_mobilenet_v3_conf``).

=====================  ==========
name                   parameters  (torchvision's ``num_params``; checked in the tests)
=====================  ==========
mobilenet_v3_large      5,483,032
mobilenet_v3_small      2,542,856
=====================  ==========

Options as torchvision's: ``width_mult`` scales every width (``make_divisible(c * width_mult,
8)``, the 1280/1024 linear layer too); ``reduced_tail`` halves the widths of the last stage
(the paper's detection and segmentation backbones); ``dilated`` gives that stage dilation 2
and stride 1 (output stride 16 instead of 32); ``dropout`` before the classifier.

Layer names follow torchvision (``features.4.block.2.fc1.weight``), so its state dicts load by key.
Initialisation is torchvision's MobileNet scheme (:func:`~minitorch_cnn.models.mobilenet.init_mobilenet`,
linear layers ``N(0, 0.01**2)``). Every conv pads, so any image runs; ``min_input`` is recorded as
32, the total stride.
"""

from __future__ import annotations

from .. import functional as F
from .. import nn
from .efficientnet import SqueezeExcitation
from .mobilenet import _check_width, _normal_linear, conv_bn_act, init_mobilenet, make_divisible
from .registry import register

#: Table 1 (MobileNetV3-Large): (C, kernel, expanded, F, SE, activation, stride) per block.
LARGE = (
    (16, 3, 16, 16, False, "RE", 1),
    (16, 3, 64, 24, False, "RE", 2),
    (24, 3, 72, 24, False, "RE", 1),
    (24, 5, 72, 40, True, "RE", 2),
    (40, 5, 120, 40, True, "RE", 1),
    (40, 5, 120, 40, True, "RE", 1),
    (40, 3, 240, 80, False, "HS", 2),
    (80, 3, 200, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 480, 112, True, "HS", 1),
    (112, 3, 672, 112, True, "HS", 1),
    (112, 5, 672, 160, True, "HS", 2),
    (160, 5, 960, 160, True, "HS", 1),
    (160, 5, 960, 160, True, "HS", 1),
)
#: Table 2 (MobileNetV3-Small), the same columns.
SMALL = (
    (16, 3, 16, 16, True, "RE", 2),
    (16, 3, 72, 24, False, "RE", 2),
    (24, 3, 88, 24, False, "RE", 1),
    (24, 5, 96, 40, True, "HS", 2),
    (40, 5, 240, 40, True, "HS", 1),
    (40, 5, 240, 40, True, "HS", 1),
    (40, 5, 120, 48, True, "HS", 1),
    (48, 5, 144, 48, True, "HS", 1),
    (48, 5, 288, 96, True, "HS", 2),
    (96, 5, 576, 96, True, "HS", 1),
    (96, 5, 576, 96, True, "HS", 1),
)
#: Width of the linear layer after pooling (Large, Small), before ``width_mult``.
LAST_CHANNEL = {"large": 1280, "small": 1024}
#: Blocks in the last stage (those ``reduced_tail`` narrows and ``dilated`` dilates), in both tables.
TAIL_BLOCKS = 3
#: TensorFlow's batch-norm constants (decay 0.99), which torchvision keeps for the ported recipe.
BN = {"eps": 1e-3, "momentum": 0.01}
ACTIVATIONS = {"RE": nn.ReLU, "HS": nn.Hardswish}


class InvertedResidualV3(nn.Module):
    """Expand (1x1, unless ``expanded == C``), depthwise ``k x k``, squeeze-and-excitation (when
    ``use_se``), linear 1x1 projection to ``F``; ``x`` is added when ``stride == 1`` and ``C == F``.

    ``block`` holds them under torchvision's indices (``block.0`` ... ``block.3``).
    """

    def __init__(self, in_channels, kernel_size, expanded, out_channels, use_se, activation, stride, dilation=1):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidualV3: expected stride 1 or 2, got {stride!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"InvertedResidualV3: expected activation 'RE' or 'HS', got {activation!r}")
        self.use_res_connect = stride == 1 and in_channels == out_channels
        act = ACTIVATIONS[activation]
        layers = []
        if expanded != in_channels:
            layers.append(conv_bn_act(in_channels, expanded, 1, activation=act, **BN))
        # A dilated stage keeps its resolution: the dilation replaces the stride.
        layers.append(conv_bn_act(expanded, expanded, kernel_size, 1 if dilation > 1 else stride, groups=expanded,
                                  activation=act, dilation=dilation, **BN))
        if use_se:
            layers.append(SqueezeExcitation(expanded, make_divisible(expanded // 4, 8),
                                            scale_activation=nn.Hardsigmoid))
        layers.append(conv_bn_act(expanded, out_channels, 1, activation=None, **BN))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        out = self.block(x)
        if self.use_res_connect:
            out = out + x
        return out


class MobileNetV3(nn.Module):
    """MobileNetV3 (see the module docstring): ``features`` (stem, blocks, the 1x1 conv to six
    times the last block's width), ``avgpool``, ``classifier`` (linear, hard swish, dropout, linear).

    Args:
        setting: one row ``(C, kernel, expanded, F, SE, activation, stride, dilation)`` per block,
            as :func:`mobilenet_v3_setting` makes them.
        last_channel: width of the linear layer after pooling.
        num_classes, in_channels: classifier outputs and input channels.
        dropout: before the classifier (0.2).
    """

    def __init__(self, setting, last_channel, num_classes=1000, in_channels=3, dropout=0.2):
        super().__init__()
        if not setting or any(len(row) != 8 for row in setting):
            raise ValueError(f"MobileNetV3: expected rows (C, kernel, expanded, F, SE, activation, stride, dilation), "
                             f"got {setting!r}")
        layers = [conv_bn_act(in_channels, setting[0][0], 3, stride=2, activation=nn.Hardswish, **BN)]
        layers += [InvertedResidualV3(*row) for row in setting]
        last_conv = 6 * setting[-1][3]
        layers.append(conv_bn_act(setting[-1][3], last_conv, 1, activation=nn.Hardswish, **BN))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(last_conv, last_channel), nn.Hardswish(), nn.Dropout(dropout),
                                        nn.Linear(last_channel, num_classes))
        init_mobilenet(self, _normal_linear)

    def forward(self, x):
        return self.classifier(F.flatten(self.avgpool(self.features(x)), 1))


def mobilenet_v3_setting(arch, width_mult=1.0, reduced_tail=False, dilated=False):
    """``(rows, last_channel)`` of ``arch`` ("large" or "small"): :data:`LARGE` or :data:`SMALL`
    with every width ``make_divisible(c * width_mult, 8)``, a dilation column, and the last stage's
    widths halved (``reduced_tail``) or its dilation 2 (``dilated``), as torchvision's
    ``_mobilenet_v3_conf``."""
    _check_width(f"mobilenet_v3_{arch}", width_mult)
    table = {"large": LARGE, "small": SMALL}[arch]
    tail = len(table) - TAIL_BLOCKS
    divider = 2 if reduced_tail else 1

    def width(c):
        return make_divisible(c * width_mult, 8)

    rows = []
    for i, (c_in, k, expanded, c_out, se, act, stride) in enumerate(table):
        if i >= tail:  # the tail's first block still reads and expands the full width
            c_out //= divider
            if i > tail:
                c_in, expanded = c_in // divider, expanded // divider
        rows.append((width(c_in), k, width(expanded), width(c_out), se, act, stride,
                     2 if dilated and i >= tail else 1))
    return rows, width(LAST_CHANNEL[arch] // divider)


_REFERENCE = "torchvision {} (Howard et al. 2019, Table {})"


@register("mobilenet_v3_large", reference=_REFERENCE.format("mobilenet_v3_large", 1), min_input=32)
def mobilenet_v3_large(num_classes=1000, in_channels=3, width_mult=1.0, reduced_tail=False, dilated=False,
                       dropout=0.2):
    """MobileNetV3-Large; 5,483,032 parameters at 1000 classes and width 1.0."""
    rows, last_channel = mobilenet_v3_setting("large", width_mult, reduced_tail, dilated)
    return MobileNetV3(rows, last_channel, num_classes, in_channels, dropout)


@register("mobilenet_v3_small", reference=_REFERENCE.format("mobilenet_v3_small", 2), min_input=32)
def mobilenet_v3_small(num_classes=1000, in_channels=3, width_mult=1.0, reduced_tail=False, dilated=False,
                       dropout=0.2):
    """MobileNetV3-Small; 2,542,856 parameters at 1000 classes and width 1.0."""
    rows, last_channel = mobilenet_v3_setting("small", width_mult, reduced_tail, dilated)
    return MobileNetV3(rows, last_channel, num_classes, in_channels, dropout)
