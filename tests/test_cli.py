"""Smoke tests of the minitorch-cnn command line, run in-process; interrupting runs in a subprocess."""

import json
import os
import re
import select
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import minitorch_cnn as mt
from helpers import rand_pixels, write_image
from minitorch_cnn import cli, models, transfer
from minitorch_cnn.data import imagenet, read_image


@pytest.mark.parametrize("command", ["train", "evaluate", "visualize", "init-stats", "info", "models", "summary",
                                     "gradcheck", "predict", "layers"])
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


def test_a_failed_gradcheck_is_reported_with_what_it_can_mean(capsys, monkeypatch):
    from minitorch_cnn.functional.activation import ReLU

    # A wrong backward (ReLU's gradient doubled) must fail, with an exit code and no traceback.
    right = ReLU.backward
    monkeypatch.setattr(ReLU, "backward", staticmethod(lambda ctx, grad: tuple(
        None if g is None else g * 2 for g in _as_tuple(right(ctx, grad)))))
    assert cli.main(["gradcheck", "lenet5", "--input", "1x32x32", "--option", "variant=modern"]) == 1
    err = capsys.readouterr().err
    assert "lenet5 (train mode, input (2, 1, 32, 32)): gradcheck failed for" in err
    assert "a wrong backward fails at every seed" in err


def _as_tuple(value):
    return value if isinstance(value, tuple) else (value,)


def test_init_stats_writes_table_and_png(tmp_path, capsys):
    png = tmp_path / "stats.png"
    cli.main(["init-stats", "--activation", "tanh", "--init", "0.01", "--width", "256", "--out", str(png)])
    assert png.stat().st_size > 1000
    assert "std" in capsys.readouterr().out


