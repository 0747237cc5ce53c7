"""CUDA kernels (kernels/cuda.py) in Numba's CUDA simulator against the lesson, and their PTX.

The lesson (minitorch_cnn/functional/) is ``F.conv2d(method="naive")``, ``F.im2col``,
``F.col2im`` and ``F.max_pool2d(method="slices")`` in float64, their gradients through autograd.

The simulator must be switched on (``NUMBA_ENABLE_CUDASIM=1``) before ``numba.cuda`` is first
imported, and other tests in this process may already have imported it for real. So the
kernels run in a separate Python process started with the variable set, one per test module
and pytest-xdist worker, reused by every test; it only runs kernels, the lesson runs here. The
simulator runs each GPU thread as a Python thread, so the arrays here are tiny - but never a
multiple of the block sizes.

Where a GPU is present the same tests also run on it (the "gpu" side of the ``run`` fixture);
elsewhere those show as skipped. The PTX test compiles every kernel for sm_80 and sm_90 and assembles it with
``ptxas``; it skips, with the reason, where libNVVM (``numba-cuda[cu12]``) or ptxas is missing.
"""

import multiprocessing
import os

import numpy as np
import pytest

import minitorch_cnn as mt
from helpers import check_kernel, lesson_conv2d, lesson_max_pool2d
from minitorch_cnn.functional.sizes import conv2d_output_shape, pair

DTYPES = [pytest.param(np.float32, id="float32"), pytest.param(np.float64, id="float64")]

#: (N, C, H, W, F, kernel_size, stride, padding, dilation, groups). With TILE = 16 the second
#: case needs two tiles of output pixels (20), of filters (18) and of taps (27), none full.
CONV_CASES = [
    pytest.param(1, 4, 7, 6, 6, 3, 2, 1, 2, 2, id="tiled-strided-dilated-groups2"),
    pytest.param(1, 3, 5, 4, 18, 3, 1, 1, 1, 1, id="tiled-partial-tiles"),
    pytest.param(2, 3, 6, 5, 6, 3, 2, 1, 1, 3, id="depthwise-two-filters-per-channel"),
    pytest.param(2, 3, 1, 1, 5, 1, 1, 0, 1, 1, id="1x1-image"),
    pytest.param(1, 2, 1, 1, 3, 3, 1, 1, 1, 1, id="1x1-image-3x3-padded"),
    pytest.param(2, 3, 5, 4, 2, (5, 4), 1, 0, 1, 1, id="kernel-equals-input"),
]
CONV_ARGS = "N, C, H, W, F, kernel_size, stride, padding, dilation, groups"

#: (N, C, H, W, kernel_size, stride, padding, dilation) for im2col / col2im.
COLUMN_CASES = [
    pytest.param(1, 2, 5, 4, 3, 2, 1, 1, id="3x3-stride2-pad1"),
    pytest.param(2, 1, 4, 6, (2, 3), 1, (0, 1), (2, 1), id="overlapping-dilated"),
    pytest.param(1, 2, 1, 1, 3, 1, 1, 1, id="1x1-image-padded"),
]

#: (N, C, H, W, kernel_size, stride, padding, ceil_mode)
POOL_CASES = [
    pytest.param(2, 3, 7, 6, 3, 2, 1, False, id="overlapping-3x3-stride2-pad1"),
    pytest.param(1, 2, 5, 7, (2, 3), (1, 2), (1, 1), False, id="rectangular"),
    pytest.param(2, 2, 1, 1, 1, 1, 0, False, id="1x1-image"),
    pytest.param(1, 2, 4, 5, (4, 5), None, 0, False, id="kernel-equals-input"),
    # ceil_mode: the last window hangs over the padded input (8 + 2 rows and columns).
    pytest.param(1, 2, 8, 8, 3, 2, 1, True, id="ceil-mode-padded"),
]


