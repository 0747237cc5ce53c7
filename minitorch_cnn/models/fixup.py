"""Fixup: residual networks trained without any normalisation layer (Zhang, Dauphin & Ma,
"Fixup Initialization: Residual Learning Without Normalization", ICLR 2019).

Without batch norm, a ResNet's output variance grows with every residual branch added to the
identity, so the usual He initialisation explodes in deep networks. Fixup rescales the
initialisation instead (the paper's Section 3, with ``L`` residual branches of ``m`` layers):

1. the classification layer and the last layer of every residual branch start at 0, so every
   block starts as the identity and the network's output as 0;
2. every other layer gets the standard He initialisation, and the layers inside the residual
   branches are scaled down by ``L ** (-1 / (2m - 2))``;
3. a scalar multiplier (starting at 1) on every branch, and a scalar bias (starting at 0) before
   every conv, linear layer and activation, take over the affine part of batch norm.

The CIFAR networks follow He et al. 2015 section 4.2 as ``resnet20/56/110`` do: a 3x3 conv with
16 filters, three stages of ``n`` basic blocks at 16, 32 and 64 channels, shortcut option A,
global average pooling and a linear layer; the basic block (``m = 2``, so the scale is
``L ** (-1/2)``) reads::

    out = conv2(relu(conv1(x + b1a) + b1b) + b2a) * scale + b2b
    y   = relu(out + x)                     (relu(out + shortcut(x + b1a)) where the shape changes)

As in the authors' code the shortcut of a block that changes shape reads ``x + b1a``, and
the stem conv (outside every branch) keeps the plain He initialisation, like our ResNets
(``kaiming_normal_``, ``mode="fan_out"``).

===============  =================================================================  ==========
name             reference                                                          parameters
===============  =================================================================  ==========
fixup_resnet20   resnet20 without its 1,376 batch-norm parameters, plus 5 scalars      268,393
                 per block and 2 around the stem and the classifier
fixup_resnet56   the same at n=9 (resnet56 minus 4,064 plus 137)                       849,091
fixup_resnet110  the same at n=18 (resnet110 minus 8,096 plus 272)                   1,720,138
===============  =================================================================  ==========
"""

from __future__ import annotations

import math

from .. import functional as F
from .. import nn
from ..nn import init
from ..nn.module import new_array
from .registry import register
from .resnet import ZeroPadShortcut, _check_layers, conv3x3, make_stage

#: Layers per residual branch of a basic block: the ``m`` of the paper's ``L ** (-1 / (2m - 2))``.
BRANCH_LAYERS = 2


class ScalarBias(nn.Module):
    """``y = x + b`` with one learned scalar ``b``, starting at 0: Fixup's stand-in for the shift
    of a batch norm, placed before a conv, a linear layer or an activation."""

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(new_array((1,)))

    def forward(self, x):
        return x + self.bias


class FixupBasicBlock(nn.Module):
    """``y = relu(conv2(relu(conv1(x + b1a) + b1b) + b2a) * scale + b2b + shortcut)``.

    The shortcut is the attribute ``downsample``, as in the ResNets: ``None`` adds ``x`` itself;
    otherwise a parameter-free :class:`ZeroPadShortcut` of ``x + b1a`` (as in the authors' code).
    The convs have no bias of their own: the scalar biases replace them.
    """

    expansion = 1

    def __init__(self, in_channels, planes, stride=1, downsample=None):
        super().__init__()
        self.bias1a = ScalarBias()
        self.conv1 = conv3x3(in_channels, planes, stride)
        self.bias1b = ScalarBias()
        self.bias2a = ScalarBias()
        self.conv2 = conv3x3(planes, planes)
        self.scale = nn.Parameter(new_array((1,), fill=1.0))
        self.bias2b = ScalarBias()
        self.downsample = downsample

    def forward(self, x):
        biased = self.bias1a(x)
        out = F.relu(self.bias1b(self.conv1(biased)))
        out = self.bias2b(self.conv2(self.bias2a(out)) * self.scale)
        return F.relu(out + (x if self.downsample is None else self.downsample(biased)))


def init_fixup(model):
    """Fixup's rules 1 and 2 for a network of :class:`FixupBasicBlock` (rule 3, the scalars,
    is built into the layers): ``conv1`` of every block ``N(0, (2 / fan_out) * L**(-1/(2m-2)))``
    (He et al. 2015 scaled down), ``conv2`` and the classifier 0, every other conv He's."""
    blocks = [m for m in model.modules() if isinstance(m, FixupBasicBlock)]
    shrink = len(blocks) ** (-1.0 / (2 * BRANCH_LAYERS - 2))
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    for block in blocks:
        _, fan_out = init.calculate_fan_in_and_fan_out(block.conv1.weight)
        init.normal_(block.conv1.weight, 0.0, shrink * init.calculate_gain("relu") / math.sqrt(fan_out))
        init.zeros_(block.conv2.weight)
    init.zeros_(model.classifier.weight)
    init.zeros_(model.classifier.bias)


class FixupCifarResNet(nn.Module):
    """A CIFAR ResNet (He et al. 2015 section 4.2) with Fixup instead of batch norm.

    Args:
        layers: blocks per stage (``(n, n, n)`` for depth ``6n + 2``).
        width: channels of the first stage (16).

    Attributes ``features`` (stem and stages, output ``(N, 4 * width, H/4, W/4)``), ``avgpool``,
    ``bias`` (the scalar before the classifier) and ``classifier``.
    """

    def __init__(self, layers, num_classes=10, in_channels=3, width=16):
        super().__init__()
        _check_layers("FixupCifarResNet", layers, 3)
        stages, channels = [], width
        for i, blocks in enumerate(layers):
            stage, channels = make_stage(FixupBasicBlock, channels, width * 2**i, blocks, 1 if i == 0 else 2,
                                         ZeroPadShortcut)
            stages.append(stage)
        self.features = nn.Sequential(conv3x3(in_channels, width), ScalarBias(), nn.ReLU(), *stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.bias = ScalarBias()
        self.classifier = nn.Linear(channels, num_classes)
        init_fixup(self)

    def forward(self, x):
        return self.classifier(self.bias(F.flatten(self.avgpool(self.features(x)), 1)))


_FIXUP = "Zhang, Dauphin & Ma 2019 (Fixup), CIFAR ResNet-{} of He et al. 2015 without batch norm"


@register("fixup_resnet20", reference=_FIXUP.format(20), min_input=32)
def fixup_resnet20(num_classes=10, in_channels=3, width=16, layers=(3, 3, 3)):
    """Fixup ResNet-20 for CIFAR (n=3, L=9 branches); 268,393 parameters."""
    return FixupCifarResNet(layers, num_classes, in_channels, width=width)


@register("fixup_resnet56", reference=_FIXUP.format(56), min_input=32)
def fixup_resnet56(num_classes=10, in_channels=3, width=16, layers=(9, 9, 9)):
    """Fixup ResNet-56 for CIFAR (n=9, L=27 branches); 849,091 parameters."""
    return FixupCifarResNet(layers, num_classes, in_channels, width=width)


@register("fixup_resnet110", reference=_FIXUP.format(110), min_input=32)
def fixup_resnet110(num_classes=10, in_channels=3, width=16, layers=(18, 18, 18)):
    """Fixup ResNet-110 for CIFAR (n=18, L=54 branches); 1,720,138 parameters."""
    return FixupCifarResNet(layers, num_classes, in_channels, width=width)
