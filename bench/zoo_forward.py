"""Full-size forward pass of every registered model (batch 1, float32, CPU): seconds per image.

    python -m bench.zoo_forward [--repeats 3] [--models resnet18 vgg16 ...] [--out docs/zoo_forward.md]

Each model runs at its reference resolution (227 for AlexNet, 299 for Inception-v3 and Xception, 600 for
EfficientNet-B7, 32 for
the CIFAR networks...), in eval mode under ``no_grad``; the figure is the median of ``repeats``
runs after one warm-up. The Markdown table is written to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics

import numpy as np

import minitorch_cnn as mt
from minitorch_cnn import models
from minitorch_cnn.serialization import atomic_write

from .timing import forward_times

#: Input sizes that differ from 3x224x224.
INPUT = {
    "lenet5": (1, 32, 32),
    "alexnet": (3, 227, 227),
    "inception_v3": (3, 299, 299),
    "xception": (3, 299, 299),
    **{f"efficientnet_b{i}": (3, r, r) for i, r in enumerate((224, 240, 260, 300, 380, 456, 528, 600))},
    **{name: (3, 32, 32) for name in ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
                                       "plain20", "plain56", "wrn", "densenet_bc", "densenet40", "densenet100")},
}


def time_model(name, repeats):
    shape = INPUT.get(name, (3, 224, 224))
    model = models.create(name)
    x = mt.tensor(np.random.default_rng(0).standard_normal((1,) + shape).astype(np.float32))
    times = forward_times(model, x, repeats)
    params = sum(p.numel() for p in model.parameters())
    return shape, params, statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--out", default="docs/zoo_forward.md")
    args = parser.parse_args(argv)
    names = args.models or models.list_models()
    rows = []
    for name in names:
        shape, params, seconds = time_model(name, args.repeats)
        rows.append(f"| `{name}` | {'x'.join(map(str, shape))} | {params:,} | {seconds:.3f} |")
        print(rows[-1], flush=True)
    header = [
        "# Full-size forward pass of every model",
        "",
        f"Command: `OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')} "
        f"python -m bench.zoo_forward --repeats {args.repeats}`. Batch 1, float32, eval mode, "
        f"median of {args.repeats} runs after a warm-up, on {platform.machine()} with {os.cpu_count()} cores "
        "(a shared machine: treat figures as indicative).",
        "",
        "| model | input | parameters | seconds per image |",
        "|---|---|---:|---:|",
    ]
    with atomic_write(args.out, "w") as f:
        f.write("\n".join(header + rows) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