def _run_kernel(name, *args, on_gpu=False, **kwargs):
    """``kernels.cuda.<name>(*args, **kwargs)`` with NumPy results; ``on_gpu`` first copies the
    NumPy arguments to the (possibly simulated) GPU and checks that the results stay there."""
    from numba import cuda

    from kernels import cuda as cuda_kernels

    if on_gpu:
        args = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in args]
    out = getattr(cuda_kernels, name)(*args, **kwargs)
    results = out if isinstance(out, tuple) else (out,)
    if on_gpu:
        kinds = [type(r).__name__ for r in results]
        assert not any(isinstance(r, np.ndarray) for r in results), f"GPU arrays in, host arrays out: {kinds}"
        results = tuple(r.copy_to_host() for r in results)
    return results if isinstance(out, tuple) else results[0]


def _simulator_status():
    import numba
    from numba import cuda

    return bool(numba.config.ENABLE_CUDASIM), getattr(cuda, "implementation", "Built-in")


@pytest.fixture(scope="module")
def simulator():
    """A worker process with Numba's CUDA simulator on: ``simulator(name, *args, **kwargs)``."""
    saved = os.environ.get("NUMBA_ENABLE_CUDASIM")
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    try:
        pool = multiprocessing.get_context("spawn").Pool(1)
    finally:
        if saved is None:
            del os.environ["NUMBA_ENABLE_CUDASIM"]
        else:
            os.environ["NUMBA_ENABLE_CUDASIM"] = saved
    try:
        simulated, _ = pool.apply(_simulator_status)
        assert simulated, "the worker process did not start Numba's CUDA simulator"
        yield lambda name, *args, **kwargs: pool.apply(_run_kernel, (name, *args), kwargs)
    finally:
        pool.terminate()
        pool.join()


@pytest.fixture(params=["simulator", "gpu"])
def run(request):
    """Runs a host function of kernels.cuda in the simulator, or here on a real GPU if there is one."""
    if request.param == "simulator":
        return request.getfixturevalue("simulator")
    numba = pytest.importorskip("numba")
    if numba.config.ENABLE_CUDASIM:
        pytest.skip("gpu: this process runs Numba's CUDA simulator, not a GPU")
    from numba import cuda

    if not cuda.is_available():
        pytest.skip("gpu: Numba finds no CUDA GPU here")
    return _run_kernel


def _conv_arrays(N, C, H, W, F, kernel_size, stride, padding, dilation, groups, dtype, seed):
    """``x``, ``w``, a ``grad = dL/dy`` (all of ``dtype``) and ``out_size = (Ho, Wo)`` from the sizes helper."""
    rng = np.random.default_rng(seed)
    kh, kw = pair(kernel_size)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C // groups, kh, kw)).astype(dtype)
    out_size = conv2d_output_shape(H, W, (kh, kw), stride, padding, dilation)
    grad = rng.standard_normal((N, F, *out_size)).astype(dtype)
    return x, w, grad, out_size


