"""Checkpoints: round trip, refusal of pickled files, atomic writes (of any file), file mode, SIGKILL while saving."""

import os
import pickle
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import serialization


def test_round_trip_of_nested_arrays_and_metadata(tmp_path):
    obj = {
        "model": {"conv.weight": np.arange(6.0).reshape(2, 3), "bn.num_batches_tracked": np.array(3)},
        "optimizer": {"state": {0: {"momentum_buffer": mt.tensor([1.0, 2.0])}}, "param_groups": [{"lr": 0.1}]},
        "metadata": {"architecture": "lenet5", "classes": ["0", "1"], "accuracy": 0.97, "note": None},
    }
    path = tmp_path / "ckpt.npz"
    mt.save(obj, path)
    back = mt.load(path)
    np.testing.assert_array_equal(back["model"]["conv.weight"], obj["model"]["conv.weight"])
    assert back["model"]["bn.num_batches_tracked"] == 3
    np.testing.assert_array_equal(back["optimizer"]["state"][0]["momentum_buffer"], [1.0, 2.0])
    assert back["optimizer"]["param_groups"][0]["lr"] == 0.1
    assert back["metadata"] == obj["metadata"]


def test_state_dict_round_trip_with_pytorchs_load_arguments(tmp_path):
    # torch.save(net.state_dict(), "model.pt"); net.load_state_dict(torch.load("model.pt", weights_only=True))
    net = mt.nn.Sequential(mt.nn.Conv2d(1, 2, 3), mt.nn.BatchNorm2d(2))
    path = tmp_path / "model.pt"
    mt.save(net.state_dict(), path)
    for kwargs in ({}, {"weights_only": True}, {"map_location": "cpu"}, {"map_location": mt.device("cpu")}):
        clone = mt.nn.Sequential(mt.nn.Conv2d(1, 2, 3), mt.nn.BatchNorm2d(2))
        clone.load_state_dict(mt.load(path, **kwargs))
        np.testing.assert_array_equal(clone[0].weight.detach().numpy(), net[0].weight.detach().numpy())
    with pytest.raises(ValueError, match="load: map_location='cuda' is not supported: arrays load on the CPU"):
        mt.load(path, map_location="cuda")


def test_tensors_load_back_as_tensors_and_arrays_as_arrays(tmp_path):
    # d2l 6.6: torch.save(x, "x-file"); x2 = torch.load("x-file") gives a tensor back.
    x, y = mt.arange(4), mt.zeros(4, requires_grad=True)
    mt.save(x, tmp_path / "x-file")
    x2 = mt.load(tmp_path / "x-file")
    assert isinstance(x2, mt.Tensor) and x2.tolist() == [0, 1, 2, 3] and x2.dtype == mt.int64
    mt.save({"x": x, "y": y, "n": np.ones(2)}, tmp_path / "mydict")
    back = mt.load(tmp_path / "mydict")
    assert isinstance(back["y"], mt.Tensor) and not back["y"].requires_grad and back["y"].tolist() == [0.0] * 4
    assert isinstance(back["n"], np.ndarray)


def test_pickled_file_is_refused_with_a_message(tmp_path):
    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(ValueError, match="pickled files are refused"):
        mt.load(path)


