"""Canziani, Paszke & Culurciello 2016, "An Analysis of Deep Neural Network Models for Practical
Applications", redone on our zoo: inference time against batch size, time against operations, and
peak memory measured.

Every (model, batch size) runs in a fresh process (``python -m bench.canziani_suite`` is the
worker), in eval mode under ``no_grad``, so its peak resident memory is its own::

    forward memory = peak RSS after the forward passes - peak RSS after building the model

The peak is the kernel's high-water mark of the resident set (``VmHWM`` in ``/proc/self/status``;
``resource.getrusage().ru_maxrss`` where there is no ``/proc``). ``ru_maxrss`` alone will not do on
Linux: at ``exec`` it takes over the peak of the process that launched the worker (the benchmark's
own 300 MB with PyTorch loaded), which hides every model smaller than that. Building a model also
passes through a higher peak than the built model keeps (initialisation temporaries), so the worker
resets the mark to the current resident size (``/proc/self/clear_refs``, Linux 4.0 and later)
before the forwards; the difference is then what the forward pass (input, activations, workspace,
and code loaded on the first call) needed beyond the built model. Where the reset is refused the
row says so (``hwm_reset`` false) and the difference is over the building peak instead. Time is
the median of ``repeats`` forward passes after one warm-up. Operations are multiply-accumulates
from :func:`minitorch_cnn.summary` at batch 1, so the paper's "time linear in operations" is
checked with a least-squares line through (MACs, seconds per image at batch 1)::

    t = slope * MACs + intercept,        R^2 = 1 - sum (t - t_fit)^2 / sum (t - mean t)^2

The accuracies are not measured (we train nothing on ImageNet): they are the papers' ImageNet
top-1 numbers, quoted in ``QUOTED`` with their source and protocol, and labelled "quoted" in the
figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from .timing import forward_times, peak_rss, reset_peak_rss

#: model -> (input size, quick-mode input size)
MODELS = {
    "alexnet": 227, "vgg16": 224, "googlenet": 224, "resnet18": 224, "resnet50": 224, "mobilenet_v2": 224,
    "squeezenet1_0": 224, "efficientnet_b0": 224, "densenet121": 224, "inception_v3": 299,
}
QUICK_MODELS, QUICK_SIZE = ("squeezenet1_0", "mobilenet_v2", "resnet18"), 64
BATCHES, QUICK_BATCHES = (1, 2, 4, 8), (1, 2)

#: model -> (ImageNet top-1 %, source and protocol). Quoted, not measured. The protocols differ
#: (single crop, 10 crops, test scale), as they did in the papers Canziani et al. collected.
QUOTED = {
    "alexnet": (59.3, "Krizhevsky et al. 2012, Table 2: 1 CNN, 40.7% top-1 error (10 patches averaged)"),
    "vgg16": (73.0, "Simonyan & Zisserman 2015, Table 3: config D, train and test scale 256, 27.0% error"),
    "googlenet": (69.8, "the paper gives top-5 only; torchvision's model card, single 224 crop"),
    "resnet18": (72.1, "He et al. 2016, Table 2: ResNet-18, 27.88% top-1 error (10-crop)"),
    "resnet50": (77.2, "He et al. 2016, Table 3: ResNet-50, 22.85% top-1 error (10-crop)"),
    "mobilenet_v2": (72.0, "Sandler et al. 2018, Table 4: MobileNetV2 (1.0), single crop 224"),
    "squeezenet1_0": (57.5, "Iandola et al. 2016, Table 2: SqueezeNet, single crop"),
    "efficientnet_b0": (77.1, "Tan & Le 2019, Table 2: EfficientNet-B0, single crop 224"),
    "densenet121": (75.0, "Huang et al. 2017, Table 3: DenseNet-121, 25.02% top-1 error (single crop)"),
    "inception_v3": (78.8, "Szegedy et al. 2016, Table 3: Inception-v3 (BN-auxiliary), single crop 299"),
}


def run(cases, repeats, quick, max_seconds, torch, log):
    """One row per model and batch size, each from a fresh worker process."""
    names = cases or (QUICK_MODELS if quick else list(MODELS))
    rows = []
    for name in names:
        size = QUICK_SIZE if quick else MODELS[name]
        for batch in QUICK_BATCHES if quick else BATCHES:
            measured = _launch(name, size, batch, repeats, macs=batch == 1)
            row = {
                "suite": "canziani", "case": name, "mode": f"batch {batch}", "method": "forward",
                "geometry": {"batch": batch, "input": [3, size, size]},
                "median_s": statistics.median(measured["runs_s"]), "runs_s": measured["runs_s"],
                "over_budget": False, "vs_torch": None,
                "seconds_per_image": statistics.median(measured["runs_s"]) / batch,
                "params": measured["params"], "quoted_top1": QUOTED[name][0],
                **{k: measured[k] for k in ("peak_building_bytes", "peak_built_bytes", "peak_forward_bytes",
                                            "forward_memory_bytes", "hwm_reset")},
            }
            if "macs" in measured:
                row["macs"] = measured["macs"]
            rows.append(row)
            log(row)
    return rows


def _launch(name, size, batch, repeats, macs):
    command = [sys.executable, "-m", "bench.canziani_suite", name, "--size", str(size), "--batch", str(batch),
               "--repeats", str(repeats)] + (["--macs"] if macs else [])
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"canziani benchmark {name} at batch {batch} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def fit(rows):
    """Least-squares line of seconds per image (batch 1) against MACs: slope, intercept and R^2."""
    import numpy as np

    points = [(r["macs"], r["median_s"]) for r in rows if r.get("suite") == "canziani" and "macs" in r]
    if len(points) < 2:
        return None
    macs, t = (np.array(v, dtype=float) for v in zip(*points))
    slope, intercept = np.polyfit(macs, t, 1)
    residual = t - (slope * macs + intercept)
    total = np.sum((t - t.mean()) ** 2)
    r2 = 1.0 - float(np.sum(residual ** 2) / total) if total > 0 else 1.0
    return {"slope_s_per_gmac": float(slope) * 1e9, "intercept_s": float(intercept), "r2": r2,
            "models": len(points)}


def analysis(rows):
    """What the JSON keeps beside the rows: the line's fit and the quoted accuracies."""
    return {"fit": fit(rows), "quoted": {k: {"top1": a, "source": s} for k, (a, s) in QUOTED.items()}}


