"""``method="numba"`` of conv2d and max_pool2d, and what ``method="auto"`` picks.

* conv2d forward through the Numba CPU kernels against the lesson's seven loops, float64
  gradient checks through ``F.conv2d(method="numba")``, and the PyTorch oracle (float32);
* max_pool2d's Numba method against the slices method, gradient-checked, against PyTorch;
* NumPy arrays reach ``kernels.cpu``, other array libraries get a clear error (what ``"auto"``
  picks is tested in test_engine.py).

The first run on a machine compiles the kernels (cached on disk afterwards), so the shapes are
small and each kernel is compiled for float32 and float64 only.
"""

import re

import numpy as np
import pytest

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import backend
from minitorch_cnn.engine import compiled
from conv_cases import CASES, conv_fn, random_inputs, torch_conv
from helpers import check_forward, check_grad, check_torch, lesson_conv2d, on, torch_or_skip

#: Geometries the float64 gradient check runs through the kernels: one per feature.
GRAD_CASES = ["3x3_pad_1", "stride_does_not_divide", "dilation", "depthwise_multiplier_2_strided", "groups_2",
              "everything_at_once"]


@pytest.fixture
def numpy_xp():
    return backend.namespace_for_device("cpu")


# ---------------------------------------------------------------- conv2d


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_forward_matches_the_seven_loops(case, numpy_xp):
    x_shape, w_shape, stride, padding, dilation, groups = CASES[case]
    x, w, b = random_inputs(x_shape, w_shape)
    y = F.conv2d(on(numpy_xp, x), on(numpy_xp, w), on(numpy_xp, b), stride, padding, dilation, groups,
                 method="numba")
    expected, _, _ = lesson_conv2d(x, w, None, stride, padding, dilation, groups, bias=b)
    check_forward(y, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", GRAD_CASES)
def test_gradcheck(case, numpy_xp):
    x_shape, w_shape, stride, padding, dilation, groups = CASES[case]
    check_grad(conv_fn(stride, padding, dilation, groups, "numba"), numpy_xp, *random_inputs(x_shape, w_shape))


@pytest.mark.parametrize("case", GRAD_CASES)
def test_matches_torch(case):
    x_shape, w_shape, stride, padding, dilation, groups = CASES[case]
    check_torch(
        conv_fn(stride, padding, dilation, groups, "numba"),
        torch_conv(stride, padding, dilation, groups),
        *random_inputs(x_shape, w_shape),
    )


def test_float32_stays_float32(numpy_xp):
    x, w, _ = random_inputs((1, 2, 5, 5), (3, 2, 3, 3))
    y = F.conv2d(on(numpy_xp, x, dtype=np.float32), on(numpy_xp, w, dtype=np.float32), method="numba")
    assert backend.dtype_name(y.dtype) == "float32"


# ---------------------------------------------------------------- max_pool2d


@pytest.mark.parametrize("kernel, stride, padding", [(2, None, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 1))],
                         ids=["2x2", "3x3_stride_2_pad_1", "rectangular"])
def test_max_pool_matches_slices_and_gradchecks(kernel, stride, padding, numpy_xp):
    # Distinct values: central differences are only meaningful away from ties.
    host = np.random.default_rng(0).permutation(2 * 7 * 6).reshape(1, 2, 7, 6) / 10.0
    expected = F.max_pool2d(on(numpy_xp, host), kernel, stride, padding, method="slices")
    check_forward(F.max_pool2d(on(numpy_xp, host), kernel, stride, padding, method="numba"), expected.detach().numpy())
    check_grad(lambda t: F.max_pool2d(t, kernel, stride, padding, method="numba"), numpy_xp, host)


def test_max_pool_ties_send_the_gradient_to_the_first_maximum(numpy_xp):
    x = on(numpy_xp, np.ones((1, 1, 2, 2)), requires_grad=True)
    F.max_pool2d(x, 2, method="numba").sum().backward()
    check_forward(x.grad, [[[[1.0, 0.0], [0.0, 0.0]]]])


def test_max_pool_matches_torch():
    torch = torch_or_skip()
    host = np.random.default_rng(1).standard_normal((2, 3, 9, 8))
    check_torch(lambda x: F.max_pool2d(x, 3, 2, 1, method="numba"),
                lambda x: torch.nn.functional.max_pool2d(x, 3, 2, 1), host)


# ---------------------------------------------------------------- dispatch


def test_numba_runs_the_cpu_kernels_on_numpy():
    from kernels import cpu

    assert compiled.kernels_for(np.zeros((1, 1, 4, 4)), "conv2d") is cpu


def test_numba_refuses_other_array_libraries():
    strict = pytest.importorskip("array_api_strict")
    x, w = on(strict, np.zeros((1, 1, 4, 4))), on(strict, np.zeros((1, 1, 3, 3)))
    message = "conv2d: method='numba' needs NumPy or CuPy arrays, got array_api_strict arrays"
    with pytest.raises(TypeError, match=re.escape(message)):
        F.conv2d(x, w, method="numba")
    message = "max_pool2d: method='numba' needs NumPy or CuPy arrays, got array_api_strict arrays"
    with pytest.raises(TypeError, match=re.escape(message)):
        F.max_pool2d(x, 2, method="numba")


def test_cpu_kernels_run_on_one_numba_thread_and_restore_the_count(monkeypatch):
    # The tests run with NUMBA_NUM_THREADS=1, so the count is watched through set_num_threads.
    numba = pytest.importorskip("numba")
    calls = []
    monkeypatch.setattr(numba, "set_num_threads", calls.append)
    monkeypatch.setattr(numba, "get_num_threads", lambda: 7)
    x = mt.tensor(np.ones((1, 2, 5, 5), np.float32), requires_grad=True)
    w = mt.tensor(np.ones((2, 1, 3, 3), np.float32), requires_grad=True)
    F.conv2d(x, w, padding=1, groups=2, method="numba").sum().backward()
    assert calls == [1, 7] * 3  # forward, input gradient, weight gradient
    calls.clear()
    F.max_pool2d(x, 2, method="numba").sum().backward()
    assert calls == [1, 7] * 2
