"""``minitorch-cnn visualize``: every method writes a figure from a checkpoint or MODEL --weights FILE,
and bad arguments are refused with a reason. One tiny ResNet-20 is trained once for the module."""

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import cli, data, models

SIDE = 8


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A ResNet-20 trained one epoch on 8x8 digits (a few seconds), and one test digit as a PNG."""
    from PIL import Image

    out = tmp_path_factory.mktemp("visualize")
    assert cli.main(["train", "resnet20", "--dataset", "digits", "--image-size", str(SIDE), "--epochs", "1",
                     "--batch-size", "128", "--out", str(out), "--no-progress"]) == 0
    digit = data.digits("test", size=SIDE).images[0, 0]
    Image.fromarray(np.round(digit * 255).astype(np.uint8)).save(out / "digit.png")
    return out


def visualize(run, *options):
    return cli.main(["visualize", str(run / "checkpoint.npz"), "--image", str(run / "digit.png"), *options])


def assert_png(path):
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        assert image.format == "PNG"
        width, height = image.size
    assert width >= 200 and height >= 100, f"a {width}x{height} figure is too small to show anything"


@pytest.mark.parametrize("method, options", [
    ("saliency", []),
    ("occlusion", ["--patch", "2", "--stride", "1"]),
    ("guided", ["--target", "3"]),
    ("deconvnet", ["--layer", "features.4.0.conv1", "--channel", "5"]),
    ("deconvnet", ["--layer", "features.3"]),
    ("cam", []),
    ("gradcam", ["--layer", "features.5"]),
])
def test_each_method_writes_a_png(run, tmp_path, method, options, capsys):
    out = tmp_path / f"{method}.png"
    assert visualize(run, "--method", method, *options, "--out", str(out)) == 0
    assert_png(out)
    printed = capsys.readouterr().out
    assert "resnet20 predicts class" in printed and f"wrote {out}" in printed


def test_top9_searches_the_training_dataset_without_an_image(run, tmp_path):
    out = tmp_path / "top9.png"
    assert cli.main(["visualize", str(run / "checkpoint.npz"), "--method", "top9", "--layer", "features.4",
                     "--channel", "1", "--out", str(out)]) == 0
    assert_png(out)


def test_top9_searches_a_folder_of_photos(tmp_path):
    from PIL import Image

    digits = data.digits("test", size=12)
    for n in range(10):
        folder = tmp_path / "photos" / f"class{digits.labels[n] % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.round(digits.images[n, 0] * 255).astype(np.uint8)).save(folder / f"{n}.png")
    # A folder's photos are colour (grey ones repeated), as for a model trained on a folder.
    state = tmp_path / "resnet20-rgb.npz"
    mt.save(models.create("resnet20").state_dict(), state)
    out = tmp_path / "top9.png"
    assert cli.main(["visualize", "resnet20", "--weights", str(state), "--image-size", "12", "--method", "top9",
                     "--layer", "features.3", "--dataset", f"folder:{tmp_path / 'photos'}", "--out", str(out)]) == 0
    assert_png(out)


def test_model_name_with_weights_file_works_as_the_checkpoint(run, tmp_path):
    state = tmp_path / "resnet20-state.npz"
    mt.save(mt.load(run / "checkpoint.npz")["model"], state)
    out = tmp_path / "weights.png"
    assert cli.main(["visualize", "resnet20", "--weights", str(state), "--num-classes", "10", "--in-channels", "1",
                     "--method", "gradcam", "--layer", "features.5", "--image", str(run / "digit.png"),
                     "--out", str(out)]) == 0
    assert_png(out)
    with pytest.raises(SystemExit, match="features.0.weight"):  # the shapes of 3 channels do not fit
        cli.main(["visualize", "resnet20", "--weights", str(state), "--method", "saliency",
                  "--image", str(run / "digit.png"), "--out", str(out)])


def test_cam_on_a_network_without_global_average_pooling_points_to_gradcam(tmp_path):
    from PIL import Image

    state = tmp_path / "lenet5.npz"
    mt.save(models.create("lenet5", num_classes=10, in_channels=1).state_dict(), state)
    Image.fromarray(np.zeros((32, 32), dtype=np.uint8)).save(tmp_path / "blank.png")
    with pytest.raises(SystemExit, match="grad_cam"):
        cli.main(["visualize", "lenet5", "--weights", str(state), "--in-channels", "1", "--method", "cam",
                  "--image", str(tmp_path / "blank.png"), "--out", str(tmp_path / "cam.png")])
    assert not (tmp_path / "cam.png").exists()


@pytest.mark.parametrize("options, message", [
    (["--method", "gradcam", "--layer", "features.9"], r"features.9.*features.3.0.conv1"),
    (["--method", "gradcam"], r"--method gradcam needs --layer, one of: features, features.0, "),
    (["--method", "saliency", "--channel", "2"], r"--method saliency does not use --channel"),
    (["--method", "cam", "--target", "10"], r"--target 10 is out of range: the model has 10 classes"),
    (["--method", "cam", "--target", "seven"], r"--target 'seven' is neither a class index nor a class name"),
])
def test_bad_arguments_are_refused_with_a_reason(run, tmp_path, options, message):
    with pytest.raises(SystemExit, match=message):
        visualize(run, *options, "--out", str(tmp_path / "x.png"))
    assert not (tmp_path / "x.png").exists()


def test_bad_files_are_refused_with_a_reason(run, tmp_path):
    out = str(tmp_path / "x.png")
    with pytest.raises(SystemExit, match="needs --image FILE"):
        cli.main(["visualize", str(run / "checkpoint.npz"), "--method", "saliency", "--out", out])
    with pytest.raises(SystemExit, match="read_image: no image file at .*nowhere.png"):
        cli.main(["visualize", str(run / "checkpoint.npz"), "--method", "saliency", "--image",
                  str(tmp_path / "nowhere.png"), "--out", out])
    (tmp_path / "text.png").write_text("not a picture")
    with pytest.raises(SystemExit, match="read_image: cannot decode .*text.png"):
        cli.main(["visualize", str(run / "checkpoint.npz"), "--method", "saliency", "--image",
                  str(tmp_path / "text.png"), "--out", out])
    with pytest.raises(SystemExit, match="resnet20 is a model name: give its weights with --weights FILE"):
        cli.main(["visualize", "resnet20", "--method", "saliency", "--image", str(run / "digit.png"), "--out", out])
    with pytest.raises(SystemExit, match="no checkpoint at"):
        cli.main(["visualize", str(tmp_path / "missing.npz"), "--method", "cam", "--image",
                  str(run / "digit.png"), "--out", out])
    with pytest.raises(SystemExit, match="unknown model 'resnet21'"):
        cli.main(["visualize", "resnet21", "--weights", str(run / "checkpoint.npz"), "--method", "cam",
                  "--image", str(run / "digit.png"), "--out", out])
