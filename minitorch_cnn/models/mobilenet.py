"""MobileNets: depthwise-separable convolutions (v1) and inverted residuals (v2).

A standard ``kh x kw`` conv from ``C`` to ``F`` channels costs ``Ho*Wo * F * C * kh*kw`` MACs.
The depthwise-separable factorisation splits it into a depthwise conv (one ``kh x kw`` filter
per input channel: ``nn.Conv2d(C, C, 3, groups=C)``, ``Ho*Wo * C * kh*kw`` MACs) and a
pointwise 1x1 conv (``Ho*Wo * C * F`` MACs), a cost ratio of ``1/F + 1/(kh*kw)``: about 8 to 9
times cheaper for 3x3 kernels (Howard et al. 2017, section 3.1).

=============  ========================================================================  =========
name           reference                                                                 parameters
=============  ========================================================================  =========
mobilenet_v1   Howard et al. 2017, "MobileNets: Efficient Convolutional Neural Networks  4,231,976
               for Mobile Vision Applications", Table 1 (the paper's 4.2M)
mobilenet_v2   torchvision ``mobilenet_v2`` (Sandler et al. 2018, "MobileNetV2:          3,504,872
               Inverted Residuals and Linear Bottlenecks", Table 2)
=============  ========================================================================  =========

**MobileNet v1** (Table 1): a 3x3 stride-2 conv with 32 filters, then 13 depthwise-separable
layers (3x3 depthwise conv, BN, ReLU, 1x1 conv, BN, ReLU; no conv biases)::

    64 | 128/2 128 | 256/2 256 | 512/2 512 512 512 512 512 | 1024/2 1024

(``/2``: the depthwise conv has stride 2), global average pooling and a 1024 -> 1000 linear
layer. Table 1 prints stride 2 for the last depthwise conv, but its input and output are both
7x7 (and the reference TF-slim ``mobilenet_v1.py`` uses stride 1), so we use 1. The count:
stem ``3*3*3*32 + 2*32 = 928``, separable layers ``3,206,048`` (each ``9*C + 2*C + C*F + 2*F``
for ``C -> F``, BN scale and shift included), classifier ``1024*1000 + 1000 = 1,025,000``;
total 4,231,976. The paper's 4.2M counts the same parameters.

* Width multiplier ``alpha`` (section 4.2): every layer has ``alpha * C`` channels, so the
  MACs and parameters fall roughly by ``alpha**2``; the paper's 1, 0.75, 0.5, 0.25 give 4.2M,
  2.6M, 1.3M, 0.5M parameters and 569M, 325M, 149M, 41M MACs at 224x224 (Table 6; ``mt.summary``
  reproduces both). Channels are ``max(int(alpha * C), min_depth)`` with ``min_depth=8``, as in
  TF-slim.
* Resolution multiplier ``rho`` (section 4.3): nothing in the network changes. Feed images of
  ``rho * 224`` pixels (224, 192, 160 or 128); every feature map shrinks by ``rho``, so the
  MACs fall by ``rho**2`` (569M -> 418M, 290M, 186M, Table 7) and the parameters stay the same.
  The head pools adaptively, so any input from 32x32 runs.
* ``shallow=True`` removes the five 512-channel 14x14 layers (Table 4's "shallow MobileNet").
* The paper states no initialisation; we use torchvision's MobileNet v2 scheme (below).

**MobileNet v2** (Table 2, torchvision layout): a 3x3 stride-2 conv with 32 filters, seven
stages of inverted residual blocks ``(t, c, n, s)`` (expansion, channels, repeats, stride of the
first block), a 1x1 conv to 1280 channels, global average pooling, dropout 0.2 and a linear layer.
An inverted residual block expands ``C`` to ``t*C`` channels with a 1x1 conv, filters them with
a 3x3 depthwise conv, and projects back down with a *linear* 1x1 conv (BN, no ReLU: the
"linear bottleneck"); the shortcut adds the block's input when the stride is 1 and ``C`` does
not change. The activations are ReLU6, ``min(max(x, 0), 6)`` (``nn.ReLU6``), whose cap keeps
activations in a range low-precision arithmetic represents well (section 3.1). ``width_mult`` scales every
width and rounds it to a multiple of ``round_nearest`` with :func:`make_divisible`; the last
conv never narrows below 1280.

Layer names follow torchvision (``features.1.conv.0.0.weight``), so state-dict keys match.
Initialisation (torchvision's v2): convs ``kaiming_normal_(mode="fan_out")`` with zero bias,
batch norm scale 1 and shift 0, linear ``N(0, 0.01**2)`` with zero bias.

Input sizes: every conv pads, so any image runs; ``min_input`` is recorded as 32, the total
stride (below it the last stages see a padded 1x1 map).
"""

