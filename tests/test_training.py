"""The training loop: loss goes down, history, NaN stop, top-k, checkpoints, interrupting and resuming."""

import json
import math
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import data, models, nn, optim
from minitorch_cnn.training import NonFiniteLossError, ResumeError, evaluate, fit, plot_history, topk_correct


def _small_digits(n=256):
    train = data.digits("train")
    return data.TensorDataset(train.images[:n], train.labels[:n])


def test_training_on_a_small_subset_lowers_the_loss(tmp_path):
    mt.manual_seed(0)
    model = models.create("lenet5")
    loader = data.DataLoader(_small_digits(), batch_size=32, shuffle=True)
    before = evaluate(model, loader)["loss"]
    history = fit(model, loader, optim.Adam(model.parameters(), lr=2e-3), epochs=4, test_loader=loader,
                  checkpoint=tmp_path / "ckpt.npz", progress=False)
    assert len(history) == 4
    assert history[-1]["test_loss"] < 0.8 * before
    assert {"train_loss", "train_accuracy", "images_per_s", "lr", "test_top5_error"} <= set(history[0])
    saved = mt.load(tmp_path / "ckpt.npz")
    assert len(saved["history"]) == 4
    figure = plot_history(history, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 1000
    assert [len(ax.get_lines()) for ax in figure.axes] == [2, 2]


def test_nan_loss_stops_with_message_and_keeps_last_checkpoint(tmp_path):
    mt.manual_seed(0)
    model = models.create("lenet5")
    loader = data.DataLoader(_small_digits(64), batch_size=32)
    ckpt = tmp_path / "ckpt.npz"
    fit(model, loader, optim.SGD(model.parameters(), lr=0.01), epochs=1, checkpoint=ckpt, progress=False)
    good = mt.load(ckpt)["model"]
    with mt.no_grad():
        model.classifier[-1].weight.data = model.classifier[-1].weight.data * math.nan
    with pytest.raises(NonFiniteLossError, match="loss became nan in epoch 1.*last good checkpoint"):
        fit(model, loader, optim.SGD(model.parameters(), lr=0.01), epochs=1, checkpoint=ckpt, progress=False)
    after = mt.load(ckpt)["model"]
    for key in good:
        np.testing.assert_array_equal(good[key], after[key])


def test_topk_correct_counts_label_among_k_largest():
    logits = np.array([[0.1, 0.5, 0.4], [0.9, 0.05, 0.05]])
    assert topk_correct(logits, np.array([2, 0]), ks=(1, 2)) == {1: 1, 2: 2}


def test_evaluate_restores_training_mode():
    model = models.create("lenet5")
    model.train()
    evaluate(model, data.DataLoader(_small_digits(32), batch_size=16))
    assert model.training


# ---------------------------------------------------------------- interrupting and resuming

#: A small model with dropout, trained with random shifts and shuffling, so every kind of random
#: draw (initialisation, dropout, augmentation, order) must be restored for a bitwise resume.
#: argv: checkpoint, "fresh" or "resume", output .npz, and the batch (counted from the run's
#: start, 0 for none) at which the run says "waiting" and reads stdin, so the test's SIGINT
#: lands in the middle of an epoch.
DROPOUT_RUN = r"""
import json, sys
import numpy as np
import minitorch_cnn as mt
from minitorch_cnn import data, nn, optim
from minitorch_cnn.training import TrainingInterrupted, fit

checkpoint, mode, out, wait_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
mt.manual_seed(0)
train = data.digits("train", size=8)
train = data.TensorDataset(train.images[:256], train.labels[:256])
model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Dropout(0.5), nn.Linear(128, 10))
shift = data.transforms.RandomShift(1)
fetched = 0

def augment(images):
    global fetched
    fetched += 1
    if fetched == wait_at:
        print("waiting", flush=True)
        sys.stdin.readline()
    return shift(images)

optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=4)
loader = data.DataLoader(train, batch_size=32, shuffle=True, transform=augment)
try:
    history = fit(model, loader, optimizer, 4, scheduler=scheduler, checkpoint=checkpoint, progress=False,
                  resume=checkpoint if mode == "resume" else None)
except TrainingInterrupted as exc:
    print(exc, flush=True)
    sys.exit(130)
np.savez(out, history=json.dumps([{k: v for k, v in h.items() if k != "images_per_s"} for h in history]),
         **model.state_dict())
"""


def _run_dropout_model(tmp_path, checkpoint, mode, out, wait_at=0):
    return subprocess.Popen([sys.executable, "-c", DROPOUT_RUN, str(checkpoint), mode, str(tmp_path / out), str(wait_at)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ))


def _assert_same_parameters(a, b):
    assert sorted(a) == sorted(b)
    different = [k for k in a if not np.array_equal(a[k], b[k])]
    assert not different, f"resumed run differs from the uninterrupted one in {different}"


def test_sigint_mid_epoch_then_resume_gives_bitwise_the_uninterrupted_run(tmp_path):
    reference = _run_dropout_model(tmp_path, tmp_path / "reference.npz", "fresh", "reference-final.npz")
    # 8 batches per epoch: the run pauses while fetching batch 3 of epoch 2.
    interrupted = _run_dropout_model(tmp_path, tmp_path / "ckpt.npz", "fresh", "never.npz", wait_at=11)
    assert interrupted.stdout.readline() == "waiting\n"
    interrupted.send_signal(signal.SIGINT)
    out, err = interrupted.communicate("go\n", timeout=120)
    assert interrupted.returncode == 130, err
    assert "stopped by SIGINT after batch 3 of 8 of epoch 2/4" in out
    assert "SIGINT: finishing this step" in err
    assert not (tmp_path / "never.npz").exists()
    resumed = _run_dropout_model(tmp_path, tmp_path / "ckpt.npz", "resume", "resumed-final.npz")
    for run in (reference, resumed):
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
    with np.load(tmp_path / "reference-final.npz") as a, np.load(tmp_path / "resumed-final.npz") as b:
        a, b = dict(a), dict(b)
    assert json.loads(str(a.pop("history"))) == json.loads(str(b.pop("history")))
    _assert_same_parameters(a, b)


def _tiny_run(epochs=2, batch_size=16, lr=0.05, scheduler=True):
    mt.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(64, 10))
    train = data.digits("train", size=8)
    loader = data.DataLoader(data.TensorDataset(train.images[:64], train.labels[:64]), batch_size=batch_size,
                             shuffle=True)
    optimizer = optim.SGD(model.parameters(), lr=lr)
    sched = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs) if scheduler else None
    return model, loader, optimizer, sched


