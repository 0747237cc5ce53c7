"""Smoke tests of the minitorch-cnn command line, run in-process."""

import json

import pytest

from minitorch_cnn import cli


@pytest.mark.parametrize("command", ["train", "evaluate", "init-stats", "info", "models", "summary", "gradcheck"])
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: minitorch-cnn" in capsys.readouterr().out


def test_train_then_evaluate_writes_metrics_checkpoint_and_curves(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "lenet5", "--dataset", "digits", "--epochs", "1", "--out", str(out), "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert len(metrics["history"]) == 1
    assert (out / "checkpoint.npz").exists() and (out / "curves.png").exists()
    assert cli.main(["evaluate", str(out / "checkpoint.npz")]) == 0
    printed = capsys.readouterr().out
    assert f'"accuracy": {metrics["test_accuracy"]}' in printed


def test_info_says_why_cuda_is_unavailable(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "minitorch_cnn" in out and "cuda:" in out


def test_models_lists_the_zoo(capsys):
    cli.main(["models"])
    out = capsys.readouterr().out
    for name in ("lenet5", "alexnet", "vgg16", "resnet50", "densenet121", "efficientnet_b0"):
        assert name in out


def test_summary_prints_alexnet_conv1(capsys):
    cli.main(["summary", "alexnet", "--input", "3x227x227"])
    out = capsys.readouterr().out
    assert "(1, 96, 55, 55)" in out and "34,944" in out


def test_gradcheck_command(capsys):
    assert cli.main(["gradcheck", "lenet5", "--input", "1x32x32"]) == 0
    assert capsys.readouterr().out.count("gradcheck passed") == 2


def test_init_stats_writes_table_and_png(tmp_path, capsys):
    png = tmp_path / "stats.png"
    cli.main(["init-stats", "--activation", "tanh", "--init", "0.01", "--width", "256", "--out", str(png)])
    assert png.stat().st_size > 1000
    assert "std" in capsys.readouterr().out


def test_bad_shape_argument_is_refused():
    with pytest.raises(SystemExit):
        cli.main(["summary", "lenet5", "--input", "32by32"])


def test_train_on_mnist_idx_files_resizes_28_to_32(tmp_path):
    from test_data import tiny_idx_data, write_mnist_split

    root = tmp_path / "mnist"
    root.mkdir()
    for prefix, n in (("train", 40), ("t10k", 20)):
        images, labels = tiny_idx_data(n, seed=len(prefix))
        write_mnist_split(root, prefix, images, labels)
    out = tmp_path / "run"
    argv = ["train", "lenet5", "--dataset", "mnist", "--data-dir", str(root), "--epochs", "1", "--out", str(out),
            "--no-progress"]
    assert cli.main(argv) == 0
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 1
