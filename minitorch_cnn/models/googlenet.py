"""GoogLeNet, Inception v1 (Szegedy et al. 2015, "Going Deeper with Convolutions", CVPR;
arXiv:1409.4842, Table 1 and Fig. 3), and its two inception modules as stand-alone layers.

``googlenet`` follows the paper, not torchvision (whose ``googlenet`` adds batch norm and uses
3x3 convs in the "5x5" branch; it is registered here as ``googlenet_bn``): no batch norm, LRN in the stem, true 5x5 branches, nine
inception modules, two auxiliary classifiers. On a 224x224x3 input (ReLU after every conv)::

    conv1 7x7/2, 64 -> 112x112 | max pool 3x3/2 -> 56x56 | LRN
    conv2_reduce 1x1, 64 | conv2 3x3, 192 -> 56x56 | LRN | max pool 3x3/2 -> 28x28
    inception 3a, 3b -> 28x28x480 | max pool 3x3/2 -> 14x14
    inception 4a [aux1], 4b, 4c, 4d [aux2], 4e -> 14x14x832 | max pool 3x3/2 -> 7x7
    inception 5a, 5b -> 7x7x1024 | average pool (global; 7x7 at this size) | dropout 0.4 | FC 1000

Each auxiliary classifier (section 5): AvgPool 5x5/3 (14x14 -> 4x4), 1x1 conv 128 + ReLU,
FC 2048 -> 1024 + ReLU, dropout 0.7, FC 1024 -> num_classes. After the 5x5/3 pool an adaptive
average pool to 4x4 (the identity at 224x224) keeps the FC's input size on other inputs.

In training mode (``model.train()``, the default) the model returns ``(main, aux1, aux2)``, as the
paper trains on ``loss + 0.3 * (aux1_loss + aux2_loss)``; in eval mode it returns ``main`` only and
skips the auxiliary heads. ``aux_logits=False`` removes them altogether.

Parameter count at 1000 classes (weights + biases), computed from Table 1's widths:

    main network     6,998,552 = 6,990,272 weights + 8,280 biases   (aux_logits=False)
    aux1 (on 4a)     3,188,840 = 512*128+128 + 2048*1024+1024 + 1024*1000+1000
    aux2 (on 4d)     3,190,888 = 528*128+128 + (the same FCs)
    total           13,378,280

The paper quotes about 6.8M for the main network: its Table 1 "params" column sums to 6,797.7K,
but several of its rows do not follow from the table's own widths (conv1's 7*7*3*64 = 9,408
weights is listed as 2.7K, inception 4c's 509,440 weights as 463K), so the count here is taken
from the widths, which are what define the architecture.

Pools: the paper's sizes (112 -> 56 -> 28 -> 14 -> 7) come from 3x3/2 pools that round up, as
Caffe's do: ``ceil_mode=True``, as in torchvision (a ``padding=1`` pool gives the same sizes at
224x224 but shifts every window by a pixel, and other sizes differ). The
stem's LRN uses the BVLC Caffe reproduction's constants (size 5, alpha 1e-4 in Caffe's
convention, which divides by the size, i.e. alpha=2e-5 in ours, beta 0.75, k 1).

Minimum input (:data:`MIN_INPUT`, :data:`MIN_INPUT_NO_AUX`): conv1 7x7/2 pad 3 turns a side ``s``
into ``ceil(s/2)``, and each 3x3/2 ceil-mode pool turns ``m`` into ``floor(m/2)`` (it needs
``m >= 2``). Inception 4a to 4e, after three pools, see ``floor(ceil(s/2) / 8)``: the auxiliary
5x5/3 pool needs 5 there, so ``ceil(s/2) >= 40``, 79x79. Without the auxiliary heads, or in eval
mode, the fourth pool needs 2 there, so ``ceil(s/2) >= 16``, 31x31 (5a and 5b then see 1x1).

Initialisation: the paper gives none; this is the BVLC Caffe reproduction's ("xavier" weights,
i.e. uniform in +-sqrt(3/fan_in); biases 0.2 in convs and the auxiliary hidden FC, 0 in the
classifiers). ``width_mult`` scales every channel count (for gradient checks at a small size).

:class:`NaiveInception` and :class:`Inception` (Fig. 2 (a) and (b)) are usable on their own;
:func:`inception_macs` computes their cost (the lecture's comparison on 28x28x256 is in its docstring).

``googlenet_bn`` is torchvision's ``googlenet``, module names included, so torchvision's weights
load by key (13,004,888 parameters at 1000 classes with the auxiliary heads, 6,624,904 without):

* every conv is a :class:`BasicConv2d`, conv (no bias), batch norm (eps 1e-3, as the TensorFlow
  model its weights come from) and ReLU; no LRN; the stem is ``conv1`` 7x7/2, ``maxpool1``,
  ``conv2`` 1x1, ``conv3`` 3x3, ``maxpool2``; pools round up (``ceil_mode``), the fourth is 2x2/2;
* the "5x5" branch of every inception module is a 3x3 conv (a slip torchvision kept so that its
  published weights still load);
* the auxiliary heads (``aux1`` on 4a, ``aux2`` on 4d, dropout 0.7) pool adaptively to 4x4,
  where the paper pools 5x5/3; the main head is ``avgpool``, ``dropout`` (0.2) and ``fc``;
* in training mode with ``aux_logits`` the model returns :data:`GoogLeNetOutputs`
  ``(logits, aux_logits2, aux_logits1)``, as torchvision's; in eval mode the logits;
* ``transform_input=True`` maps an image normalised with the ImageNet mean and std to the
  ``(x - 0.5) / 0.5`` scaling the ported weights expect: torchvision's ImageNet weights are meant
  to run with it;
* initialisation: torchvision's, weights N(0, 0.01^2) (torchvision truncates at +-2, 200 standard
  deviations, which never happens), BN scale 1 and shift 0, linear biases PyTorch's default.

Its smallest input is 15x15 (:data:`MIN_INPUT_BN`), in training mode too: the auxiliary heads
pool adaptively.
"""

