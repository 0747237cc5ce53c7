"""SqueezeNet (Iandola et al. 2016, "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters
and <0.5MB model size"): AlexNet's accuracy from fire modules and no fully connected layer.

=============  ===============================================================  ==========
name           reference                                                        parameters
=============  ===============================================================  ==========
squeezenet1_0  torchvision ``squeezenet1_0`` (the paper's Table 1)              1,248,424
squeezenet1_1  torchvision ``squeezenet1_1`` (SqueezeNet v1.1 of the official     1,235,496
               DeepScale repository: 3x3 stem with 64 filters, pools earlier)
=============  ===============================================================  ==========

A **fire module** squeezes its input with ``s`` 1x1 convs, then expands with ``e1`` 1x1 and
``e3`` 3x3 convs side by side (each + ReLU) and concatenates them: ``e1 + e3`` output channels
from only ``s`` inputs to the 3x3 filters (section 3.1, strategies 1 and 2).

The eight fire modules follow the paper's metaparameters (section 5): fire ``i`` (0-based)
expands to ``e_i = base_e + incr_e * floor(i / freq)`` channels, ``pct_3x3`` of them 3x3,
and squeezes to ``squeeze_ratio * e_i``. The defaults ``base_e=128, incr_e=128, freq=2,
pct_3x3=0.5, squeeze_ratio=0.125`` give fire2 ... fire9 of Table 1::

    (s, e1, e3) = (16, 64, 64) (16, 64, 64) (32, 128, 128) (32, 128, 128)
                  (48, 192, 192) (48, 192, 192) (64, 256, 256) (64, 256, 256)

v1.0: conv1 7x7/2 with 96 filters, max pool, fire2-4, max pool, fire5-8, max pool, fire9.
v1.1: conv1 3x3/2 with 64 filters, max pool, fire2-3, max pool, fire4-5, max pool, fire6-9.
Every max pool is 3x3 stride 2 in ceil mode (Caffe's rounding, kept by torchvision), so a
224x224 image ends at 13x13 in both versions. ``classifier``: dropout 0.5, a 1x1 conv to
``num_classes`` maps, ReLU and global average pooling (no fully connected layer, after NiN).

Smallest input: 21x21 for v1.0 and 17x17 for v1.1 (the last pool then sees a 1x1 map; as
torchvision states); smaller images fail in the pool that runs out of pixels.

Initialisation is torchvision's: ``kaiming_uniform_`` (ReLU gain) for every conv except the
final one, ``N(0, 0.01**2)`` for the final conv, all biases 0. The layers are numbered as in
torchvision, so state-dict keys (``features.3.squeeze.weight``, ``classifier.1.bias``) match.

``stem_channels``, ``base_e`` and ``incr_e`` shrink the network for gradient checks.
"""

from __future__ import annotations

from .. import functional as F
from .. import nn
from ..nn import init
from .registry import register


class Fire(nn.Module):
    """``concat(relu(expand1x1(s)), relu(expand3x3(s)))`` with ``s = relu(squeeze(x))``.

    Args:
        in_channels: ``C``. squeeze_channels: ``s``, the 1x1 squeeze filters.
        expand1x1_channels, expand3x3_channels: ``e1`` and ``e3``; the output has ``e1 + e3``.
    """

    def __init__(self, in_channels, squeeze_channels, expand1x1_channels, expand3x3_channels):
        super().__init__()
        self.squeeze = nn.Conv2d(in_channels, squeeze_channels, 1)
        self.expand1x1 = nn.Conv2d(squeeze_channels, expand1x1_channels, 1)
        self.expand3x3 = nn.Conv2d(squeeze_channels, expand3x3_channels, 3, padding=1)

    def forward(self, x):
        s = F.relu(self.squeeze(x))
        return F.concat([F.relu(self.expand1x1(s)), F.relu(self.expand3x3(s))], axis=1)


def fire_widths(base_e=128, incr_e=128, freq=2, pct_3x3=0.5, squeeze_ratio=0.125, n=8):
    """``(s, e1, e3)`` of the ``n`` fire modules from the metaparameters of section 5."""
    widths = []
    for i in range(n):
        e = base_e + incr_e * (i // freq)
        e3 = int(e * pct_3x3)
        s = int(e * squeeze_ratio)
        if s < 1 or e3 < 1 or e - e3 < 1:
            raise ValueError(
                f"SqueezeNet: expected at least one channel per branch, got (s, e1, e3) = ({s}, {e - e3}, {e3}) "
                f"for fire{i + 2}"
            )
        widths.append((s, e - e3, e3))
    return widths


#: conv1 (filters, kernel) and the number of fire modules before each of the two later pools.
VERSIONS = {"1_0": ((96, 7), (3, 7)), "1_1": ((64, 3), (2, 4))}


class SqueezeNet(nn.Module):
    """SqueezeNet v1.0 or v1.1.

    Args:
        version: ``"1_0"`` or ``"1_1"``.
        num_classes, in_channels: classifier outputs and input channels.
        dropout: before the final conv (0.5).
        stem_channels: conv1 filters (96 for v1.0, 64 for v1.1 by default).
        base_e, incr_e, freq, pct_3x3, squeeze_ratio: fire widths, see :func:`fire_widths`.

    Attributes ``features`` (up to fire9, ``(N, e_8, 13, 13)`` at 224x224) and ``classifier``.
    """

    def __init__(self, version="1_0", num_classes=1000, in_channels=3, dropout=0.5, stem_channels=None,
                 base_e=128, incr_e=128, freq=2, pct_3x3=0.5, squeeze_ratio=0.125):
        super().__init__()
        if version not in VERSIONS:
            raise ValueError(f"SqueezeNet: expected version '1_0' or '1_1', got {version!r}")
        (default_stem, kernel), pools = VERSIONS[version]
        channels = default_stem if stem_channels is None else stem_channels
        layers = [nn.Conv2d(in_channels, channels, kernel, stride=2), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True)]
        for i, (s, e1, e3) in enumerate(fire_widths(base_e, incr_e, freq, pct_3x3, squeeze_ratio)):
            if i in pools:
                layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
            layers.append(Fire(channels, s, e1, e3))
            channels = e1 + e3
        self.features = nn.Sequential(*layers)
        final_conv = nn.Conv2d(channels, num_classes, 1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), final_conv, nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m is final_conv:
                    init.normal_(m.weight, 0.0, 0.01)
                else:
                    init.kaiming_uniform_(m.weight)
                init.zeros_(m.bias)

    def forward(self, x):
        return F.flatten(self.classifier(self.features(x)), 1)


@register("squeezenet1_0", reference="torchvision squeezenet1_0 (Iandola et al. 2016, Table 1)", min_input=21)
def squeezenet1_0(num_classes=1000, in_channels=3, dropout=0.5, stem_channels=96, base_e=128, incr_e=128):
    """SqueezeNet v1.0; 1,248,424 parameters."""
    return SqueezeNet("1_0", num_classes, in_channels, dropout=dropout, stem_channels=stem_channels,
                      base_e=base_e, incr_e=incr_e)


@register("squeezenet1_1", reference="torchvision squeezenet1_1 (DeepScale SqueezeNet v1.1)", min_input=17)
def squeezenet1_1(num_classes=1000, in_channels=3, dropout=0.5, stem_channels=64, base_e=128, incr_e=128):
    """SqueezeNet v1.1: 2.4x fewer MACs than v1.0 at about the same accuracy; 1,235,496 parameters."""
    return SqueezeNet("1_1", num_classes, in_channels, dropout=dropout, stem_channels=stem_channels,
                      base_e=base_e, incr_e=incr_e)
