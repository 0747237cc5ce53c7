"""Residual networks: every block computes ``y = relu(F(x) + shortcut(x))``.

Which definition each registered model follows, and its trainable parameter count at the
default options (the counts are checked in ``tests/test_models_resnet.py``):

================  ===============================================================  ===========
name              reference                                                        parameters
================  ===============================================================  ===========
resnet18          torchvision ``resnet18`` (He, Zhang, Ren & Sun 2015, Table 1)     11,689,512
resnet34          torchvision ``resnet34``                                          21,797,672
resnet50          torchvision ``resnet50``                                          25,557,032
resnet101         torchvision ``resnet101``                                         44,549,160
resnet152         torchvision ``resnet152``                                         60,192,808
plain18           resnet18 without any shortcut (He et al. 2015, Fig. 3 middle)     11,515,688
plain34           resnet34 without any shortcut                                     21,623,848
preact_resnet18   He, Zhang, Ren & Sun 2016, "Identity Mappings in Deep Residual    11,687,720
                  Networks", in the ImageNet layout of fb.resnet.torch
                  ``preresnet.lua``
preact_resnet50   the same with bottlenecks                                         25,549,352
resnet20          He et al. 2015 section 4.2, CIFAR-10, option A (paper: 0.27M)        269,722
resnet32          the same, n=5 (paper: 0.46M)                                         464,154
resnet44          the same, n=7 (paper: 0.66M)                                         658,586
resnet56          the same, n=9 (paper: 0.85M)                                         853,018
resnet110         the same, n=18 (paper: 1.7M)                                       1,727,962
plain20           resnet20 without shortcuts (option A has no parameters: equal)       269,722
plain56           resnet56 without shortcuts                                           853,018
wide_resnet50_2   torchvision ``wide_resnet50_2`` (bottleneck 3x3 twice as wide)    68,883,240
wide_resnet101_2  torchvision ``wide_resnet101_2``                                126,886,696
wrn               Zagoruyko & Komodakis 2016, WRN-depth-k for CIFAR, 10 classes;    36,479,194
                  default WRN-28-10 (paper: 36.5M); WRN-16-4 has 2,748,890
resnext50_32x4d   torchvision ``resnext50_32x4d`` (Xie et al. 2017, 32 groups of 4)  25,028,904
resnext101_32x8d  torchvision ``resnext101_32x8d`` (32 groups of 8)                 88,791,336
resnext101_64x4d  torchvision ``resnext101_64x4d`` (64 groups of 4)                 83,455,272
================  ===============================================================  ===========

Layout notes:

* ImageNet ResNets, ResNeXts and Wide ResNet-50/101-2 are torchvision's, down to the module
  names (``conv1``, ``layer1.0.downsample.0``, ``fc``): its state dicts load by key. plain18/34
  and ``se_resnet50`` (built by the same class) carry the same names. Their batch norms keep PyTorch's defaults (eps 1e-5, momentum 0.1), as
  torchvision's do. Like torchvision, a bottleneck puts its stride on the 3x3 conv (the
  "v1.5" variant; the 2015 paper strides the first 1x1, which changes speed and accuracy but
  not the parameter count), and projection shortcuts (option B: strided 1x1 conv + BN) are used
  only where the shape changes. ``zero_init_residual=True`` starts the last BN scale of every
  block at 0, so each block begins as the identity (Goyal et al. 2017).
* Pre-activation blocks are ``x + conv(relu(bn(conv(relu(bn(x))))))`` with no ReLU after the
  addition. Following ``preresnet.lua``, a projection shortcut (a 1x1 conv without BN) reads the
  pre-activated input ``relu(bn(x))``, an identity shortcut reads ``x``; the first block of the
  first stage skips its BN-ReLU because the stem ends with one; a final BN-ReLU precedes the
  pooling.
* CIFAR ResNets: a 3x3 conv with 16 filters, three stages of ``n`` basic blocks at 16, 32 and
  64 channels (``depth = 6n + 2``), global average pooling and a linear layer. ``shortcut="A"``
  (the paper's CIFAR choice) subsamples ``x`` and appends zero channels (no parameters);
  ``shortcut="B"`` uses projections where the shape changes (resnet20: 272,474 parameters).
* Wide ResNets use pre-activation basic blocks at widths 16, 16k, 32k, 64k with
  ``depth = 6n + 4``, 1x1 projection shortcuts without BN where the shape changes, and optional
  dropout between the two convs of a block (the paper's 0.3 in some runs).

Every network here uses torchvision's ResNet initialisation: convs ``kaiming_normal_`` with
``mode="fan_out"`` (He et al. 2015, as in fb.resnet.torch), BN scale 1 and shift 0, the
final linear layer PyTorch's default.

Input sizes: every stride-2 layer pads and the head pools adaptively, so any image runs;
``min_input`` is recorded as 32, the total stride of the ImageNet networks (below it the last
stages see a padded 1x1 map). The CIFAR networks are meant for 32x32.

Options for smaller copies (gradient checks, quick experiments): ``width`` (channels of the
first stage; the paper's 64 for ImageNet, 16 for CIFAR) and ``layers`` (blocks per stage).
"""

