"""Inception-v3 (Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer Vision",
CVPR; arXiv:1512.00567, Table 1 and Figs. 5-7), torchvision's ``inception_v3``, module names included.

What changed since GoogLeNet (``googlenet.py``), following the paper's design principles:

* **factorised convolutions** (section 3): a 5x5 conv becomes two 3x3 convs (Fig. 5, 28% fewer
  multiplications for the same receptive field), and an ``n x n`` conv a ``1 x n`` then an
  ``n x 1`` conv (Fig. 6, with ``n = 7`` on the 17x17 grid);
* **grid reduction** without a representational bottleneck (section 5, Fig. 10): a stride-2 conv
  branch and a stride-2 max pool side by side, concatenated, instead of pooling before or after
  an inception module (``Mixed_6a``, ``Mixed_7a``);
* **expanded filter banks** on the coarsest (8x8) grid (Fig. 7): the 3x3 branches end in a 1x3
  and a 3x1 conv side by side, concatenated (``Mixed_7b``, ``Mixed_7c``);
* batch norm after every conv, and one auxiliary classifier, which the paper finds acts as a
  regulariser rather than a help to early training (section 4).

On a 299x299x3 input (every conv is a :class:`~minitorch_cnn.models.googlenet.BasicConv2d`:
bias-free conv, batch norm with eps 1e-3, ReLU; no padding unless noted)::

    Conv2d_1a_3x3 3x3/2, 32 -> 149 | Conv2d_2a_3x3 3x3, 32 -> 147 | Conv2d_2b_3x3 3x3 pad 1, 64
    maxpool1 3x3/2 -> 73 | Conv2d_3b_1x1 80 | Conv2d_4a_3x3 3x3, 192 -> 71 | maxpool2 3x3/2 -> 35
    Mixed_5b, 5c, 5d (InceptionA) -> 35x35x288 | Mixed_6a (InceptionB) -> 17x17x768
    Mixed_6b..6e (InceptionC, 7x7 factorised; 128, 160, 160, 192 inner channels) -> 17x17x768
        [AuxLogits on Mixed_6e: avg pool 5x5/3 -> 5x5, conv0 1x1 128, conv1 5x5 768, fc]
    Mixed_7a (InceptionD) -> 8x8x1280 | Mixed_7b, 7c (InceptionE) -> 8x8x2048
    avgpool (global) | dropout 0.5 | fc 2048 -> num_classes

After the first pool the paper's Table 1 has three 3x3 convs (80, 192 with stride 2, 288); the
released TensorFlow model, whose weights torchvision ported, has a 1x1 conv (80), a 3x3 conv (192)
and a max pool, and we follow it. Parameters at 1000 classes: 27,161,264 (torchvision's
``num_params``), of which the auxiliary classifier holds 3,326,696; 23,834,568 with
``aux_logits=False``.

Behaviour as torchvision's: in training mode with ``aux_logits`` the model returns
:data:`InceptionOutputs` ``(logits, aux_logits)`` (PyTorch's fine-tuning tutorial trains on
``loss(logits) + 0.4 * loss(aux_logits)``), in eval mode the logits; ``transform_input=True``
re-normalises ImageNet-standardised images to ``(x - 0.5) / 0.5``, which the ported weights expect
(:func:`~minitorch_cnn.models.googlenet.transform_input`). Its ImageNet preprocessing resizes to
342 and crops 299 (``data.imagenet.preprocessing("inception_v3")``).

Smallest input: the stem turns a side ``s`` into ``floor((s - 3) / 2) + 1`` at every stride-2
step. ``Mixed_7a``'s 3x3/2 needs 3x3 from ``Mixed_6e``, which gives 75x75 (:data:`MIN_INPUT_NO_AUX`,
torchvision's ``min_size``: eval mode or ``aux_logits=False``). The auxiliary head's 5x5/3 pool
then 5x5 conv need 17x17 from ``Mixed_6e``: 299x299 (:data:`MIN_INPUT`) in training mode.

Initialisation: torchvision's, weights N(0, 0.1^2) (``AuxLogits.conv1`` 0.01, ``AuxLogits.fc``
0.001; torchvision truncates at +-2, 20 standard deviations, which never happens), batch-norm
scale 1 and shift 0, ``fc`` biases PyTorch's default. ``width_mult`` scales every channel count
(for gradient checks at a small size).
"""

from __future__ import annotations

import collections

from .. import functional as F
from .. import nn
from ..nn import init
from .googlenet import BasicConv2d, transform_input
from .registry import register

#: torchvision's dropout before ``fc``.
DROPOUT = 0.5
#: Weight standard deviations of torchvision's initialisation (the TF model's).
INIT_STD, AUX_CONV1_STD, AUX_FC_STD = 0.1, 0.01, 0.001
#: Smallest side with the auxiliary head running (training mode), and without it (derivation above).
MIN_INPUT, MIN_INPUT_NO_AUX = 299, 75

