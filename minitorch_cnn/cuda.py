"""PyTorch's ``torch.cuda`` questions, so ``mt.device("cuda" if mt.cuda.is_available() else "cpu")``
and d2l's ``try_gpu`` (``mt.cuda.device_count()``) run unchanged. Arrays on a GPU are CuPy's."""

from .backend import cuda_is_available as is_available


def device_count():
    """How many CUDA devices CuPy sees: 0 without CuPy, a driver or a GPU."""
    if not is_available():
        return 0
    import cupy

    return cupy.cuda.runtime.getDeviceCount()