from __future__ import annotations

from .. import functional as F
from .. import nn
from ..nn import init
from ..nn.utils import no_random_init
from ..tensor import Tensor
from .registry import register


def conv3x3(in_channels, out_channels, stride=1, groups=1):
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, groups=groups, bias=False)


def conv1x1(in_channels, out_channels, stride=1):
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


# ---------------------------------------------------------------- shortcuts


class ZeroPadShortcut(nn.Module):
    """Option A of He et al. 2015: keep every ``stride``-th pixel and append zero channels up to
    ``out_channels``. No parameters, so a CIFAR ResNet has exactly its plain twin's count."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, x):
        x = x[:, :, :: self.stride, :: self.stride]
        N, C, H, W = x.shape
        zeros = x.xp.zeros((N, self.out_channels - C, H, W), dtype=x.dtype, device=getattr(x.array, "device", None))
        return F.concat([x, Tensor(zeros)], axis=1)

    def extra_repr(self):
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


def projection(in_channels, out_channels, stride):
    """Option B: a strided 1x1 conv and a BN (torchvision's ``downsample``)."""
    return nn.Sequential(conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))


# ---------------------------------------------------------------- post-activation blocks (2015)


class ResidualBlock(nn.Module):
    """``y = relu(F(x) + shortcut(x))``, with the residual function ``F`` in :meth:`branch`.

    The shortcut is the attribute ``downsample`` (torchvision's name): ``None`` is the identity;
    ``residual=False`` leaves out the addition, which turns the block into two (or three) plain
    conv layers for the degradation experiment.
    """

    def forward(self, x):
        out = self.branch(x)
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return F.relu(out)


class BasicBlock(ResidualBlock):
    """``F(x) = bn2(conv3x3(relu(bn1(conv3x3(x)))))``: ResNet-18/34 and the CIFAR ResNets."""

    expansion = 1

    def __init__(self, in_channels, planes, stride=1, downsample=None, residual=True, groups=1, width_per_group=64):
        super().__init__()
        if groups != 1 or width_per_group != 64:
            raise ValueError(
                f"BasicBlock: expected groups=1 and width_per_group=64 (only bottlenecks are grouped or "
                f"widened), got groups={groups}, width_per_group={width_per_group}"
            )
        self.conv1 = conv3x3(in_channels, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.residual = residual

    def branch(self, x):
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))

    def last_bn(self):
        return self.bn2


