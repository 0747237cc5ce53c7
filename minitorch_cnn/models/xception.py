"""Xception (Chollet 2017, "Xception: Deep Learning with Depthwise Separable Convolutions", CVPR;
arXiv:1610.02357, Fig. 5), in the layout of Keras' ``keras.applications.Xception``.

The hypothesis (section 2): an inception module maps cross-channel correlations (1x1 convs) and
spatial correlations (3x3 convs) separately; taken to the extreme, every channel gets its own
spatial filter. That is a **depthwise separable convolution** (:class:`SeparableConv2d`): a 3x3
depthwise conv (one filter per channel) then a 1x1 pointwise conv, with no non-linearity between
them (section 4.7 finds any hurts). Xception is a linear stack of 36 such layers with residual
connections, in three flows; every conv is followed by batch norm, and the separable convs are
preceded by ReLU (Fig. 5)::

    entry flow   block1: conv 3x3/2 32, conv 3x3 64 (no padding; 299 -> 149 -> 147)
                 block2..4: [ReLU] sep 128, ReLU, sep 128, max pool 3x3/2      (+ 1x1/2 conv 128)
                            widths 128, 256, 728; block2 starts without the ReLU     -> 19x19x728
    middle flow  block5..12: ReLU, sep 728 three times                         (+ identity)
    exit flow    block13: ReLU, sep 728, ReLU, sep 1024, max pool 3x3/2          (+ 1x1/2 conv 1024)
                 block14: sep 1536, ReLU, sep 2048, ReLU                               -> 10x10x2048
                 global average pool | classifier (FC 2048 -> num_classes)

Module names follow Keras' layer names under a block (``features.block3.sepconv1``,
``features.block3.sepconv1_bn``, ``features.block3.skip`` for Keras' unnamed shortcut conv);
``classifier`` is Keras' ``predictions`` (without its softmax: the zoo returns logits).

Parameters at 1000 classes: 22,855,952 trainable, plus 54,528 batch-norm running means and
variances: 22,910,480, the total Keras prints (it counts those statistics as non-trainable
parameters). Batch norm has Keras' eps 1e-3 and momentum 0.99 (PyTorch's ``momentum=0.01``).

Pools: Keras pads the 3x3/2 max pools "same": ``ceil(H/2)`` outputs, the one missing row of an
even-sized input added at the *bottom* (TensorFlow's convention), where a symmetric ``padding=1``
would shift every window by a pixel (:class:`MaxPool2dSame`). The 1x1/2 shortcut convs need no
padding for "same".

Initialisation: Keras' defaults, Glorot-uniform conv and dense weights (fans computed as PyTorch
does), zero dense bias, batch-norm scale 1 and shift 0. Keras refuses inputs under 71x71, where
block 13 sees 3x3 maps; ``min_input`` records that. ``width_mult`` scales every channel count (for
gradient checks at a small size).
"""

from __future__ import annotations

from .. import functional as F
from .. import nn
from ..nn import init
from .registry import register

#: Keras' BatchNormalization: epsilon 1e-3, moving-average decay 0.99 (PyTorch momentum 0.01).
BN = {"eps": 1e-3, "momentum": 0.01}
#: Entry-flow blocks 2-4: output width of both separable convs (each adds a strided 1x1 shortcut).
ENTRY_WIDTHS = (128, 256, 728)
#: Middle-flow blocks 5-12: width, and how many of them.
MIDDLE_WIDTH, MIDDLE_BLOCKS = 728, 8
#: Keras' smallest accepted input side.
MIN_INPUT = 71


class SeparableConv2d(nn.Module):
    """``pointwise(depthwise(x))``: a ``k x k`` conv per channel (``groups=C``, padding ``k // 2``)
    then a 1x1 conv from ``C`` to ``F``, both bias-free, with no activation between (Keras'
    ``SeparableConv2D(F, k, padding="same", use_bias=False)``). Weights ``(C, 1, k, k)`` and
    ``(F, C, 1, 1)``: ``C * (k*k + F)`` parameters, against ``C * F * k*k`` for a full conv."""

    def __init__(self, in_channels, out_channels, kernel_size=3):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size, padding=kernel_size // 2,
                                   groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class MaxPool2dSame(nn.Module):
    """3x3/2 max pooling with TensorFlow's "same" padding: ``ceil(H/2) x ceil(W/2)`` outputs; an odd
    side is padded by one on both ends, an even side by one at the end only. Written as a ceil-mode
    pool (the overhanging last window is the end padding) with ``padding = H % 2, W % 2``."""

    def forward(self, x):
        return F.max_pool2d(x, 3, 2, padding=(x.shape[2] % 2, x.shape[3] % 2), ceil_mode=True)


