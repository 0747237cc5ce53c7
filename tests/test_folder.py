"""data.ImageFolder on small generated folders of images, Subset, stratified_split, --dataset folder:PATH."""

import json
import os

import numpy as np
import pytest

from helpers import rand_pixels, write_image
import minitorch_cnn as mt
from minitorch_cnn import cli, data, models, transfer
from minitorch_cnn.data import folder as folder_module
from minitorch_cnn.data import imagenet


def make_folder(root, per_class=None, size=(20, 24)):
    """``root/<class>/...`` with PNG and JPEG files (one in a nested folder) and files to ignore."""
    per_class = per_class or {"dog": 3, "cat": 2}
    for k, (name, count) in enumerate(per_class.items()):
        for i in range(count):
            where = root / name / ("nested" if i == 2 else "")
            where.mkdir(parents=True, exist_ok=True)
            write_image(where / f"{i}.{'png' if i % 2 else 'JPG'}", rand_pixels((*size, 3), seed=10 * k + i))
        (root / name / "notes.txt").write_text("not an image")
    (root / "README.md").write_text("a file beside the class folders")
    return root


def test_classes_samples_and_targets_as_torchvision(tmp_path):
    folder = data.ImageFolder(make_folder(tmp_path))
    assert folder.classes == ["cat", "dog"] and folder.class_to_idx == {"cat": 0, "dog": 1}
    relative = [(os.path.relpath(path, tmp_path), k) for path, k in folder.samples]
    assert relative == [("cat/0.JPG", 0), ("cat/1.png", 0), ("dog/0.JPG", 1), ("dog/1.png", 1),
                        ("dog/nested/2.JPG", 1)]
    assert folder.targets == [0, 0, 1, 1, 1] and folder.labels.dtype == np.int64 and len(folder) == 5


def test_images_are_decoded_only_when_asked_for(tmp_path, monkeypatch):
    root = make_folder(tmp_path)
    decoded = []
    read = folder_module.read_image
    monkeypatch.setattr(folder_module, "read_image", lambda path, **kw: decoded.append(path) or read(path, **kw))
    folder = data.ImageFolder(root)
    assert decoded == []
    image, label = folder[3]
    assert decoded == [folder.samples[3][0]] and label == 1
    np.testing.assert_array_equal(image, data.read_image(folder.samples[3][0]))


def test_a_transform_makes_batches_for_the_loader(tmp_path):
    root = make_folder(tmp_path / "a", size=(20, 24))
    make_folder(tmp_path / "a", {"cat": 1}, size=(30, 18))  # one more cat, of another size
    with pytest.raises(ValueError, match=r"ImageFolder: a batch needs images of one size, "
                                         r"got \(3, 20, 24\), \(3, 30, 18\)"):
        next(iter(data.DataLoader(data.ImageFolder(root), batch_size=6)))
    preset = imagenet.ImageClassification(crop_size=16, resize_size=16)
    images, labels = next(iter(data.DataLoader(data.ImageFolder(root, transform=preset), batch_size=6)))
    assert images.shape == (5, 3, 16, 16) and labels.numpy().tolist() == [0, 0, 1, 1, 1]


