"""The lecture-11 experiment: with few labels, does a pretrained LeNet-5 beat training from scratch?

:func:`transfer_demo` (``minitorch-cnn transfer-demo``) pretrains LeNet-5 on the digits 0-4,
transfers it to the digits 5-9 (similar data) and to synthetic shapes (very different data), and
compares training from scratch, feature extraction and fine-tuning on the same budget; it writes
the metrics, a table and a plot. The tools it uses, the ones for any transfer-learning task, are
in :mod:`minitorch_cnn.transfer`.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from . import backend, data, models, nn, optim
from . import functional as F
from .autograd import no_grad
from .serialization import atomic_write, save_figure
from .tensor import tensor
from .training import evaluate, fit
from .transfer import (FeatureExtractor, default_optimizer, finetune, keep_classes, load_pretrained, normalization,
                       pretrain, save_pretrained, split_per_class)

SOURCE_DIGITS = (0, 1, 2, 3, 4)
TARGET_DIGITS = (5, 6, 7, 8, 9)
DEMO_MODEL = "lenet5"
#: Full and ``--quick`` settings. Within a case every method gets ``epochs`` passes over the same
#: labelled images; ``repeats`` draws of them give a mean and a spread.
DEMO_SETTINGS = {
    "full": {"pretrain_epochs": 20, "epochs": 20, "digits_per_class": 10, "digits_repeats": 3,
             "shapes_per_class": 20, "shapes_repeats": 2, "shapes_test": 400, "probe_steps": 300},
    "quick": {"pretrain_epochs": 1, "epochs": 4, "digits_per_class": 10, "digits_repeats": 1,
              "shapes_per_class": 10, "shapes_repeats": 1, "shapes_test": 100, "probe_steps": 20},
}
#: Pretraining: Adam with a little weight decay and random shifts of up to 2 pixels. Without them
#: LeNet's C5 saturates into near-binary codes for the digits 0-4, which carry over poorly.
PRETRAIN_LR = 2e-3
PRETRAIN_BATCH = 64
PRETRAIN_WEIGHT_DECAY = 1e-3
PRETRAIN_SHIFT = 2
#: Few-label training, the same for every method (phase 2 of fine-tuning runs at a tenth of it).
DEMO_LR = 1e-2
DEMO_BATCH = 10
#: The LeNet-5 stages a linear probe reads: after S2, after S4 and after C5.
PROBE_STAGES = {"features.2": "S2", "features.5": "S4", "features.7": "C5"}


def _loaders(labelled, test, normalize):
    return (data.DataLoader(labelled, batch_size=DEMO_BATCH, shuffle=True, transform=normalize),
            data.DataLoader(test, batch_size=256, transform=normalize))


def _compare(checkpoint, labelled, test, normalize, epochs, seed):
    """Test accuracies of scratch, feature extraction and fine-tuning, each with ``epochs`` epochs."""
    num_classes = len(labelled.classes)
    train_loader, test_loader = _loaders(labelled, test, normalize)
    results = {}
    backend.manual_seed(seed)
    model = models.create(DEMO_MODEL, num_classes=num_classes, in_channels=labelled.images.shape[1])
    fit(model, train_loader, default_optimizer(list(model.parameters()), DEMO_LR), epochs, progress=False)
    results["scratch"] = evaluate(model, test_loader)["accuracy"]
    for key, strategy, head_epochs in (("feature_extract", "feature-extract", epochs),
                                       ("fine_tune", "full", epochs // 2)):
        backend.manual_seed(seed)
        model, _ = load_pretrained(checkpoint, num_classes=num_classes)
        phases = finetune(model, train_loader, test_loader, strategy=strategy, head_epochs=head_epochs,
                          finetune_epochs=epochs - head_epochs, lr=DEMO_LR)
        results[key] = phases[-1]["test_accuracy"]
    return results


def _probe(checkpoint, labelled, test, normalize, steps, seed):
    """Accuracy of a linear classifier on each stage's frozen features (full batch, Adam)."""
    backend.manual_seed(seed)
    model, _ = load_pretrained(checkpoint)
    model.eval()
    with FeatureExtractor(model, PROBE_STAGES) as extract, no_grad():
        train_features = extract(tensor(normalize(labelled.images)))
        test_features = extract(tensor(normalize(test.images)))
    y_train, y_test = tensor(labelled.labels), test.labels
    accuracy = {}
    for name in PROBE_STAGES:
        x_train = train_features[name].reshape(len(labelled), -1)
        x_test = test_features[name].reshape(len(test), -1)
        probe = nn.Linear(x_train.shape[1], len(labelled.classes))
        optimizer = default_optimizer(list(probe.parameters()), DEMO_LR)
        for _ in range(steps):
            loss = F.cross_entropy(probe(x_train), y_train)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with no_grad():
            predicted = np.argmax(probe(x_test).detach().numpy(), axis=1)
        accuracy[name] = float(np.mean(predicted == y_test))
    return accuracy


