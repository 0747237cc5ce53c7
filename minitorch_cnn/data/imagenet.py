"""ImageNet preprocessing and class names: what a network trained on ImageNet expects of a photo.

A photo of any size becomes the network's input as torchvision's weights define it
(``ImageClassification`` in ``torchvision/transforms/_presets.py``):

1. resize so the *shorter* side is ``resize_size`` (256 for most models), keeping the aspect
   ratio, with Pillow's antialiased bilinear or bicubic filter;
2. cut the central ``crop_size`` x ``crop_size`` square (224 for most);
3. standardise each channel with ImageNet's training statistics, ``(x - mean[c]) / std[c]``,
   ``mean = (0.485, 0.456, 0.406)``, ``std = (0.229, 0.224, 0.225)`` on pixels in [0, 1].

Inception-v3 was trained on 299x299 crops (resize 342); EfficientNet B0-B7 on larger crops the
larger the model (Tan & Le 2019 scale resolution with depth and width), with bicubic resizing.
:func:`preprocessing` looks the numbers up by model name; :data:`PRESETS` lists them.

Images here are float arrays ``(C, H, W)`` in [0, 1] as :func:`~minitorch_cnn.data.read_image`
returns them, and each one is resized on its own (photos differ in size), so these transforms take
one image, not a batch. Resizing runs Pillow's filter on the float pixels; torchvision resizes the
8-bit image and rounds after each of its two passes (rows, then columns), so on photos the two
differ by a few 1/255 at most before standardisation (on noise, bicubic overshoots [0, 255] and
Pillow's 8-bit path clips between its two passes, so they differ more).
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from .transforms import Normalize

#: ImageNet's per-channel mean and std of RGB pixels in [0, 1], as torchvision's weights use them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: (resize_size, crop_size, interpolation) of torchvision's IMAGENET1K_V1 weights for every model
#: not listed in PRESETS (AlexNet, VGG, ResNet, ResNeXt, Wide ResNet, DenseNet, SqueezeNet,
#: MobileNet, GoogLeNet).
DEFAULT_PRESET = (256, 224, "bilinear")
PRESETS = {
    "inception_v3": (342, 299, "bilinear"),
    "efficientnet_b0": (256, 224, "bicubic"),
    "efficientnet_b1": (256, 240, "bicubic"),
    "efficientnet_b2": (288, 288, "bicubic"),
    "efficientnet_b3": (320, 300, "bicubic"),
    "efficientnet_b4": (384, 380, "bicubic"),
    "efficientnet_b5": (456, 456, "bicubic"),
    "efficientnet_b6": (528, 528, "bicubic"),
    "efficientnet_b7": (600, 600, "bicubic"),
}
NUM_CLASSES = 1000
_CLASSES_FILE = "imagenet_classes.txt"


def _pil_filter(name, interpolation):
    from PIL import Image

    filters = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}
    if interpolation not in filters:
        raise ValueError(f"{name}: interpolation must be one of {sorted(filters)}, got {interpolation!r}")
    return filters[interpolation]


def _check_image(name, image):
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3:
        raise ValueError(f"{name}: expected one image (C, H, W), got shape {image.shape}")
    return image


def resize_shorter(image, size, interpolation="bilinear"):
    """Resize ``image (C, H, W)`` so its shorter side is ``size``, keeping the aspect ratio.

    The longer side becomes ``int(size * long / short)`` (rounded down, as torchvision's
    ``Resize(int)``). Pillow's filters widen with the scale factor when shrinking, so a large
    photo does not alias.
    """
    image = _check_image("resize_shorter", image)
    resample = _pil_filter("resize_shorter", interpolation)
    from PIL import Image

    C, H, W = image.shape
    short, long = min(H, W), max(H, W)
    other = int(size * long / short)
    Ho, Wo = (size, other) if H <= W else (other, size)
    return np.stack([np.asarray(Image.fromarray(channel).resize((Wo, Ho), resample)) for channel in image])


def center_crop(image, size):
    """The central ``size`` x ``size`` window of ``image (C, H, W)``; its top-left corner is
    ``round((H - size) / 2)``, ``round((W - size) / 2)`` (Python's rounding, as torchvision's)."""
    image = _check_image("center_crop", image)
    C, H, W = image.shape
    if size > H or size > W:
        raise ValueError(f"center_crop: crop {size}x{size} is larger than the image {H}x{W}")
    top, left = int(round((H - size) / 2.0)), int(round((W - size) / 2.0))
    return image[:, top:top + size, left:left + size]


class ResizeShorter:
    """Transform form of :func:`resize_shorter` (torchvision's ``Resize(size)`` with an int)."""

    def __init__(self, size, interpolation="bilinear"):
        _pil_filter("ResizeShorter", interpolation)
        self.size, self.interpolation = int(size), interpolation

    def __call__(self, image):
        return resize_shorter(image, self.size, self.interpolation)

    def __repr__(self):
        return f"ResizeShorter({self.size}, interpolation={self.interpolation!r})"


class CenterCrop:
    """Transform form of :func:`center_crop` (torchvision's ``CenterCrop(size)``)."""

    def __init__(self, size):
        self.size = int(size)

    def __call__(self, image):
        return center_crop(image, self.size)

    def __repr__(self):
        return f"CenterCrop({self.size})"


class ImageClassification:
    """torchvision's ImageNet preset: :func:`resize_shorter`, :func:`center_crop`, standardise.

    Args:
        crop_size: side of the square the network sees.
        resize_size: shorter side after resizing, before the crop.
        mean, std: per-channel statistics (ImageNet's by default).
        interpolation: ``"bilinear"`` (default), ``"bicubic"`` or ``"nearest"``.

    Call it on one image ``(3, H, W)`` with values in [0, 1]; returns ``(3, crop, crop)`` float32.
    """

    def __init__(self, crop_size, resize_size=256, mean=IMAGENET_MEAN, std=IMAGENET_STD, interpolation="bilinear"):
        _pil_filter("ImageClassification", interpolation)
        if resize_size < crop_size:
            raise ValueError(f"ImageClassification: resize_size {resize_size} is smaller than crop_size {crop_size}")
        self.crop_size, self.resize_size, self.interpolation = int(crop_size), int(resize_size), interpolation
        self.resize, self.crop = ResizeShorter(resize_size, interpolation), CenterCrop(crop_size)
        self.normalize = Normalize(mean, std)

    def __call__(self, image):
        image = self.crop(self.resize(image))
        # Bicubic overshoots at sharp edges; torchvision resizes 8-bit pixels, which clip to [0, 255].
        image = np.clip(image, 0.0, 1.0)
        return self.normalize(image[None])[0]

    def __repr__(self):
        return (f"ImageClassification(crop_size={self.crop_size}, resize_size={self.resize_size}, "
                f"interpolation={self.interpolation!r})")


def preprocessing(name):
    """The :class:`ImageClassification` torchvision's ImageNet weights for model ``name`` expect."""
    resize_size, crop_size, interpolation = PRESETS.get(name, DEFAULT_PRESET)
    return ImageClassification(crop_size, resize_size, interpolation=interpolation)


def imagenet_classes():
    """The 1,000 ImageNet (ILSVRC 2012) class names, index ``k`` naming output ``k``: 0 tench,
    1 goldfish, ..., 999 toilet tissue. The two names ImageNet uses twice are told apart as
    torchvision does ("crane bird" 134 / "crane" 517, "maillot" 638 / "maillot tank suit" 639)."""
    names = resources.files(__package__).joinpath(_CLASSES_FILE).read_text(encoding="utf-8").splitlines()
    if len(names) != NUM_CLASSES:
        raise RuntimeError(f"imagenet_classes: {_CLASSES_FILE} holds {len(names)} names, expected {NUM_CLASSES}")
    return tuple(names)
