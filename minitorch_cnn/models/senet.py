"""Squeeze-and-excitation (Hu, Shen & Sun 2018, "Squeeze-and-Excitation Networks").

An SE block rescales each channel of a feature map by a gate computed from the whole map::

    s = sigmoid(W2 relu(W1 avgpool(x) + b1) + b2)      # squeeze (global pool), excite (two FCs)
    y = x * s                                          # s has shape (N, C, 1, 1)

with ``W1`` of shape ``(C/r, C)`` and ``W2`` of shape ``(C, C/r)``, reduction ``r = 16``
(the paper's default, Table 10). Both FCs carry a bias, as in the authors' reference
implementation (Caffe, where they are 1x1 convolutions with bias).

``se_resnet50`` is torchvision's ResNet-50 with an SE block on the residual branch of every
bottleneck, before the addition (the paper's Fig. 3). Its trainable parameter count is
28,088,024 at 1000 classes (ResNet-50's 25,557,032 plus 2,530,992 in the SE blocks); the paper
reports 28.09M (Table 1). The paper's ResNet puts the bottleneck stride on the first 1x1 conv,
torchvision on the 3x3: the parameter count is the same.
"""

from __future__ import annotations

from .. import functional as F
from .. import nn
from .registry import register
from .resnet import Bottleneck, ResNet

#: Hu et al. 2018, Table 10: r = 16 balances accuracy and cost.
SE_REDUCTION = 16


class SEBlock(nn.Module):
    """Channel gate ``x * sigmoid(fc2(relu(fc1(avgpool(x)))))`` for ``(N, C, H, W)`` inputs.

    Args:
        channels: ``C``.
        reduction: ``r``; the hidden layer has ``C // r`` units (at least 1).
    """

    def __init__(self, channels, reduction=SE_REDUCTION):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x):
        N, C = x.shape[0], x.shape[1]
        s = F.flatten(self.pool(x), 1)
        s = F.sigmoid(self.fc2(F.relu(self.fc1(s))))
        return x * F.reshape(s, (N, C, 1, 1))


class SEBottleneck(Bottleneck):
    """A ResNet bottleneck whose residual branch is rescaled by an :class:`SEBlock`:
    ``y = relu(se(F(x)) + shortcut(x))``."""

    def __init__(self, in_channels, planes, stride=1, downsample=None, residual=True, groups=1, width_per_group=64,
                 reduction=SE_REDUCTION):
        super().__init__(in_channels, planes, stride, downsample, residual, groups, width_per_group)
        self.se = SEBlock(planes * self.expansion, reduction)

    def branch(self, x):
        return self.se(super().branch(x))


@register("se_resnet50", reference="Hu et al. 2018 SE-ResNet-50 on torchvision's ResNet-50 (SE FCs with bias)",
          min_input=32)
def se_resnet50(num_classes=1000, in_channels=3, zero_init_residual=False, reduction=SE_REDUCTION, width=64,
                layers=(3, 4, 6, 3)):
    """SE-ResNet-50: 28,088,024 parameters at 1000 classes (paper: 28.09M). ``width`` and
    ``layers`` as in :func:`~minitorch_cnn.models.resnet.resnet50`."""
    return ResNet(SEBottleneck, layers, num_classes, in_channels, width=width, zero_init_residual=zero_init_residual,
                  reduction=reduction)