@pytest.mark.parametrize("init", ["orthogonal", "lsuv"])
def test_init_stats_orthogonal_and_lsuv_with_weight_gradients(init, tmp_path, capsys):
    png = tmp_path / "stats.png"
    cli.main(["init-stats", "--activation", "relu", "--init", init, "--width", "128", "--layers", "3", "--gradients",
              "--out", str(png)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-2:] == ["weight_grad_mean", "weight_grad_std"]
    # both keep the ReLU stack's spread: the std column of layer 3 within 30% of layer 1's
    first, last = (float(lines[i].split()[3]) for i in (2, 4))
    assert 0.7 < last / first < 1.3
    assert png.stat().st_size > 1000


def test_init_stats_symmetry_shows_identical_hidden_units_under_constant_weights(capsys):
    assert cli.main(["init-stats", "--symmetry"]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[1:3]}
    assert float(rows["constant"][0]) < 1e-6 and float(rows["random"][0]) > 0.5
    assert float(rows["random"][2]) > float(rows["constant"][2]) + 0.3


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


def test_layers_lists_what_freeze_layers_counts(capsys):
    assert cli.main(["layers", "lenet5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("lenet5: 5 layers (modules that own parameters)")
    assert lines[1].split() == ["1", "features.0", "Conv2d", "156"] and lines[5].split() == ["5", "classifier.3", "Linear", "850"]


# ---------------------------------------------------------------- predict


def _photo(path, H, W, seed):
    """A smooth colour image (noise enlarged with Pillow) saved as ``path``'s format."""
    from PIL import Image

    return write_image(path, np.asarray(Image.fromarray(rand_pixels((8, 8, 3), seed)).resize((W, H), Image.BILINEAR)))


def _top5(printed, path):
    lines = printed.splitlines()
    start = lines.index(str(path))
    return [re.fullmatch(r"  \d\. (.+) \((\d+)\): (\d\.\d{4})", line).groups() for line in lines[start + 1:start + 6]]


def test_predict_prints_the_top_5_imagenet_classes_of_a_jpeg_and_a_png(tmp_path, capsys):
    model = models.create("squeezenet1_1")
    mt.save(model.state_dict(), tmp_path / "squeezenet1_1.npz")
    images = [_photo(tmp_path / "photo.jpg", 300, 400, seed=0), _photo(tmp_path / "scan.png", 180, 150, seed=1)]
    assert cli.main(["predict", "squeezenet1_1", "--weights", str(tmp_path / "squeezenet1_1.npz"),
                     *map(str, images)]) == 0
    printed = capsys.readouterr().out
    preset, names = imagenet.preprocessing("squeezenet1_1"), imagenet.imagenet_classes()
    model.eval()
    with mt.no_grad():
        logits = model(mt.tensor(np.stack([preset(read_image(p)) for p in images]))).numpy()
    for path, z in zip(images, logits):
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        best = np.argsort(-p, kind="stable")[:5]
        assert _top5(printed, path) == [(names[c], str(c), f"{p[c]:.4f}") for c in best]


def test_predict_with_a_checkpoint_uses_its_classes_and_preprocessing(tmp_path, capsys):
    model = models.create("lenet5", num_classes=3, in_channels=1)
    meta = {"architecture": "lenet5", "classes": ["cat", "dog", "owl"], "in_channels": 1, "image_size": 32,
            "normalize_mean": [0.5], "normalize_std": [0.25]}
    transfer.save_pretrained(model, meta, tmp_path / "pets.npz")
    image = _photo(tmp_path / "pet.png", 40, 50, seed=2)
    assert cli.main(["predict", str(tmp_path / "pets.npz"), str(image), "--top", "3"]) == 0
    x = (read_image(image, channels=1, size=32) - 0.5) / 0.25
    model.eval()
    with mt.no_grad():
        z = model(mt.tensor(x[None])).numpy()[0]
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == str(image) and len(printed) == 4
    assert printed[1] == f"  1. {meta['classes'][p.argmax()]} ({p.argmax()}): {p.max():.4f}"


def test_predict_refusals(tmp_path):
    image = _photo(tmp_path / "a.png", 40, 40, seed=0)
    with pytest.raises(SystemExit, match="give its weights with --weights"):
        cli.main(["predict", "resnet18", str(image)])
    with pytest.raises(SystemExit, match="no checkpoint at no_such_thing"):
        cli.main(["predict", "no_such_thing", str(image)])
    mt.save(models.create("squeezenet1_1", num_classes=4).state_dict(), tmp_path / "four.npz")
    with pytest.raises(SystemExit, match="output layers have 4 classes"):
        cli.main(["predict", "squeezenet1_1", "--weights", str(tmp_path / "four.npz"), str(image)])
    with pytest.raises(SystemExit, match="built for 7 classes and .* holds 4.*--num-classes must be the number"):
        cli.main(["predict", "squeezenet1_1", "--weights", str(tmp_path / "four.npz"), "--num-classes", "7", str(image)])
    with pytest.raises(SystemExit, match="read_image: no image file"):
        cli.main(["predict", "squeezenet1_1", "--weights", str(tmp_path / "four.npz"), "--num-classes", "4",
                  str(tmp_path / "missing.jpg")])


# ---------------------------------------------------------------- interrupting and resuming


def _interrupt_when(argv, pattern, signal_number, timeout=120):
    """Run ``minitorch-cnn argv`` in a subprocess, send it ``signal_number`` once its progress bars
    (every step shown) match ``pattern``; return ``(exit status, stderr)``."""
    env = dict(os.environ, TQDM_MININTERVAL="0")
    run = subprocess.Popen([sys.executable, "-m", "minitorch_cnn.cli", *argv], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, env=env)
    seen, deadline = "", time.monotonic() + timeout
    while not re.search(pattern, seen):
        assert time.monotonic() < deadline and run.poll() is None, f"never matched {pattern!r}:\n{seen[-2000:]}"
        if select.select([run.stderr], [], [], 1.0)[0]:
            seen += os.read(run.stderr.fileno(), 65536).decode(errors="replace")
    run.send_signal(signal_number)
    _, rest = run.communicate(timeout=timeout)
    return run.returncode, seen + rest.decode(errors="replace")


def _parameters(checkpoint):
    return mt.load(checkpoint)["model"]


def _same_parameters(a, b):
    assert sorted(a) == sorted(b)
    assert not [k for k in a if not np.array_equal(a[k], b[k])], "the resumed run ended with other parameters"


def test_train_resnet20_interrupted_mid_epoch_then_resumed_equals_an_uninterrupted_run(tmp_path):
    argv = ["train", "resnet20", "--dataset", "digits", "--image-size", "8", "--batch-size", "128", "--epochs", "4",
            "--shift", "1"]
    status, err = _interrupt_when(argv + ["--out", str(tmp_path / "run")], r"epoch 2/4: +\d+%\|[^|]*\| [1-8]/12 ",
                                  signal.SIGINT)
    assert status == 128 + signal.SIGINT, err
    assert re.search(r"stopped by SIGINT after batch \d+ of 12 of epoch [234]/4", err), err
    resume = " ".join(["minitorch-cnn", *argv, "--out", str(tmp_path / "run"), "--resume"])
    assert f"to continue, run:\n  {resume}" in err
    with pytest.raises(SystemExit, match=r"train --resume: .* written with lr=0.003, this run has lr=0.01"):
        cli.main(argv + ["--out", str(tmp_path / "run"), "--lr", "0.01", "--resume", "--no-progress"])
    with pytest.raises(SystemExit, match="written with architecture='resnet20', this run has architecture='plain20'"):
        cli.main([argv[0], "plain20", *argv[2:], "--resume", str(tmp_path / "run" / "checkpoint.npz"),
                  "--out", str(tmp_path / "other"), "--no-progress"])
    assert cli.main(argv + ["--out", str(tmp_path / "run"), "--resume", "--no-progress"]) == 0
    assert cli.main(argv + ["--out", str(tmp_path / "uninterrupted"), "--no-progress"]) == 0
    _same_parameters(_parameters(tmp_path / "run" / "checkpoint.npz"),
                     _parameters(tmp_path / "uninterrupted" / "checkpoint.npz"))
    curves = [[{k: v for k, v in h.items() if k != "images_per_s"} for h in
               json.loads((tmp_path / folder / "metrics.json").read_text())["history"]]
              for folder in ("run", "uninterrupted")]
    assert curves[0] == curves[1]


def test_pretrain_stopped_by_sigterm_resumes_and_ends_with_the_zoo_checkpoint(tmp_path):
    argv = ["pretrain", "resnet20", "--classes", "0,1,2,3,4", "--image-size", "8", "--batch-size", "128",
            "--epochs", "2", "--shift", "1"]
    out = tmp_path / "zoo.npz"
    status, err = _interrupt_when(argv + ["--out", str(out)], r"epoch 1/2: +\d+%\|[^|]*\| [1-3]/6 ", signal.SIGTERM)
    assert status == 128 + signal.SIGTERM, err
    assert re.search(r"stopped by SIGTERM after batch [1-5] of 6 of epoch [12]/2", err), err
    assert mt.load(out)["training"]["epoch_so_far"]["batches"] >= 1
    assert cli.main(argv + ["--out", str(out), "--resume", "--no-progress"]) == 0
    finished = mt.load(out)
    assert "training" not in finished and 0.0 <= finished["metadata"]["test_accuracy"] <= 1.0


def test_finetune_stopped_in_phase_two_resumes_to_the_uninterrupted_result(tmp_path):
    pretrained = tmp_path / "lenet5-digits04.npz"
    assert cli.main(["pretrain", "lenet5", "--classes", "0,1,2,3,4", "--epochs", "1", "--out", str(pretrained),
                     "--no-progress"]) == 0
    argv = ["finetune", str(pretrained), "--classes", "5,6,7,8,9", "--head-epochs", "1", "--finetune-epochs", "3"]
    out = tmp_path / "tuned.npz"
    # Phase 1 shows "epoch 1/1", phase 2 "epoch k/3": the signal lands in phase 2.
    status, err = _interrupt_when(argv + ["--out", str(out)], r"epoch 1/3: +\d+%\|[^|]*\| [1-9]\d*/\d+ ",
                                  signal.SIGINT)
    assert status == 128 + signal.SIGINT, err
    assert re.search(r"stopped by SIGINT after batch \d+ of \d+ of epoch [123]/3", err), err
    saved = mt.load(out)["metadata"]
    assert saved["finetune_phase"] == 2 and len(saved["finetune_done"]) == 1
    with pytest.raises(SystemExit, match=r"finetune --resume: .*written with lr=0.01, this run has lr=0.02"):
        cli.main(argv + ["--out", str(out), "--lr", "0.02", "--resume", "--no-progress"])
    with pytest.raises(SystemExit, match=r"finetune --resume: give the checkpoint"):
        cli.main(argv + ["--resume", "--no-progress"])
    assert cli.main(argv + ["--out", str(out), "--resume", "--no-progress"]) == 0
    assert cli.main(argv + ["--out", str(tmp_path / "once.npz"), "--no-progress"]) == 0
    _same_parameters(_parameters(out), _parameters(tmp_path / "once.npz"))
    with pytest.raises(SystemExit, match="holds no fine-tuning state"):
        cli.main(argv + ["--out", str(out), "--resume", "--no-progress"])