#: What ``inception_v3`` returns in training mode with its auxiliary head (torchvision's fields).
InceptionOutputs = collections.namedtuple("InceptionOutputs", ["logits", "aux_logits"])


def _widths(width_mult):
    def w(c):
        return max(1, round(c * width_mult))
    return w


class InceptionA(nn.Module):
    """35x35 grid, Fig. 5: 1x1 | 1x1 then 5x5 | 1x1 then two 3x3 (the factorised 5x5) | 3x3 average
    pool then 1x1 (``pool_features``), concatenated: ``64 + 64 + 96 + pool_features`` channels.
    (The released model keeps a 5x5 branch beside the factorised one.)"""

    def __init__(self, in_channels, pool_features, width_mult=1.0):
        super().__init__()
        w = _widths(width_mult)
        self.branch1x1 = BasicConv2d(in_channels, w(64), 1)
        self.branch5x5_1 = BasicConv2d(in_channels, w(48), 1)
        self.branch5x5_2 = BasicConv2d(w(48), w(64), 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, w(64), 1)
        self.branch3x3dbl_2 = BasicConv2d(w(64), w(96), 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(w(96), w(96), 3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, 1)
        self.out_channels = 2 * w(64) + w(96) + pool_features

    def forward(self, x):
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pool = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1))
        return F.concat([self.branch1x1(x), b5, b3, pool], axis=1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17 (Fig. 10): 3x3/2 conv (384) | 1x1, 3x3, 3x3/2 (96) | 3x3/2 max pool,
    concatenated: ``384 + 96 + in_channels`` channels."""

    def __init__(self, in_channels, width_mult=1.0):
        super().__init__()
        w = _widths(width_mult)
        self.branch3x3 = BasicConv2d(in_channels, w(384), 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, w(64), 1)
        self.branch3x3dbl_2 = BasicConv2d(w(64), w(96), 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(w(96), w(96), 3, stride=2)
        self.out_channels = w(384) + w(96) + in_channels

    def forward(self, x):
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return F.concat([self.branch3x3(x), b3, F.max_pool2d(x, 3, stride=2)], axis=1)


class InceptionC(nn.Module):
    """17x17 grid, Fig. 6 with ``n = 7``: 1x1 | 1x1, 1x7, 7x1 | 1x1, 7x1, 1x7, 7x1, 1x7 | 3x3
    average pool then 1x1; ``channels_7x7`` inner channels, 192 out of each branch (768 in all)."""

    def __init__(self, in_channels, channels_7x7, width_mult=1.0):
        super().__init__()
        w = _widths(width_mult)
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, w(192), 1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, w(192), (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, w(192), (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, w(192), 1)
        self.out_channels = 4 * w(192)

    def forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for i in range(1, 6):
            d = getattr(self, f"branch7x7dbl_{i}")(d)
        pool = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1))
        return F.concat([self.branch1x1(x), b7, d, pool], axis=1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8: 1x1 then 3x3/2 (320) | 1x1, 1x7, 7x1, 3x3/2 (192) | 3x3/2 max pool,
    concatenated: ``320 + 192 + in_channels`` channels."""

    def __init__(self, in_channels, width_mult=1.0):
        super().__init__()
        w = _widths(width_mult)
        self.branch3x3_1 = BasicConv2d(in_channels, w(192), 1)
        self.branch3x3_2 = BasicConv2d(w(192), w(320), 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, w(192), 1)
        self.branch7x7x3_2 = BasicConv2d(w(192), w(192), (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(w(192), w(192), (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(w(192), w(192), 3, stride=2)
        self.out_channels = w(320) + w(192) + in_channels

    def forward(self, x):
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return F.concat([b3, b7, F.max_pool2d(x, 3, stride=2)], axis=1)


class InceptionE(nn.Module):
    """8x8 grid, Fig. 7 (expanded filter banks): 1x1 (320) | 1x1 then [1x3, 3x1] (2 x 384) | 1x1,
    3x3, then [1x3, 3x1] (2 x 384) | 3x3 average pool then 1x1 (192): 2048 channels."""

    def __init__(self, in_channels, width_mult=1.0):
        super().__init__()
        w = _widths(width_mult)
        self.branch1x1 = BasicConv2d(in_channels, w(320), 1)
        self.branch3x3_1 = BasicConv2d(in_channels, w(384), 1)
        self.branch3x3_2a = BasicConv2d(w(384), w(384), (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(w(384), w(384), (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, w(448), 1)
        self.branch3x3dbl_2 = BasicConv2d(w(448), w(384), 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(w(384), w(384), (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(w(384), w(384), (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, w(192), 1)
        self.out_channels = w(320) + 4 * w(384) + w(192)

    def forward(self, x):
        b3 = self.branch3x3_1(x)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pool = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1))
        return F.concat([self.branch1x1(x), self.branch3x3_2a(b3), self.branch3x3_2b(b3),
                         self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d), pool], axis=1)


class InceptionAux(nn.Module):
    """The auxiliary classifier on the 17x17 grid: 5x5/3 average pool (-> 5x5), ``conv0`` 1x1 (128),
    ``conv1`` 5x5 (768, -> 1x1), global average pool, ``fc``; no dropout, unlike GoogLeNet's."""

    def __init__(self, in_channels, num_classes, width_mult=1.0):
        super().__init__()
        w = _widths(width_mult)
        self.conv0 = BasicConv2d(in_channels, w(128), 1)
        self.conv1 = BasicConv2d(w(128), w(768), 5)
        self.fc = nn.Linear(w(768), num_classes)

    def forward(self, x):
        x = self.conv1(self.conv0(F.avg_pool2d(x, 5, stride=3)))
        return self.fc(F.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Inception3(nn.Module):
    """Inception-v3 (see the module docstring), torchvision's ``Inception3`` with its attribute names."""

    def __init__(self, num_classes=1000, in_channels=3, aux_logits=True, transform_input=False, dropout=DROPOUT,
                 width_mult=1.0):
        super().__init__()
        if transform_input and in_channels != 3:
            raise ValueError(
                f"Inception3: transform_input=True re-normalises 3 RGB channels, got in_channels={in_channels}")
        w = _widths(width_mult)
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        self.Conv2d_1a_3x3 = BasicConv2d(in_channels, w(32), 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(w(32), w(32), 3)
        self.Conv2d_2b_3x3 = BasicConv2d(w(32), w(64), 3, padding=1)
        self.maxpool1 = nn.MaxPool2d(3, 2)
        self.Conv2d_3b_1x1 = BasicConv2d(w(64), w(80), 1)
        self.Conv2d_4a_3x3 = BasicConv2d(w(80), w(192), 3)
        self.maxpool2 = nn.MaxPool2d(3, 2)
        self.Mixed_5b = InceptionA(w(192), w(32), width_mult)
        self.Mixed_5c = InceptionA(self.Mixed_5b.out_channels, w(64), width_mult)
        self.Mixed_5d = InceptionA(self.Mixed_5c.out_channels, w(64), width_mult)
        self.Mixed_6a = InceptionB(self.Mixed_5d.out_channels, width_mult)
        channels = self.Mixed_6a.out_channels
        for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
            setattr(self, name, InceptionC(channels, w(c7), width_mult))
            channels = getattr(self, name).out_channels
        self.AuxLogits = InceptionAux(channels, num_classes, width_mult) if aux_logits else None
        self.Mixed_7a = InceptionD(channels, width_mult)
        self.Mixed_7b = InceptionE(self.Mixed_7a.out_channels, width_mult)
        self.Mixed_7c = InceptionE(self.Mixed_7b.out_channels, width_mult)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.Mixed_7c.out_channels, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                init.normal_(m.weight, 0.0, INIT_STD)
            elif isinstance(m, nn.BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)
        if aux_logits:
            init.normal_(self.AuxLogits.conv1.conv.weight, 0.0, AUX_CONV1_STD)
            init.normal_(self.AuxLogits.fc.weight, 0.0, AUX_FC_STD)

    def forward(self, x):
        if self.transform_input:
            x = transform_input(x)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.maxpool2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(self.maxpool1(x))))
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
            x = getattr(self, name)(x)
        heads = self.aux_logits and self.training
        aux = self.AuxLogits(x) if heads else None
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        logits = self.fc(F.flatten(self.dropout(self.avgpool(x)), 1))
        return InceptionOutputs(logits, aux) if heads else logits


@register("inception_v3", reference="torchvision inception_v3 (Szegedy et al. 2016, the released TF model's layout)",
          min_input=MIN_INPUT)
def inception_v3(num_classes=1000, in_channels=3, aux_logits=True, transform_input=False, dropout=DROPOUT,
                 width_mult=1.0):
    """torchvision's Inception-v3; 27,161,264 parameters at 1000 classes (23,834,568 with
    ``aux_logits=False``). Its ImageNet weights expect ``transform_input=True`` and 299x299 crops.
    Inputs from :data:`MIN_INPUT` (299x299) in training mode, from :data:`MIN_INPUT_NO_AUX` (75x75)
    in eval mode or with ``aux_logits=False``."""
    return Inception3(num_classes, in_channels, aux_logits, transform_input, dropout, width_mult)