def test_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="ImageFolder: no folder at"):
        data.ImageFolder(tmp_path / "missing")
    (tmp_path / "flat").mkdir()
    write_image(tmp_path / "flat" / "a.png", rand_pixels((4, 4, 3)))
    with pytest.raises(FileNotFoundError, match="has no class subfolders"):
        data.ImageFolder(tmp_path / "flat")
    make_folder(tmp_path / "some", {"cat": 2})
    (tmp_path / "some" / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no image files .* in the class folder\(s\) empty of"):
        data.ImageFolder(tmp_path / "some")


def test_stratified_split_keeps_every_class_in_proportion():
    labels = np.repeat([0, 1, 2], [10, 5, 2])
    dataset = data.TensorDataset(np.zeros((17, 1, 2, 2)), labels, classes=["a", "b", "c"])
    train, val = data.stratified_split(dataset, val_fraction=0.2, seed=3)
    assert sorted(np.concatenate([train.indices, val.indices]).tolist()) == list(range(17))
    assert np.bincount(val.labels).tolist() == [2, 1, 1] and np.bincount(train.labels).tolist() == [8, 4, 1]
    assert train.classes == ("a", "b", "c")
    again, _ = data.stratified_split(dataset, val_fraction=0.2, seed=3)
    np.testing.assert_array_equal(again.indices, train.indices)
    other, _ = data.stratified_split(dataset, val_fraction=0.2, seed=4)
    assert not np.array_equal(other.indices, train.indices)
    with pytest.raises(ValueError, match="class 2 has 1 item"):
        data.stratified_split(data.TensorDataset(np.zeros((3, 1, 2, 2)), [0, 0, 2]))


def test_subset_hands_out_the_items_at_its_indices(tmp_path):
    folder = data.ImageFolder(make_folder(tmp_path))
    part = data.Subset(folder, [4, 0])
    assert len(part) == 2 and part.labels.tolist() == [1, 0] and part.classes == folder.classes
    np.testing.assert_array_equal(part[0][0], folder[4][0])
    with pytest.raises(IndexError, match=r"Subset: expected indices in \[0, 5\)"):
        data.Subset(folder, [5])


def test_train_on_a_folder_from_the_command_line(tmp_path, capsys):
    root = make_folder(tmp_path / "photos", {"cat": 5, "dog": 5}, size=(40, 50))
    out = tmp_path / "run"
    assert cli.main(["train", "lenet5", "--dataset", f"folder:{root}", "--image-size", "32", "--epochs", "1",
                     "--batch-size", "4", "--shift", "0", "--out", str(out), "--no-progress"]) == 0
    assert "8 train / 2 test images" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == f"folder:{root}"
    with pytest.raises(SystemExit) as refused:
        cli.main(["train", "lenet5", "--dataset", "photos", "--out", str(out)])
    assert refused.value.code == 2


def test_finetune_on_a_folder_keeping_the_first_layers_frozen(tmp_path, capsys):
    model = models.create("lenet5", num_classes=4, in_channels=3)
    meta = {"architecture": "lenet5", "classes": ["a", "b", "c", "d"], "in_channels": 3, "image_size": 32,
            "normalize_mean": list(imagenet.IMAGENET_MEAN), "normalize_std": list(imagenet.IMAGENET_STD)}
    transfer.save_pretrained(model, meta, tmp_path / "pretrained.npz")
    root = make_folder(tmp_path / "photos", {"cat": 5, "dog": 5}, size=(40, 50))
    argv = ["finetune", str(tmp_path / "pretrained.npz"), "--dataset", f"folder:{root}", "--head-epochs", "1",
            "--finetune-epochs", "1", "--batch-size", "4", "--no-progress"]
    assert cli.main(argv + ["--freeze-layers", "2", "--per-class", "3"]) == 0
    printed = capsys.readouterr().out
    assert "(6 train / 2 test images)" in printed
    assert "phase 2: trained features.6, classifier for 1 epochs" in printed and "2 of 5 layers frozen" in printed
    assert cli.main(argv + ["--freeze-prefix", "features.0"]) == 0
    assert "phase 2: trained features.3, features.6, classifier" in capsys.readouterr().out
    with pytest.raises(SystemExit, match=r"finetune: no layer of LeNet5 is named by \['conv1'\]"):
        cli.main(argv + ["--freeze-prefix", "conv1"])
    with pytest.raises(SystemExit, match="--classes picks classes of an in-memory dataset"):
        cli.main(argv + ["--classes", "0,1"])


def test_finetune_from_imagenet_weights_on_a_folder(tmp_path, capsys):
    mt.save(models.create("squeezenet1_1").state_dict(), tmp_path / "squeezenet1_1.npz")
    root = make_folder(tmp_path / "photos", {"cat": 5, "dog": 5}, size=(40, 50))
    out = tmp_path / "tuned.npz"
    assert cli.main(["finetune", "squeezenet1_1", "--weights", str(tmp_path / "squeezenet1_1.npz"),
                     "--dataset", f"folder:{root}", "--strategy", "feature-extract", "--head-epochs", "1",
                     "--batch-size", "8", "--out", str(out), "--no-progress"]) == 0
    assert "phase 1: trained classifier for 1 epochs" in capsys.readouterr().out
    meta = mt.load(out)["metadata"]
    assert meta["classes"] == ["cat", "dog"] and meta["image_size"] == 224 and meta["in_channels"] == 3
    assert meta["finetuned_from"] == str(tmp_path / "squeezenet1_1.npz")
    tuned, _ = transfer.load_pretrained(out)
    assert tuned.classifier[1].out_channels == 2
    # predict with the tuned checkpoint crops a photo as its training photos were cropped
    photo = write_image(tmp_path / "wide.png", rand_pixels((60, 120, 3), seed=5))
    assert cli.main(["predict", str(out), str(photo), "--top", "2"]) == 0
    assert [line.split(".")[1].split()[0] for line in capsys.readouterr().out.splitlines()[1:]] in (
        ["cat", "dog"], ["dog", "cat"])
    crop = imagenet.CenterCrop(224)(imagenet.ResizeShorter(224)(data.read_image(photo)))
    x = (crop - np.reshape(imagenet.IMAGENET_MEAN, (3, 1, 1))) / np.reshape(imagenet.IMAGENET_STD, (3, 1, 1))
    np.testing.assert_allclose(cli._preprocessing(meta)(photo), x, atol=1e-5)
