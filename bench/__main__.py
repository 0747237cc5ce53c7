"""``python -m bench``: run the benchmark suites and write results/<suite>-<time>.json and .png.

The thread count is fixed here, before NumPy, PyTorch, Numba or tinygrad is imported: OpenBLAS,
OpenMP and tinygrad (``NUM_CPU_THREADS``) read their environment variables once, when the library
loads. threadpoolctl then caps the BLAS pool again (and reports which BLAS kernel runs), and
PyTorch and Numba are told the same count.

Some of our machines set OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for older OpenBLAS builds;
they slow a current NumPy. BENCHMARKS.md runs the suite with both unset for that one command;
the JSON records the environment and the BLAS kernel in use.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

SUITES = ("conv", "layers", "train", "distributed", "canziani", "memory")
CONV_SHAPES = ("tiny", "lenet_c1", "alexnet_conv1", "resnet_64", "resnet_128", "bottleneck_1x1", "depthwise_3x3")
LAYERS = ("max_pool_3x3_s2", "batch_norm_train", "lrn_alexnet")
TRAIN = ("lenet5_digits", "resnet20_synthetic", "resnet20_synthetic_128", "plain20_synthetic",
         "vgg16_bn_cifar_synthetic", "mobilenet_v2_synthetic")
DISTRIBUTED = ("lenet5_digits", "resnet20_digits")
CANZIANI = ("alexnet", "vgg16", "googlenet", "resnet18", "resnet50", "mobilenet_v2", "squeezenet1_0",
            "efficientnet_b0", "densenet121", "inception_v3")
MEMORY = ("resnet50", "vgg16", "resnet20", "resnet50_adam")
METHODS = ("naive", "im2col", "gemm", "direct", "numba")


def _parse(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--suite", nargs="+", choices=SUITES, default=list(SUITES[:3]),
                        help="suites to run (default conv layers train; distributed needs the distributed extra; "
                             "canziani: the zoo's inference time, MACs and memory, about 5 minutes; memory: peak RSS of "
                             "building a model and of two training steps, beside PyTorch's, about 10 minutes on 2 shared cores)")
    parser.add_argument("--cases", nargs="+", metavar="CASE",
                        help=f"cases to run, from {', '.join(dict.fromkeys(CONV_SHAPES + LAYERS + TRAIN + DISTRIBUTED + CANZIANI + MEMORY))} "
                             "(default all)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), help="conv2d methods")
    parser.add_argument("--threads", type=int, default=2, help="threads for BLAS, OpenMP, PyTorch and Numba (2)")
    parser.add_argument("--repeats", type=int, help="timed runs per candidate after the warm-up (5; quick: 3)")
    parser.add_argument("--max-seconds", type=float,
                        help="time one candidate may take per row; slower ones are run once "
                             "(default 120, quick: 1; 0: no limit)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: batch size 1, images at most 16x16 (32 for layers; canziani: 3 models "
                             "at 64x64, batch 1 and 2; memory: ResNet-20 at batch 4, ResNet-50 at 64x64), 3 repeats, "
                             "1 s per candidate; not for reporting")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out even when it is installed")
    parser.add_argument("--peers", action="store_true",
                        help="also time tinygrad's CPU backend (the peers extra) on the conv shapes and the "
                             "ResNet-20 step; a skipped row says why when it cannot run")
    parser.add_argument("--report", metavar="JSON", help="print the tables of an earlier run and redraw its chart")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"),
                        help="directory for the JSON and PNG results (default bench/results)")
    args = parser.parse_args(argv)
    unknown = set(args.cases or ()) - set(CONV_SHAPES + LAYERS + TRAIN + DISTRIBUTED + CANZIANI + MEMORY)
    if unknown:
        parser.error(f"unknown case(s) {sorted(unknown)}")
    if args.repeats is None:
        args.repeats = 3 if args.quick else 5
    if args.max_seconds is None:
        args.max_seconds = 1.0 if args.quick else 120.0
    return args


def _set_threads(threads):
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "NUM_CPU_THREADS"):
        os.environ[var] = str(threads)


def _tables(rows):
    from . import canziani_suite, conv_suite, distributed_suite, memory_suite, report

    scaling = [r for r in rows if r["suite"] == "distributed"]
    zoo = [r for r in rows if r["suite"] == "canziani"]
    training_memory = [r for r in rows if r["suite"] == "memory"]
    rows = [r for r in rows if r["suite"] not in ("distributed", "canziani", "memory")]
    tables = [report.markdown(rows)] if rows else []
    breakdown = report.breakdown_table(rows)
    if breakdown:
        tables.append("Where our training step goes (cProfile over 3 steps; the profiler's overhead falls mostly "
                      "on 'everything else'):\n\n" + breakdown)
    peer_table = report.peers_table(rows)
    if peer_table:
        tables.append("Peers, measured in the same rounds (time ratios; above 1x the peer is slower):\n\n" + peer_table)
    memory = conv_suite.memory_table(rows)
    if memory:
        tables.append("Peak memory, forward plus backward (tracemalloc):\n\n" + memory)
    if scaling:
        tables.append("Data-parallel scaling (one BLAS thread per process):\n\n" + distributed_suite.markdown(scaling))
    if zoo:
        tables.append("The zoo after Canziani et al. 2016 (eval, no_grad; memory: peak RSS):\n\n"
                      + canziani_suite.markdown(zoo))
    if training_memory:
        tables.append("Training memory (peak RSS added by building the model and by two training steps):\n\n"
                      + memory_suite.markdown(training_memory))
    return "\n\n".join(tables)


def _show(path):
    """``--report``: the tables and chart of a results file, without measuring anything."""
    import json

    from . import report

    with open(path) as f:
        results = json.load(f)
    print(_tables(results["rows"]))
    info = results["machine"]
    png = os.path.splitext(path)[0] + ".png"
    if report.chart(png, results["rows"], report.title(info)):
        print(f"\nwrote {png}")
    if any(r["suite"] == "canziani" for r in results["rows"]):
        from . import canziani_suite

        print("wrote " + " and ".join(canziani_suite.figures(os.path.splitext(path)[0], results["rows"],
                                                             report.title(info))))
    return 0


def main(argv=None):
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.report:
        return _show(args.report)
    _set_threads(args.threads)

    from threadpoolctl import threadpool_limits

    from . import report, timing
    from .timing import machine

    threadpool_limits(args.threads)
    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("PyTorch is not installed: no ratios to PyTorch (pip install torch==2.13.0)")
        else:
            torch.set_num_threads(args.threads)
    import numba

    numba.set_num_threads(args.threads)

    peer = None
    if args.peers:
        from . import peers

        peer = peers.load(args.threads)
    if args.quick:
        timing.PAUSE_S = 0.0  # a smoke run, not for reporting: no pause between timed runs
    info = machine(args.threads)
    if peer is not None and peer[0] is not None:
        info["tinygrad"] = peers.version(peer[0])
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if info["env"][var]:
            print(f"note: {var}={info['env'][var]} is set; a current NumPy runs slower with it (see BENCHMARKS.md)")
    print(f"{info['cpu']}, {info['logical_cores']} cores, load {info['load_average_1_5_15']}, "
          f"{args.threads} threads, BLAS {info['blas']}")

    def picked(names):
        return [n for n in names if args.cases is None or n in args.cases]

    max_seconds = args.max_seconds or None
    common = dict(repeats=args.repeats, quick=args.quick, max_seconds=max_seconds, torch=torch,
                  log=lambda row: print(report.line(row), flush=True))
    rows = []
    start = time.time()
    if "conv" in args.suite:
        from . import conv_suite

        rows += conv_suite.run(picked(CONV_SHAPES), list(args.methods), peer=peer, **common)
    if "layers" in args.suite:
        from . import layers_suite

        rows += layers_suite.run(picked(LAYERS), **common)
    if "train" in args.suite:
        from . import train_suite

        rows += train_suite.run(picked(TRAIN), peer=peer, **common)
    if "distributed" in args.suite:
        from . import distributed_suite

        rows += distributed_suite.run(picked(DISTRIBUTED), **common)
    if "canziani" in args.suite:
        from . import canziani_suite

        rows += canziani_suite.run(picked(CANZIANI) if args.cases else None, **common)
    if "memory" in args.suite:
        from . import memory_suite

        rows += memory_suite.run(picked(MEMORY) if args.cases else None,
                                 **{**common, "log": lambda row: print(memory_suite.line(row), flush=True)})
    info["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    info["wall_seconds"] = round(time.time() - start, 1)

    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, "-".join(args.suite) + time.strftime("-%Y%m%d-%H%M%S"))
    options = {k: v for k, v in vars(args).items() if k != "out"}
    extra = {}
    if "canziani" in args.suite:
        from . import canziani_suite

        extra["canziani"] = canziani_suite.analysis(rows)
    report.write_json(stem + ".json", info, options, rows, **extra)
    print()
    print(_tables(rows))
    drawn = report.chart(stem + ".png", rows, report.title(info))
    print(f"\nwrote {stem}.json" + (f" and {stem}.png" if drawn else ""))
    if "canziani" in args.suite:
        print("wrote " + " and ".join(canziani_suite.figures(stem, rows, report.title(info))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
