"""Shared fixtures: the array backends every op test runs on."""

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import backend


def _namespace(name):
    if name == "numpy":
        return backend.namespace_for_device("cpu")
    if name == "array_api_strict":
        return pytest.importorskip("array_api_strict", reason="array-api-strict is not installed")
    if name == "cupy":
        if not backend.cuda_is_available():
            pytest.skip(f"cupy backend: {backend.cuda_unavailable_reason()}")
        return backend.namespace_for_device("cuda")
    raise ValueError(name)


@pytest.fixture(params=["numpy", "array_api_strict", "cupy"])
def xp(request):
    """The Array-API namespace an op test runs on; CuPy shows as skipped without a GPU."""
    return _namespace(request.param)


@pytest.fixture(autouse=True)
def _seed():
    mt.manual_seed(0)
    np.random.seed(0)
