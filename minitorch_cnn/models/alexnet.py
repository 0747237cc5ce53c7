"""AlexNet (Krizhevsky, Sutskever & Hinton 2012, "ImageNet Classification with Deep
Convolutional Neural Networks", NeurIPS, section 3 and Fig. 2) and ZFNet (Zeiler & Fergus 2013,
"Visualizing and Understanding Convolutional Networks", arXiv:1311.2901, Fig. 3 and section 5.1).

Both follow their paper. torchvision's ``alexnet`` is a different network, registered here as
``alexnet_owt``: the single-tower variant of Krizhevsky 2014 ("One weird trick for parallelizing
convolutional neural networks", arXiv:1404.5997, section 4), with 64-192-384-256-256 conv filters,
no LRN, padding 2 in conv1 and 61,100,840 parameters at 1000 classes. Its module names and
initialisation (PyTorch's defaults) are torchvision's, so torchvision's weights load by key::

    features.0  conv 64 @ 11x11 / 4, pad 2 | ReLU | max pool 3x3 / 2      (224 -> 55 -> 27)
    features.3  conv 192 @ 5x5, pad 2      | ReLU | max pool 3x3 / 2      (27 -> 13)
    features.6  conv 384, features.8 conv 256, features.10 conv 256 @ 3x3, pad 1, ReLU each
                                                  | max pool 3x3 / 2      (13 -> 6)
    classifier.1 fc 9216 -> 4096, classifier.4 fc 4096 -> 4096, classifier.6 fc 4096 -> 1000
                 (dropout 0.5 before each of the first two, ReLU after them)

Its smallest input is 63x63 (the last pool needs a 3x3 map).

AlexNet on a 227x227x3 input (the paper's text says 224, but an 11x11 stride-4 conv reaches
55x55 only from 227; ReLU after every conv and hidden FC)::

    conv1  96 @ 11x11 / 4        -> 55x55x96   | LRN | max pool 3x3 / 2 -> 27x27x96
    conv2 256 @  5x5, pad 2      -> 27x27x256  | LRN | max pool 3x3 / 2 -> 13x13x256
    conv3 384 @  3x3, pad 1      -> 13x13x384
    conv4 384 @  3x3, pad 1      -> 13x13x384
    conv5 256 @  3x3, pad 1      -> 13x13x256  |       max pool 3x3 / 2 -> 6x6x256
    dropout 0.5 | fc6 9216 -> 4096 | dropout 0.5 | fc7 4096 -> 4096 | fc8 4096 -> 1000

Parameters (weights + biases) counted from that layer list, at 1000 classes:

    layer  single tower                         two_gpu_groups=True
    conv1  3*11*11*96 + 96     =     34,944     (same)
    conv2  96*5*5*256 + 256    =    614,656     48*5*5*256 + 256  =    307,456
    conv3  256*3*3*384 + 384   =    885,120     (same)
    conv4  384*3*3*384 + 384   =  1,327,488     192*3*3*384 + 384 =    663,936
    conv5  384*3*3*256 + 256   =    884,992     192*3*3*256 + 256 =    442,624
    fc6    6*6*256*4096 + 4096 = 37,752,832     (same)
    fc7    4096*4096 + 4096    = 16,781,312     (same)
    fc8    4096*1000 + 1000    =  4,097,000     (same)
    total                        62,378,344                          60,965,224

``two_gpu_groups=True`` reproduces the paper's split over two GPUs: conv2, conv4 and conv5 only
see the half of the previous layer's maps that lives on their GPU (``groups=2``); conv1, conv3
and the FC layers are fully connected. (The paper's LRN also normalised each GPU's half on its
own; here it runs across all channels, which changes only the 2 channels either side of the
split.) The paper's "60 million parameters" is the two-tower count.

ZFNet is the same head on a feature stack with a smaller, denser first layer; the issue asks
for the paper's larger variant (section 5.1, Table 2 "layers 3,4,5: 512,1024,512 maps")::

    conv1  96 @ 7x7 / 2, pad 1   -> 110x110x96 | max pool 3x3 / 2, pad 1 -> 55x55 | LRN
    conv2 256 @ 5x5 / 2          -> 26x26x256  | max pool 3x3 / 2, pad 1 -> 13x13 | LRN
    conv3 512, conv4 1024, conv5 512 @ 3x3, pad 1 -> 13x13 | max pool 3x3 / 2 -> 6x6x512
    the AlexNet classifier (fc6 6*6*512 -> 4096)         107,627,624 parameters at 1000 classes

The paper's sizes (110 -> 55, 26 -> 13) need pools that round up; ours floor, so those two
pools carry ``padding=1``, which gives the same sizes. The paper's "contrast normalisation across
feature maps" is taken to be AlexNet's LRN.

Both models put an adaptive average pool to 6x6 before the classifier, as torchvision does: at
the paper's input size the map is already 6x6 and the pool is the identity; on larger inputs it
lets the same classifier run. Minimum inputs (the last max pool needs a 3x3 map): AlexNet 67x67,
ZFNet 53x53.

Initialisation is each paper's: AlexNet (section 5) N(0, 0.01^2) weights, biases 1 in conv2,
conv4, conv5, fc6 and fc7 (so ReLUs start with positive inputs) and 0 elsewhere; ZFNet
(section 3) N(0, 0.01^2) weights and zero biases.

``width_mult`` scales every hidden width (conv filters and the 4096-wide FC layers); the papers
define no such knob, it exists to gradient-check the layout at a small size.
"""

