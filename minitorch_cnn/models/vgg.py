"""VGG (Simonyan & Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", ICLR, Table 1), configurations A to E, each also with batch norm.

Every configuration is five stages of 3x3 stride-1 pad-1 convolutions (+ ReLU), each stage
closed by a 2x2 stride-2 max pool, then three fully connected layers::

    A     (vgg11)      64 | 128 | 256 256 | 512 512 | 512 512
    A-LRN (vgg11_lrn)  64 LRN | 128 | 256 256 | 512 512 | 512 512
    B     (vgg13)      64 64 | 128 128 | 256 256 | 512 512 | 512 512
    C     (vgg16_c)    64 64 | 128 128 | 256 256 256* | 512 512 512* | 512 512 512*   (* = 1x1 conv)
    D     (vgg16)      64 64 | 128 128 | 256 256 256 | 512 512 512 | 512 512 512
    E     (vgg19)      64 64 | 128 128 | 256 256 256 256 | 512 512 512 512 | 512 512 512 512

The layout is torchvision's (``torchvision/models/vgg.py``): ``features`` (the conv stages;
the ``_bn`` variants put BatchNorm2d between each conv and its ReLU, which the paper predates),
``avgpool`` = AdaptiveAvgPool2d((7, 7)), then ``classifier`` = Linear(512*7*7, 4096), ReLU,
Dropout(0.5), Linear(4096, 4096), ReLU, Dropout(0.5), Linear(4096, num_classes). The layers are
numbered as in torchvision, so state-dict keys (``features.0.weight``, ``classifier.6.bias``)
match. Parameter counts at 1000 classes:

    vgg11 132,863,336   vgg13 133,047,848   vgg16 138,357,544   vgg19 143,667,240   (torchvision)
    vgg11_bn 132,868,840   vgg13_bn 133,053,736   vgg16_bn 138,365,992   vgg19_bn 143,678,248
    vgg11_lrn = vgg11 and vgg11_lrn_bn = vgg11_bn (LRN has no parameters; paper, Table 2: 133M)
    vgg16_c 133,638,952 and vgg16_c_bn 133,647,400 (paper, Table 2: 134M): D with the third conv
    of stages 3-5 at 1x1, i.e. 8*(256*256 + 2*512*512) = 4,718,592 fewer weights than vgg16.

A-LRN's LRN follows the first conv's ReLU with Krizhevsky et al.'s constants (the paper,
section 2.3: "the parameters for the LRN layer are those of (Krizhevsky et al., 2012)").

The adaptive pool lets any input from 32x32 (five halvings down to 1x1) reach the classifier;
at 224x224 the map is already 7x7. ``width_mult`` scales every conv width and the 4096-wide FC
layers (for gradient checks at a small size; the paper defines no such knob).

Initialisation is torchvision's: convs ``kaiming_normal_(mode="fan_out", nonlinearity="relu")``
with zero bias, batch norm scale 1 and shift 0, linear layers N(0, 0.01^2) with zero bias. Each
weight is drawn once (torchvision draws PyTorch's default first, then overwrites it).
"""

from __future__ import annotations

from .. import functional as F
from .. import nn
from ..nn import init
from ..nn.utils import no_random_init
from .registry import register

#: Table 1 of the paper: an int is a 3x3 conv with that many filters, ``(c, 1)`` a 1x1 conv,
#: "M" a 2x2 max pool, "LRN" a local response normalisation.
CONFIGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A-LRN": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, (256, 1), "M", 512, 512, (512, 1), "M", 512, 512, (512, 1), "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}
FC_WIDTH = 4096


def _width(c, width_mult):
    return max(1, round(c * width_mult))


def make_features(config, in_channels=3, batch_norm=False, width_mult=1.0):
    """The conv stages of one Table 1 column as a Sequential numbered like torchvision's."""
    layers = []
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        elif item == "LRN":
            layers.append(nn.LocalResponseNorm())
        else:
            out_channels, k = item if isinstance(item, tuple) else (item, 3)
            out_channels = _width(out_channels, width_mult)
            layers.append(nn.Conv2d(in_channels, out_channels, k, padding=k // 2))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU())
            in_channels = out_channels
    return nn.Sequential(*layers), in_channels


class VGG(nn.Module):
    """``features`` -> AdaptiveAvgPool2d((7, 7)) -> 4096-4096 ``classifier`` with dropout 0.5."""

    def __init__(self, config, batch_norm=False, num_classes=1000, in_channels=3, width_mult=1.0, dropout=0.5):
        super().__init__()
        # The layers come without PyTorch's default draws: the loop below draws every weight, once.
        with no_random_init():
            self.features, channels = make_features(CONFIGS[config], in_channels, batch_norm, width_mult)
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            hidden = _width(FC_WIDTH, width_mult)
            self.classifier = nn.Sequential(
                nn.Linear(channels * 7 * 7, hidden), nn.ReLU(), nn.Dropout(dropout),
                nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
                nn.Linear(hidden, num_classes),
            )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                init.normal_(m.weight, 0.0, 0.01)
                init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(F.flatten(self.avgpool(self.features(x)), 1))


def _variant(name, config, batch_norm, reference):
    def build(num_classes=1000, in_channels=3, width_mult=1.0):
        return VGG(config, batch_norm, num_classes, in_channels, width_mult)

    norm = " with batch norm" if batch_norm else ""
    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"VGG configuration {config}{norm}; any input from 32x32 up. ``width_mult`` scales all widths."
    return register(name, reference=reference, min_input=32)(build)


_TORCHVISION = "torchvision vgg (Simonyan & Zisserman 2015, configuration {})"
_PAPER = "Simonyan & Zisserman 2015, configuration {} (paper only), in torchvision's layout"

vgg11 = _variant("vgg11", "A", False, _TORCHVISION.format("A"))
vgg11_bn = _variant("vgg11_bn", "A", True, _TORCHVISION.format("A"))
vgg11_lrn = _variant("vgg11_lrn", "A-LRN", False, _PAPER.format("A-LRN"))
vgg11_lrn_bn = _variant("vgg11_lrn_bn", "A-LRN", True, _PAPER.format("A-LRN"))
vgg13 = _variant("vgg13", "B", False, _TORCHVISION.format("B"))
vgg13_bn = _variant("vgg13_bn", "B", True, _TORCHVISION.format("B"))
vgg16_c = _variant("vgg16_c", "C", False, _PAPER.format("C"))
vgg16_c_bn = _variant("vgg16_c_bn", "C", True, _PAPER.format("C"))
vgg16 = _variant("vgg16", "D", False, _TORCHVISION.format("D"))
vgg16_bn = _variant("vgg16_bn", "D", True, _TORCHVISION.format("D"))
vgg19 = _variant("vgg19", "E", False, _TORCHVISION.format("E"))
vgg19_bn = _variant("vgg19_bn", "E", True, _TORCHVISION.format("E"))