from __future__ import annotations

from .. import functional as F
from .. import nn
from ..nn import init
from .registry import register


def make_divisible(v, divisor=8, min_value=None):
    """Round a channel count ``v`` to the nearest multiple of ``divisor`` (at least
    ``min_value``, default ``divisor``), going up one step if rounding lost more than 10%.

    The rounding of the reference implementations (TF ``mobilenet`` and ``efficientnet``,
    torchvision ``_make_divisible``): ``make_divisible(32 * 0.35) = 16``, ``make_divisible(40 *
    1.1) = 48``. Multiples of 8 suit the vector units of mobile hardware.
    """
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def conv_bn_act(in_channels, out_channels, kernel_size=3, stride=1, groups=1, activation=nn.ReLU,
                eps=1e-5, momentum=0.1, dilation=1):
    """Conv (no bias, padding ``(k - 1) // 2 * dilation`` so stride 1 keeps the size), BatchNorm2d
    and ``activation()`` (``None``: no activation), numbered 0, 1, 2 as torchvision's
    ``Conv2dNormActivation``. ``groups=in_channels`` makes it a depthwise conv."""
    layers = [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=(kernel_size - 1) // 2 * dilation,
                  dilation=dilation, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels, eps=eps, momentum=momentum),
    ]
    if activation is not None:
        layers.append(activation())
    return nn.Sequential(*layers)


def init_mobilenet(model, linear_init):
    """torchvision's MobileNet/EfficientNet scheme: He-normal (fan-out) convs with zero bias, BN
    scale 1 and shift 0; ``linear_init(layer)`` draws each linear layer's weights and bias."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            init.ones_(m.weight)
            init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            linear_init(m)


def _normal_linear(m):
    init.normal_(m.weight, 0.0, 0.01)
    init.zeros_(m.bias)


def _check_width(owner, width_mult):
    if isinstance(width_mult, bool) or not isinstance(width_mult, (int, float)) or width_mult <= 0:
        raise ValueError(f"{owner}: expected a positive width_mult, got {width_mult!r}")


# ---------------------------------------------------------------- MobileNet v1


#: Howard et al. 2017, Table 1: (output channels, depthwise stride) of the 13 separable layers.
V1_LAYERS = (
    (64, 1),
    (128, 2), (128, 1),
    (256, 2), (256, 1),
    (512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
    (1024, 2), (1024, 1),
)
V1_STEM = 32


class DepthwiseSeparable(nn.Module):
    """A 3x3 depthwise conv (``groups=C``, BN, ReLU) then a 1x1 pointwise conv (BN, ReLU)
    from ``C`` to ``F`` channels (Howard et al. 2017, Fig. 3 right)."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.depthwise = conv_bn_act(in_channels, in_channels, 3, stride, groups=in_channels)
        self.pointwise = conv_bn_act(in_channels, out_channels, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class MobileNetV1(nn.Module):
    """MobileNet v1 (Howard et al. 2017, Table 1).

    Args:
        num_classes, in_channels: classifier outputs and input channels.
        width_mult: the width multiplier ``alpha``; each layer has ``max(int(alpha * C),
            min_depth)`` channels.
        min_depth: the narrowest layer TF-slim allows (8); lower it for tiny test copies.
        shallow: drop the five 512-channel 14x14 layers (Table 4).

    Attributes ``features`` (stem and separable layers, ``(N, 1024 * alpha, H/32, W/32)``),
    ``avgpool`` and ``classifier`` (the linear layer).
    """

    def __init__(self, num_classes=1000, in_channels=3, width_mult=1.0, min_depth=8, shallow=False):
        super().__init__()
        _check_width("MobileNetV1", width_mult)

        def width(c):
            return max(int(c * width_mult), min_depth)

        layers = V1_LAYERS[:6] + V1_LAYERS[11:] if shallow else V1_LAYERS
        channels = width(V1_STEM)
        blocks = [conv_bn_act(in_channels, channels, 3, stride=2)]
        for out_channels, stride in layers:
            blocks.append(DepthwiseSeparable(channels, width(out_channels), stride))
            channels = width(out_channels)
        self.features = nn.Sequential(*blocks)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)
        init_mobilenet(self, _normal_linear)

    def forward(self, x):
        return self.classifier(F.flatten(self.avgpool(self.features(x)), 1))


