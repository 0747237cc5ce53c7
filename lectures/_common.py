"""What every lecture shares: the ``--quick`` flag, the figures folder and the ``check`` helper.

A lecture runs as a plain script (``python lectures/07_googlenet.py --quick``), where figures go
to files through the Agg backend, or as a notebook built by jupytext, where they also show inline.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

#: ``--quick``: the small settings the test suite runs (at most 60 s per lecture).
QUICK = "--quick" in sys.argv
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


def savefig(fig, name):
    """Save ``fig`` as ``lectures/figures/<name>.png``; show it inline in a notebook, else close it.

    Returns the path written.
    """
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / f"{name}.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    if IN_NOTEBOOK:
        plt.show()
    else:
        plt.close(fig)
    print(f"figure: {path}")
    return path


def _show(value):
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
        print(f"{name}: {_show(value)}")
        assert ok, f"{name}: {_show(value)} does not satisfy the lecture's condition"
        return value
    print(f"{name}: {_show(value)} (expected {_show(expected)})")
    if isinstance(value, float) or isinstance(expected, float):
        ok = math.isclose(value, expected, rel_tol=rel, abs_tol=0.0)
    else:
        ok = value == expected
    assert ok, f"{name}: expected {_show(expected)}, got {_show(value)}"
    return value
