"""Network in Network (Lin, Chen & Yan 2014, "Network In Network", ICLR; arXiv:1312.4400),
the ImageNet variant.

An mlpconv block is a spatial convolution followed by two 1x1 convolutions (the paper's
"cross channel parametric pooling", a small MLP slid over every pixel), ReLU after each. The
network ends without fully connected layers: the last 1x1 conv makes one map per class and
global average pooling turns each map into that class's score (section 3.2).

The paper reports CIFAR-10/100, SVHN and MNIST networks only; the ImageNet network here is the
one the authors released with it (Caffe model zoo, "NIN-Imagenet", ``nin_imagenet`` prototxt)::

    conv1  96 @ 11x11 / 4   | cccp1  96 | cccp2  96 | max pool 3x3 / 2
    conv2 256 @ 5x5, pad 2  | cccp3 256 | cccp4 256 | max pool 3x3 / 2
    conv3 384 @ 3x3, pad 1  | cccp5 384 | cccp6 384 | max pool 3x3 / 2 | dropout 0.5
    conv4 1024 @ 3x3, pad 1 | cccp7 1024 | cccp8 num_classes (1x1) | global average pool

7,595,176 parameters at 1000 classes (weights + biases):

    conv1 34,944  cccp1 9,312  cccp2 9,312  conv2 614,656  cccp3 65,792  cccp4 65,792
    conv3 885,120  cccp5 147,840  cccp6 147,840  conv4 3,539,968  cccp7 1,049,600  cccp8 1,025,000

The released model pools with Caffe's rounding up (224 -> 54 -> 27 -> 13 -> 6); our pools round
down, so a 224x224 image gives 54 -> 26 -> 12 -> 5 and a 227x227 one gives Caffe's 55-27-13-6
sizes of AlexNet. Global average pooling accepts either. Minimum input 67x67 (the third max pool
needs a 3x3 map). As in the release, a ReLU also follows cccp8, so class scores are >= 0.

``features`` ends at cccp7's 1024 maps; ``classifier`` is cccp8, its ReLU, the global average
pool and the flatten, so a new head for ``k`` classes is one 1x1 conv ``1024 -> k``.

Initialisation is the release's: N(0, 0.01^2) weights for conv1, conv3 and cccp8,
N(0, 0.05^2) for every other conv, zero biases. ``width_mult`` scales every hidden width (not
the class maps); it exists for gradient checks at a small size.
"""

from __future__ import annotations

from .. import nn
from ..nn import init
from .registry import register

#: The layers the release initialises with std 0.01; the rest use WIDE_STD.
NARROW_STD, WIDE_STD = 0.01, 0.05
NARROW_LAYERS = ("conv1", "conv3", "cccp8")


def _mlpconv(b, in_channels, width, kernel_size, stride=1, padding=0):
    """mlpconv block ``b``: conv{b} then the 1x1 convs cccp{2b-1} and cccp{2b}, each with a ReLU."""
    return {
        f"conv{b}": nn.Conv2d(in_channels, width, kernel_size, stride=stride, padding=padding),
        f"relu{b}": nn.ReLU(),
        f"cccp{2 * b - 1}": nn.Conv2d(width, width, 1), f"relu_cccp{2 * b - 1}": nn.ReLU(),
        f"cccp{2 * b}": nn.Conv2d(width, width, 1), f"relu_cccp{2 * b}": nn.ReLU(),
    }


class NiN(nn.Module):
    """Four mlpconv blocks (max pools and one dropout between them) and global average pooling."""

    def __init__(self, num_classes=1000, in_channels=3, width_mult=1.0, dropout=0.5):
        super().__init__()
        c1, c2, c3, c4 = (max(1, round(c * width_mult)) for c in (96, 256, 384, 1024))
        self.features = nn.Sequential({
            **_mlpconv(1, in_channels, c1, 11, stride=4), "pool1": nn.MaxPool2d(3, 2),
            **_mlpconv(2, c1, c2, 5, padding=2), "pool2": nn.MaxPool2d(3, 2),
            **_mlpconv(3, c2, c3, 3, padding=1), "pool3": nn.MaxPool2d(3, 2),
            "drop": nn.Dropout(dropout),
            "conv4": nn.Conv2d(c3, c4, 3, padding=1), "relu4": nn.ReLU(),
            "cccp7": nn.Conv2d(c4, c4, 1), "relu_cccp7": nn.ReLU(),
        })
        self.classifier = nn.Sequential({
            "cccp8": nn.Conv2d(c4, num_classes, 1), "relu_cccp8": nn.ReLU(),
            "avgpool": nn.AdaptiveAvgPool2d(1), "flatten": nn.Flatten(),
        })
        for name, m in self.named_modules():
            if isinstance(m, nn.Conv2d):
                std = NARROW_STD if name.rsplit(".", 1)[-1] in NARROW_LAYERS else WIDE_STD
                init.normal_(m.weight, 0.0, std)
                init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(self.features(x))


@register("nin", reference="Lin et al. 2014, the authors' released ImageNet model (NIN-Imagenet, Caffe)",
          min_input=67)
def nin(num_classes=1000, in_channels=3, width_mult=1.0):
    """Network in Network, ImageNet variant (7,595,176 parameters at 1000 classes); inputs from 67x67."""
    return NiN(num_classes=num_classes, in_channels=in_channels, width_mult=width_mult)