from __future__ import annotations

import collections
import math

from .. import functional as F
from .. import nn
from ..data.imagenet import IMAGENET_MEAN, IMAGENET_STD
from ..nn import init
from ..summary import summary
from .registry import register

#: Table 1: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj) of each inception module.
INCEPTION = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
#: The stem's LRN: BVLC Caffe's local_size 5, alpha 1e-4 (Caffe divides it by the size), beta 0.75, k 1.
STEM_LRN = dict(size=5, alpha=1e-4 / 5, beta=0.75, k=1.0)
#: BVLC Caffe reproduction: constant bias of every conv and of the auxiliary hidden FC.
BIAS_INIT = 0.2
#: Smallest side of the input with the auxiliary heads running (training mode): aux1's 5x5 pool
#: needs a 5x5 map from inception 4a (derivation in the module docstring).
MIN_INPUT = 79
#: Smallest side without them (``aux_logits=False``, or eval mode): inception 5b sees 1x1.
MIN_INPUT_NO_AUX = 31


def _conv_relu(in_channels, out_channels, kernel_size, padding=0):
    return [nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding), nn.ReLU()]


class _FourBranches(nn.Module):
    """An inception module's forward: ``branch1`` to ``branch4`` on the same input, concatenated
    along channels."""

    def forward(self, x):
        return F.concat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], axis=1)


class NaiveInception(_FourBranches):
    """Fig. 2(a): 1x1, 3x3 and 5x5 convs (+ ReLU) and a 3x3 max pool side by side on the same
    ``(N, C, H, W)`` input, concatenated along channels (padding keeps ``H, W``).

    Output channels: ``ch1x1 + ch3x3 + ch5x5 + in_channels``: the pooled branch passes all input
    channels through, so stacking these modules grows the width (and the cost) every time.
    """

    def __init__(self, in_channels, ch1x1, ch3x3, ch5x5):
        super().__init__()
        self.branch1 = nn.Sequential(*_conv_relu(in_channels, ch1x1, 1))
        self.branch2 = nn.Sequential(*_conv_relu(in_channels, ch3x3, 3, padding=1))
        self.branch3 = nn.Sequential(*_conv_relu(in_channels, ch5x5, 5, padding=2))
        self.branch4 = nn.MaxPool2d(3, 1, padding=1)
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + in_channels


