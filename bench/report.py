"""Results out: one JSON file per run, a markdown table and a PNG chart of the ratios to PyTorch."""

from __future__ import annotations

import json
import math

from minitorch_cnn.serialization import atomic_write, save_figure


def target_met(row):
    """True/False against the row's target, None where it has none (or PyTorch did not run)."""
    if row.get("target") is None or row.get("vs_torch") is None:
        return None
    if row["suite"] == "train":
        return row["throughput_vs_torch"] >= row["target"]
    return row["vs_torch"] <= row["target"]


def _seconds(s):
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def _megabytes(b):
    return "" if b is None else f"{b / 2**20:.0f}"


def line(row):
    """One row as a short progress line."""
    if "skipped" in row:
        return f"{row['suite']:6} {row['case']:20} {row.get('method', ''):11} skipped: {row['skipped']}"
    ratio = "" if row.get("vs_torch") is None else f"  x{row['vs_torch']:.2f} torch"
    if row.get("vs_ours") is not None:
        ratio += f"  x{row['vs_ours']:.2f} ours"
    flag = " (1 run: over the time budget)" if row.get("over_budget") else ""
    median = _seconds(row["median_s"])
    return f"{row['suite']:6} {row['case']:20} {row['mode']:16} {row['method']:11} {median:>10}{ratio}{flag}"


