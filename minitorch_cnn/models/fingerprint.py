"""Which architecture a state dict comes from, read from its key names and shapes.

Used when a weights file does not fit the model it is loaded into, so the error can say which
``models.create`` name the file looks like (torchvision's AlexNet file into our paper-layout
``alexnet`` -> "use alexnet_owt"). Each family is recognised by a key only it has; the member of
the family by what differs between members: the number of blocks per stage (ResNet, DenseNet),
the number of convolutions (VGG), the first filter bank (AlexNet, SqueezeNet), the width of the
last features (MobileNetV3, EfficientNet).
"""

from __future__ import annotations

import re

#: Blocks per stage -> depth (He et al. 2016, Table 1; Huang et al. 2017, Table 1).
RESNET_BASIC = {(2, 2, 2, 2): 18, (3, 4, 6, 3): 34}
RESNET_BOTTLENECK = {(3, 4, 6, 3): 50, (3, 4, 23, 3): 101, (3, 8, 36, 3): 152}
DENSENET = {(6, 12, 24, 16): 121, (6, 12, 36, 24): 161, (6, 12, 32, 32): 169, (6, 12, 48, 32): 201}
#: 3x3 convolutions -> VGG configuration A, B, D, E (Simonyan & Zisserman 2015, Table 1).
VGG = {8: "vgg11", 10: "vgg13", 13: "vgg16", 16: "vgg19"}
#: Features entering the classifier -> EfficientNet B2..B7 (B0 and B1 share 1280; B1 is deeper).
EFFICIENTNET = {1408: "efficientnet_b2", 1536: "efficientnet_b3", 1792: "efficientnet_b4",
                2048: "efficientnet_b5", 2304: "efficientnet_b6", 2560: "efficientnet_b7"}


def _count(keys, pattern):
    """How many distinct values the first group of ``pattern`` takes over ``keys``."""
    regex = re.compile(pattern)
    return len({m.group(1) for m in map(regex.match, keys) if m})


def guess_architecture(state_dict):
    """The zoo name of the torchvision architecture whose ``state_dict`` this looks like, or None.

    Args:
        state_dict: ``{name: array}``, e.g. from :func:`minitorch_cnn.load_weights`.
    """
    shapes = {k: tuple(v.shape) for k, v in state_dict.items()}
    keys = list(shapes)
    if "layer1.0.conv1.weight" in shapes:
        blocks = tuple(_count(keys, rf"layer{i}\.(\d+)\.") for i in (1, 2, 3, 4))
        if "layer1.0.conv3.weight" not in shapes:
            return f"resnet{RESNET_BASIC[blocks]}" if blocks in RESNET_BASIC else None
        depth = RESNET_BOTTLENECK.get(blocks)
        width, per_group = shapes["layer1.0.conv2.weight"][:2]
        if depth is None:
            return None
        if width != per_group:
            return f"resnext{depth}_{width // per_group}x{per_group}d"
        return f"wide_resnet{depth}_2" if width == 128 else f"resnet{depth}"
    if "features.denseblock1.denselayer1.conv1.weight" in shapes:
        blocks = tuple(_count(keys, rf"features\.denseblock{i}\.denselayer(\d+)\.") for i in (1, 2, 3, 4))
        return f"densenet{DENSENET[blocks]}" if blocks in DENSENET else None
    if "inception3a.branch1.conv.weight" in shapes:
        return "googlenet_bn"
    if "Mixed_5b.branch1x1.conv.weight" in shapes:
        return "inception_v3"
    if "features.3.squeeze.weight" in shapes:
        return {(96, 3, 7, 7): "squeezenet1_0", (64, 3, 3, 3): "squeezenet1_1"}.get(shapes.get("features.0.weight"))
    if "features.1.0.block.0.0.weight" in shapes:
        features = shapes.get("classifier.1.weight", (0, 0))[1]
        if features == 1280:
            return "efficientnet_b1" if _count(keys, r"features\.2\.(\d+)\.") == 3 else "efficientnet_b0"
        return EFFICIENTNET.get(features)
    if "features.1.block.0.0.weight" in shapes:
        return {576: "mobilenet_v3_small", 960: "mobilenet_v3_large"}.get(shapes.get("classifier.0.weight", (0, 0))[1])
    if "features.1.conv.0.0.weight" in shapes and "features.18.0.weight" in shapes:
        return "mobilenet_v2"
    first = shapes.get("features.0.weight")
    if first == (64, 3, 11, 11) and "classifier.6.weight" in shapes:
        return "alexnet_owt"
    if first is not None and first[2:] == (3, 3) and "classifier.6.weight" in shapes:
        convs = sum(1 for k, s in shapes.items() if re.fullmatch(r"features\.\d+\.weight", k) and len(s) == 4)
        bn = any(k.endswith("running_mean") for k in keys)
        return VGG[convs] + "_bn" * bn if convs in VGG else None
    return None