from __future__ import annotations

from .. import functional as F
from .. import nn
from ..nn import init
from ..nn.utils import no_random_init
from .registry import register

#: Widths of the 2012 paper, conv1..conv5, and of its hidden fully connected layers.
ALEXNET_WIDTHS = (96, 256, 384, 384, 256)
ZFNET_WIDTHS = (96, 256, 512, 1024, 512)
FC_WIDTH = 4096
#: Krizhevsky 2014 "one weird trick" (torchvision's alexnet), conv1..conv5.
OWT_WIDTHS = (64, 192, 384, 256, 256)
#: The weight standard deviation both papers start from.
INIT_STD = 0.01


def _width(c, width_mult, multiple=1):
    """``c * width_mult`` rounded to a multiple of ``multiple`` (the group count), at least one group."""
    return max(multiple, multiple * round(c * width_mult / multiple))


class AlexNet(nn.Module):
    """``features`` (any conv stack ending in ``feature_channels`` maps) -> adaptive average pool
    to 6x6 -> ``classifier``: dropout, fc6, ReLU, dropout, fc7, ReLU, fc8. ZFNet uses it too.

    The classifier's layers are named after the paper (``classifier.fc6``), or numbered 0-6 as
    torchvision's (``classifier.1`` is fc6) with ``numbered=True``.
    """

    def __init__(self, features, feature_channels, num_classes=1000, hidden=FC_WIDTH, dropout=0.5, numbered=False):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        layers = {
            "drop6": nn.Dropout(dropout),
            "fc6": nn.Linear(feature_channels * 6 * 6, hidden),
            "relu6": nn.ReLU(),
            "drop7": nn.Dropout(dropout),
            "fc7": nn.Linear(hidden, hidden),
            "relu7": nn.ReLU(),
            "fc8": nn.Linear(hidden, num_classes),
        }
        self.classifier = nn.Sequential(*layers.values()) if numbered else nn.Sequential(layers)

    def forward(self, x):
        return self.classifier(F.flatten(self.avgpool(self.features(x)), 1))


def _gaussian_init(model, bias_one=()):
    """N(0, INIT_STD^2) weights; biases 1 in the layers named in ``bias_one``, else 0."""
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            init.normal_(m.weight, 0.0, INIT_STD)
            init.constant_(m.bias, 1.0 if name.rsplit(".", 1)[-1] in bias_one else 0.0)


