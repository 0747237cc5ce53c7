"""The training loop: loss goes down, history, NaN stop, top-k, checkpoints."""

import math

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import data, models, optim
from minitorch_cnn.training import NonFiniteLossError, evaluate, fit, plot_history, topk_correct


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
    plot_history(history, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 1000


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