def markdown(rows):
    """Time, time per image and forward memory per model and batch size, with MACs and parameters."""
    out = ["| model | batch | median | per image | forward memory MiB | GMACs | parameters | top-1 (quoted) |",
           "|---|---|---|---|---|---|---|---|"]
    macs = {r["case"]: r["macs"] for r in rows if "macs" in r}
    for r in rows:
        g = macs.get(r["case"])
        out.append(f"| {r['case']} | {r['geometry']['batch']} | {r['median_s'] * 1e3:.1f} ms | "
                   f"{r['seconds_per_image'] * 1e3:.1f} ms | {r['forward_memory_bytes'] / 2**20:.0f} | "
                   f"{'' if g is None else f'{g / 1e9:.2f}'} | {r['params']:,} | {r['quoted_top1']} |")
    line = fit(rows)
    if line:
        out.append(f"\nbatch 1: t = {line['slope_s_per_gmac'] * 1e3:.1f} ms/GMAC x MACs + "
                   f"{line['intercept_s'] * 1e3:.1f} ms, R^2 = {line['r2']:.3f} over {line['models']} models")
    return "\n".join(out)


def figures(stem, rows, heading):
    """Three PNGs beside the JSON: accuracy against operations (marker area: parameters), time
    against batch size, and time against MACs with the fitted line. Returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from minitorch_cnn.serialization import save_figure

    ones = [r for r in rows if "macs" in r]
    paths = []

    fig, ax = plt.subplots(figsize=(7, 5))
    for r in ones:
        ax.scatter(r["macs"] / 1e9, r["quoted_top1"], s=r["params"] / 2e5, alpha=0.5)
        ax.annotate(r["case"], (r["macs"] / 1e9, r["quoted_top1"]), fontsize=8)
    ax.set_xlabel("GMACs per image (summary, at the input size run)")
    ax.set_ylabel("ImageNet top-1 % (quoted from the papers, not measured)")
    ax.set_title("accuracy (quoted) vs operations; marker area ~ parameters\n" + heading, fontsize=8)
    paths.append(_save(fig, stem + "-accuracy.png", save_figure, plt))

    fig, ax = plt.subplots(figsize=(7, 5))
    for name in dict.fromkeys(r["case"] for r in rows):
        mine = [r for r in rows if r["case"] == name]
        ax.plot([r["geometry"]["batch"] for r in mine], [r["seconds_per_image"] * 1e3 for r in mine],
                marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("ms per image (median forward / batch)")
    ax.legend(fontsize=7)
    ax.set_title("inference time vs batch size\n" + heading, fontsize=8)
    paths.append(_save(fig, stem + "-batch.png", save_figure, plt))

    line = fit(rows)
    fig, ax = plt.subplots(figsize=(7, 5))
    for r in ones:
        ax.scatter(r["macs"] / 1e9, r["median_s"] * 1e3)
        ax.annotate(r["case"], (r["macs"] / 1e9, r["median_s"] * 1e3), fontsize=8)
    if line:
        top = max(r["macs"] for r in ones) / 1e9
        ax.plot([0, top], [line["intercept_s"] * 1e3, (line["intercept_s"] + line["slope_s_per_gmac"] * top) * 1e3],
                color="gray", linestyle="--",
                label=f"{line['slope_s_per_gmac'] * 1e3:.0f} ms/GMAC, R^2 = {line['r2']:.2f}")
        ax.legend(fontsize=8)
    ax.set_xlabel("GMACs per image")
    ax.set_ylabel("ms per forward, batch 1")
    ax.set_title("time vs operations, least-squares line\n" + heading, fontsize=8)
    paths.append(_save(fig, stem + "-macs.png", save_figure, plt))
    return paths


def _save(fig, path, save_figure, plt):
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path


def _worker(name, size, batch, repeats, macs):
    """Build ``name``, time ``repeats`` forwards of a batch after a warm-up, and print one JSON line
    with the times, the peak RSS after building and after the forwards, and (``macs``) its MACs."""
    import numpy as np

    import minitorch_cnn as mt
    from minitorch_cnn import models

    mt.manual_seed(0)
    model = models.create(name)
    model.eval()
    building = peak_rss()
    reset = reset_peak_rss()
    built = peak_rss()
    x = mt.tensor(np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype(np.float32))
    runs = forward_times(model, x, repeats)
    forward = peak_rss()
    out = {"runs_s": runs, "params": sum(p.numel() for p in model.parameters()), "hwm_reset": reset,
           "peak_building_bytes": building, "peak_built_bytes": built, "peak_forward_bytes": forward, "forward_memory_bytes": forward - built}
    if macs:
        out["macs"] = mt.summary(model, (3, size, size)).total_macs
    print(json.dumps(out))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=_worker.__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(MODELS))
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--repeats", type=int, required=True)
    parser.add_argument("--macs", action="store_true")
    options = parser.parse_args()
    _worker(options.name, options.size, options.batch, options.repeats, options.macs)
