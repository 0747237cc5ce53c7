"""Densely connected networks (Huang, Liu, van der Maaten & Weinberger 2017, "Densely Connected
Convolutional Networks").

Inside a dense block, layer ``l`` sees the concatenation of the block input and every earlier
layer's output, and adds ``k`` (the growth rate) new channels::

    x_l = H_l([x_0, x_1, ..., x_{l-1}])          H_l = BN-ReLU-conv1x1(4k)-BN-ReLU-conv3x3(k)

(the "B" bottleneck; the plain DenseNet's ``H_l`` is BN-ReLU-conv3x3(k) alone). Between blocks a
transition BN-ReLU-conv1x1-avgpool2x2 keeps ``floor(theta * m)`` of the ``m`` channels ("C"
compression, ``theta = 0.5``; the plain DenseNet keeps all of them, ``theta = 1``).

Which definition each registered model follows, and its trainable parameter count at the
default options (checked in ``tests/test_models_densenet.py``):

===========  ===========================================================  ==========  ==========
name         reference                                                    classes     parameters
===========  ===========================================================  ==========  ==========
densenet121  torchvision ``densenet121``: k=32, blocks (6, 12, 24, 16)    1000         7,978,856
densenet161  torchvision ``densenet161``: k=48, blocks (6, 12, 36, 24),   1000        28,681,000
             96 stem channels
densenet169  torchvision ``densenet169``: k=32, blocks (6, 12, 32, 32)    1000        14,149,480
densenet201  torchvision ``densenet201``: k=32, blocks (6, 12, 48, 32)    1000        20,013,928
densenet264  the paper's Table 1: k=32, blocks (6, 12, 64, 48), in        1000        33,337,704
             torchvision's layout (torchvision has no DenseNet-264)
densenet_bc  the paper's CIFAR DenseNet-BC (section 3): depth ``L``,      10          769,162
             three blocks of ``(L - 4) / 6`` layers, a 3x3 stem conv       (L=100,
             with ``2k`` channels, no stem pooling; default L=100, k=12    k=12)
             (the paper's 0.8M)
densenet40   the paper's plain CIFAR DenseNet (section 3, Table 2): L=40,  10          1,019,722
             k=12, three blocks of ``(L - 4) / 3`` = 12 BN-ReLU-conv3x3
             layers, no bottleneck, no compression, a 3x3 stem conv with
             16 channels (the paper's 1.0M)
densenet100  the same at L=100: blocks of 32 layers (the paper's 7.0M)    10          6,979,642
===========  ===========================================================  ==========  ==========

The ImageNet layout is torchvision's: 7x7/2 conv with 64 channels, BN, ReLU, 3x3/2 max pool,
four dense blocks with three transitions, a final BN-ReLU, global average pooling and a
linear layer. Convs have no bias. Module names are torchvision's too (``features.conv0``,
``features.denseblock1.denselayer1.norm1``, ``features.transition1.conv``, ``features.norm5``,
``classifier``; the final ReLU is applied in ``forward``, after ``features``), so its state dicts
load by key; batch norms keep PyTorch's defaults (eps 1e-5, momentum 0.1), as torchvision's do.
The CIFAR network shares the class and the names. Initialisation is torchvision's for all of them: convs
``kaiming_normal_`` (fan_in), BN scale 1 and shift 0, linear bias 0.

Input sizes: the ImageNet networks need at least 29x29 (each of the three 2x2 transition pools
needs a 2x2 map: 29 -> 15 -> 8 -> 4 -> 2 -> 1); ``min_input`` is recorded as 32, the total
stride. The CIFAR networks (``densenet_bc``, ``densenet40``, ``densenet100``) need 4x4 and are
meant for 32x32.

Options for smaller copies (gradient checks): ``growth_rate``, ``num_init_features`` and
``layers`` (layers per dense block); ``drop_rate`` adds dropout after every new feature map.
"""

from __future__ import annotations

import math

from .. import functional as F
from .. import nn
from ..nn import init
from .registry import register

#: Huang et al. 2017, section 3: the bottleneck's 1x1 conv makes ``4k`` maps.
BN_SIZE = 4
#: Huang et al. 2017, section 3: DenseNet-C/BC transitions keep half the channels.
COMPRESSION = 0.5


class DenseLayer(nn.Module):
    """``H_l``: BN-ReLU-conv1x1 to ``bn_size * k`` maps, BN-ReLU-conv3x3 to ``k`` new maps."""

    def __init__(self, in_channels, growth_rate, bn_size=BN_SIZE, drop_rate=0.0):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)
        self.dropout = nn.Dropout(drop_rate) if drop_rate > 0 else None

    def forward(self, x):
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out if self.dropout is None else self.dropout(out)


class BasicDenseLayer(nn.Module):
    """The plain DenseNet's ``H_l``: BN-ReLU-conv3x3 to ``k`` new maps (no bottleneck)."""

    def __init__(self, in_channels, growth_rate, drop_rate=0.0):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, growth_rate, 3, padding=1, bias=False)
        self.dropout = nn.Dropout(drop_rate) if drop_rate > 0 else None

    def forward(self, x):
        out = self.conv1(F.relu(self.norm1(x)))
        return out if self.dropout is None else self.dropout(out)


