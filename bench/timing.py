"""Timing, memory tracing and the machine description shared by every suite.

Imported only after :mod:`bench.__main__` has fixed the thread counts: importing NumPy here
would start OpenBLAS with its default number of threads.
"""

from __future__ import annotations

import gc
import os
import platform
import resource
import statistics
import time
import tracemalloc


#: Seconds of sleep before every timed run. After a BLAS call, OpenBLAS's worker threads keep
#: spinning for about 2**28 cycles (~0.1 s here) before they sleep, and on 2 cores a spinning
#: thread takes a core from whatever runs next: PyTorch's ResNet 64->64 conv took 108 ms right
#: after NumPy GEMMs and 57-69 ms after a pause of 0.1-0.5 s (20 ms and 50 ms pauses: no change).
#: With the pause, each candidate starts on an idle machine, as it would in a process of its own.
PAUSE_S = 0.2


def _run_once(fn):
    time.sleep(PAUSE_S)
    # As timeit does: no garbage collection inside a timed run (it would be charged to that run).
    gc.disable()
    try:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    finally:
        gc.enable()


def _proc_status(field):
    """A ``/proc/self/status`` field in bytes (``VmRSS``, ``VmHWM``); None without ``/proc``."""
    try:
        with open("/proc/self/status") as f:
            for entry in f:
                if entry.startswith(field + ":"):
                    return int(entry.split()[1]) * 1024
    except OSError:
        return None
    return None


def peak_rss():
    """This process's peak resident set size in bytes: the kernel's high-water mark ``VmHWM``, which
    :func:`reset_peak_rss` can lower (``ru_maxrss``, which nothing lowers, where there is no ``/proc``)."""
    peak = _proc_status("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def rss():
    """This process's resident set size in bytes now (``VmRSS``; the peak where there is no ``/proc``)."""
    now = _proc_status("VmRSS")
    return now if now is not None else peak_rss()


def reset_peak_rss():
    """Lower the peak resident set size to the current one (``/proc/self/clear_refs``, Linux 4.0 and
    later); False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def forward_times(model, x, repeats):
    """Seconds of each of ``repeats`` forward passes of ``model`` (a minitorch_cnn module, put in
    eval mode) on tensor ``x`` under ``no_grad``, after one untimed warm-up (which may load Numba's
    cache). The zoo's forward table and the Canziani suite's workers time models this way."""
    import minitorch_cnn as mt

    model.eval()
    times = []
    with mt.no_grad():
        model(x)
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return times


def _traced_peak(fn):
    """Run ``fn`` once and return the peak bytes allocated meanwhile, over what was live before.

    NumPy reports its array buffers to tracemalloc; PyTorch's allocator does not, so a torch
    candidate's peak would not be comparable and is left out by the callers.
    """
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak


def measure(candidates, repeats, max_seconds=None, trace_memory=()):
    """Time every candidate (name -> zero-argument callable) ``repeats`` times after one warm-up.

    Within each round every candidate runs once, after a pause (``PAUSE_S``), in an order rotated
    from round to round, so a burst of load from the other users of this shared machine hits
    all candidates of a row rather than one. Candidates named in ``trace_memory`` run once more after the warm-up,
    untimed, under tracemalloc, to record their peak memory.

    A candidate whose first timed run shows that ``repeats`` runs would take longer than
    ``max_seconds`` runs no more: it keeps that one run, flagged ``over_budget`` (the naive
    loops and, on large shapes, the Numba kernels). The warm-up does not count here, since it
    may include Numba's compile or cache load.

    Returns ``{name: {"median_s", "runs_s", "over_budget", "peak_bytes"}}``.
    """
    gc.collect()
    results = {}
    for name, fn in candidates.items():
        fn()
        # Traced after the warm-up, which may load Numba's cache: Python objects count too.
        peak = _traced_peak(fn) if name in trace_memory else None
        results[name] = {"runs_s": [], "peak_bytes": peak, "over_budget": False}
    timed = list(candidates)
    for r in range(repeats):
        shift = r % max(len(timed), 1)
        for name in timed[shift:] + timed[:shift]:
            results[name]["runs_s"].append(_run_once(candidates[name]))
        if r == 0 and max_seconds is not None:
            for name in timed:
                results[name]["over_budget"] = results[name]["runs_s"][0] * repeats > max_seconds
            timed = [name for name in timed if not results[name]["over_budget"]]
    for entry in results.values():
        entry["median_s"] = statistics.median(entry["runs_s"])
    return results


def ratio(results, name, reference):
    """Time of ``name`` over time of ``reference``: the median of the per-round ratios when both
    ran every round (the pairs share the machine's load at that moment), else of the medians."""
    a, b = results[name], results[reference]
    if len(a["runs_s"]) == len(b["runs_s"]):
        return statistics.median(x / y for x, y in zip(a["runs_s"], b["runs_s"]))
    return a["median_s"] / b["median_s"]


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(threads):
    """What the numbers were measured on: CPU, cores, load, library versions, BLAS and threads."""
    import numpy as np
    from threadpoolctl import threadpool_info

    info = {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
        "numpy": np.__version__,
        "threads": threads,
        "blas": [
            {k: pool.get(k) for k in ("internal_api", "version", "architecture", "num_threads", "threading_layer")}
            for pool in threadpool_info()
        ],
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS",
                                               "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
                                               "NUM_CPU_THREADS")},
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        info["torch"] = None
    try:
        import numba

        info["numba"] = numba.__version__
        info["numba_threads"] = numba.get_num_threads()
    except ImportError:
        info["numba"] = None
    return info