@register("alexnet", reference="Krizhevsky et al. 2012 (paper layout, 96-256-384-384-256)", min_input=67)
def alexnet(num_classes=1000, in_channels=3, two_gpu_groups=False, width_mult=1.0):
    """AlexNet as in the 2012 paper; 227x227 inputs (at least 67x67).

    ``two_gpu_groups=True`` uses ``groups=2`` in conv2, conv4 and conv5 (60,965,224 parameters
    instead of 62,378,344 at 1000 classes). ``width_mult`` scales all hidden widths.
    """
    g = 2 if two_gpu_groups else 1
    c1, c2, c3, c4, c5 = (_width(c, width_mult, g) for c in ALEXNET_WIDTHS)
    with no_random_init():  # _gaussian_init below draws every weight, once
        features = nn.Sequential({
            "conv1": nn.Conv2d(in_channels, c1, 11, stride=4), "relu1": nn.ReLU(),
            "norm1": nn.LocalResponseNorm(), "pool1": nn.MaxPool2d(3, 2),
            "conv2": nn.Conv2d(c1, c2, 5, padding=2, groups=g), "relu2": nn.ReLU(),
            "norm2": nn.LocalResponseNorm(), "pool2": nn.MaxPool2d(3, 2),
            "conv3": nn.Conv2d(c2, c3, 3, padding=1), "relu3": nn.ReLU(),
            "conv4": nn.Conv2d(c3, c4, 3, padding=1, groups=g), "relu4": nn.ReLU(),
            "conv5": nn.Conv2d(c4, c5, 3, padding=1, groups=g), "relu5": nn.ReLU(),
            "pool5": nn.MaxPool2d(3, 2),
        })
        model = AlexNet(features, c5, num_classes, hidden=_width(FC_WIDTH, width_mult))
    _gaussian_init(model, bias_one=("conv2", "conv4", "conv5", "fc6", "fc7"))
    return model


@register("zfnet", reference="Zeiler & Fergus 2013 (Fig. 3 with conv3-5 of 512-1024-512, section 5.1)",
          min_input=53)
def zfnet(num_classes=1000, in_channels=3, width_mult=1.0):
    """ZFNet: 7x7 stride-2 conv1, stride-2 conv2, conv3-5 of 512-1024-512; 224x224 inputs (at least 53x53)."""
    c1, c2, c3, c4, c5 = (_width(c, width_mult) for c in ZFNET_WIDTHS)
    with no_random_init():  # _gaussian_init below draws every weight, once
        features = nn.Sequential({
            "conv1": nn.Conv2d(in_channels, c1, 7, stride=2, padding=1), "relu1": nn.ReLU(),
            "pool1": nn.MaxPool2d(3, 2, padding=1), "norm1": nn.LocalResponseNorm(),
            "conv2": nn.Conv2d(c1, c2, 5, stride=2), "relu2": nn.ReLU(),
            "pool2": nn.MaxPool2d(3, 2, padding=1), "norm2": nn.LocalResponseNorm(),
            "conv3": nn.Conv2d(c2, c3, 3, padding=1), "relu3": nn.ReLU(),
            "conv4": nn.Conv2d(c3, c4, 3, padding=1), "relu4": nn.ReLU(),
            "conv5": nn.Conv2d(c4, c5, 3, padding=1), "relu5": nn.ReLU(),
            "pool5": nn.MaxPool2d(3, 2),
        })
        model = AlexNet(features, c5, num_classes, hidden=_width(FC_WIDTH, width_mult))
    _gaussian_init(model)
    return model


@register("alexnet_owt", reference="torchvision alexnet (Krizhevsky 2014 'one weird trick', 64-192-384-256-256)",
          min_input=63)
def alexnet_owt(num_classes=1000, in_channels=3, dropout=0.5, width_mult=1.0):
    """torchvision's AlexNet, the single tower of Krizhevsky 2014; 61,100,840 parameters at 1000
    classes, 224x224 inputs (at least 63x63). ``width_mult`` scales all hidden widths."""
    c1, c2, c3, c4, c5 = (_width(c, width_mult) for c in OWT_WIDTHS)
    features = nn.Sequential(
        nn.Conv2d(in_channels, c1, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(),
        nn.Conv2d(c3, c4, 3, padding=1), nn.ReLU(),
        nn.Conv2d(c4, c5, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(3, 2),
    )
    return AlexNet(features, c5, num_classes, hidden=_width(FC_WIDTH, width_mult), dropout=dropout, numbered=True)