class Bottleneck(ResidualBlock):
    """1x1 reduce, 3x3 (strided, grouped), 1x1 expand to ``4 * planes``, BN after each.

    The 3x3 conv has ``int(planes * width_per_group / 64) * groups`` channels (torchvision):
    ``planes`` for ResNet-50, ``2 * planes`` for Wide ResNet-50-2 (``width_per_group=128``),
    32 groups of 4 at the first stage for ResNeXt-50 32x4d.
    """

    expansion = 4

    def __init__(self, in_channels, planes, stride=1, downsample=None, residual=True, groups=1, width_per_group=64):
        super().__init__()
        mid = int(planes * (width_per_group / 64.0)) * groups
        if mid < 1:
            raise ValueError(
                f"Bottleneck: expected at least one 3x3 channel, got int({planes} * {width_per_group} / 64) * {groups} = 0"
            )
        self.conv1 = conv1x1(in_channels, mid)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = conv3x3(mid, mid, stride, groups)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = conv1x1(mid, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.downsample = downsample
        self.residual = residual

    def branch(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    def last_bn(self):
        return self.bn3


# ---------------------------------------------------------------- pre-activation blocks (2016)


class PreActBasicBlock(nn.Module):
    """``y = x + conv3x3(relu(bn2(conv3x3(relu(bn1(x))))))`` (He et al. 2016, Fig. 4e).

    ``preact=False`` drops ``bn1`` and its ReLU (the input is already activated); ``dropout``
    sits between the two convs, as in Wide ResNets.
    """

    expansion = 1

    def __init__(self, in_channels, planes, stride=1, shortcut=None, preact=True, dropout=0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels) if preact else None
        self.conv1 = conv3x3(in_channels, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.conv2 = conv3x3(planes, planes)
        self.shortcut = shortcut

    def forward(self, x):
        out = x if self.bn1 is None else F.relu(self.bn1(x))
        # A projection reads the pre-activated input, an identity reads x (preresnet.lua, "both_preact").
        identity = x if self.shortcut is None else self.shortcut(out)
        out = F.relu(self.bn2(self.conv1(out)))
        if self.dropout is not None:
            out = self.dropout(out)
        return self.conv2(out) + identity


class PreActBottleneck(nn.Module):
    """``y = x + conv1x1(relu(bn3(conv3x3(relu(bn2(conv1x1(relu(bn1(x)))))))))``, ``4 * planes`` out."""

    expansion = 4

    def __init__(self, in_channels, planes, stride=1, shortcut=None, preact=True):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels) if preact else None
        self.conv1 = conv1x1(in_channels, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.shortcut = shortcut

    def forward(self, x):
        out = x if self.bn1 is None else F.relu(self.bn1(x))
        identity = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        out = self.conv3(F.relu(self.bn3(out)))
        return out + identity


# ---------------------------------------------------------------- networks


def make_stage(block, in_channels, planes, blocks, stride, shortcut, first_options=None, **options):
    """``blocks`` blocks of ``planes * block.expansion`` output channels; the first one strides.

    ``shortcut(in_channels, out_channels, stride)`` builds the shortcut of a block whose shape
    changes (the others add ``x`` itself). ``first_options`` go to the first block only.
    Returns the stage and its output channel count.
    """
    out_channels = planes * block.expansion
    stage = []
    for i in range(blocks):
        s = stride if i == 0 else 1
        changes = s != 1 or in_channels != out_channels
        extra = dict(options, **(first_options or {})) if i == 0 else options
        stage.append(block(in_channels, planes, s, shortcut(in_channels, out_channels, s) if changes else None, **extra))
        in_channels = out_channels
    return nn.Sequential(*stage), out_channels


def _no_shortcut(in_channels, out_channels, stride):
    return None


def _check_layers(owner, layers, stages):
    if len(layers) != stages or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in layers):
        raise ValueError(f"{owner}: expected layers to be {stages} positive block counts, got {tuple(layers)!r}")


def init_resnet(model, zero_init_residual=False):
    """torchvision's ResNet initialisation; optionally zero the last BN scale of every block.

    The models build their layers under ``no_random_init``, so this draws each weight once:
    He's normal for the convolutions, PyTorch's default (``reset_parameters``) for any other
    layer with weights, such as the final linear layer (torchvision draws the default for every
    layer first, then overwrites the convolutions')."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            init.ones_(m.weight)
            init.zeros_(m.bias)
        elif hasattr(m, "reset_parameters"):
            m.reset_parameters()
    if zero_init_residual:
        for m in model.modules():
            if isinstance(m, ResidualBlock):
                init.zeros_(m.last_bn().weight)


class ResNet(nn.Module):
    """ImageNet ResNet: 7x7/2 conv, 3x3/2 max pool, four stages at ``width * (1, 2, 4, 8)`` planes
    (strides 1, 2, 2, 2), global average pooling, one linear layer; module names are torchvision's,
    so its state dicts load by key.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck` (or a subclass, as in SE-ResNet).
        layers: blocks per stage, e.g. ``(3, 4, 6, 3)`` for ResNet-34/50.
        num_classes, in_channels: classifier outputs and input channels.
        width: planes of the first stage (64).
        residual: ``False`` builds the plain network (no shortcuts at all).
        zero_init_residual: start every block's last BN scale at 0.
        **block_options: passed to every block (``groups``, ``width_per_group``, ...).

    Attributes, in forward order: the stem ``conv1``, ``bn1``, ``relu``, ``maxpool``; the stages
    ``layer1`` to ``layer4`` (``layer4`` outputs ``(N, 8 * width * expansion, H/32, W/32)``);
    ``avgpool`` and ``fc`` (the linear layer).
    """

    def __init__(self, block, layers, num_classes=1000, in_channels=3, width=64, residual=True,
                 zero_init_residual=False, **block_options):
        super().__init__()
        _check_layers("ResNet", layers, 4)
        if zero_init_residual and not residual:
            raise ValueError("ResNet: zero_init_residual=True would zero every block of a plain network")
        shortcut = projection if residual else _no_shortcut
        with no_random_init():  # init_resnet draws every weight, once
            stages, channels = [], width
            for i, blocks in enumerate(layers):
                stage, channels = make_stage(block, channels, width * 2**i, blocks, 1 if i == 0 else 2,
                                             shortcut, residual=residual, **block_options)
                stages.append(stage)
            self.conv1 = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.relu = nn.ReLU()
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
            self.layer1, self.layer2, self.layer3, self.layer4 = stages
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(channels, num_classes)
        init_resnet(self, zero_init_residual)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(F.flatten(self.avgpool(x), 1))


class PreActResNet(nn.Module):
    """ImageNet pre-activation ResNet (He et al. 2016; fb.resnet.torch ``preresnet.lua``).

    Stem conv-BN-ReLU-max pool, four stages of pre-activation blocks (the very first block skips
    its own BN-ReLU), then BN-ReLU, global average pooling and a linear layer. Arguments as in
    :class:`ResNet`.
    """

    def __init__(self, block, layers, num_classes=1000, in_channels=3, width=64):
        super().__init__()
        _check_layers("PreActResNet", layers, 4)
        with no_random_init():  # init_resnet draws every weight, once
            stages, channels = [], width
            for i, blocks in enumerate(layers):
                stage, channels = make_stage(block, channels, width * 2**i, blocks, 1 if i == 0 else 2,
                                             conv1x1, first_options={"preact": i != 0})
                stages.append(stage)
            self.features = nn.Sequential(
                nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(width),
                nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1),
                *stages,
                nn.BatchNorm2d(channels), nn.ReLU(),
            )
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(channels, num_classes)
        init_resnet(self)

    def forward(self, x):
        return self.classifier(F.flatten(self.avgpool(self.features(x)), 1))


class CifarResNet(nn.Module):
    """He et al. 2015 section 4.2: 3x3 conv, three stages of basic blocks at ``width * (1, 2, 4)``
    channels on 32x32, 16x16 and 8x8 maps, global average pooling, a linear layer.

    Args:
        layers: blocks per stage (``(n, n, n)`` for depth ``6n + 2``).
        width: channels of the first stage (16).
        shortcut: ``"A"`` (zero-padded identity), ``"B"`` (projection where the shape changes) or
            ``None`` (the plain network).
    """

    def __init__(self, layers, num_classes=10, in_channels=3, width=16, shortcut="A"):
        super().__init__()
        _check_layers("CifarResNet", layers, 3)
        shortcuts = {"A": ZeroPadShortcut, "B": projection, None: _no_shortcut}
        if shortcut not in shortcuts:
            raise ValueError(f"CifarResNet: expected shortcut 'A', 'B' or None, got {shortcut!r}")
        with no_random_init():  # init_resnet draws every weight, once
            stages, channels = [], width
            for i, blocks in enumerate(layers):
                stage, channels = make_stage(BasicBlock, channels, width * 2**i, blocks, 1 if i == 0 else 2,
                                             shortcuts[shortcut], residual=shortcut is not None)
                stages.append(stage)
            self.features = nn.Sequential(conv3x3(in_channels, width), nn.BatchNorm2d(width), nn.ReLU(), *stages)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(channels, num_classes)
        init_resnet(self)

    def forward(self, x):
        return self.classifier(F.flatten(self.avgpool(self.features(x)), 1))


class WideResNet(nn.Module):
    """WRN-``depth``-``k`` (Zagoruyko & Komodakis 2016, Table 1): 3x3 conv with ``width``
    channels, three stages of ``(depth - 4) / 6`` pre-activation basic blocks at
    ``width * k * (1, 2, 4)`` channels, BN-ReLU, global average pooling, a linear layer."""

    def __init__(self, depth=28, k=10, num_classes=10, in_channels=3, dropout=0.0, width=16):
        super().__init__()
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
            raise ValueError(f"WideResNet: expected depth = 6n + 4 with n >= 1 (10, 16, 22, 28, 40, ...), got {depth!r}")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"WideResNet: expected a positive int widening factor k, got {k!r}")
        n = (depth - 4) // 6
        with no_random_init():  # init_resnet draws every weight, once
            stages, channels = [], width
            for i in range(3):
                stage, channels = make_stage(PreActBasicBlock, channels, width * k * 2**i, n, 1 if i == 0 else 2,
                                             conv1x1, dropout=dropout)
                stages.append(stage)
            self.features = nn.Sequential(conv3x3(in_channels, width), *stages, nn.BatchNorm2d(channels), nn.ReLU())
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(channels, num_classes)
        init_resnet(self)

    def forward(self, x):
        return self.classifier(F.flatten(self.avgpool(self.features(x)), 1))


# ---------------------------------------------------------------- registered models

_TV = "torchvision {} (He et al. 2015; bottleneck stride on the 3x3 conv)"


@register("resnet18", reference=_TV.format("resnet18"), min_input=32)
def resnet18(num_classes=1000, in_channels=3, zero_init_residual=False, width=64, layers=(2, 2, 2, 2)):
    """ResNet-18: basic blocks (2, 2, 2, 2); 11,689,512 parameters."""
    return ResNet(BasicBlock, layers, num_classes, in_channels, width=width, zero_init_residual=zero_init_residual)


@register("resnet34", reference=_TV.format("resnet34"), min_input=32)
def resnet34(num_classes=1000, in_channels=3, zero_init_residual=False, width=64, layers=(3, 4, 6, 3)):
    """ResNet-34: basic blocks (3, 4, 6, 3); 21,797,672 parameters."""
    return ResNet(BasicBlock, layers, num_classes, in_channels, width=width, zero_init_residual=zero_init_residual)


@register("resnet50", reference=_TV.format("resnet50"), min_input=32)
def resnet50(num_classes=1000, in_channels=3, zero_init_residual=False, width=64, layers=(3, 4, 6, 3)):
    """ResNet-50: bottlenecks (3, 4, 6, 3); 25,557,032 parameters."""
    return ResNet(Bottleneck, layers, num_classes, in_channels, width=width, zero_init_residual=zero_init_residual)


@register("resnet101", reference=_TV.format("resnet101"), min_input=32)
def resnet101(num_classes=1000, in_channels=3, zero_init_residual=False, width=64, layers=(3, 4, 23, 3)):
    """ResNet-101: bottlenecks (3, 4, 23, 3); 44,549,160 parameters."""
    return ResNet(Bottleneck, layers, num_classes, in_channels, width=width, zero_init_residual=zero_init_residual)


@register("resnet152", reference=_TV.format("resnet152"), min_input=32)
def resnet152(num_classes=1000, in_channels=3, zero_init_residual=False, width=64, layers=(3, 8, 36, 3)):
    """ResNet-152: bottlenecks (3, 8, 36, 3); 60,192,808 parameters."""
    return ResNet(Bottleneck, layers, num_classes, in_channels, width=width, zero_init_residual=zero_init_residual)


@register("plain18", reference="resnet18 without shortcuts (He et al. 2015, Fig. 3 middle)", min_input=32)
def plain18(num_classes=1000, in_channels=3, width=64, layers=(2, 2, 2, 2)):
    """Plain-18: resnet18's layers with no shortcut; 11,515,688 parameters (no projections)."""
    return ResNet(BasicBlock, layers, num_classes, in_channels, width=width, residual=False)


@register("plain34", reference="resnet34 without shortcuts (He et al. 2015, Fig. 3 middle)", min_input=32)
def plain34(num_classes=1000, in_channels=3, width=64, layers=(3, 4, 6, 3)):
    """Plain-34: resnet34's layers with no shortcut; 21,623,848 parameters."""
    return ResNet(BasicBlock, layers, num_classes, in_channels, width=width, residual=False)


_PREACT = "He et al. 2016 identity mappings, ImageNet layout of fb.resnet.torch preresnet.lua"


@register("preact_resnet18", reference=_PREACT, min_input=32)
def preact_resnet18(num_classes=1000, in_channels=3, width=64, layers=(2, 2, 2, 2)):
    """Pre-activation ResNet-18; 11,687,720 parameters."""
    return PreActResNet(PreActBasicBlock, layers, num_classes, in_channels, width=width)


@register("preact_resnet50", reference=_PREACT, min_input=32)
def preact_resnet50(num_classes=1000, in_channels=3, width=64, layers=(3, 4, 6, 3)):
    """Pre-activation ResNet-50; 25,549,352 parameters."""
    return PreActResNet(PreActBottleneck, layers, num_classes, in_channels, width=width)


_CIFAR = "He et al. 2015 section 4.2 (CIFAR-10, {} layers, option A shortcuts by default)"
_CIFAR_PLAIN = "He et al. 2015 section 4.2 (CIFAR-10, plain {}-layer net)"


@register("resnet20", reference=_CIFAR.format(20), min_input=32)
def resnet20(num_classes=10, in_channels=3, shortcut="A", width=16, layers=(3, 3, 3)):
    """ResNet-20 for CIFAR (n=3); 269,722 parameters with option A (272,474 with option B)."""
    return CifarResNet(layers, num_classes, in_channels, width=width, shortcut=shortcut)


@register("resnet32", reference=_CIFAR.format(32), min_input=32)
def resnet32(num_classes=10, in_channels=3, shortcut="A", width=16, layers=(5, 5, 5)):
    """ResNet-32 for CIFAR (n=5); 464,154 parameters with option A."""
    return CifarResNet(layers, num_classes, in_channels, width=width, shortcut=shortcut)


@register("resnet44", reference=_CIFAR.format(44), min_input=32)
def resnet44(num_classes=10, in_channels=3, shortcut="A", width=16, layers=(7, 7, 7)):
    """ResNet-44 for CIFAR (n=7); 658,586 parameters with option A."""
    return CifarResNet(layers, num_classes, in_channels, width=width, shortcut=shortcut)


@register("resnet56", reference=_CIFAR.format(56), min_input=32)
def resnet56(num_classes=10, in_channels=3, shortcut="A", width=16, layers=(9, 9, 9)):
    """ResNet-56 for CIFAR (n=9); 853,018 parameters with option A."""
    return CifarResNet(layers, num_classes, in_channels, width=width, shortcut=shortcut)


@register("resnet110", reference=_CIFAR.format(110), min_input=32)
def resnet110(num_classes=10, in_channels=3, shortcut="A", width=16, layers=(18, 18, 18)):
    """ResNet-110 for CIFAR (n=18); 1,727,962 parameters with option A."""
    return CifarResNet(layers, num_classes, in_channels, width=width, shortcut=shortcut)


@register("plain20", reference=_CIFAR_PLAIN.format(20), min_input=32)
def plain20(num_classes=10, in_channels=3, width=16, layers=(3, 3, 3)):
    """Plain-20 for CIFAR; 269,722 parameters (as resnet20 with option A)."""
    return CifarResNet(layers, num_classes, in_channels, width=width, shortcut=None)


@register("plain56", reference=_CIFAR_PLAIN.format(56), min_input=32)
def plain56(num_classes=10, in_channels=3, width=16, layers=(9, 9, 9)):
    """Plain-56 for CIFAR; 853,018 parameters."""
    return CifarResNet(layers, num_classes, in_channels, width=width, shortcut=None)


@register("wide_resnet50_2", reference="torchvision wide_resnet50_2 (Zagoruyko & Komodakis 2016)", min_input=32)
def wide_resnet50_2(num_classes=1000, in_channels=3, zero_init_residual=False, width=64, layers=(3, 4, 6, 3),
                    width_per_group=128):
    """Wide ResNet-50-2: ResNet-50 with bottleneck 3x3 convs twice as wide; 68,883,240 parameters."""
    return ResNet(Bottleneck, layers, num_classes, in_channels, width=width, zero_init_residual=zero_init_residual,
                  width_per_group=width_per_group)


@register("wrn", reference="Zagoruyko & Komodakis 2016, WRN-depth-k for CIFAR (default WRN-28-10)", min_input=32)
def wrn(depth=28, k=10, num_classes=10, in_channels=3, dropout=0.0, width=16):
    """WRN-``depth``-``k`` for CIFAR, called as in the paper: ``wrn(16, 4)``, ``wrn(28, 10)``.

    WRN-28-10 (the default) has 36,479,194 parameters at 10 classes (the paper's 36.5M);
    WRN-16-4 has 2,748,890. ``dropout`` is applied between the convs of every block.
    """
    return WideResNet(depth, k, num_classes, in_channels, dropout=dropout, width=width)


@register("wide_resnet101_2", reference="torchvision wide_resnet101_2 (Zagoruyko & Komodakis 2016)", min_input=32)
def wide_resnet101_2(num_classes=1000, in_channels=3, zero_init_residual=False, width=64, layers=(3, 4, 23, 3),
                     width_per_group=128):
    """Wide ResNet-101-2: ResNet-101 with bottleneck 3x3 convs twice as wide; 126,886,696 parameters."""
    return ResNet(Bottleneck, layers, num_classes, in_channels, width=width, zero_init_residual=zero_init_residual,
                  width_per_group=width_per_group)


@register("resnext50_32x4d", reference="torchvision resnext50_32x4d (Xie et al. 2017)", min_input=32)
def resnext50_32x4d(num_classes=1000, in_channels=3, zero_init_residual=False, width=64, layers=(3, 4, 6, 3),
                    groups=32, width_per_group=4):
    """ResNeXt-50 (32x4d): bottlenecks whose 3x3 conv has 32 groups of 4 channels per 64 planes;
    25,028,904 parameters."""
    return ResNet(Bottleneck, layers, num_classes, in_channels, width=width, zero_init_residual=zero_init_residual,
                  groups=groups, width_per_group=width_per_group)


@register("resnext101_32x8d", reference="torchvision resnext101_32x8d (Xie et al. 2017)", min_input=32)
def resnext101_32x8d(num_classes=1000, in_channels=3, zero_init_residual=False, width=64, layers=(3, 4, 23, 3),
                     groups=32, width_per_group=8):
    """ResNeXt-101 (32x8d): 32 groups of 8 channels per 64 planes; 88,791,336 parameters."""
    return ResNet(Bottleneck, layers, num_classes, in_channels, width=width, zero_init_residual=zero_init_residual,
                  groups=groups, width_per_group=width_per_group)


@register("resnext101_64x4d", reference="torchvision resnext101_64x4d (Xie et al. 2017)", min_input=32)
def resnext101_64x4d(num_classes=1000, in_channels=3, zero_init_residual=False, width=64, layers=(3, 4, 23, 3),
                     groups=64, width_per_group=4):
    """ResNeXt-101 (64x4d): 64 groups of 4 channels per 64 planes; 83,455,272 parameters."""
    return ResNet(Bottleneck, layers, num_classes, in_channels, width=width, zero_init_residual=zero_init_residual,
                  groups=groups, width_per_group=width_per_group)
