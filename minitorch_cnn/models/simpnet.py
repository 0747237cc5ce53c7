"""SimpNet (Hasanpour, Rouhani, Fayyaz, Sabokrou & Adeli 2018, "Towards Principled Design of
Deep Convolutional Networks: Introducing SimpNet", arXiv:1802.06205), the CIFAR-10 models.

A plain stack of 13 convolutions, all 3x3 with padding 1 ("correlation preservation": no 1x1
kernels early, no kernels larger than 3x3), each followed by batch norm, ReLU and dropout
("dropout utilisation": every layer, not only the classifier). Widths grow gradually and stay
balanced ("gradual expansion with minimum allocation", "balanced distribution"). Two 2x2/2 max
pools, each followed by its dropout (the paper's SAF-pooling), sit after layers 5 and 10
("maximum information utilisation": pool late, and pool instead of striding, Table VI). Global
*max* pooling over the last map and a dropout feed one fully connected layer::

    block  1-5    conv 3x3 -> BN -> ReLU -> dropout           widths[0:5], pool after block 5
    block  6-10   conv 3x3 -> BN -> ReLU -> dropout           widths[5:10], pool after block 10
    block 11-13   conv 3x3 -> BN -> ReLU (-> dropout)         widths[10:13]
    global max pool -> dropout -> fc (num_classes)

The widths, dropout rates, batch-norm averaging and initialisation are those of the authors'
released Caffe definitions (github.com/Coderx7/SimpNet, ``SimpNetV2/Architectures/CIFAR10/5Mil``
and ``SimpNetV2/Experiments/Slim Test/CIFAR10/{300K,600K}``):

=================  ===================================================================  =========  ====================
name               widths of conv 1-13                                                  dropout    parameters (paper)
=================  ===================================================================  =========  ====================
simpnet            66 128 128 128 192 | 192 192 192 192 288 | 288 355 432                0.2 / 0.3  5,478,223 (5.48M)
simpnet_slim_300k  30 40 40 40 50 | 50 50 50 50 58 | 58 70 90                            0.2 / 0.3  300,964 (300K)
simpnet_slim_600k  40 60 60 60 72 | 73 73 73 75 81 | 82 90 120                           0.1 / 0.2  601,021 (600K)
=================  ===================================================================  =========  ====================

("dropout a / b": rate ``a`` after blocks 1-9, ``b`` from the second pool on.) Parameters are
weights and biases of the 13 convs and the fc plus batch norm's scale and shift (Caffe's
``Scale`` layers), at 10 classes; the convs keep their biases, as in the release, although batch
norm makes them redundant. Our counts round to the paper's numbers (its table gives 5.48M; the
repository's README rounds down to 5.4M; "300K"/"600K" are the slim models' nominal budgets,
which the released widths overshoot by 964 and 1,021).

Batch norm: Caffe's ``moving_average_fraction`` 0.95 (5.48M) or 0.99 (slim) is PyTorch's
``momentum`` 0.05 or 0.01 (Caffe also divides its first averages by the weight accumulated so far,
which PyTorch does not; the running statistics agree once that weight is near 1). Initialisation: Caffe's "xavier", ``U(-sqrt(3/fan_in),
sqrt(3/fan_in))``, for every weight, except convs 3-5 of the 5.48M model, which the release
draws from ``N(0, 0.01^2)``; biases 0. ``width_mult`` scales every width (for gradient checks at
a small size). Inputs from 4x4 (two halvings leave one pixel).
"""

from __future__ import annotations

import math

from .. import nn
from ..nn import init
from .registry import register

#: Convs (1-based) followed by a 2x2/2 max pool.
POOL_AFTER = (5, 10)
#: The 13 widths of each released CIFAR-10 model.
WIDTHS = {
    "simpnet": (66, 128, 128, 128, 192, 192, 192, 192, 192, 288, 288, 355, 432),
    "simpnet_slim_300k": (30, 40, 40, 40, 50, 50, 50, 50, 50, 58, 58, 70, 90),
    "simpnet_slim_600k": (40, 60, 60, 60, 72, 73, 73, 73, 75, 81, 82, 90, 120),
}
#: Dropout rate after blocks 1-9 and from the second pool on.
DROPOUT = {"simpnet": (0.2, 0.3), "simpnet_slim_300k": (0.2, 0.3), "simpnet_slim_600k": (0.1, 0.2)}
#: PyTorch's momentum = 1 - Caffe's moving_average_fraction.
BN_MOMENTUM = {"simpnet": 0.05, "simpnet_slim_300k": 0.01, "simpnet_slim_600k": 0.01}
#: Convs the 5.48M release initialises with N(0, 0.01^2) instead of Caffe's xavier.
GAUSSIAN_CONVS, GAUSSIAN_STD = (3, 4, 5), 0.01