def _fit_tiny(checkpoint, epochs=2, resume=None, metadata=None, **options):
    model, loader, optimizer, sched = _tiny_run(epochs, **options)
    fit(model, loader, optimizer, epochs, scheduler=sched, checkpoint=checkpoint, progress=False,
        metadata=metadata, resume=resume)
    return model, sched


def test_resume_refuses_other_metadata_naming_the_difference(tmp_path):
    ckpt = tmp_path / "ckpt.npz"
    _fit_tiny(ckpt, epochs=1, metadata={"architecture": "tiny", "lr": 0.05})
    with pytest.raises(ResumeError, match=r"written with lr=0.05, this run has lr=0.1 .*only the number of epochs"):
        _fit_tiny(ckpt, epochs=2, resume=ckpt, metadata={"architecture": "tiny", "lr": 0.1})
    with pytest.raises(ResumeError, match="written without dataset, this run has dataset='digits'"):
        _fit_tiny(ckpt, epochs=2, resume=ckpt, metadata={"architecture": "tiny", "dataset": "digits"})


def test_resume_refuses_another_loader_or_scheduler(tmp_path):
    ckpt = tmp_path / "ckpt.npz"
    _fit_tiny(ckpt, epochs=1)
    with pytest.raises(ResumeError, match="written with batch_size=16, this run has batch_size=32"):
        _fit_tiny(ckpt, epochs=2, resume=ckpt, batch_size=32)
    with pytest.raises(ResumeError, match="written with scheduler='CosineAnnealingLR', this run has scheduler=None"):
        _fit_tiny(ckpt, epochs=2, resume=ckpt, scheduler=False)


def test_resume_of_a_finished_run_asks_for_more_epochs(tmp_path):
    ckpt = tmp_path / "ckpt.npz"
    _fit_tiny(ckpt, epochs=2)
    with pytest.raises(ResumeError, match="has finished 2 epochs, and this run asks for 2"):
        _fit_tiny(ckpt, epochs=2, resume=ckpt)


def test_resume_with_more_epochs_keeps_progress_and_takes_the_new_schedule(tmp_path):
    ckpt = tmp_path / "ckpt.npz"
    _fit_tiny(ckpt, epochs=2)
    _, sched = _fit_tiny(ckpt, epochs=4, resume=ckpt)
    assert (sched.last_epoch, sched.T_max) == (4, 4)
    assert [h["epoch"] for h in mt.load(ckpt)["history"]] == [1, 2, 3, 4]
    # The first epoch after resuming ran at the rate the 2-epoch schedule had set (0 after 2 of 2).
    assert mt.load(ckpt)["history"][2]["lr"] == 0.0


def test_resume_reports_and_removes_a_partial_save(tmp_path):
    ckpt = tmp_path / "ckpt.npz"
    _fit_tiny(ckpt, epochs=1)
    partial = tmp_path / ".ckpt.npz.partial-0123abcd"
    partial.write_bytes(b"PK\x03\x04 half a zip")
    with pytest.warns(UserWarning, match=r"partial-0123abcd, a partial checkpoint left by a save that was killed"):
        _fit_tiny(ckpt, epochs=2, resume=ckpt)
    assert not partial.exists()


def test_resume_from_a_truncated_file_says_so(tmp_path):
    ckpt = tmp_path / "ckpt.npz"
    _fit_tiny(ckpt, epochs=1)
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    with pytest.raises(ResumeError, match="cannot resume: load: .* a truncated or corrupt file"):
        _fit_tiny(ckpt, epochs=2, resume=ckpt)


def test_resume_needs_a_checkpoint_with_training_state(tmp_path):
    ckpt = tmp_path / "model.npz"
    mt.save({"model": {}, "metadata": {}}, ckpt)
    with pytest.raises(ResumeError, match="holds no training state"):
        _fit_tiny(ckpt, epochs=2, resume=ckpt)


def test_second_sigint_stops_at_once_and_leaves_the_last_checkpoint(tmp_path):
    ckpt = tmp_path / "ckpt.npz"
    run = _run_dropout_model(tmp_path, ckpt, "fresh", "never.npz", wait_at=11)
    assert run.stdout.readline() == "waiting\n"
    run.send_signal(signal.SIGINT)
    assert "finishing this step" in run.stderr.readline() + run.stderr.readline()
    run.send_signal(signal.SIGINT)
    out, err = run.communicate("go\n", timeout=120)
    assert run.returncode == -signal.SIGINT, err
    assert "second SIGINT: stopped at once" in err and "holds the state" not in out
    training = mt.load(ckpt)["training"]
    assert (training["epochs_done"], training["epoch_so_far"]) == (1, None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.npz"]
