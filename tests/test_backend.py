"""backend.keep_freed_memory: freed host memory is kept for the next step, not faulted back in."""

import os
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


def _faults_per_step(mode):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", STEPS, mode], capture_output=True, text=True, env=env, check=True)
    return int(out.stdout) / 10


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="keep_freed_memory tunes glibc's malloc (Linux only)")
def test_importing_the_framework_keeps_freed_memory_for_the_next_step():
    from minitorch_cnn.backend import keep_freed_memory

    if not keep_freed_memory():
        pytest.skip("this C library is not glibc: keep_freed_memory does nothing here")
    # Plain NumPy pays a fault per 4 KB page it gets back (thousands per step); after the import, none.
    assert _faults_per_step("numpy") > 1000
    assert _faults_per_step("framework") < 50
