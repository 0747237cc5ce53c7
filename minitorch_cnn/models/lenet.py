"""LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to document
recognition", Fig. 2).

Layout on a 32x32x1 input, in the common modern reading:

    C1 conv 6@5x5 -> 28x28x6, tanh  |  S2 avg pool 2x2/2 -> 14x14x6
    C3 conv 16@5x5 -> 10x10x16, tanh |  S4 avg pool 2x2/2 -> 5x5x16
    C5 conv 120@5x5 -> 1x1x120, tanh |  F6 linear 84, tanh  |  output linear 10

61,706 parameters with a fully connected C3. Options:

* ``c3_table="paper"``: C3 uses the paper's Table I, where each C3 map sees only 3, 4 or 6 of
  the S2 maps (60 of the 96 pairs): 1,516 C3 parameters instead of 2,416. The unused weights
  are held at zero by a fixed mask.
* ``variant="modern"``: ReLU and 2x2 max pooling instead of tanh and average pooling.

The paper's S2/S4 trainable coefficients, scaled tanh and RBF output layer are left out.
Initialisation follows the paper (Appendix C): uniform in ``[-2.4/F_in, 2.4/F_in]``.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import nn
from ..tensor import Tensor
from ..nn import init
from .registry import register

#: LeNet-5 Table I: which of the six S2 maps (rows) each of the sixteen C3 maps (columns) sees.
C3_TABLE = [
    "X...XXX..XXXX.XX",
    "XX...XXX..XXXX.X",
    "XXX...XXX..X.XXX",
    ".XXX..XXXX..X.XX",
    "..XXX..XXXX.XX.X",
    "...XXX..XXXX.XXX",
]


class TableConv2d(nn.Conv2d):
    """A convolution in which output map ``f`` sees input map ``c`` only where ``table[c][f]``."""

    def __init__(self, in_channels, out_channels, kernel_size, table):
        super().__init__(in_channels, out_channels, kernel_size)
        mask = np.array([[row[f] == "X" for row in table] for f in range(out_channels)], dtype=np.float32)
        self.register_buffer("mask", Tensor(mask[:, :, None, None]))

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, self.stride, self.padding, self.dilation, self.groups)


def _paper_init(model):
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in, _ = init.calculate_fan_in_and_fan_out(m.weight)
            bound = 2.4 / fan_in
            init.uniform_(m.weight, -bound, bound)
            if m.bias is not None:
                init.uniform_(m.bias, -bound, bound)


class LeNet5(nn.Module):
    def __init__(self, num_classes=10, in_channels=1, variant="classic", c3_table="full"):
        super().__init__()
        if variant not in ("classic", "modern"):
            raise ValueError(f"lenet5: variant must be 'classic' or 'modern', got {variant!r}")
        if c3_table not in ("full", "paper"):
            raise ValueError(f"lenet5: c3_table must be 'full' or 'paper', got {c3_table!r}")
        act = nn.Tanh if variant == "classic" else nn.ReLU
        pool = (lambda: nn.AvgPool2d(2, 2)) if variant == "classic" else (lambda: nn.MaxPool2d(2, 2))
        c3 = TableConv2d(6, 16, 5, C3_TABLE) if c3_table == "paper" else nn.Conv2d(6, 16, 5)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5), act(), pool(),
            c3, act(), pool(),
            nn.Conv2d(16, 120, 5), act(),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(120, 84), act(), nn.Linear(84, num_classes))
        _paper_init(self)

    def forward(self, x):
        return self.classifier(self.features(x))


@register("lenet5", reference="LeCun et al. 1998 (modern reading: full C3, plain pools, linear output)", min_input=32)
def lenet5(num_classes=10, in_channels=1, variant="classic", c3_table="full"):
    return LeNet5(num_classes=num_classes, in_channels=in_channels, variant=variant, c3_table=c3_table)