# ---------------------------------------------------------------- convolution


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(CONV_ARGS, CONV_CASES)
def test_conv2d_forward(run, N, C, H, W, F, kernel_size, stride, padding, dilation, groups, dtype):
    geometry = (stride, padding, dilation, groups)
    x, w, grad, out_size = _conv_arrays(N, C, H, W, F, kernel_size, *geometry, dtype, 0)
    y, _, _ = lesson_conv2d(x, w, grad, *geometry)
    check_kernel(run("conv2d_forward", x, w, *geometry, out_size=out_size), y, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(CONV_ARGS, CONV_CASES)
def test_conv2d_backward_input(run, N, C, H, W, F, kernel_size, stride, padding, dilation, groups, dtype):
    geometry = (stride, padding, dilation, groups)
    x, w, grad, _ = _conv_arrays(N, C, H, W, F, kernel_size, *geometry, dtype, 1)
    _, dx, _ = lesson_conv2d(x, w, grad, *geometry)
    check_kernel(run("conv2d_backward_input", grad, w, x.shape, *geometry), dx, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(CONV_ARGS, CONV_CASES)
def test_conv2d_backward_weight(run, N, C, H, W, F, kernel_size, stride, padding, dilation, groups, dtype):
    geometry = (stride, padding, dilation, groups)
    x, w, grad, _ = _conv_arrays(N, C, H, W, F, kernel_size, *geometry, dtype, 2)
    _, _, dw = lesson_conv2d(x, w, grad, *geometry)
    check_kernel(run("conv2d_backward_weight", x, grad, w.shape, *geometry), dw, dtype)


def test_conv2d_backward_weight_long_sums_use_many_threads_per_weight(run):
    # 2*12*11 = 264 products per weight: 16 threads share each sum, 8 weights per block.
    x, w, grad, _ = _conv_arrays(2, 2, 12, 11, 3, 3, 1, 1, 1, 1, np.float64, 3)
    _, _, dw = lesson_conv2d(x, w, grad, 1, 1)
    check_kernel(run("conv2d_backward_weight", x, grad, w.shape, 1, 1), dw, np.float64)


def test_gpu_arrays_stay_on_the_gpu(run):
    x, w, grad, out_size = _conv_arrays(1, 2, 4, 3, 3, 2, 1, 1, 1, 1, np.float32, 4)
    y, _, _ = lesson_conv2d(x, w, grad, 1, 1)
    check_kernel(run("conv2d_forward", x, w, 1, 1, out_size=out_size, on_gpu=True), y, np.float32)
    pooled, argmax = run("max_pool2d_forward", x, 2, 1, 0, out_size=conv2d_output_shape(4, 3, 2), on_gpu=True)
    y, _ = lesson_max_pool2d(x, np.zeros_like(pooled), 2, 1, 0)
    check_kernel(pooled, y, np.float32)
    assert argmax.dtype == np.int64


# ---------------------------------------------------------------- im2col and col2im


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N, C, H, W, kernel_size, stride, padding, dilation", COLUMN_CASES)
def test_im2col_and_col2im(run, N, C, H, W, kernel_size, stride, padding, dilation, dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    geometry = (kernel_size, stride, padding, dilation)
    out_size = conv2d_output_shape(H, W, *geometry)
    cols = mt.functional.im2col(mt.tensor(x.astype(np.float64)), *geometry).detach().numpy()
    check_kernel(run("im2col", x, *geometry, out_size=out_size), cols, dtype)
    grad = rng.standard_normal(cols.shape).astype(dtype)
    dx = mt.functional.col2im(mt.tensor(grad.astype(np.float64)), x.shape, *geometry).detach().numpy()
    check_kernel(run("col2im", grad, x.shape, *geometry, out_size=out_size), dx, dtype)


# ---------------------------------------------------------------- max-pooling


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N, C, H, W, kernel_size, stride, padding, ceil_mode", POOL_CASES)
def test_max_pool2d_forward_and_backward(run, N, C, H, W, kernel_size, stride, padding, ceil_mode, dtype):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    step = kernel_size if stride is None else stride
    out_size = conv2d_output_shape(H, W, kernel_size, step, padding, ceil_mode=ceil_mode)
    y, argmax = run("max_pool2d_forward", x, kernel_size, stride, padding, out_size=out_size)
    grad = rng.standard_normal(y.shape).astype(dtype)
    y_lesson, dx_lesson = lesson_max_pool2d(x, grad, kernel_size, stride, padding, ceil_mode)
    check_kernel(y, y_lesson, dtype)
    # The lesson keeps no argmax: a wrong winner shows as a gradient sent to the wrong pixel.
    dx = run("max_pool2d_backward", grad, argmax, x.shape, kernel_size, stride, padding)
    check_kernel(dx, dx_lesson, dtype)


def test_max_pool2d_ties_nan_and_padding_only_windows(run):
    x = np.array([[[[1.0, 1.0, 3.0], [1.0, np.nan, 3.0], [0.0, 0.0, 3.0]]]])
    y, argmax = run("max_pool2d_forward", x, 2, 1, 1, out_size=(4, 4))
    # 2x2 windows at stride 1 over the padded 5x5: a tie goes to the first maximum, the NaN (4) wins.
    np.testing.assert_array_equal(argmax[0, 0], [[0, 0, 2, 2], [0, 4, 4, 2], [3, 4, 4, 5], [6, 6, 8, 8]])
    grad = np.arange(1.0, 17.0).reshape(y.shape)
    y_lesson, dx_lesson = lesson_max_pool2d(x, grad, 2, 1, 1)
    np.testing.assert_array_equal(y, y_lesson)  # NaN == NaN for assert_array_equal
    np.testing.assert_array_equal(run("max_pool2d_backward", grad, argmax, x.shape, 2, 1, 1), dx_lesson)
    empty_y, empty_argmax = run("max_pool2d_forward", np.ones((1, 1, 1, 1)), 1, 1, 1, out_size=(3, 3))
    assert empty_y[0, 0, 0, 0] == -np.inf and empty_argmax[0, 0, 0, 0] == -1


# ---------------------------------------------------------------- host-side checks (no launch)


@pytest.fixture
def cuda_kernels():
    return pytest.importorskip("kernels.cuda", reason="numba.cuda is not importable")


def test_launch_config_covers_the_work(cuda_kernels):
    launch_config, TILE, THREADS = cuda_kernels.launch_config, cuda_kernels.TILE, cuda_kernels.THREADS
    assert launch_config("elements", THREADS + 1) == ((2,), (THREADS,))
    assert launch_config("tiles", 20, 18, 6) == ((2, 2, 6), (TILE, TILE, 1))
    assert launch_config("reduce", 10, 1) == ((1,), (1, THREADS))
    assert launch_config("reduce", 10, 10**6) == ((10,), (THREADS, 1))
    with pytest.raises(ValueError, match="launch_config: expected at most 65535 blocks on grid axis 2"):
        launch_config("tiles", 1, 1, 70000)


def test_host_functions_reject_bad_arrays(cuda_kernels):
    x32, w64 = np.zeros((1, 2, 4, 4), np.float32), np.zeros((3, 2, 3, 3), np.float64)
    with pytest.raises(TypeError, match="conv2d_forward: expected float32 or float64 arrays of one dtype"):
        cuda_kernels.conv2d_forward(x32, w64, out_size=(2, 2))
    with pytest.raises(TypeError, match="im2col: expected NumPy arrays or CUDA arrays"):
        cuda_kernels.im2col([[1.0]], 1, out_size=(1, 1))
    with pytest.raises(ValueError, match=r"col2im: expected cols of shape \(1, 18, 4\)"):
        cuda_kernels.col2im(np.zeros((1, 18, 6)), (1, 2, 4, 4), 3, padding=1, out_size=(2, 2))
    with pytest.raises(TypeError, match="max_pool2d_backward: expected an int64 argmax"):
        cuda_kernels.max_pool2d_backward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int32), (1, 1, 4, 4), 2)


# ---------------------------------------------------------------- PTX for real GPUs


def _ptx_toolchain_or_skip(cc):
    ptx = pytest.importorskip("kernels.ptx", reason="numba.cuda is not importable")
    import numba
    from numba import cuda, types

    if numba.config.ENABLE_CUDASIM:
        pytest.skip("PTX: NUMBA_ENABLE_CUDASIM is set in this process; the simulator compiles nothing")

    def probe(a):
        a[0] = 1.0

    try:
        cuda.compile_ptx(probe, (types.float32[::1],), cc=cc)
    except Exception as exc:  # NvvmSupportError and friends: no libNVVM here
        pytest.skip(f"PTX: libNVVM is not available (pip install 'numba-cuda[cu12]'): {type(exc).__name__}: {exc}")
    ptxas = ptx.find_ptxas()
    if ptxas is None:
        pytest.skip("PTX: ptxas (CUDA toolkit) not found on PATH, $CUDA_HOME/bin or /usr/local/cuda/bin")
    return ptx, ptxas


@pytest.mark.slow
@pytest.mark.parametrize("cc", [(8, 0), (9, 0)], ids=["sm_80", "sm_90"])
def test_every_kernel_compiles_to_ptx_and_assembles(cc, tmp_path):
    ptx, ptxas = _ptx_toolchain_or_skip(cc)
    paths = ptx.compile_all(cc, tmp_path)
    assert len(paths) == 2 * len(ptx.cuda_kernels.KERNELS)
    for path in paths:
        used = ptx.assemble(path, cc, ptxas)
        assert used["registers"] > 0, f"{path.name}: no register count in the ptxas report"
        assert used["spill_stores"] == 0, f"{path.name} spills registers: {used}"