def _mean_std(runs, key):
    values = [run[key] for run in runs]
    return float(np.mean(values)), float(np.std(values))


CASES = {
    "digits": "digits 0-4 -> digits 5-9 (similar data)",
    "shapes": "digits 0-4 -> synthetic shapes (very different data)",
}
METHODS = {"scratch": "from scratch", "feature_extract": "feature extraction", "fine_tune": "fine-tuning"}


def _table(metrics):
    rows = ["| task | labels | " + " | ".join(METHODS.values()) + " |", "|---|---|" + "---|" * len(METHODS)]
    for case, title in CASES.items():
        result = metrics[case]
        cells = [f"{result[k]['mean']:.3f} ± {result[k]['std']:.3f}" for k in METHODS]
        rows.append(f"| {title} | {result['labels']} | " + " | ".join(cells) + " |")
    probe_header = " | ".join(f"{label} ({name})" for name, label in PROBE_STAGES.items())
    rows += ["", f"| linear probe on | {probe_header} |", "|---|" + "---|" * len(PROBE_STAGES)]
    for case, title in CASES.items():
        rows.append(f"| {title} | " + " | ".join(f"{metrics[case]['probe'][s]:.3f}" for s in PROBE_STAGES) + " |")
    return "\n".join(rows) + "\n"