# ---------------------------------------------------------------- MobileNet v2


#: Sandler et al. 2018, Table 2: (expansion t, channels c, repeats n, first stride s) per stage.
V2_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
V2_STEM = 32
V2_LAST = 1280


class InvertedResidual(nn.Module):
    """1x1 expansion to ``round(t * C)`` channels (left out when ``t = 1``), 3x3 depthwise conv,
    linear 1x1 projection to ``F``; ``x`` is added when ``stride == 1`` and ``C == F``.

    ``conv`` holds the layers under torchvision's names: ``conv.0`` expansion, ``conv.1``
    depthwise, ``conv.2`` projection, ``conv.3`` its BN (without the expansion, when ``t = 1``,
    each moves up by one).
    """

    def __init__(self, in_channels, out_channels, stride, expand_ratio):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidual: expected stride 1 or 2, got {stride!r}")
        hidden = int(round(in_channels * expand_ratio))
        self.use_res_connect = stride == 1 and in_channels == out_channels
        layers = []
        if expand_ratio != 1:
            layers.append(conv_bn_act(in_channels, hidden, 1, activation=nn.ReLU6))
        layers += [
            conv_bn_act(hidden, hidden, 3, stride, groups=hidden, activation=nn.ReLU6),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNet v2 (Sandler et al. 2018, Table 2), torchvision's layout.

    Args:
        num_classes, in_channels: classifier outputs and input channels.
        width_mult: scales every width; each is rounded by ``make_divisible(c * width_mult,
            round_nearest)``, the last conv to ``make_divisible(1280 * max(1, width_mult))``.
        round_nearest: the channel multiple (8); 1 turns the rounding off.
        dropout: dropout probability before the linear layer (0.2).
        inverted_residual_setting: the ``(t, c, n, s)`` stages (default :data:`V2_SETTING`).

    Attributes ``features`` (stem, blocks and the 1x1 conv to ``last_channel``), ``avgpool`` and
    ``classifier`` (dropout and the linear layer).
    """

    def __init__(self, num_classes=1000, in_channels=3, width_mult=1.0, round_nearest=8, dropout=0.2,
                 inverted_residual_setting=V2_SETTING):
        super().__init__()
        _check_width("MobileNetV2", width_mult)
        if not inverted_residual_setting or any(len(stage) != 4 for stage in inverted_residual_setting):
            raise ValueError(
                f"MobileNetV2: expected a non-empty list of (t, c, n, s) stages, got {inverted_residual_setting!r}"
            )
        channels = make_divisible(V2_STEM * width_mult, round_nearest)
        self.last_channel = make_divisible(V2_LAST * max(1.0, width_mult), round_nearest)
        blocks = [conv_bn_act(in_channels, channels, 3, stride=2, activation=nn.ReLU6)]
        for t, c, n, s in inverted_residual_setting:
            out_channels = make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                blocks.append(InvertedResidual(channels, out_channels, s if i == 0 else 1, t))
                channels = out_channels
        blocks.append(conv_bn_act(channels, self.last_channel, 1, activation=nn.ReLU6))
        self.features = nn.Sequential(*blocks)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.last_channel, num_classes))
        init_mobilenet(self, _normal_linear)

    def forward(self, x):
        return self.classifier(F.flatten(self.avgpool(self.features(x)), 1))


# ---------------------------------------------------------------- registered models


@register("mobilenet_v1", reference="Howard et al. 2017, Table 1 (TF-slim mobilenet_v1 rounding)", min_input=32)
def mobilenet_v1(num_classes=1000, in_channels=3, width_mult=1.0, min_depth=8, shallow=False):
    """MobileNet v1 with width multiplier ``width_mult`` (alpha); 4,231,976 parameters at 1.0."""
    return MobileNetV1(num_classes, in_channels, width_mult=width_mult, min_depth=min_depth, shallow=shallow)


@register("mobilenet_v2", reference="torchvision mobilenet_v2 (Sandler et al. 2018, Table 2)", min_input=32)
def mobilenet_v2(num_classes=1000, in_channels=3, width_mult=1.0, round_nearest=8, dropout=0.2,
                 inverted_residual_setting=V2_SETTING):
    """MobileNet v2 with inverted residuals; 3,504,872 parameters at width 1.0."""
    return MobileNetV2(num_classes, in_channels, width_mult=width_mult, round_nearest=round_nearest,
                       dropout=dropout, inverted_residual_setting=inverted_residual_setting)
