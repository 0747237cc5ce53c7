"""ImageNet preprocessing (resize the shorter side, centre crop, standardise) and the class names."""

import numpy as np
import pytest

from helpers import rand_pixels, torchvision_or_skip, write_image
from minitorch_cnn.data import imagenet, read_image


def test_class_names():
    names = imagenet.imagenet_classes()
    assert len(names) == 1000 and len(set(names)) == 1000
    known = {0: "tench", 1: "goldfish", 207: "golden retriever", 281: "tabby", 954: "banana", 999: "toilet tissue",
             134: "crane bird", 517: "crane", 340: "zebra", 409: "analog clock"}
    assert {k: names[k] for k in known} == known


@pytest.mark.parametrize("H, W, size, expected", [(480, 640, 256, (256, 341)), (640, 480, 256, (341, 256)),
                                                  (300, 300, 342, (342, 342)), (1000, 1001, 224, (224, 224))])
def test_resize_shorter_keeps_the_aspect_ratio_rounding_down(H, W, size, expected):
    assert imagenet.resize_shorter(np.zeros((3, H, W), np.float32), size).shape == (3, *expected)


def test_center_crop_offsets_round_as_python():
    image = np.arange(7 * 8, dtype=np.float32).reshape(1, 7, 8)
    # top = round(2.5) = 2 (to even), left = round(3.0) = 3
    np.testing.assert_array_equal(imagenet.center_crop(image, 2), image[:, 2:4, 3:5])
    with pytest.raises(ValueError, match="larger than the image 7x8"):
        imagenet.center_crop(image, 8)


@pytest.mark.parametrize("name, interpolation", [("resnet18", "bilinear"), ("efficientnet_b3", "bicubic")])
def test_preset_matches_pillow_on_8_bit_pixels(tmp_path, name, interpolation):
    """The reference is torchvision's PIL path written out: resize the 8-bit image with Pillow,
    crop, divide by 255, standardise. Ours resizes the float pixels: within 2/255 before the std."""
    from PIL import Image

    preset = imagenet.preprocessing(name)
    # A photo's pixels change smoothly: noise enlarged 16x (random pixels make bicubic overshoot
    # [0, 255] after Pillow's first pass, which its 8-bit path clips and a float path does not).
    smooth = np.asarray(Image.fromarray(rand_pixels((21, 26, 3))).resize((410, 333), Image.BILINEAR))
    path = write_image(tmp_path / "photo.png", smooth)
    ours = preset(read_image(path))
    short = preset.resize_size
    Wo, Ho = int(short * 410 / 333), short
    resized = Image.open(path).resize((Wo, Ho), {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}[interpolation])
    top, left = round((Ho - preset.crop_size) / 2), round((Wo - preset.crop_size) / 2)
    crop = np.asarray(resized, np.float32)[top:top + preset.crop_size, left:left + preset.crop_size] / 255
    expected = ((crop - imagenet.IMAGENET_MEAN) / imagenet.IMAGENET_STD).transpose(2, 0, 1)
    assert ours.shape == (3, preset.crop_size, preset.crop_size) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, atol=2.01 / 255 / min(imagenet.IMAGENET_STD))
    assert np.abs(ours - expected).mean() < 0.5 / 255 / min(imagenet.IMAGENET_STD)


def test_preprocessing_per_model():
    sizes = {name: (p.resize_size, p.crop_size, p.interpolation) for name in
             ("alexnet", "vgg16", "resnet50", "inception_v3", "efficientnet_b0", "efficientnet_b7")
             for p in [imagenet.preprocessing(name)]}
    assert sizes == {"alexnet": (256, 224, "bilinear"), "vgg16": (256, 224, "bilinear"),
                     "resnet50": (256, 224, "bilinear"), "inception_v3": (342, 299, "bilinear"),
                     "efficientnet_b0": (256, 224, "bicubic"), "efficientnet_b7": (600, 600, "bicubic")}


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="ImageClassification: interpolation must be one of"):
        imagenet.ImageClassification(224, interpolation="lanczos")
    with pytest.raises(ValueError, match="resize_size 200 is smaller than crop_size 224"):
        imagenet.ImageClassification(224, resize_size=200)
    with pytest.raises(ValueError, match=r"expected one image \(C, H, W\)"):
        imagenet.preprocessing("resnet18")(np.zeros((1, 3, 300, 300)))


@pytest.mark.parametrize("name, weights", [("resnet18", "ResNet18_Weights.IMAGENET1K_V1"),
                                           ("inception_v3", "Inception_V3_Weights.IMAGENET1K_V1"),
                                           ("mobilenet_v3_large", "MobileNet_V3_Large_Weights.IMAGENET1K_V1"),
                                           ("mobilenet_v3_small", "MobileNet_V3_Small_Weights.IMAGENET1K_V1"),
                                           *((f"efficientnet_b{k}", f"EfficientNet_B{k}_Weights.IMAGENET1K_V1")
                                             for k in range(8))])
def test_preset_matches_torchvisions_weights_transforms(tmp_path, name, weights):
    """torchvision's own preset of each weights enum, on the PIL image, is the oracle."""
    from PIL import Image

    tv = torchvision_or_skip()
    smooth = np.asarray(Image.fromarray(rand_pixels((21, 26, 3), seed=1)).resize((410, 333), Image.BILINEAR))
    path = write_image(tmp_path / "photo.jpg", smooth)
    expected = tv.get_weight(weights).transforms()(Image.open(path).convert("RGB")).numpy()
    ours = imagenet.preprocessing(name)(read_image(path))
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, atol=2.01 / 255 / min(imagenet.IMAGENET_STD))
