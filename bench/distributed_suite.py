"""Data-parallel scaling: training images/s on 1 and 2 processes, and the communication share.

Each case trains on the scikit-learn digits (resized to 32x32) with ``--batch`` images per
process and step, SGD with momentum 0.9, as ``mpiexec -n R minitorch-cnn train`` does: the model
wrapped in DistributedDataParallel (ResNet-20's batch norm as SyncBatchNorm), a DistributedSampler
loader. One process runs without MPI (the plain single-process loop); two run under ``mpiexec``,
one BLAS thread each. Two processes with batch ``B`` each do the work of one with ``2B``::

    speed-up = images/s on 2 processes / images/s on 1 process       (ideal 2 on 2 free cores)
    communication share = seconds inside MPI calls / seconds of the timed steps

The time inside MPI calls includes waiting for the slower rank, so the share also counts load
imbalance. Each configuration runs in fresh processes (``python -m bench.distributed_suite`` is
the worker) after warm-up steps; images/s is over the timed steps of the slowest rank.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

#: case -> model name; the data is the digits for both.
MODELS = {"lenet5_digits": "lenet5", "resnet20_digits": "resnet20"}
#: images per process per step, timed steps and warm-up steps (full run, quick run)
BATCH, STEPS, WARMUP = (32, 4), (30, 3), (3, 1)
PROCESSES = (1, 2)


def run(cases, repeats, quick, max_seconds, torch, log):
    """One row per case and process count; ``repeats`` runs of each (fresh processes), median kept."""
    from minitorch_cnn.distributed import launch

    q = 1 if quick else 0
    rows = []
    for case in cases:
        single = None
        for R in PROCESSES:
            if R > 1 and launch.mpiexec_path() is None:
                log({"suite": "distributed", "case": case, "skipped": "mpiexec not found (the distributed extra)"})
                continue
            runs = [_launch(case, R, BATCH[q], STEPS[q], WARMUP[q]) for _ in range(max(1, repeats if not quick else 1))]
            runs.sort(key=lambda r: r["seconds"])
            best = runs[len(runs) // 2]
            row = {
                "suite": "distributed", "case": case, "mode": f"{R} process" + ("es" if R > 1 else ""),
                "method": "ddp", "geometry": {"batch_per_process": BATCH[q], "steps": STEPS[q], "processes": R},
                "median_s": best["seconds"] / STEPS[q], "runs_s": [r["seconds"] / STEPS[q] for r in runs],
                "images_per_s": best["images"] / best["seconds"],
                "communication_share": best["communication_s"] / best["seconds"],
                "over_budget": False, "vs_torch": None,
            }
            if R == 1:
                single = row
            elif single is not None:
                row["speedup"] = row["images_per_s"] / single["images_per_s"]
            rows.append(row)
            log(row)
    return rows


def _launch(case, R, batch, steps, warmup):
    from minitorch_cnn.distributed import launch

    worker = ["-m", "bench.distributed_suite", case, "--batch", str(batch), "--steps", str(steps),
              "--warmup", str(warmup)]
    command = [*launch.mpiexec_command(R), *worker] if R > 1 else [sys.executable, *worker]
    done = subprocess.run(command, capture_output=True, text=True, env=launch.mpiexec_env(threads=1), timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"distributed benchmark {case} on {R} processes failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def markdown(rows):
    """The scaling table of BENCHMARKS.md."""
    out = ["| case | processes | batch per process | step | images/s | speed-up | communication share |",
           "|---|---|---|---|---|---|---|"]
    for row in rows:
        if "skipped" in row:
            out.append(f"| {row['case']} | skipped: {row['skipped']} | | | | | |")
            continue
        g = row["geometry"]
        speedup = f"{row['speedup']:.2f}x" if "speedup" in row else ""
        out.append(f"| {row['case']} | {g['processes']} | {g['batch_per_process']} | {row['median_s'] * 1e3:.1f} ms | "
                   f"{row['images_per_s']:.0f} | {speedup} | {row['communication_share']:.0%} |")
    return "\n".join(out)


def _worker(case, batch, steps, warmup):
    """Train ``case`` for ``warmup + steps`` steps in this job and print, on rank 0, one JSON line:
    the slowest rank's seconds for the timed steps, the images they processed on all ranks, and
    that rank's seconds inside MPI calls."""
    import numpy as np

    import minitorch_cnn as mt
    import minitorch_cnn.functional as F
    from minitorch_cnn import data, distributed, models, nn, optim
    from minitorch_cnn.engine import keep_freed_memory

    keep_freed_memory()
    R = distributed.get_world_size()
    mt.manual_seed(0)
    train = data.digits("train", size=32)
    model = models.create(MODELS[case], num_classes=10, in_channels=1)
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    if R > 1:
        model = distributed.DistributedDataParallel(nn.SyncBatchNorm.convert_sync_batchnorm(model))
    loader = data.DataLoader(train, batch_size=batch, drop_last=True, sampler=data.DistributedSampler(train))
    batches = list(loader)
    model.train()

    def step(i):
        images, labels = batches[i % len(batches)]
        optimizer.zero_grad()
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()

    for i in range(warmup):
        step(i)
    distributed.all_reduce(np.zeros(1))  # start the clocks together
    communication = distributed.communication_seconds()
    start = time.perf_counter()
    for i in range(steps):
        step(warmup + i)
    seconds = time.perf_counter() - start
    mine = {"seconds": seconds, "communication_s": distributed.communication_seconds() - communication}
    ranks = distributed.all_gather_object(mine)
    slowest = max(ranks, key=lambda r: r["seconds"])
    if distributed.is_main():
        print(json.dumps(dict(slowest, images=steps * batch * R)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=_worker.__doc__.splitlines()[0])
    parser.add_argument("case", choices=sorted(MODELS))
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--warmup", type=int, required=True)
    options = parser.parse_args()
    _worker(options.case, options.batch, options.steps, options.warmup)
