"""The ``kernels`` package stands alone: it imports NumPy and Numba, nothing from ``minitorch_cnn``.

Each module is imported in a fresh Python process, since this one imported ``minitorch_cnn``
long ago, and that process lists the ``minitorch_cnn`` modules it ended up loading.
"""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: Run as ``python -c LIST_IMPORTS module root``. It checks that the module comes from this
#: checkout: an installed copy of the project elsewhere would make the test pass or fail for nothing.
LIST_IMPORTS = """
import importlib, sys
module = importlib.import_module(sys.argv[1])
assert module.__file__.startswith(sys.argv[2]), f"{sys.argv[1]} imported from {module.__file__}"
print(sorted(name for name in sys.modules if name.split(".")[0] == "minitorch_cnn"))
"""


@pytest.mark.parametrize(
    "module, simulator",
    [("kernels.geometry", False), ("kernels.cpu", False), ("kernels.cuda", True), ("kernels.ptx", True)],
)
def test_kernels_import_nothing_from_minitorch_cnn(module, simulator):
    env = dict(os.environ)
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"  # numba.cuda then imports on any machine, GPU or not
    done = subprocess.run(
        [sys.executable, "-c", LIST_IMPORTS, module, str(ROOT)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"{module} imports {done.stdout.strip()}"
