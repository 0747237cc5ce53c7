"""Engine room: host memory tuning for training loops (glibc's ``malloc``)."""

from __future__ import annotations

import ctypes
import os
import sys

#: glibc's ``mallopt`` parameter numbers (``<malloc.h>``): M_TRIM_THRESHOLD and M_MMAP_THRESHOLD.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory(trim_threshold=256 * 2**20, mmap_threshold=32 * 2**20) -> bool:
    """Ask glibc's ``malloc`` to keep freed memory for the next training step instead of handing it
    back to the kernel; returns whether it took effect.

    Every training step allocates and frees the same few MB of activations, conv columns and
    gradients. By default glibc gives the free top of its heap back to the kernel once more than
    twice the largest recently freed block is free there, and the next step gets those pages back
    one page fault (a zero-filled 4 KB page) at a time: about 1,600 faults in every LeNet-5 step on
    the digits (batch 64), 4-5 ms of its 25-30 ms on one core (BENCHMARKS.md). With these settings
    arrays up to ``mmap_threshold`` come from the heap and up to ``trim_threshold`` of free heap is
    kept: under one fault per step. Larger arrays are still mapped and unmapped on their own.

    The settings hold for the whole process (every library in it, every thread's heap). Nothing
    changes where the C library is not glibc (macOS, Windows, musl), where another allocator
    serves ``malloc`` (jemalloc or tcmalloc through ``LD_PRELOAD``), when the user has chosen
    malloc settings already (``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_THRESHOLD_`` or
    ``glibc.malloc`` tunables in ``GLIBC_TUNABLES``), or with ``MINITORCH_CNN_KEEP_FREED_MEMORY=0``.

    Because the settings hold for the whole process (a notebook, PyTorch, everything in it),
    importing minitorch_cnn does not call this. The training entry points do -- ``training.fit``,
    the ``minitorch-cnn`` command line and the bench's training suite -- and a training loop of
    your own may too.
    """
    if not sys.platform.startswith("linux") or os.environ.get("MINITORCH_CNN_KEEP_FREED_MEMORY") == "0":
        return False
    if "MALLOC_TRIM_THRESHOLD_" in os.environ or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    process = ctypes.CDLL(None)
    if not hasattr(process, "gnu_get_libc_version"):  # not glibc: its mallopt numbers would mean something else
        return False
    glibc = ctypes.CDLL("libc.so.6")
    if ctypes.cast(process.malloc, ctypes.c_void_p).value != ctypes.cast(glibc.malloc, ctypes.c_void_p).value:
        return False  # a preloaded allocator serves malloc; glibc's settings would change nothing
    # Setting either value turns off glibc's own adjustment of both, so both are set.
    mmap_set = bool(glibc.mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold)))
    trim_set = bool(glibc.mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))
    return mmap_set and trim_set