class XceptionBlock(nn.Module):
    """``body(x) + shortcut(x)``: ``len(widths)`` separable convs, each preceded by ReLU (but the
    first when ``relu_first`` is False) and followed by batch norm; with ``downsample``, a
    :class:`MaxPool2dSame` ends the body and the shortcut is a 1x1 stride-2 conv plus batch norm
    (``skip``, ``skip_bn``), else the identity."""

    def __init__(self, in_channels, widths, downsample, relu_first=True):
        super().__init__()
        layers, channels = {}, in_channels
        for i, width in enumerate(widths, start=1):
            if i > 1 or relu_first:
                layers[f"sepconv{i}_act"] = nn.ReLU()
            layers[f"sepconv{i}"] = SeparableConv2d(channels, width)
            layers[f"sepconv{i}_bn"] = nn.BatchNorm2d(width, **BN)
            channels = width
        if downsample:
            layers["pool"] = MaxPool2dSame()
            self.skip = nn.Conv2d(in_channels, channels, 1, stride=2, bias=False)
            self.skip_bn = nn.BatchNorm2d(channels, **BN)
        else:
            self.skip = self.skip_bn = None
        self.body = nn.Sequential(layers)
        self.out_channels = channels

    def forward(self, x):
        shortcut = x if self.skip is None else self.skip_bn(self.skip(x))
        return self.body(x) + shortcut


class Xception(nn.Module):
    """Xception (see the module docstring): ``features`` (``block1`` ... ``block14``), ``avgpool``,
    ``classifier``."""

    def __init__(self, num_classes=1000, in_channels=3, width_mult=1.0):
        super().__init__()
        if isinstance(width_mult, bool) or not isinstance(width_mult, (int, float)) or width_mult <= 0:
            raise ValueError(f"Xception: expected a positive width_mult, got {width_mult!r}")

        def w(c):
            return max(1, round(c * width_mult))

        blocks = {"block1": nn.Sequential({
            "conv1": nn.Conv2d(in_channels, w(32), 3, stride=2, bias=False), "conv1_bn": nn.BatchNorm2d(w(32), **BN),
            "conv1_act": nn.ReLU(),
            "conv2": nn.Conv2d(w(32), w(64), 3, bias=False), "conv2_bn": nn.BatchNorm2d(w(64), **BN),
            "conv2_act": nn.ReLU(),
        })}
        channels = w(64)
        for n, width in enumerate(ENTRY_WIDTHS, start=2):
            blocks[f"block{n}"] = XceptionBlock(channels, [w(width)] * 2, downsample=True, relu_first=n > 2)
            channels = w(width)
        for n in range(5, 5 + MIDDLE_BLOCKS):
            blocks[f"block{n}"] = XceptionBlock(channels, [w(MIDDLE_WIDTH)] * 3, downsample=False)
        blocks["block13"] = XceptionBlock(channels, [w(728), w(1024)], downsample=True)
        blocks["block14"] = nn.Sequential({
            "sepconv1": SeparableConv2d(w(1024), w(1536)), "sepconv1_bn": nn.BatchNorm2d(w(1536), **BN),
            "sepconv1_act": nn.ReLU(),
            "sepconv2": SeparableConv2d(w(1536), w(2048)), "sepconv2_bn": nn.BatchNorm2d(w(2048), **BN),
            "sepconv2_act": nn.ReLU(),
        })
        self.features = nn.Sequential(blocks)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(w(2048), num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(F.flatten(self.avgpool(self.features(x)), 1))


@register("xception", reference="Chollet 2017, Fig. 5 (Keras applications Xception layout)", min_input=MIN_INPUT)
def xception(num_classes=1000, in_channels=3, width_mult=1.0):
    """Xception; 22,855,952 trainable parameters at 1000 classes (22,910,480 with the batch-norm
    statistics, Keras' count)."""
    return Xception(num_classes, in_channels, width_mult)