class Inception(_FourBranches):
    """Fig. 2(b), the module GoogLeNet stacks: 1x1 "reduce" convs (+ ReLU) before the 3x3 and 5x5
    convs and after the 3x3 max pool ("pool proj"), concatenated along channels.

    Argument names are Table 1's columns; output channels ``ch1x1 + ch3x3 + ch5x5 + pool_proj``.
    """

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branch1 = nn.Sequential(*_conv_relu(in_channels, ch1x1, 1))
        self.branch2 = nn.Sequential(*_conv_relu(in_channels, ch3x3red, 1), *_conv_relu(ch3x3red, ch3x3, 3, 1))
        self.branch3 = nn.Sequential(*_conv_relu(in_channels, ch5x5red, 1), *_conv_relu(ch5x5red, ch5x5, 5, 2))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, padding=1), *_conv_relu(in_channels, pool_proj, 1))
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj


def inception_macs(module, input_shape=(256, 28, 28)):
    """Multiply-accumulates of ``module`` on one input of shape ``(C, H, W)``, counted by
    :func:`minitorch_cnn.summary.summary`: each conv costs ``Ho * Wo * F * C/groups * kh * kw``.

    The lecture's comparison on a 28x28x256 input::

        inception_macs(NaiveInception(256, 128, 192, 96))          # 854,196,224
        inception_macs(Inception(256, 128, 64, 192, 64, 96, 64))   # 271,351,808
    """
    return summary(module, input_shape).total_macs


def _aux_classifier(in_channels, num_classes, conv_width, fc_width):
    return nn.Sequential({
        "pool": nn.AvgPool2d(5, 3), "resize": nn.AdaptiveAvgPool2d((4, 4)),
        "conv": nn.Conv2d(in_channels, conv_width, 1), "relu": nn.ReLU(),
        "flatten": nn.Flatten(),
        "fc": nn.Linear(conv_width * 4 * 4, fc_width), "relu_fc": nn.ReLU(),
        "drop": nn.Dropout(0.7),
        "classifier": nn.Linear(fc_width, num_classes),
    })


class GoogLeNet(nn.Module):
    """``features`` (stem and the nine inception modules) -> global average pool -> ``classifier``
    (dropout 0.4, FC); ``aux1``/``aux2`` read the outputs of inception 4a and 4d while training."""

    def __init__(self, num_classes=1000, in_channels=3, aux_logits=True, width_mult=1.0):
        super().__init__()

        def w(c):
            return max(1, round(c * width_mult))

        layers = {
            "conv1": nn.Conv2d(in_channels, w(64), 7, stride=2, padding=3), "relu1": nn.ReLU(),
            "pool1": nn.MaxPool2d(3, 2, ceil_mode=True), "norm1": nn.LocalResponseNorm(**STEM_LRN),
            "conv2_reduce": nn.Conv2d(w(64), w(64), 1), "relu2_reduce": nn.ReLU(),
            "conv2": nn.Conv2d(w(64), w(192), 3, padding=1), "relu2": nn.ReLU(),
            "norm2": nn.LocalResponseNorm(**STEM_LRN), "pool2": nn.MaxPool2d(3, 2, ceil_mode=True),
        }
        channels, taps = w(192), {}
        for name, widths in INCEPTION.items():
            if name in ("4a", "5a"):
                layers[f"pool{int(name[0]) - 1}"] = nn.MaxPool2d(3, 2, ceil_mode=True)
            module = Inception(channels, *(w(c) for c in widths))
            layers[f"inception{name}"] = module
            channels = module.out_channels
            taps[name] = channels
        self.features = nn.Sequential(layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.4), nn.Linear(channels, num_classes))
        self.aux_logits = aux_logits
        if aux_logits:
            self.aux1 = _aux_classifier(taps["4a"], num_classes, w(128), w(1024))
            self.aux2 = _aux_classifier(taps["4d"], num_classes, w(128), w(1024))
        else:
            self.aux1 = self.aux2 = None
        self._init_caffe_xavier()

    def _init_caffe_xavier(self):
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in, _ = init.calculate_fan_in_and_fan_out(m.weight)
                bound = math.sqrt(3.0 / fan_in)
                init.uniform_(m.weight, -bound, bound)
                init.constant_(m.bias, BIAS_INIT)
        heads = [self.classifier[1]] + ([self.aux1.classifier, self.aux2.classifier] if self.aux_logits else [])
        for head in heads:
            init.zeros_(head.bias)

    def forward(self, x):
        heads = {"inception4a": self.aux1, "inception4d": self.aux2} if self.aux_logits and self.training else {}
        aux = []
        for name, layer in self.features.named_children():
            x = layer(x)
            if name in heads:
                aux.append(heads[name](x))
        main = self.classifier(F.flatten(self.avgpool(x), 1))
        return (main, *aux) if aux else main


