"""load_weights: torch.save files (zip and legacy) read without torch, safetensors, our .npz;
malicious, truncated and malformed files refused."""

import os
import pickle
import re
import zipfile

import numpy as np
import pytest

import minitorch_cnn as mt
from helpers import (check_torchvision_logits, load_weights_without_torch, no_random_init, torch_or_skip,
                     torchvision_or_skip)
from minitorch_cnn import models
from minitorch_cnn.models.fingerprint import guess_architecture

FORMATS = {"zip": True, "legacy": False}


def _tricky_state_dict(torch):
    """Every dtype a state dict holds, plus views: a transpose (strides), a slice (storage offset),
    two tensors on one storage, a Parameter and an empty tensor."""
    g = torch.Generator().manual_seed(0)
    base = torch.randn(4, 5, generator=g)
    return {
        "conv.weight": torch.nn.Parameter(torch.randn(3, 2, 3, 3, generator=g)),
        "float64": torch.randn(3, dtype=torch.float64, generator=g),
        "bn.num_batches_tracked": torch.tensor(7),
        "int64": torch.arange(-3, 3),
        "mask": torch.tensor([True, False, True]),
        "half": torch.randn(2, generator=g).half(),
        "bfloat16": torch.randn(3, generator=g).bfloat16(),
        "base": base,
        "transposed": base.t(),
        "row_slice": base[2:, 1:4],
        "strided": base[::2, ::3],
        "empty": torch.zeros(0, 3),
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_torch_files_load_without_torch(tmp_path, fmt):
    torch = torch_or_skip()
    state = _tricky_state_dict(torch)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    module[1].running_mean.uniform_(-1, 1)
    torch.save(state, tmp_path / "tricky.pth", _use_new_zipfile_serialization=FORMATS[fmt])
    torch.save(module.state_dict(), tmp_path / "module.pth", _use_new_zipfile_serialization=FORMATS[fmt])
    loaded, loaded_module = load_weights_without_torch(tmp_path / "tricky.pth", tmp_path / "module.pth")
    for files_state, ours in ((state, loaded), (module.state_dict(), loaded_module)):
        assert list(ours) == list(files_state)
        for name, t in files_state.items():
            expected = t.detach().float().numpy() if t.dtype == torch.bfloat16 else t.detach().numpy()
            assert ours[name].dtype == expected.dtype, name
            np.testing.assert_array_equal(ours[name], expected, err_msg=name)


def test_a_torch_checkpoint_dict_yields_its_state_dict(tmp_path):
    torch = torch_or_skip()
    torch.save({"epoch": 3, "state_dict": {"w": torch.ones(2)}}, tmp_path / "ckpt.pt")
    np.testing.assert_array_equal(mt.load_weights(tmp_path / "ckpt.pt")["w"], [1.0, 1.0])


class _RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _torch_zip(path, payload):
    """A file laid out as torch.save's zip format with ``payload`` as its pickle."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/version", "3\n")


@pytest.mark.parametrize("layout", ["legacy", "zip", "inside-state-dict"])
def test_malicious_pickle_is_refused_and_not_run(tmp_path, layout):
    marker = tmp_path / "pwned"
    evil = _RunsACommand(marker)
    path = tmp_path / "evil.pth"
    if layout == "legacy":
        path.write_bytes(pickle.dumps(evil, protocol=2))
    elif layout == "zip":
        _torch_zip(path, pickle.dumps(evil, protocol=2))
    else:
        _torch_zip(path, pickle.dumps({"conv.weight": evil}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match=rf"{path}.*(posix|os)\.system.*refused"):
        mt.load_weights(path)
    assert not marker.exists()
    assert pickle.loads(pickle.dumps(evil)) == 0 and marker.exists(), "the payload must really run when unpickled"


def test_a_pickle_of_arbitrary_objects_is_refused(tmp_path):
    path = tmp_path / "set.pth"
    _torch_zip(path, pickle.dumps({"w": {1, 2}}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match=r"(__builtin__|builtins)\.set.*refused"):
        mt.load_weights(path)


def test_a_pickle_cannot_move_a_tensor_past_its_storage_after_the_checks(tmp_path):
    """{"w": _rebuild_tensor_v2(storage of 2 floats, 0, (2,), (1,), False, OrderedDict())} followed by
    BUILD {"offset": 10**6}: without the seal, the view would read far outside the storage."""
    tensor = (b"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
              b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x02tQK\x00K\x02\x85K\x01\x85\x89"
              b"ccollections\nOrderedDict\n)RtR")
    build = b"}X\x06\x00\x00\x00offsetJ@B\x0f\x00sb"
    path = tmp_path / "moved.pth"
    for payload, expected in ((tensor, None), (tensor + build, r"sets attributes of a TensorRef")):
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", b"\x80\x02}X\x01\x00\x00\x00w" + payload + b"s.")
            archive.writestr("archive/data/0", np.array([1.5, 2.5], np.float32).tobytes())
        if expected is None:
            np.testing.assert_array_equal(mt.load_weights(path)["w"], [1.5, 2.5])
        else:
            with pytest.raises(ValueError, match=expected):
                mt.load_weights(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_torch_files_are_reported(tmp_path, fmt):
    torch = torch_or_skip()
    path = tmp_path / "w.pth"
    torch.save({"w": torch.randn(100)}, path, _use_new_zipfile_serialization=FORMATS[fmt])
    raw = path.read_bytes()
    for cut in (len(raw) - 7, len(raw) // 2, 30):
        path.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match=rf"{path}.*(truncated|corrupt|malformed)"):
            mt.load_weights(path)


def test_a_tensor_reaching_past_its_storage_is_malformed(tmp_path):
    torch = torch_or_skip()
    path = tmp_path / "w.pth"
    torch.save({"w": torch.randn(6)}, path)
    with zipfile.ZipFile(path) as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    prefix = next(n for n in entries if n.endswith("data.pkl"))[: -len("data.pkl")]
    entries[prefix + "data/0"] = entries[prefix + "data/0"][:8]
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match="storage '0' holds 8 bytes"):
        mt.load_weights(path)


def test_unknown_and_empty_files_are_reported(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("hello, these are not weights")
    with pytest.raises(ValueError, match="not a weights file"):
        mt.load_weights(path)
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="not a weights file"):
        mt.load_weights(path)
    with pytest.raises(FileNotFoundError):
        mt.load_weights(tmp_path / "missing.pth")


def test_a_pickle_that_is_not_a_torch_file(tmp_path):
    path = tmp_path / "list.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(ValueError, match="no PyTorch magic number"):
        mt.load_weights(path)


def test_safetensors(tmp_path):
    import safetensors.numpy as safetensors
    state = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.array(4, dtype=np.int64)}
    safetensors.save_file(state, tmp_path / "w.safetensors")
    loaded = mt.load_weights(tmp_path / "w.safetensors")
    for name in state:
        np.testing.assert_array_equal(loaded[name], state[name])
    (tmp_path / "cut.safetensors").write_bytes((tmp_path / "w.safetensors").read_bytes()[:-5])
    with pytest.raises(ValueError, match="truncated or malformed .safetensors"):
        mt.load_weights(tmp_path / "cut.safetensors")


def test_our_npz_files(tmp_path):
    state = {"fc.weight": np.ones((2, 3), np.float32), "fc.bias": np.zeros(2, np.float32)}
    mt.save(state, tmp_path / "state.npz")
    mt.save({"model": state, "metadata": {"architecture": "lenet5"}}, tmp_path / "ckpt.npz")
    np.savez(tmp_path / "plain.npz", **state)
    for name in ("state.npz", "ckpt.npz", "plain.npz"):
        loaded = mt.load_weights(tmp_path / name)
        assert sorted(loaded) == sorted(state), name
        np.testing.assert_array_equal(loaded["fc.weight"], state["fc.weight"])


def test_old_densenet_keys_are_renamed_as_torchvision_does(tmp_path):
    old = {
        "features.denseblock1.denselayer1.norm.1.weight": np.ones(2),
        "features.denseblock1.denselayer1.conv.2.weight": np.ones(2),
        "features.denseblock1.denselayer12.norm.2.running_var": np.ones(2),
        "features.norm5.weight": np.ones(2),
        "features.transition1.conv.weight": np.ones(2),
    }
    mt.save(old, tmp_path / "densenet.npz")
    assert sorted(mt.load_weights(tmp_path / "densenet.npz")) == [
        "features.denseblock1.denselayer1.conv2.weight",
        "features.denseblock1.denselayer1.norm1.weight",
        "features.denseblock1.denselayer12.norm2.running_var",
        "features.norm5.weight",
        "features.transition1.conv.weight",
    ]


# ---------------------------------------------------------------- models.create(name, weights=...)


@pytest.fixture(scope="module")
def squeezenet_file(tmp_path_factory):
    """squeezenet1_1's state dict written by torch.save (zip format), with its module names."""
    torch = torch_or_skip()
    model = models.create("squeezenet1_1")
    path = tmp_path_factory.mktemp("weights") / "squeezenet1_1.pth"
    torch.save({k: torch.from_numpy(np.asarray(v)) for k, v in model.state_dict().items()}, path)
    return path, model


def _logits(model, seed=0):
    model.eval()
    x = mt.tensor(np.random.default_rng(seed).standard_normal((1, 3, 64, 64)).astype(np.float32))
    with mt.no_grad():
        return model(x).numpy()


def test_create_loads_a_torch_file_strictly(squeezenet_file):
    path, saved = squeezenet_file
    model = models.create("squeezenet1_1", weights=path)
    np.testing.assert_array_equal(_logits(model), _logits(saved))


def test_create_with_other_classes_keeps_the_base_and_names_the_skipped_tensors(squeezenet_file):
    path, saved = squeezenet_file
    with pytest.warns(UserWarning, match=r"10 classes and .* holds 1000.*classifier\.1\.weight, classifier\.1\.bias$"):
        model = models.create("squeezenet1_1", num_classes=10, weights=path)
    assert model.classifier[1].weight.shape == (10, 512, 1, 1)
    saved_state = saved.state_dict()
    for name, value in model.state_dict().items():
        if not name.startswith("classifier."):
            np.testing.assert_array_equal(np.asarray(value), np.asarray(saved_state[name]), err_msg=name)


def test_create_without_num_classes_says_the_files_class_count(tmp_path):
    mt.save(models.create("squeezenet1_1", num_classes=10).state_dict(), tmp_path / "ten.npz")
    with pytest.raises(ValueError, match="does not fit squeezenet1_1: its output layers have 10 classes; "
                                         "pass num_classes="):
        models.create("squeezenet1_1", weights=tmp_path / "ten.npz")


def test_a_file_of_another_architecture_is_named(tmp_path):
    mt.save(models.create("squeezenet1_0", num_classes=2).state_dict(), tmp_path / "v10.npz")
    with pytest.raises(ValueError, match=r"looks like torchvision's squeezenet1_0 "
                                         r"\(use models.create\('squeezenet1_0'"):
        models.create("squeezenet1_1", num_classes=2, weights=tmp_path / "v10.npz")


def _shapes(layout):
    """A state dict of the given ``{name: shape}`` that allocates nothing (zero strides)."""
    return {k: np.broadcast_to(np.float32(0), s) for k, s in layout.items()}


def _resnet_layout(block_counts, bottleneck, width=64, groups=1):
    layout = {"conv1.weight": (64, 3, 7, 7)}
    for stage, count in enumerate(block_counts, start=1):
        for i in range(count):
            layout[f"layer{stage}.{i}.conv1.weight"] = (width, 64, 1, 1)
            layout[f"layer{stage}.{i}.conv2.weight"] = (width, width // groups, 3, 3)
            if bottleneck:
                layout[f"layer{stage}.{i}.conv3.weight"] = (256, width, 1, 1)
    return layout


TORCHVISION_LAYOUTS = {
    "alexnet_owt": {"features.0.weight": (64, 3, 11, 11), "features.3.weight": (192, 64, 5, 5),
                    "classifier.1.weight": (4096, 9216), "classifier.6.weight": (1000, 4096)},
    "vgg11_bn": {**{f"features.{i}.weight": (64, 3, 3, 3) for i in (0, 4, 8, 11, 15, 18, 22, 25)},
                 "features.1.running_mean": (64,), "classifier.6.weight": (1000, 4096)},
    "vgg16": {**{f"features.{i}.weight": (64, 3, 3, 3) for i in range(13)}, "classifier.6.weight": (1000, 4096)},
    "resnet18": _resnet_layout((2, 2, 2, 2), bottleneck=False),
    "resnet50": _resnet_layout((3, 4, 6, 3), bottleneck=True),
    "resnet152": _resnet_layout((3, 8, 36, 3), bottleneck=True),
    "resnext101_32x8d": _resnet_layout((3, 4, 23, 3), bottleneck=True, width=256, groups=32),
    "wide_resnet50_2": _resnet_layout((3, 4, 6, 3), bottleneck=True, width=128),
    "densenet161": {f"features.denseblock{b}.denselayer{i + 1}.conv1.weight": (192, 96, 1, 1)
                    for b, n in enumerate((6, 12, 36, 24), start=1) for i in range(n)},
    "squeezenet1_1": {"features.0.weight": (64, 3, 3, 3), "features.3.squeeze.weight": (16, 64, 1, 1)},
    "mobilenet_v2": {"features.1.conv.0.0.weight": (32, 1, 3, 3), "features.18.0.weight": (1280, 320, 1, 1)},
    "mobilenet_v3_small": {"features.1.block.0.0.weight": (16, 1, 3, 3), "classifier.0.weight": (1024, 576)},
    "efficientnet_b0": {"features.1.0.block.0.0.weight": (32, 1, 3, 3), "features.2.0.block.0.0.weight": (96, 16, 1, 1),
                        "features.2.1.block.0.0.weight": (144, 24, 1, 1), "classifier.1.weight": (1000, 1280)},
    "efficientnet_b1": {"features.1.0.block.0.0.weight": (32, 1, 3, 3),
                        **{f"features.2.{i}.block.0.0.weight": (96, 16, 1, 1) for i in range(3)},
                        "classifier.1.weight": (1000, 1280)},
    "efficientnet_b7": {"features.1.0.block.0.0.weight": (64, 1, 3, 3), "classifier.1.weight": (1000, 2560)},
    "googlenet_bn": {"inception3a.branch1.conv.weight": (64, 192, 1, 1)},
    "inception_v3": {"Mixed_5b.branch1x1.conv.weight": (64, 192, 1, 1)},
}


@pytest.mark.parametrize("name", TORCHVISION_LAYOUTS)
def test_guess_architecture_of_torchvision_layouts(name):
    assert guess_architecture(_shapes(TORCHVISION_LAYOUTS[name])) == name


def test_guess_architecture_of_something_else():
    assert guess_architecture(_shapes({"fc.weight": (10, 84)})) is None
    assert guess_architecture(_shapes(_resnet_layout((1, 1, 1, 1), bottleneck=False))) is None


# ---------------------------------------------------------------- torchvision's own files


def _old_densenet_keys(state):
    """A DenseNet file as saved before PyTorch 0.4: ``norm.1`` for ``norm1``, and no batch norm's
    ``num_batches_tracked`` (added in 0.4.1)."""
    return {re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.", k): v for k, v in state.items()
            if not k.endswith("num_batches_tracked")}


@pytest.mark.parametrize("name, fmt, rename", [("resnet18", "zip", None), ("squeezenet1_1", "legacy", None),
                                               ("densenet121", "legacy", _old_densenet_keys)],
                         ids=["resnet18-zip", "squeezenet1_1-legacy", "densenet121-legacy-old-keys"])
def test_torchvision_files_load_into_the_zoo_with_its_logits(tmp_path, name, fmt, rename):
    torch = torch_or_skip()
    path = tmp_path / f"{name}.pth"

    def save(state):
        state = rename(state) if rename else state
        torch.save(state, path, _use_new_zipfile_serialization=FORMATS[fmt])
        (read,) = load_weights_without_torch(path)
        assert len(read) == len(state)
        return path

    check_torchvision_logits(name, 64, save=save)


#: torchvision's name -> the zoo name its state dict should be recognised as.
TORCHVISION_NAMES = {
    "alexnet": "alexnet_owt", "googlenet": "googlenet_bn", "inception_v3": "inception_v3",
    **{n: n for n in ("vgg11", "vgg13_bn", "vgg16", "vgg19_bn", "resnet18", "resnet34", "resnet50", "resnet101",
                      "resnet152", "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2",
                      "wide_resnet101_2", "densenet121", "densenet161", "densenet169", "densenet201",
                      "squeezenet1_0", "squeezenet1_1", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large",
                      *(f"efficientnet_b{k}" for k in range(8)))},
}


def test_guess_architecture_of_every_torchvision_model():
    torch, tv = torch_or_skip(), torchvision_or_skip()
    guessed = {}
    for tv_name in TORCHVISION_NAMES:
        options = {"init_weights": False} if tv_name in ("googlenet", "inception_v3") else {}
        with torch.device("meta"):  # shapes only: no memory, no initialisation
            state = getattr(tv, tv_name)(**options).state_dict()
        guessed[tv_name] = guess_architecture(_shapes({k: tuple(v.shape) for k, v in state.items()}))
    assert guessed == TORCHVISION_NAMES


def test_mt_load_of_a_torch_file_points_to_load_weights(tmp_path):
    torch = torch_or_skip()
    torch.save({"w": torch.ones(2)}, tmp_path / "w.pth")
    with pytest.raises(ValueError, match="not a minitorch_cnn checkpoint .* use mt.load_weights"):
        mt.load(tmp_path / "w.pth")


def test_torchvisions_alexnet_file_into_the_paper_alexnet_says_use_alexnet_owt(tmp_path):
    """The keys that tell torchvision's AlexNet (64 filters of 11x11 first, a classifier.6) suffice."""
    mt.save({"features.0.weight": np.zeros((64, 3, 11, 11), np.float32), "classifier.6.weight": np.zeros((10, 8))},
            tmp_path / "alexnet-owt-4df8aa71.npz")
    with no_random_init(), pytest.raises(ValueError, match=r"does not fit alexnet: it looks like torchvision's "
                                                           r"alexnet_owt \(use models.create\('alexnet_owt'"):
        models.create("alexnet", weights=tmp_path / "alexnet-owt-4df8aa71.npz")