class SimpNet(nn.Module):
    """13 conv-BN-ReLU-dropout blocks with max pools after blocks 5 and 10, global max pooling,
    dropout and one fc layer. ``widths``: 13 conv widths; ``dropout``: 13 rates, the last one
    applied after the global max pool. ``features`` ends at the 13th ReLU; ``global_pool`` is the
    global max pooling; ``classifier`` is the last dropout, the flatten and the fc."""

    def __init__(self, widths, dropout, num_classes=10, in_channels=3, bn_momentum=0.1, gaussian_convs=()):
        super().__init__()
        if len(widths) != 13 or len(dropout) != 13:
            raise ValueError(f"SimpNet: expected 13 widths and 13 dropout rates, got {len(widths)} and {len(dropout)}")
        layers = {}
        C = in_channels
        for i, (width, p) in enumerate(zip(widths, dropout), start=1):
            layers[f"conv{i}"] = nn.Conv2d(C, width, 3, padding=1)
            layers[f"bn{i}"] = nn.BatchNorm2d(width, momentum=bn_momentum)
            layers[f"relu{i}"] = nn.ReLU()
            if i in POOL_AFTER:
                layers[f"pool{POOL_AFTER.index(i) + 1}"] = nn.MaxPool2d(2, 2)
            if i < 13:
                layers[f"drop{i}"] = nn.Dropout(p)
            C = width
        self.features = nn.Sequential(layers)
        # Global max pooling (the paper's choice over average pooling): one bin the size of the map.
        self.global_pool = nn.AdaptiveMaxPool2d(1)
        self.classifier = nn.Sequential({"drop13": nn.Dropout(dropout[12]), "flatten": nn.Flatten(),
                                         "fc": nn.Linear(C, num_classes)})
        for name, m in self.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                if name in {f"features.conv{i}" for i in gaussian_convs}:
                    init.normal_(m.weight, 0.0, GAUSSIAN_STD)
                else:
                    bound = math.sqrt(3.0 / init.calculate_fan_in_and_fan_out(m.weight)[0])
                    init.uniform_(m.weight, -bound, bound)
                init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(self.global_pool(self.features(x)))


def _build(name, num_classes, in_channels, width_mult):
    widths = [max(1, round(c * width_mult)) for c in WIDTHS[name]]
    early, late = DROPOUT[name]
    dropout = [early] * (POOL_AFTER[1] - 1) + [late] * (13 - POOL_AFTER[1] + 1)
    gaussian = GAUSSIAN_CONVS if name == "simpnet" else ()
    return SimpNet(widths, dropout, num_classes=num_classes, in_channels=in_channels,
                   bn_momentum=BN_MOMENTUM[name], gaussian_convs=gaussian)


_REFERENCE = "Hasanpour et al. 2018 (SimpNet), the authors' released CIFAR-10 Caffe model"


@register("simpnet", reference=_REFERENCE + " (5Mil)", min_input=4)
def simpnet(num_classes=10, in_channels=3, width_mult=1.0):
    """SimpNet, 13 layers (5,478,223 parameters at 10 classes; the paper's 5.48M); inputs from 4x4."""
    return _build("simpnet", num_classes, in_channels, width_mult)


@register("simpnet_slim_300k", reference=_REFERENCE + " (Slim Test, 300K)", min_input=4)
def simpnet_slim_300k(num_classes=10, in_channels=3, width_mult=1.0):
    """Slim SimpNet (300,964 parameters at 10 classes; the paper's 300K); inputs from 4x4."""
    return _build("simpnet_slim_300k", num_classes, in_channels, width_mult)


@register("simpnet_slim_600k", reference=_REFERENCE + " (Slim Test, 600K)", min_input=4)
def simpnet_slim_600k(num_classes=10, in_channels=3, width_mult=1.0):
    """Slim SimpNet (601,021 parameters at 10 classes; the paper's 600K); inputs from 4x4."""
    return _build("simpnet_slim_600k", num_classes, in_channels, width_mult)
