"""Compile every CUDA kernel to PTX, for float32 and float64: evidence that the kernels build, without a GPU.

    python -m kernels.ptx --cc 90 --out DIR [--ptxas]

writes ``DIR/<kernel>_<dtype>.ptx`` for every kernel in :data:`kernels.cuda.KERNELS`, compiled
by Numba's ``compile_ptx`` for compute capability 9.0 (``--cc 80`` for 8.0...). That needs
libNVVM, which ``numba-cuda[cu12]`` (the ``cuda`` extra) installs from PyPI. With ``--ptxas``
each file is then assembled by the CUDA toolkit's ``ptxas -v`` for ``sm_90`` and a Markdown
table of each kernel's registers and shared memory is printed (as in ``kernels/README.md``).
Any kernel that fails to compile or assemble makes the command fail.

The signatures are those of a launch from the host functions: C-contiguous arrays (int64 for
``argmax``) and int64 scalars.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys

import numba
import numpy as np
from numba import cuda, types

from . import cuda as cuda_kernels
from .geometry import FLOAT_DTYPES


def signature(name, real):
    """Numba argument types of kernel ``name`` built for ``real`` (Numba's float32 or float64)."""
    a3, a4 = types.Array(real, 3, "C"), types.Array(real, 4, "C")
    index4 = types.Array(types.int64, 4, "C")
    n = types.int64
    return {
        "im2col": (a4, a3) + (n,) * 9,
        "col2im": (a3, a4) + (n,) * 9,
        "conv2d_forward": (a4, a4, a4) + (n,) * 7,
        "conv2d_depthwise": (a4, a4, a4) + (n,) * 6,
        "conv2d_backward_input": (a4, a4, a4) + (n,) * 7,
        "conv2d_backward_weight": (a4, a4, a4) + (n,) * 7,
        "max_pool2d_forward": (a4, a4, index4) + (n,) * 6,
        "max_pool2d_backward": (a4, index4, a4) + (n,) * 6,
    }[name]


def parse_cc(text):
    """``"90"`` or ``"9.0"`` -> ``(9, 0)``."""
    major, minor = text.split(".") if "." in text else (text[:-1], text[-1:])
    if not (major.isdigit() and minor.isdigit()):
        raise ValueError(f"kernels.ptx: expected a compute capability such as 90 or 9.0, got {text!r}")
    return int(major), int(minor)


def compile_all(cc, out_dir):
    """Write one ``.ptx`` per kernel and dtype for compute capability ``cc = (major, minor)``; return the paths."""
    if numba.config.ENABLE_CUDASIM:
        raise RuntimeError("kernels.ptx: the CUDA simulator compiles nothing; unset NUMBA_ENABLE_CUDASIM")
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, factory in cuda_kernels.KERNELS.items():
        for dtype in FLOAT_DTYPES:
            real = numba.from_dtype(np.dtype(dtype))
            ptx, _ = cuda.compile_ptx(factory(real), signature(name, real), cc=cc)
            path = out_dir / f"{name}_{dtype}.ptx"
            path.write_text(ptx)
            paths.append(path)
    return paths


def find_ptxas():
    """The CUDA toolkit's ``ptxas``: on ``PATH``, else under ``$CUDA_HOME`` or ``/usr/local/cuda``; None if absent."""
    for candidate in (
        shutil.which("ptxas"),
        os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "ptxas"),
        "/usr/local/cuda/bin/ptxas",
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def assemble(path, cc, ptxas):
    """Assemble one PTX file with ``ptxas -v`` for ``sm_<cc>``; return its registers, shared memory and spills.

    Raises RuntimeError, with ptxas's message, if the file does not assemble.
    """
    path = pathlib.Path(path)
    arch = f"sm_{cc[0]}{cc[1]}"
    result = subprocess.run(
        [ptxas, "-v", f"-arch={arch}", str(path), "-o", str(path.with_suffix(f".{arch}.cubin"))],
        capture_output=True,
        text=True,
    )
    report = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"ptxas: {path.name} does not assemble for {arch}:\n{report}")

    def number(pattern):
        found = re.search(pattern, report)
        return int(found.group(1)) if found else 0

    return {
        "registers": number(r"Used (\d+) registers"),
        "shared_bytes": number(r"(\d+) bytes smem"),
        "spill_stores": number(r"(\d+) bytes spill stores"),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kernels.ptx", description=__doc__.splitlines()[0])
    parser.add_argument("--cc", default="90", help="compute capability, e.g. 80 or 9.0 (default 90)")
    parser.add_argument("--out", required=True, help="directory for the .ptx files")
    parser.add_argument("--ptxas", action="store_true", help="also assemble with ptxas -v and print resource use")
    args = parser.parse_args(argv)
    cc = parse_cc(args.cc)
    paths = compile_all(cc, args.out)
    print(f"wrote {len(paths)} PTX files for compute capability {cc[0]}.{cc[1]} to {args.out}")
    if not args.ptxas:
        return 0
    ptxas = find_ptxas()
    if ptxas is None:
        print("kernels.ptx: ptxas not found (install the CUDA toolkit or set CUDA_HOME)", file=sys.stderr)
        return 1
    print("\n| kernel | dtype | registers | shared memory (bytes) | spill stores (bytes) |\n|---|---|---|---|---|")
    for path in paths:
        used = assemble(path, cc, ptxas)
        name, dtype = path.stem.rsplit("_", 1)
        print(f"| {name} | {dtype} | {used['registers']} | {used['shared_bytes']} | {used['spill_stores']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
