"""What every lecture shares: quick mode, the figures folder, ``show`` and the ``check`` helper.

A lecture runs as a plain script (``python lectures/07_googlenet.py``), where figures go to files
through the Agg backend, or as a notebook (``make notebooks`` converts every lecture with
jupytext), where they show inline and go to the same files.

Quick mode runs the small settings the test suite uses (about a minute per lecture). A script
takes ``--quick``; a notebook kernel has its own command line, so ``MINITORCH_CNN_QUICK=1`` in
the environment selects it too. The first cell of every lecture holds the notebook's one-line
way, commented out:

    # %env MINITORCH_CNN_QUICK=1

Uncomment it and run the notebook from the top (it must run before this module is imported), or
start Jupyter with ``MINITORCH_CNN_QUICK=1`` for every lecture. In the ``.py`` file the line reads
``# # %env ...``: jupytext turns a ``# %magic`` comment into a live magic, and the extra ``#``
keeps it a comment in the notebook.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

#: The environment variable that selects quick mode where ``--quick`` cannot be passed.
QUICK_VARIABLE = "MINITORCH_CNN_QUICK"


def _quick_mode():
    value = os.environ.get(QUICK_VARIABLE, "")
    if value not in ("", "0", "1"):
        raise ValueError(f"{QUICK_VARIABLE}: expected 1 (quick mode) or 0 or unset (full mode), got {value!r}")
    return "--quick" in sys.argv or value == "1"


#: Quick mode: ``--quick`` or ``MINITORCH_CNN_QUICK=1``.
QUICK = _quick_mode()
#: A notebook kernel has already imported ipykernel; a script has not.
IN_NOTEBOOK = "ipykernel" in sys.modules

if not IN_NOTEBOOK:
    # Set before pyplot is imported anywhere, so a headless run never looks for a display.
    import matplotlib

    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

if QUICK:
    # The tests run lectures side by side on a small machine, where a multi-threaded BLAS fights
    # the other processes for the cores: it made the quick runs several times slower. The limit
    # applies to the BLAS NumPy has loaded (pyplot imported NumPy just above).
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)

#: Where figures go: lectures/figures/ (git-ignored), created on the first save.
FIGURES = Path(__file__).resolve().parent / "figures"


def show(fig, name):
    """Save ``fig`` as ``lectures/figures/<name>.png``, show that file inline in a notebook, and
    close the figure.

    ``fig`` may be a pyplot figure or a bare ``matplotlib.figure.Figure`` (what the library's plot
    helpers return, since they never touch pyplot's backend). The inline backend draws only the
    first kind by itself, so the notebook shows the saved file instead, the same image for both
    kinds; closing keeps the backend from drawing a pyplot figure a second time and a long script
    from holding every figure in memory. Returns the path written.
    """
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / f"{name}.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    if IN_NOTEBOOK:
        from IPython.display import Image, display

        display(Image(filename=path))
    plt.close(fig)
    print(f"figure: {path}")
    return path


def _format(value):
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


def check(name, value, expected, rel=1e-9):
    """Print ``name: value`` and assert it.

    ``expected`` is either a predicate (``lambda v: v < 0.1``) that must return True, or a value
    that ``value`` must equal (floats within relative tolerance ``rel``). Returns ``value``, so a
    lecture can check a number where it computes it.
    """
    if callable(expected):
        ok = bool(expected(value))
        print(f"{name}: {_format(value)}")
        assert ok, f"{name}: {_format(value)} does not satisfy the lecture's condition"
        return value
    print(f"{name}: {_format(value)} (expected {_format(expected)})")
    if isinstance(value, float) or isinstance(expected, float):
        ok = math.isclose(value, expected, rel_tol=rel, abs_tol=0.0)
    else:
        ok = value == expected
    assert ok, f"{name}: expected {_format(expected)}, got {_format(value)}"
    return value