class DenseBlock(nn.Module):
    """``num_layers`` dense layers ``denselayer1``, ``denselayer2``, ... (torchvision's names); each
    appends its ``k`` maps to the running concatenation, so the block turns ``C`` channels into
    ``C + num_layers * k``. ``bn_size=0`` builds :class:`BasicDenseLayer` s (no bottleneck)."""

    def __init__(self, in_channels, num_layers, growth_rate, bn_size=BN_SIZE, drop_rate=0.0):
        super().__init__()
        for i in range(num_layers):
            channels = in_channels + i * growth_rate
            layer = (DenseLayer(channels, growth_rate, bn_size, drop_rate) if bn_size else
                     BasicDenseLayer(channels, growth_rate, drop_rate))
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, x):
        for layer in self.children():
            x = F.concat([x, layer(x)], axis=1)
        return x


def transition(in_channels, out_channels):
    """BN-ReLU-conv1x1-avgpool 2x2/2 between two dense blocks (``norm``, ``relu``, ``conv``, ``pool``)."""
    return nn.Sequential({
        "norm": nn.BatchNorm2d(in_channels), "relu": nn.ReLU(),
        "conv": nn.Conv2d(in_channels, out_channels, 1, bias=False),
        "pool": nn.AvgPool2d(2, stride=2),
    })


class DenseNet(nn.Module):
    """DenseNet-BC, or the plain DenseNet with ``bn_size=0`` and ``compression=1``.

    Args:
        growth_rate: ``k``, maps added by every dense layer.
        layers: dense layers per block.
        num_init_features: channels out of the stem (64 for ImageNet, ``2k`` for CIFAR).
        bn_size: the bottleneck makes ``bn_size * k`` maps (4); 0: no bottleneck.
        drop_rate: dropout after every dense layer (0: none).
        num_classes, in_channels: classifier outputs and input channels.
        compression: ``theta``; a transition keeps ``floor(theta * m)`` channels.
        stem: ``"imagenet"`` (7x7/2 conv, BN, ReLU, 3x3/2 max pool) or ``"cifar"`` (one 3x3 conv).

    Attributes ``features`` (stem, ``denseblock1``, ``transition1``, ..., the final BN ``norm5``),
    ``avgpool`` and ``classifier`` (the linear layer).
    """

    def __init__(self, growth_rate=32, layers=(6, 12, 24, 16), num_init_features=64, bn_size=BN_SIZE,
                 drop_rate=0.0, num_classes=1000, in_channels=3, compression=COMPRESSION, stem="imagenet"):
        super().__init__()
        if len(layers) < 1 or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in layers):
            raise ValueError(f"DenseNet: expected layers to be positive layer counts, got {tuple(layers)!r}")
        if isinstance(bn_size, bool) or not isinstance(bn_size, int) or bn_size < 0:
            raise ValueError(f"DenseNet: expected bn_size to be a count of maps per k (0: no bottleneck), "
                             f"got {bn_size!r}")
        if not 0.0 < compression <= 1.0:
            raise ValueError(f"DenseNet: expected compression in (0, 1], got {compression!r}")
        if stem == "imagenet":
            parts = {
                "conv0": nn.Conv2d(in_channels, num_init_features, 7, stride=2, padding=3, bias=False),
                "norm0": nn.BatchNorm2d(num_init_features), "relu0": nn.ReLU(),
                "pool0": nn.MaxPool2d(3, stride=2, padding=1),
            }
        elif stem == "cifar":
            parts = {"conv0": nn.Conv2d(in_channels, num_init_features, 3, padding=1, bias=False)}
        else:
            raise ValueError(f"DenseNet: expected stem 'imagenet' or 'cifar', got {stem!r}")
        channels = num_init_features
        for i, num_layers in enumerate(layers):
            parts[f"denseblock{i + 1}"] = DenseBlock(channels, num_layers, growth_rate, bn_size, drop_rate)
            channels += num_layers * growth_rate
            if i != len(layers) - 1:
                out_channels = math.floor(compression * channels)
                parts[f"transition{i + 1}"] = transition(channels, out_channels)
                channels = out_channels
        # torchvision's name whatever the block count: its weights files use it.
        parts["norm5"] = nn.BatchNorm2d(channels)
        self.features = nn.Sequential(parts)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(F.flatten(self.avgpool(F.relu(self.features(x))), 1))


_TV = "torchvision {} (Huang et al. 2017, Table 1)"


@register("densenet121", reference=_TV.format("densenet121"), min_input=32)
def densenet121(num_classes=1000, in_channels=3, growth_rate=32, layers=(6, 12, 24, 16), num_init_features=64,
                drop_rate=0.0):
    """DenseNet-121 (k=32); 7,978,856 parameters."""
    return DenseNet(growth_rate, layers, num_init_features, drop_rate=drop_rate, num_classes=num_classes,
                    in_channels=in_channels)