def markdown(rows):
    """The table of BENCHMARKS.md: every row with its ratio to PyTorch, GEMM share and target.

    "GEMMs vs PyTorch" is the limit in PyTorch's units: the gemm method's GEMMs alone, as plain NumPy
    matmuls, over PyTorch's whole convolution: a method that does these GEMMs cannot beat it.
    """
    out = [
        "| suite | case | mode | method | median | vs PyTorch (time) | GEMM share | GEMMs vs PyTorch | peak MiB "
        "| target | met |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if "skipped" in row:
            who = f" ({row['method']})" if row.get("method") else ""
            out.append(f"| {row['suite']} | {row['case']} | | skipped{who}: {row['skipped']} | | | | | | | |")
            continue
        method = row["method"] + (" (auto)" if row.get("auto_pick") else "")
        median = _seconds(row["median_s"]) + (" (1 run)" if row.get("over_budget") else "")
        vs = "" if row.get("vs_torch") is None else f"{row['vs_torch']:.2f}x"
        if row.get("peer"):
            vs += f" ({row['vs_ours']:.2f}x ours)"
        elif row["suite"] == "train":
            theirs = f", PyTorch {row['torch_images_per_s']:.0f}" if row.get("torch_images_per_s") else ""
            vs += (f" ({row['images_per_s']:.0f} img/s{theirs}; "
                   f"{row.get('throughput_vs_torch', math.nan):.2f}x throughput)")
        share = "" if row.get("gemm_share") is None else f"{row['gemm_share']:.0%}"
        limit = "" if row.get("gemm_s") is None or not row.get("torch_s") else f"{row['gemm_s'] / row['torch_s']:.2f}x"
        targets = []
        if row.get("target") is not None:
            targets.append((">= " if row["suite"] == "train" else "<= ") + f"{row['target']}x")
        if row.get("gemm_target") is not None:
            targets.append(f"GEMM >= {row['gemm_target']:.0%}")
        met = []
        if target_met(row) is not None:
            met.append("yes" if target_met(row) else "**no**")
        if row.get("gemm_target") is not None:
            met.append("yes" if row["gemm_share"] >= row["gemm_target"] else "**no**")
        out.append(
            f"| {row['suite']} | {row['case']} | {row['mode']} | {method} | {median} | {vs} | {share} | {limit} | "
            f"{_megabytes(row.get('peak_bytes'))} | {'; '.join(targets)} | {'; '.join(met)} |"
        )
    return "\n".join(out)


def breakdown_table(rows):
    """Markdown: where each training row's step goes (``breakdown_s``, from a profile of our step),
    in ms per step, its share, and as a multiple of PyTorch's whole step; empty without such rows."""
    shown = [r for r in rows if r.get("breakdown_s")]
    if not shown:
        return ""
    out = ["| case | part | ms per step | share | x PyTorch's step |", "|---|---|---|---|---|"]
    for row in shown:
        total = sum(row["breakdown_s"].values())
        for part, seconds in row["breakdown_s"].items():
            if seconds == 0:  # a layer the model does not have (LeNet-5: no batch norm, no ReLU)
                continue
            theirs = f"{seconds / row['torch_s']:.2f}x" if row.get("torch_s") else ""
            out.append(f"| {row['case']} | {part} | {seconds * 1e3:.1f} | {seconds / total:.0%} | {theirs} |")
    return "\n".join(out)


def peers_table(rows):
    """Markdown: each peer's time over ours and over PyTorch's, beside the three throughputs for
    the training rows (images/s); empty when no peer ran. Above 1x, the peer is slower."""
    shown = [r for r in rows if r.get("peer")]
    if not shown:
        return ""
    ours = {(r["suite"], r["case"], r["mode"]): r for r in rows
            if not r.get("peer") and "skipped" not in r and (r["suite"] == "train" or r.get("auto_pick"))}
    out = ["| suite | case | mode | peer | peer median | ours median | PyTorch median | peer vs ours | peer vs PyTorch "
           "| images/s (peer / ours / PyTorch) |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for row in shown:
        mine = ours.get((row["suite"], row["case"], row["mode"]))
        torch_s = "" if row.get("torch_s") is None else _seconds(row["torch_s"])
        vs_torch = "" if row.get("vs_torch") is None else f"{row['vs_torch']:.2f}x"
        rates = ""
        if row["suite"] == "train":
            N = row["geometry"]["batch"]
            rates = " / ".join(f"{N / s:.0f}" if s else "" for s in
                               (row["median_s"], mine and mine["median_s"], row.get("torch_s")))
        out.append(f"| {row['suite']} | {row['case']} | {row['mode']} | {row['method']} | {_seconds(row['median_s'])} | "
                   f"{_seconds(mine['median_s']) if mine else ''} | {torch_s} | {row['vs_ours']:.2f}x | {vs_torch} | "
                   f"{rates} |")
    return "\n".join(out)


def write_json(path, machine, options, rows, **extra):
    """The run as JSON; ``extra`` adds a suite's own keys (the canziani suite's fitted line)."""
    with atomic_write(path, "w") as f:
        json.dump({"machine": machine, "options": options, "rows": rows, **extra}, f, indent=1)


def title(machine):
    """The chart's title: where and under what load it was measured."""
    return f"{machine['cpu']}, {machine['threads']} threads, load {machine['load_average_1_5_15']}"


def chart(path, rows, heading):
    """Horizontal bars: each row's time ratio to PyTorch (log scale), its target as a tick."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r.get("vs_torch") is not None and r["method"] not in ("naive",)]
    if not shown:
        return False
    labels = [f"{r['case']} {r['mode']} {r['method']}" for r in shown]
    values = [r["vs_torch"] for r in shown]
    colors = [{True: "tab:green", False: "tab:red", None: "tab:gray"}[target_met(r)] for r in shown]
    fig, ax = plt.subplots(figsize=(9, 0.28 * len(shown) + 1.5))
    y = list(range(len(shown)))[::-1]
    ax.barh(y, values, color=colors)
    for yi, r in zip(y, shown):
        if r.get("target") is not None:
            mark = 1.0 / r["target"] if r["suite"] == "train" else r["target"]
            ax.plot([mark, mark], [yi - 0.4, yi + 0.4], color="black", linewidth=2)
    ax.axvline(1.0, color="gray", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xlabel("time / PyTorch time (log; < 1 is faster). "
                  "Black tick: target. Green: met, red: missed, gray: no target")
    ax.set_title(heading, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return True