def _plot(metrics, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_bar, ax_probe) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(METHODS)
    for i, (key, label) in enumerate(METHODS.items()):
        xs = np.arange(len(CASES)) + (i - (len(METHODS) - 1) / 2) * width
        ax_bar.bar(xs, [metrics[c][key]["mean"] for c in CASES], width,
                   yerr=[metrics[c][key]["std"] for c in CASES], capsize=3, label=label)
    ax_bar.set_xticks(np.arange(len(CASES)), [f"{c}\n({metrics[c]['labels']} labels)" for c in CASES])
    ax_bar.set(ylabel="test accuracy", ylim=(0, 1), title="same budget, few labels")
    ax_bar.legend(loc="upper right")
    for case in CASES:
        ax_probe.plot([f"{label}\n({name})" for name, label in PROBE_STAGES.items()],
                      [metrics[case]["probe"][s] for s in PROBE_STAGES], marker="o", label=case)
    ax_probe.set(xlabel="stage of the pretrained LeNet-5", ylabel="test accuracy", ylim=(0, 1),
                 title="linear probe on frozen features")
    ax_probe.legend()
    for ax in (ax_bar, ax_probe):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def transfer_demo(out, quick=False, seed=0, log=print):
    """The lecture-11 experiment; writes ``out/metrics.json``, ``out/table.md`` and ``out/transfer.png``.

    1. Pretrain LeNet-5 on every training image of the digits 0-4 (721), with random shifts of up
       to 2 pixels; save it as ``out/lenet5-digits04.npz`` (a zoo checkpoint).
    2. Similar data: the digits 5-9 with 10 labelled images per class; the test set is every other
       5-9 image (the rest of the training split and the whole test split, 846 images).
    3. Very different data: synthetic shapes (square, circle, cross, stripes), 20 labelled images
       per class, tested on 400 fresh shapes.

    In each case three methods get the same budget (``epochs`` passes over the labelled images,
    batch 10, Adam at lr 1e-2): a fresh LeNet-5 (*scratch*); the pretrained base frozen and the
    head trained (*feature extraction*); the head trained for half the epochs, then everything at
    a tenth of the learning rate, earlier stages 3x lower per stage (*fine-tuning*, strategy
    ``"full"`` of :func:`~minitorch_cnn.transfer.finetune`). Each case is repeated with different
    labelled draws; the metrics hold the mean and std. A linear probe on the frozen features after
    S2, S4 and C5 shows which stage carries over best.

    ``metrics.json`` has the digits 5-9 mean accuracies at the top level as ``scratch``,
    ``feature_extract`` and ``fine_tune``, and every detail under ``digits`` and ``shapes``.
    ``quick=True`` shrinks every budget to a few seconds (for tests; its numbers mean nothing).
    """
    settings = DEMO_SETTINGS["quick" if quick else "full"]
    start = time.perf_counter()
    os.makedirs(out, exist_ok=True)
    backend.manual_seed(seed)
    train, test = data.digits("train"), data.digits("test")
    source_train, source_test = keep_classes(train, SOURCE_DIGITS), keep_classes(test, SOURCE_DIGITS)
    model, metadata = pretrain(
        DEMO_MODEL, source_train, source_test, settings["pretrain_epochs"], lr=PRETRAIN_LR,
        batch_size=PRETRAIN_BATCH, shift=PRETRAIN_SHIFT,
        make_optimizer=lambda params, lr: optim.Adam(params, lr=lr, weight_decay=PRETRAIN_WEIGHT_DECAY),
        dataset="digits 0-4")
    checkpoint = os.path.join(out, "lenet5-digits04.npz")
    save_pretrained(model, metadata, checkpoint)
    log(f"pretrained {DEMO_MODEL} on {len(source_train)} images of the digits 0-4 "
        f"({settings['pretrain_epochs']} epochs): test accuracy {metadata['test_accuracy']:.4f}")
    normalize = normalization(metadata)
    target_train, target_test = keep_classes(train, TARGET_DIGITS), keep_classes(test, TARGET_DIGITS)
    shapes_pool = data.synthetic_shapes(len(data.synthetic.SHAPES) * settings["shapes_per_class"] * 2, seed=seed + 1)
    shapes_test = data.synthetic_shapes(settings["shapes_test"], seed=seed + 2)

    def draw(case, repeat):
        """``(labelled, held_out)`` for one repeat of ``case``."""
        if case == "shapes":
            return split_per_class(shapes_pool, settings["shapes_per_class"], seed=seed + repeat)[0], shapes_test
        labelled, rest = split_per_class(target_train, settings["digits_per_class"], seed=seed + repeat)
        return labelled, data.TensorDataset(np.concatenate([rest.images, target_test.images]),
                                            np.concatenate([rest.labels, target_test.labels]),
                                            classes=target_train.classes)

    metrics = {"pretrain_accuracy": metadata["test_accuracy"], "settings": settings, "seed": seed}
    for case in CASES:
        runs = []
        repeats = settings[f"{case}_repeats"]
        for repeat in range(repeats):
            labelled, held_out = draw(case, repeat)
            runs.append(_compare(checkpoint, labelled, held_out, normalize, settings["epochs"], seed + repeat))
            log(f"{case} draw {repeat + 1}/{repeats}: " + ", ".join(f"{METHODS[k]} {runs[-1][k]:.3f}" for k in METHODS))
        metrics[case] = {"labels": len(labelled), "test_images": len(held_out), "runs": runs,
                         "probe": _probe(checkpoint, labelled, held_out, normalize, settings["probe_steps"], seed)}
        for key in METHODS:
            mean, std = _mean_std(runs, key)
            metrics[case][key] = {"mean": mean, "std": std}
    for key in METHODS:
        metrics[key] = metrics["digits"][key]["mean"]
    metrics["seconds"] = time.perf_counter() - start
    table = _table(metrics)
    with atomic_write(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    with atomic_write(os.path.join(out, "table.md"), "w") as f:
        f.write(table)
    _plot(metrics, os.path.join(out, "transfer.png"))
    log(table)
    log(f"wrote {out}/metrics.json, {out}/table.md, {out}/transfer.png and {checkpoint} "
        f"in {metrics['seconds']:.0f} s")
    return metrics
