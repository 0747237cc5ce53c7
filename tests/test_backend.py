"""backend.keep_freed_memory: freed host memory is kept for the next step, not faulted back in."""

import os
import platform
import subprocess
import sys
import textwrap

import pytest

#: A step that holds twelve 4 MB arrays at once and then frees them all, as a forward pass builds up
#: activations and the backward pass lets them go; prints the page faults of ten such steps.
STEPS = textwrap.dedent("""
    import resource, sys
    import numpy as np
    if sys.argv[1] == "framework":
        import minitorch_cnn
    def step():
        held = [np.ones(2**20, np.float32) for _ in range(12)]
        del held
    for _ in range(3):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        step()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


#: Environment variables that choose malloc settings or another allocator; the child runs without them.
ALLOCATOR_VARIABLES = ("GLIBC_TUNABLES", "LD_PRELOAD", "MINITORCH_CNN_KEEP_FREED_MEMORY")


def _faults_per_step(mode):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k not in ALLOCATOR_VARIABLES}
    out = subprocess.run([sys.executable, "-c", STEPS, mode], capture_output=True, text=True, env=env, check=True)
    return int(out.stdout) / 10


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="keep_freed_memory tunes glibc's malloc, and this C library is not glibc",
)
def test_importing_the_framework_keeps_freed_memory_for_the_next_step():
    # Plain NumPy pays a fault per 4 KB page it gets back (thousands per step); after the import, none.
    assert _faults_per_step("numpy") > 1000
    assert _faults_per_step("framework") < 50


def test_keep_freed_memory_can_be_turned_off(monkeypatch):
    from minitorch_cnn.backend import keep_freed_memory

    monkeypatch.setenv("MINITORCH_CNN_KEEP_FREED_MEMORY", "0")
    assert keep_freed_memory() is False