@register("densenet161", reference=_TV.format("densenet161"), min_input=32)
def densenet161(num_classes=1000, in_channels=3, growth_rate=48, layers=(6, 12, 36, 24), num_init_features=96,
                drop_rate=0.0):
    """DenseNet-161 (k=48, 96 stem channels); 28,681,000 parameters."""
    return DenseNet(growth_rate, layers, num_init_features, drop_rate=drop_rate, num_classes=num_classes,
                    in_channels=in_channels)


@register("densenet169", reference=_TV.format("densenet169"), min_input=32)
def densenet169(num_classes=1000, in_channels=3, growth_rate=32, layers=(6, 12, 32, 32), num_init_features=64,
                drop_rate=0.0):
    """DenseNet-169 (k=32); 14,149,480 parameters."""
    return DenseNet(growth_rate, layers, num_init_features, drop_rate=drop_rate, num_classes=num_classes,
                    in_channels=in_channels)


@register("densenet201", reference=_TV.format("densenet201"), min_input=32)
def densenet201(num_classes=1000, in_channels=3, growth_rate=32, layers=(6, 12, 48, 32), num_init_features=64,
                drop_rate=0.0):
    """DenseNet-201 (k=32); 20,013,928 parameters."""
    return DenseNet(growth_rate, layers, num_init_features, drop_rate=drop_rate, num_classes=num_classes,
                    in_channels=in_channels)


@register("densenet264", reference="Huang et al. 2017, Table 1 (k=32, 6-12-64-48) in torchvision's layout",
          min_input=32)
def densenet264(num_classes=1000, in_channels=3, growth_rate=32, layers=(6, 12, 64, 48), num_init_features=64,
                drop_rate=0.0):
    """DenseNet-264 (k=32); 33,337,704 parameters."""
    return DenseNet(growth_rate, layers, num_init_features, drop_rate=drop_rate, num_classes=num_classes,
                    in_channels=in_channels)


@register("densenet_bc", reference="Huang et al. 2017 section 3, CIFAR DenseNet-BC (default L=100, k=12)",
          min_input=32)
def densenet_bc(depth=100, growth_rate=12, num_classes=10, in_channels=3, drop_rate=0.0, compression=COMPRESSION):
    """DenseNet-BC-``depth`` with growth rate ``k`` for CIFAR, called as ``densenet_bc(100, 12)``.

    Three dense blocks of ``(depth - 4) / 6`` bottleneck layers (two convs each), a 3x3 stem
    conv with ``2k`` channels. DenseNet-BC-100 (k=12) has 769,162 parameters at 10 classes (the
    paper's 0.8M); the paper uses ``drop_rate=0.2`` without data augmentation.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
        raise ValueError(f"densenet_bc: expected depth = 6n + 4 with n >= 1 (10, 40, 100, 190, ...), got {depth!r}")
    n = (depth - 4) // 6
    return DenseNet(growth_rate, (n, n, n), 2 * growth_rate, drop_rate=drop_rate, num_classes=num_classes,
                    in_channels=in_channels, compression=compression, stem="cifar")



#: Huang et al. 2017, section 3: the plain CIFAR DenseNet's stem has 16 channels.
PLAIN_STEM = 16


def _plain_cifar(num_classes, in_channels, growth_rate, layers, num_init_features, drop_rate):
    """The plain CIFAR DenseNet: no bottleneck (``bn_size=0``), no compression (``theta = 1``)."""
    return DenseNet(growth_rate, layers, num_init_features, bn_size=0, drop_rate=drop_rate,
                    num_classes=num_classes, in_channels=in_channels, compression=1.0, stem="cifar")


_PLAIN = "Huang et al. 2017 section 3, CIFAR DenseNet (L={}, k=12) without bottleneck or compression"


@register("densenet40", reference=_PLAIN.format(40), min_input=32)
def densenet40(num_classes=10, in_channels=3, growth_rate=12, layers=(12, 12, 12), num_init_features=PLAIN_STEM,
               drop_rate=0.0):
    """DenseNet (L=40, k=12) for CIFAR: three blocks of ``(40 - 4) / 3 = 12`` BN-ReLU-conv3x3 layers;
    1,019,722 parameters at 10 classes (the paper's 1.0M). The paper uses ``drop_rate=0.2``
    without data augmentation."""
    return _plain_cifar(num_classes, in_channels, growth_rate, layers, num_init_features, drop_rate)


@register("densenet100", reference=_PLAIN.format(100), min_input=32)
def densenet100(num_classes=10, in_channels=3, growth_rate=12, layers=(32, 32, 32), num_init_features=PLAIN_STEM,
                drop_rate=0.0):
    """DenseNet (L=100, k=12) for CIFAR: three blocks of ``(100 - 4) / 3 = 32`` BN-ReLU-conv3x3
    layers; 6,979,642 parameters at 10 classes (the paper's 7.0M)."""
    return _plain_cifar(num_classes, in_channels, growth_rate, layers, num_init_features, drop_rate)
