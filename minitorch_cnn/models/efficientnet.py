"""EfficientNet B0 to B7 (Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks", ICML), torchvision's layout.

**Compound scaling** (section 3.3). Making a network ``d`` times deeper, ``w`` times wider and
feeding it ``r`` times larger images multiplies its FLOPs by about ``d * w**2 * r**2`` (a conv's
cost grows with the square of its width and of the image side). EfficientNet ties all three to
one coefficient ``phi``::

    d = alpha**phi,  w = beta**phi,  r = gamma**phi,  with alpha * beta**2 * gamma**2 ~ 2

so each step of ``phi`` roughly doubles the FLOPs. A grid search on B0 at ``phi = 1`` gave
``alpha = 1.2, beta = 1.1, gamma = 1.15`` (``alpha * beta**2 * gamma**2 = 1.92``);
:func:`compound_scaling` computes these factors.

**The released B1-B7** are "B0 scaled up with different phi" (section 4). The paper lists no
phi per model; reading B``k`` as ``phi = k``, the released coefficients (:data:`CONFIGS`, the
table of the official TF ``efficientnet_builder.py`` that torchvision copies) are a hand-rounded
version of the power law: B1-B3 stay below it on all three axes, from B4 on width and
resolution are within 5% of ``beta**phi`` and ``224 * gamma**phi`` while depth stays about 13%
below ``alpha**phi``. The FLOPs still follow ``1.92**phi`` overall: B7 costs 37B FLOPs against
B0's 0.39B (Table 2), a factor 95 for ``1.92**7 = 96``::

    model  phi   width  beta**phi   depth  alpha**phi   resolution  224*gamma**phi   dropout
    B0     0     1.0    1.00        1.0    1.00         224         224              0.2
    B1     1     1.0    1.10        1.1    1.20         240         258              0.2
    B2     2     1.1    1.21        1.2    1.44         260         296              0.3
    B3     3     1.2    1.33        1.4    1.73         300         341              0.3
    B4     4     1.4    1.46        1.8    2.07         380         392              0.4
    B5     5     1.6    1.61        2.2    2.49         456         451              0.4
    B6     6     1.8    1.77        2.6    2.99         528         518              0.5
    B7     7     2.0    1.95        3.1    3.58         600         596              0.5

Widths and depths are then rounded the way the reference implementation rounds them (TF
``round_filters``/``round_repeats``, torchvision ``adjust_channels``/``adjust_depth``): every
channel count becomes ``make_divisible(c * width_mult, 8)`` and every stage repeats its block
``ceil(n * depth_mult)`` times. B3, for example, has stages of 24, 32, 48, 96, 136, 232, 384
channels repeated 2, 3, 3, 5, 5, 6, 2 times.

**B0** (Table 1): a 3x3 stride-2 conv with 32 filters, seven stages of MBConv blocks (below),
a 1x1 conv to ``4 * 320 = 1280`` channels (with ``width_mult``: four times the last stage),
global average pooling, dropout and a linear layer. An **MBConv** block (Tan et al. 2019,
MnasNet; Sandler et al. 2018) expands ``C`` to ``t*C`` channels with a 1x1 conv (left out when
``t = 1``), runs a ``k x k`` depthwise conv, reweights the channels with a squeeze-and-excitation
unit that squeezes to ``max(1, C // 4)`` channels (a quarter of the *block input*), and projects
to ``F`` channels with a linear 1x1 conv. BN follows each conv, SiLU (swish) each activation.
When the stride is 1 and ``C == F`` the input is added back, after stochastic depth (Huang et
al. 2016): in training each sample's residual branch is dropped with a probability that grows
linearly from 0 at the first block to ``stochastic_depth_prob * (L - 1) / L`` at the last of
``L`` blocks, and survivors are scaled by ``1 / (1 - p)``, as in torchvision.

=================  ==========
name               parameters  (torchvision's ``num_params``; all checked in the tests)
=================  ==========
efficientnet_b0     5,288,548
efficientnet_b1     7,794,184
efficientnet_b2     9,109,994
efficientnet_b3    12,233,232
efficientnet_b4    19,341,616
efficientnet_b5    30,389,784
efficientnet_b6    43,040,704
efficientnet_b7    66,347,960
=================  ==========

Batch norm: torchvision uses PyTorch's defaults (eps 1e-5, momentum 0.1) for B0-B4 and the TF
values (eps 1e-3, momentum 0.01) for B5-B7, whose weights were ported from TF; we do the same
(neither changes the parameter count). Layer names follow torchvision
(``features.1.0.block.1.fc1.weight``), so state-dict keys match. Initialisation is torchvision's:
convs ``kaiming_normal_(mode="fan_out")`` with zero bias, BN scale 1 and shift 0, the linear
layer uniform in ``+-1/sqrt(num_classes)`` with zero bias.

Input sizes: every conv pads, so any image runs; ``min_input`` is recorded as 32, the total
stride. The resolution column is what each model was trained at, not a requirement.

Options for small copies (gradient checks, experiments): ``round_nearest`` (8 in the reference)
rounds widths to smaller multiples, ``stages`` replaces B0's stage table (before scaling), and
``width_mult``/``depth_mult``/``dropout`` override the released values.
"""

