"""Who this process is in an MPI job, and the few collectives training needs.

A job started by ``mpiexec -n R`` runs ``R`` copies of the same program; each learns its
``rank`` (0 to ``R - 1``) and the ``world size`` ``R`` from MPI (mpi4py over Open MPI). A
program started without ``mpiexec`` is rank 0 of 1 and never imports MPI, so nothing here is
needed to train in one process.

The collectives work on host NumPy arrays (a CuPy array would be copied to the host first):

* ``all_reduce(a)``: every rank's ``a`` replaced, in place, by the sum over ranks;
* ``broadcast(a, src)``: every rank's ``a`` replaced by rank ``src``'s;
* ``all_gather_object(obj)``: the list of every rank's ``obj`` (small Python values).

Time spent inside them, waiting for slower ranks included, adds up in
:func:`communication_seconds`, which the benchmark reports as the communication share.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback

import numpy as np

#: Variables a launcher sets in every process it starts: Open MPI's mpiexec, MPICH's Hydra (and
#: Slurm's srun with PMI), and any PMIx launcher. Without one, this process runs alone.
LAUNCHER_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK")

_state = {"initialized": False, "comm": None, "rank": 0, "world_size": 1, "seconds": 0.0}


def init():
    """Find this process's rank and the world size; call it once, first (later calls do nothing).

    Under a launcher (``mpiexec``), MPI is imported and ``MPI.COMM_WORLD`` gives both; an
    uncaught exception on any rank then aborts the whole job (:func:`abort`) instead of leaving
    the other ranks waiting forever in a collective. Alone, this process is rank 0 of 1 and MPI
    is not imported. Every other function here calls ``init()`` itself.
    """
    if _state["initialized"]:
        return
    _state["initialized"] = True
    if not any(v in os.environ for v in LAUNCHER_VARIABLES):
        return
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise RuntimeError("distributed: this process was started by an MPI launcher, but mpi4py is not "
                           "installed; pip install 'minitorch_cnn[distributed]'") from exc
    comm = MPI.COMM_WORLD
    _state.update(comm=comm, rank=comm.Get_rank(), world_size=comm.Get_size())
    if comm.Get_size() > 1:
        _install_excepthook()


def get_rank() -> int:
    """This process's rank, 0 to ``get_world_size() - 1`` (0 without a launcher)."""
    init()
    return _state["rank"]


def get_world_size() -> int:
    """The number of processes in the job (1 without a launcher)."""
    init()
    return _state["world_size"]


def is_main() -> bool:
    """True on rank 0, the one process that writes files, logs and progress bars."""
    return get_rank() == 0


def communication_seconds() -> float:
    """Seconds this process has spent in collectives so far (including waiting for the others)."""
    return _state["seconds"]


def _timed(call, *args):
    start = time.perf_counter()
    try:
        return call(*args)
    finally:
        _state["seconds"] += time.perf_counter() - start


def all_reduce(a):
    """Replace the NumPy array ``a``, on every rank, by the sum of all ranks' ``a`` (in place);
    returns ``a``. ``a`` must be C-contiguous, with the same shape and dtype on every rank."""
    if get_world_size() > 1:
        from mpi4py import MPI

        _timed(_state["comm"].Allreduce, MPI.IN_PLACE, _contiguous(a, "all_reduce"))
    return a


def broadcast(a, src=0):
    """Replace the NumPy array ``a``, on every rank, by rank ``src``'s (in place); returns ``a``."""
    if get_world_size() > 1:
        _timed(_state["comm"].Bcast, _contiguous(a, "broadcast"), src)
    return a


def all_gather_object(obj):
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank, for small values (states, counts).

    The values travel pickled between the processes of this job only; nothing read from a file
    is unpickled."""
    if get_world_size() == 1:
        return [obj]
    return _timed(_state["comm"].allgather, obj)


def sendrecv(send, recv, peer):
    """Send the NumPy array ``send`` to rank ``peer`` and receive ``recv`` (in place) from it, both
    at once, so two ranks swapping arrays cannot each wait for the other to receive first;
    returns ``recv``. Model parallelism swaps activations (and gradients) this way."""
    _timed(_state["comm"].Sendrecv, _contiguous(send, "sendrecv"), peer, 0, _contiguous(recv, "sendrecv"), peer, 0)
    return recv


def _contiguous(a, op):
    if not isinstance(a, np.ndarray) or not a.flags.c_contiguous:
        raise TypeError(f"distributed.{op}: expected a C-contiguous NumPy array, got {type(a).__name__}"
                        + ("" if not isinstance(a, np.ndarray) else " that is not contiguous"))
    return a


def abort(exc, code=1):
    """Print ``exc`` with this process's rank and traceback to stderr, then end every process of
    the job (``MPI.COMM_WORLD.Abort``). Ranks blocked in a collective would otherwise wait for
    the failed one forever. Alone, the exception is raised again instead."""
    if get_world_size() == 1:
        raise exc
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    sys.stdout.flush()
    sys.stderr.write(f"rank {get_rank()} of {get_world_size()} failed, aborting the job:\n{text}")
    sys.stderr.flush()
    _state["comm"].Abort(code)


@contextlib.contextmanager
def abort_on_error():
    """With several ranks, any exception escaping the block (``SystemExit`` with an error
    included, which ``sys.excepthook`` never sees) aborts the job through :func:`abort`.
    Alone, exceptions pass through unchanged."""
    try:
        yield
    except SystemExit as exc:
        if get_world_size() == 1 or exc.code in (None, 0):
            raise
        abort(exc)
    except BaseException as exc:
        if get_world_size() == 1:
            raise
        abort(exc)


def _install_excepthook():
    """An uncaught exception on this rank aborts the job (see :func:`abort`)."""
    def hook(kind, value, tb):
        value.__traceback__ = tb
        abort(value)

    sys.excepthook = hook