def test_npz_with_object_array_is_refused(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, __structure__=np.array("{}"), bad=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickled data"):
        mt.load(path)


def test_interrupted_write_leaves_old_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    mt.save({"w": np.ones(3)}, path)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut during save")

    monkeypatch.setattr(serialization.np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        mt.save({"w": np.zeros(3)}, path)
    monkeypatch.undo()
    np.testing.assert_array_equal(mt.load(path)["w"], np.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.npz"]


def test_atomic_text_write_replaces_the_file_only_when_the_body_finishes(tmp_path):
    path = tmp_path / "sub" / "metrics.json"
    with serialization.atomic_write(path, "w") as f:
        f.write("first")
    with pytest.raises(RuntimeError, match="half-way"):
        with serialization.atomic_write(path, "w") as f:
            f.write("sec")
            assert path.read_text() == "first"
            raise RuntimeError("half-way")
    assert path.read_text() == "first"
    assert sorted(p.name for p in path.parent.iterdir()) == ["metrics.json"]


def test_save_figure_writes_a_png_and_a_failed_save_keeps_the_old_one(tmp_path):
    from matplotlib.figure import Figure
    from PIL import Image

    fig = Figure(figsize=(2, 1))
    fig.subplots().plot([0, 1], [1, 0])
    path = tmp_path / "fig.png"
    serialization.save_figure(fig, path)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (200, 100)
    before = path.read_bytes()

    def crash_half_way(f, **kwargs):
        f.write(b"\x89PNG half a figure")
        raise MemoryError("out of memory while drawing")

    fig.savefig = crash_half_way
    with pytest.raises(MemoryError):
        serialization.save_figure(fig, path)
    assert path.read_bytes() == before and serialization.partial_saves(path) == []


@pytest.mark.skipif(os.name != "posix", reason="file modes and umask are POSIX")
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_checkpoint_gets_the_mode_the_umask_gives_new_files(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        mt.save({"w": np.ones(3)}, tmp_path / "ckpt.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "ckpt.npz").stat().st_mode & 0o777 == mode


def test_truncated_checkpoint_is_reported_as_truncated(tmp_path):
    path = tmp_path / "ckpt.npz"
    mt.save({"w": np.arange(1000.0)}, path)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match="a truncated or corrupt file"):
        mt.load(path)


def test_corrupt_member_is_reported_as_corrupt(tmp_path):
    path = tmp_path / "ckpt.npz"
    mt.save({"w": np.arange(1000.0)}, path)
    data = bytearray(path.read_bytes())
    data[200] ^= 0xFF  # inside the first member's bytes: the zip's CRC check fails on reading
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="truncated or corrupt checkpoint"):
        mt.load(path)


#: Saves checkpoint number 1, 2, 3... to argv[1] until killed; each is 8 MB, so that most of the
#: time goes into writing, and each says its number in every entry, so a mixed file would show.
SAVE_LOOP = r"""
import sys
import numpy as np
import minitorch_cnn as mt

i = 0
while True:
    i += 1
    mt.save({"i": i, "w": np.full(1_000_000, float(i))}, sys.argv[1])
    print(i, flush=True)
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_sigkill_at_random_points_of_a_save_loop_never_leaves_a_bad_checkpoint(tmp_path):
    path = tmp_path / "ckpt.npz"
    rng = random.Random(0)
    killed_while_writing, kills = 0, 0
    # Until 3 kills have hit a save in progress (about 1 in 3 do): otherwise the test proves nothing.
    while killed_while_writing < 3 and kills < 40:
        kills += 1
        loop = subprocess.Popen([sys.executable, "-c", SAVE_LOOP, str(path)], stdout=subprocess.PIPE, text=True,
                                env=dict(os.environ))
        assert loop.stdout.readline().strip().isdigit()  # the first save is done: a checkpoint exists
        time.sleep(rng.uniform(0.0, 0.3))
        loop.send_signal(signal.SIGKILL)
        loop.wait(timeout=60)
        loop.stdout.close()
        back = mt.load(path)
        assert back["i"] >= 1 and np.all(back["w"] == back["i"])
        leftovers = serialization.partial_saves(path)
        killed_while_writing += bool(leftovers)
        for leftover in leftovers:
            os.remove(leftover)
    assert killed_while_writing == 3, f"only {killed_while_writing} of {kills} kills hit a save in progress"


def test_unsupported_leaf_names_its_place(tmp_path):
    with pytest.raises(TypeError, match="at '/model/x'"):
        mt.save({"model": {"x": object()}}, tmp_path / "x.npz")


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        mt.load("/nonexistent/ckpt.npz")