from __future__ import annotations

import math
from collections import namedtuple

from .. import functional as F
from .. import nn
from ..nn import init
from ..tensor import Tensor
from .mobilenet import conv_bn_act, init_mobilenet, make_divisible
from .registry import register

#: The compound-scaling constants of section 3.3 (alpha * beta**2 * gamma**2 ~ 2).
ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15

Scaling = namedtuple("Scaling", ["depth", "width", "resolution", "flops"])


def compound_scaling(phi, alpha=ALPHA, beta=BETA, gamma=GAMMA):
    """The multipliers of compound scaling with coefficient ``phi`` (Tan & Le 2019, Eq. 3).

    Returns ``Scaling(depth=alpha**phi, width=beta**phi, resolution=gamma**phi,
    flops=(alpha * beta**2 * gamma**2)**phi)``; with the paper's constants the FLOPs factor is
    ``1.92**phi``, about ``2**phi``. Multiply ``resolution`` by 224 for the image side.
    """
    for name, value in (("phi", phi), ("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"compound_scaling: expected a number for {name}, got {value!r}")
    if min(alpha, beta, gamma) < 1:
        raise ValueError(f"compound_scaling: expected alpha, beta, gamma >= 1, got {alpha}, {beta}, {gamma}")
    return Scaling(alpha**phi, beta**phi, gamma**phi, (alpha * beta**2 * gamma**2) ** phi)


#: Table 1 of the paper (EfficientNet-B0): per stage (expansion t, kernel k, stride s, input
#: channels, output channels, repeats n).
B0_STAGES = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)

#: The released models: name -> (width_mult, depth_mult, resolution, dropout).
CONFIGS = {
    "efficientnet_b0": (1.0, 1.0, 224, 0.2),
    "efficientnet_b1": (1.0, 1.1, 240, 0.2),
    "efficientnet_b2": (1.1, 1.2, 260, 0.3),
    "efficientnet_b3": (1.2, 1.4, 300, 0.3),
    "efficientnet_b4": (1.4, 1.8, 380, 0.4),
    "efficientnet_b5": (1.6, 2.2, 456, 0.4),
    "efficientnet_b6": (1.8, 2.6, 528, 0.5),
    "efficientnet_b7": (2.0, 3.1, 600, 0.5),
}
PYTORCH_BN = {"eps": 1e-5, "momentum": 0.1}
TF_BN = {"eps": 1e-3, "momentum": 0.01}


class SqueezeExcitation(nn.Module):
    """``x * sigma(fc2(delta(fc1(avgpool(x)))))``: one weight in ``(0, 1)`` per channel, computed
    from the whole image (Hu et al. 2018, Eq. 3; torchvision's ``SqueezeExcitation``). ``fc1``/``fc2``
    are 1x1 convs with bias, ``C -> squeeze_channels -> C``; ``delta`` is ``activation()`` (ReLU in
    the paper, SiLU in EfficientNet) and ``sigma`` is ``scale_activation()`` (sigmoid; MobileNetV3's
    cheaper hard sigmoid)."""

    def __init__(self, channels, squeeze_channels, activation=nn.ReLU, scale_activation=nn.Sigmoid):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def forward(self, x):
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return x * scale


class StochasticDepth(nn.Module):
    """Drop a whole sample's residual branch with probability ``p`` in training and scale the
    kept ones by ``1 / (1 - p)`` (torchvision's ``StochasticDepth(p, "row")``); the identity in
    evaluation. The per-sample mask is dropout applied to a ``(N, 1, 1, 1)`` tensor of ones."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        ones = x.xp.ones((x.shape[0], 1, 1, 1), dtype=x.dtype, device=getattr(x.array, "device", None))
        return x * F.dropout(Tensor(ones), self.p, training=True)

    def extra_repr(self):
        return f"p={self.p}"


class MBConv(nn.Module):
    """Expand (1x1, unless ``t = 1``), depthwise ``k x k``, squeeze-and-excitation, project (1x1,
    no activation); the input is added back when ``stride == 1`` and ``C == F``.

    Args:
        in_channels, out_channels: ``C`` and ``F``.
        expand_ratio: ``t``; the hidden width is ``make_divisible(t * C, round_nearest)``.
        kernel_size, stride: of the depthwise conv.
        stochastic_depth_prob: probability of dropping the residual branch in training.
        bn: keyword arguments of every BatchNorm2d (``eps``, ``momentum``).
    """

    def __init__(self, in_channels, out_channels, expand_ratio, kernel_size, stride, stochastic_depth_prob=0.0,
                 bn=PYTORCH_BN, round_nearest=8):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"MBConv: expected stride 1 or 2, got {stride!r}")
        self.use_res_connect = stride == 1 and in_channels == out_channels
        hidden = make_divisible(in_channels * expand_ratio, round_nearest)
        layers = []
        if hidden != in_channels:
            layers.append(conv_bn_act(in_channels, hidden, 1, activation=nn.SiLU, **bn))
        layers += [
            conv_bn_act(hidden, hidden, kernel_size, stride, groups=hidden, activation=nn.SiLU, **bn),
            SqueezeExcitation(hidden, max(1, in_channels // 4), activation=nn.SiLU),
            conv_bn_act(hidden, out_channels, 1, activation=None, **bn),
        ]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob)

    def forward(self, x):
        out = self.block(x)
        if self.use_res_connect:
            out = self.stochastic_depth(out) + x
        return out


class EfficientNet(nn.Module):
    """EfficientNet: B0's stages scaled by ``width_mult`` and ``depth_mult``.

    Args:
        num_classes, in_channels: classifier outputs and input channels.
        width_mult: channels become ``make_divisible(c * width_mult, round_nearest)``.
        depth_mult: stage ``i`` repeats its block ``ceil(n_i * depth_mult)`` times.
        dropout: before the linear layer.
        stochastic_depth_prob: the drop probability that the last block approaches (0.2).
        bn: keyword arguments of every BatchNorm2d (``eps``, ``momentum``).
        round_nearest: the channel multiple (8 in the reference).
        stages: ``(t, k, s, C, F, n)`` per stage, before scaling (default :data:`B0_STAGES`).

    Attributes ``features`` (stem, one ``Sequential`` per stage, the 1x1 head conv), ``avgpool``
    and ``classifier`` (dropout and the linear layer).
    """

    def __init__(self, num_classes=1000, in_channels=3, width_mult=1.0, depth_mult=1.0, dropout=0.2,
                 stochastic_depth_prob=0.2, bn=PYTORCH_BN, round_nearest=8, stages=B0_STAGES):
        super().__init__()
        for name, value in (("width_mult", width_mult), ("depth_mult", depth_mult)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"EfficientNet: expected a positive {name}, got {value!r}")
        if (not stages or any(len(stage) != 6 for stage in stages)
                or any(prev[4] != stage[3] for prev, stage in zip(stages, stages[1:]))):
            raise ValueError(
                f"EfficientNet: expected (t, k, s, C, F, n) stages, each starting with the previous one's F, "
                f"got {stages!r}"
            )

        def width(c):
            return make_divisible(c * width_mult, round_nearest)

        repeats = [int(math.ceil(n * depth_mult)) for *_, n in stages]
        total, index = sum(repeats), 0
        layers = [conv_bn_act(in_channels, width(stages[0][3]), 3, stride=2, activation=nn.SiLU, **bn)]
        for (t, k, s, c_in, c_out, _), n in zip(stages, repeats):
            blocks = []
            for i in range(n):
                # torchvision: the drop probability grows linearly with the block's index.
                p = stochastic_depth_prob * index / total
                blocks.append(MBConv(width(c_in) if i == 0 else width(c_out), width(c_out), t, k, s if i == 0 else 1,
                                     p, bn, round_nearest))
                index += 1
            layers.append(nn.Sequential(*blocks))
        last = width(stages[-1][4])
        layers.append(conv_bn_act(last, 4 * last, 1, activation=nn.SiLU, **bn))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * last, num_classes))
        init_mobilenet(self, _uniform_linear)

    def forward(self, x):
        return self.classifier(F.flatten(self.avgpool(self.features(x)), 1))


def _uniform_linear(m):
    bound = 1.0 / math.sqrt(m.out_features)
    init.uniform_(m.weight, -bound, bound)
    init.zeros_(m.bias)


def _efficientnet(name, num_classes, in_channels, width_mult, depth_mult, dropout, stochastic_depth_prob,
                  round_nearest, stages, bn=PYTORCH_BN):
    """Build ``name`` with the options the caller left at ``None`` taken from :data:`CONFIGS`."""
    width, depth, _, drop = CONFIGS[name]
    return EfficientNet(
        num_classes, in_channels,
        width_mult=width if width_mult is None else width_mult,
        depth_mult=depth if depth_mult is None else depth_mult,
        dropout=drop if dropout is None else dropout,
        stochastic_depth_prob=stochastic_depth_prob, bn=bn, round_nearest=round_nearest, stages=stages,
    )


_TV = "torchvision {} (Tan & Le 2019; TF efficientnet_builder.py coefficients)"


@register("efficientnet_b0", reference=_TV.format("efficientnet_b0"), min_input=32)
def efficientnet_b0(num_classes=1000, in_channels=3, width_mult=None, depth_mult=None, dropout=None,
                    stochastic_depth_prob=0.2, round_nearest=8, stages=B0_STAGES):
    """EfficientNet-B0 (width 1.0, depth 1.0, 224x224, dropout 0.2); 5,288,548 parameters.
    Options left at ``None`` take the released values."""
    return _efficientnet("efficientnet_b0", num_classes, in_channels, width_mult, depth_mult, dropout,
                         stochastic_depth_prob, round_nearest, stages)


@register("efficientnet_b1", reference=_TV.format("efficientnet_b1"), min_input=32)
def efficientnet_b1(num_classes=1000, in_channels=3, width_mult=None, depth_mult=None, dropout=None,
                    stochastic_depth_prob=0.2, round_nearest=8, stages=B0_STAGES):
    """EfficientNet-B1 (width 1.0, depth 1.1, 240x240, dropout 0.2); 7,794,184 parameters."""
    return _efficientnet("efficientnet_b1", num_classes, in_channels, width_mult, depth_mult, dropout,
                         stochastic_depth_prob, round_nearest, stages)


@register("efficientnet_b2", reference=_TV.format("efficientnet_b2"), min_input=32)
def efficientnet_b2(num_classes=1000, in_channels=3, width_mult=None, depth_mult=None, dropout=None,
                    stochastic_depth_prob=0.2, round_nearest=8, stages=B0_STAGES):
    """EfficientNet-B2 (width 1.1, depth 1.2, 260x260, dropout 0.3); 9,109,994 parameters."""
    return _efficientnet("efficientnet_b2", num_classes, in_channels, width_mult, depth_mult, dropout,
                         stochastic_depth_prob, round_nearest, stages)


@register("efficientnet_b3", reference=_TV.format("efficientnet_b3"), min_input=32)
def efficientnet_b3(num_classes=1000, in_channels=3, width_mult=None, depth_mult=None, dropout=None,
                    stochastic_depth_prob=0.2, round_nearest=8, stages=B0_STAGES):
    """EfficientNet-B3 (width 1.2, depth 1.4, 300x300, dropout 0.3); 12,233,232 parameters."""
    return _efficientnet("efficientnet_b3", num_classes, in_channels, width_mult, depth_mult, dropout,
                         stochastic_depth_prob, round_nearest, stages)


@register("efficientnet_b4", reference=_TV.format("efficientnet_b4"), min_input=32)
def efficientnet_b4(num_classes=1000, in_channels=3, width_mult=None, depth_mult=None, dropout=None,
                    stochastic_depth_prob=0.2, round_nearest=8, stages=B0_STAGES):
    """EfficientNet-B4 (width 1.4, depth 1.8, 380x380, dropout 0.4); 19,341,616 parameters."""
    return _efficientnet("efficientnet_b4", num_classes, in_channels, width_mult, depth_mult, dropout,
                         stochastic_depth_prob, round_nearest, stages)


@register("efficientnet_b5", reference=_TV.format("efficientnet_b5"), min_input=32)
def efficientnet_b5(num_classes=1000, in_channels=3, width_mult=None, depth_mult=None, dropout=None,
                    stochastic_depth_prob=0.2, round_nearest=8, stages=B0_STAGES):
    """EfficientNet-B5 (width 1.6, depth 2.2, 456x456, dropout 0.4, TF batch norm); 30,389,784
    parameters."""
    return _efficientnet("efficientnet_b5", num_classes, in_channels, width_mult, depth_mult, dropout,
                         stochastic_depth_prob, round_nearest, stages, bn=TF_BN)


@register("efficientnet_b6", reference=_TV.format("efficientnet_b6"), min_input=32)
def efficientnet_b6(num_classes=1000, in_channels=3, width_mult=None, depth_mult=None, dropout=None,
                    stochastic_depth_prob=0.2, round_nearest=8, stages=B0_STAGES):
    """EfficientNet-B6 (width 1.8, depth 2.6, 528x528, dropout 0.5, TF batch norm); 43,040,704
    parameters."""
    return _efficientnet("efficientnet_b6", num_classes, in_channels, width_mult, depth_mult, dropout,
                         stochastic_depth_prob, round_nearest, stages, bn=TF_BN)


@register("efficientnet_b7", reference=_TV.format("efficientnet_b7"), min_input=32)
def efficientnet_b7(num_classes=1000, in_channels=3, width_mult=None, depth_mult=None, dropout=None,
                    stochastic_depth_prob=0.2, round_nearest=8, stages=B0_STAGES):
    """EfficientNet-B7 (width 2.0, depth 3.1, 600x600, dropout 0.5, TF batch norm); 66,347,960
    parameters."""
    return _efficientnet("efficientnet_b7", num_classes, in_channels, width_mult, depth_mult, dropout,
                         stochastic_depth_prob, round_nearest, stages, bn=TF_BN)
