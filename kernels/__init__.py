"""Compiled kernels for the hot paths of convolution and max-pooling.

* :mod:`kernels.cpu` - Numba ``njit`` kernels on NumPy arrays.
* :mod:`kernels.cuda` - ``numba.cuda`` kernels on GPU arrays (or NumPy arrays, copied over).
* :mod:`kernels.ptx` - compiles every CUDA kernel to PTX: ``python -m kernels.ptx --cc 90 --out DIR``.
* :mod:`kernels.geometry` - argument checks shared by their host functions.

The package depends on NumPy and Numba only, nothing in ``minitorch_cnn``. It computes no output
size: the caller passes ``out_size = (Ho, Wo)`` (``minitorch_cnn`` takes it from
``minitorch_cnn.functional.sizes``, the one place sizes are computed). The kernels are tested
against the lesson, ``minitorch_cnn/functional/`` (``tests/test_kernels_cpu.py``,
``tests/test_kernels_cuda.py``).

Nothing is imported here, so ``import kernels`` never touches ``numba.cuda``: a machine without
a GPU (or the tests, which switch on Numba's CUDA simulator in a separate process) imports
:mod:`kernels.cuda` only when it needs it.
"""
