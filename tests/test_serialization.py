"""Checkpoints: round trip, refusal of pickled files, atomic writes."""

import pickle

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


def test_unsupported_leaf_names_its_place(tmp_path):
    with pytest.raises(TypeError, match="at '/model/x'"):
        mt.save({"model": {"x": object()}}, tmp_path / "x.npz")


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        mt.load("/nonexistent/ckpt.npz")