@register("googlenet", reference="Szegedy et al. 2015, Table 1 (Inception v1, no batch norm, LRN stem, true 5x5)",
          min_input=MIN_INPUT)
def googlenet(num_classes=1000, in_channels=3, aux_logits=True, width_mult=1.0):
    """GoogLeNet (Inception v1) as in the paper; returns ``(main, aux1, aux2)`` in training mode.

    Inputs from :data:`MIN_INPUT` (79x79), or from :data:`MIN_INPUT_NO_AUX` (31x31) with
    ``aux_logits=False`` or in eval mode.
    """
    return GoogLeNet(num_classes=num_classes, in_channels=in_channels, aux_logits=aux_logits, width_mult=width_mult)


# ---------------------------------------------------------------- torchvision's GoogLeNet


#: Batch-norm eps of torchvision's GoogLeNet: TensorFlow's value, for the weights ported from it.
BN_EPS = 1e-3
#: torchvision's dropout before ``fc`` (the paper's is 0.4) and in the auxiliary heads.
DROPOUT_BN, DROPOUT_AUX = 0.2, 0.7
#: Smallest side ``googlenet_bn`` accepts: conv1 turns ``s`` into ``ceil(s/2)`` and each 3x3/2
#: ceil-mode pool ``m`` into ``ceil((m - 1)/2)``, which needs ``m >= 2``; ``maxpool3`` needs 2, so
#: ``maxpool2`` needs 4 and ``maxpool1`` 8: ``ceil(s/2) >= 8``. Inception 4a to 5b then see 1x1.
MIN_INPUT_BN = 15

#: What ``googlenet_bn`` returns in training mode with auxiliary heads (torchvision's order).
GoogLeNetOutputs = collections.namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])


class BasicConv2d(nn.Module):
    """``relu(bn(conv(x)))`` with a bias-free conv and ``BatchNorm2d(eps=1e-3)``: the unit of
    torchvision's GoogLeNet (``conv``, ``bn``)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class InceptionBN(_FourBranches):
    """torchvision's inception module: Fig. 2(b) with a :class:`BasicConv2d` for every conv, and a
    3x3 conv in the branch Table 1 calls 5x5 (``ch5x5``), as torchvision's weights have it."""

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch3x3red, 1), BasicConv2d(ch3x3red, ch3x3, 3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(in_channels, ch5x5red, 1), BasicConv2d(ch5x5red, ch5x5, 3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, padding=1, ceil_mode=True), BasicConv2d(in_channels, pool_proj, 1))
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj


class InceptionAuxBN(nn.Module):
    """torchvision's auxiliary head: adaptive average pool to 4x4, :class:`BasicConv2d` 1x1 to
    ``conv_width``, ``fc1`` to ``fc_width`` + ReLU, dropout, ``fc2`` to the classes."""

    def __init__(self, in_channels, num_classes, conv_width=128, fc_width=1024, dropout=DROPOUT_AUX):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d((4, 4))
        self.conv = BasicConv2d(in_channels, conv_width, 1)
        self.fc1 = nn.Linear(conv_width * 4 * 4, fc_width)
        self.fc2 = nn.Linear(fc_width, num_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        x = F.flatten(self.conv(self.pool(x)), 1)
        return self.fc2(self.dropout(F.relu(self.fc1(x))))


def transform_input(x):
    """Turn images normalised as ``(x - mean) / std`` (ImageNet statistics) into ``(x - 0.5) / 0.5``,
    per channel ``x * std / 0.5 + (mean - 0.5) / 0.5``: the scaling of the TensorFlow-trained
    weights torchvision ported, which its GoogLeNet applies with ``transform_input=True``."""
    channels = [x[:, c:c + 1] * (std / 0.5) + (mean - 0.5) / 0.5
                for c, (mean, std) in enumerate(zip(IMAGENET_MEAN, IMAGENET_STD))]
    return F.concat(channels, axis=1)


class GoogLeNetBN(nn.Module):
    """torchvision's GoogLeNet (see the module docstring), its module names at the top level:
    ``conv1`` ... ``inception5b``, ``aux1``, ``aux2``, ``avgpool``, ``dropout``, ``fc``."""

    def __init__(self, num_classes=1000, in_channels=3, aux_logits=True, transform_input=False, dropout=DROPOUT_BN,
                 dropout_aux=DROPOUT_AUX, width_mult=1.0):
        super().__init__()
        if transform_input and in_channels != 3:
            raise ValueError(f"GoogLeNetBN: transform_input=True re-normalises 3 RGB channels, got in_channels={in_channels}")

        def w(c):
            return max(1, round(c * width_mult))

        self.transform_input = transform_input
        self.aux_logits = aux_logits
        self.conv1 = BasicConv2d(in_channels, w(64), 7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = BasicConv2d(w(64), w(64), 1)
        self.conv3 = BasicConv2d(w(64), w(192), 3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        channels, taps = w(192), {}
        for name, widths in INCEPTION.items():
            if name == "4a":
                self.maxpool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
            elif name == "5a":
                self.maxpool4 = nn.MaxPool2d(2, 2, ceil_mode=True)
            module = InceptionBN(channels, *(w(c) for c in widths))
            setattr(self, f"inception{name}", module)
            channels = taps[name] = module.out_channels
        if aux_logits:
            self.aux1 = InceptionAuxBN(taps["4a"], num_classes, w(128), w(1024), dropout_aux)
            self.aux2 = InceptionAuxBN(taps["4d"], num_classes, w(128), w(1024), dropout_aux)
        else:
            self.aux1 = self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                init.normal_(m.weight, 0.0, 0.01)
            elif isinstance(m, nn.BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)

    def forward(self, x):
        if self.transform_input:
            x = transform_input(x)
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        heads = self.aux_logits and self.training
        aux1 = self.aux1(x) if heads else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if heads else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        logits = self.fc(self.dropout(F.flatten(self.avgpool(x), 1)))
        return GoogLeNetOutputs(logits, aux2, aux1) if heads else logits


@register("googlenet_bn", reference="torchvision googlenet (Inception v1 with batch norm, 3x3 '5x5' branches)",
          min_input=MIN_INPUT_BN)
def googlenet_bn(num_classes=1000, in_channels=3, aux_logits=True, transform_input=False, dropout=DROPOUT_BN,
                 dropout_aux=DROPOUT_AUX, width_mult=1.0):
    """torchvision's GoogLeNet; 13,004,888 parameters at 1000 classes (6,624,904 with
    ``aux_logits=False``). Its ImageNet weights expect ``transform_input=True``. ``width_mult``
    scales every channel count (for gradient checks at a small size)."""
    return GoogLeNetBN(num_classes, in_channels, aux_logits, transform_input, dropout, dropout_aux, width_mult)
