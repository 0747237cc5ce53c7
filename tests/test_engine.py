"""The engine room (minitorch_cnn/engine) held to the lesson it replaces.

* ``"gemm"`` and ``"direct"`` against the lesson's seven loops, forward and float64 gradients, on
  named and drawn geometries, with each of their two layouts forced, on both backends; chunks
  of images with a shorter last one; an inf pixel; the flipped-filter identity they rely on;
* what ``"auto"`` runs (the measured table in engine/auto.py);
* ``keep_freed_memory``: not done on import, done when called, and its opt-out.
"""

import os
import platform
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import methods
from minitorch_cnn.engine import compiled, conv as engine_conv, keep_freed_memory
from minitorch_cnn.functional.sizes import pair
from conv_cases import (CASES, SETTINGS, check_conv_backward, check_conv_forward, check_conv_grad, geometries,
                        random_inputs)
from helpers import check_forward, lesson_conv2d, on

ENGINE_METHODS = ["gemm", "direct"]
FAST_METHODS = ["gemm", "direct", "auto"]


@pytest.fixture(params=["flat", "strided"])
def grid(request, monkeypatch):
    """Both layouts of the gemm and direct methods on every case: "flat" stride-1 taps (direct),
    gemm's row columns at vertical stride 1, and the flipped-filter input gradient (taken by real
    layers with little padding, forced here), and "strided" tap copies with col2im (taken by real
    layers with much padding, forced here)."""
    monkeypatch.setattr(engine_conv, "MAX_GRID_WASTE", float("inf") if request.param == "flat" else 0.0)
    return request.param


# ---------------------------------------------------------------- gemm and direct against the lesson


@pytest.mark.parametrize("method", ENGINE_METHODS)
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_forward_matches_the_seven_loops(case, method, xp, grid):
    check_conv_forward(CASES[case], method, xp)


@SETTINGS
@given(geometry=geometries(), method=st.sampled_from(ENGINE_METHODS))
def test_forward_matches_the_seven_loops_on_drawn_geometries(geometry, method, xp):
    check_conv_forward(geometry, method, xp)


@pytest.mark.parametrize("method", ENGINE_METHODS)
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_backward_matches_the_seven_loops(case, method, xp, grid):
    check_conv_backward(CASES[case], method, xp)


@pytest.mark.parametrize("method", ENGINE_METHODS)
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_gradcheck(case, method, xp, grid):
    check_conv_grad(CASES[case], method, xp)


@SETTINGS
@given(geometry=geometries(), method=st.sampled_from(ENGINE_METHODS))
def test_gradcheck_on_drawn_geometries(geometry, method, xp):
    check_conv_grad(geometry, method, xp)


@pytest.mark.parametrize("method", ["gemm", "direct"])
@pytest.mark.parametrize("case", ["3x3_pad_1", "everything_at_once"])
def test_batch_split_into_chunks_with_a_shorter_last_one(case, method, xp, grid, monkeypatch):
    # Real layers split the batch into chunks of a few MB; these tiny inputs only split when the
    # budget is shrunk to two images' worth of columns, leaving a shorter third chunk.
    _, w_shape, stride, padding, dilation, groups = CASES[case]
    x_shape = (5, *CASES[case][0][1:])
    stride, padding, dilation = pair(stride), pair(padding), pair(dilation)
    x, w, b = random_inputs(x_shape, w_shape)
    rows = engine_conv._row_grid(x_shape, w_shape, stride, padding, dilation, groups)
    if method == "gemm" and rows is not None:
        monkeypatch.setattr(engine_conv, "CHUNK_ELEMENTS", 2 * x_shape[1] * w_shape[3] * rows[0] * rows[1])
        chunks = [(n0, n1) for n0, n1, _ in engine_conv._row_columns(x, w_shape[2:], stride, padding, dilation, rows)]
    else:
        one_image = engine_conv._direct_layout((1, *x_shape[1:]), w_shape[2:], stride, padding, dilation)
        monkeypatch.setattr(engine_conv, "CHUNK_ELEMENTS", 2 * x_shape[1] * w_shape[2] * w_shape[3] * one_image.columns)
        chunks = [(n0, n1) for n0, n1, _ in engine_conv._chunk_layouts(x_shape, w_shape[2:], stride, padding, dilation)]
    assert chunks == [(0, 2), (2, 4), (4, 5)]

    y = F.conv2d(on(xp, x), on(xp, w), on(xp, b), stride, padding, dilation, groups, method=method)
    expected, _, _ = lesson_conv2d(x, w, None, stride, padding, dilation, groups, bias=b)
    check_forward(y, expected, rtol=1e-10, atol=1e-12)
    check_conv_grad((x_shape, w_shape, stride, padding, dilation, groups), method, xp)


def test_gemm_takes_the_row_columns_where_they_save_copies(grid):
    # The named cases above run gemm's row columns on the "flat" grid where the copies they save
    # outweigh the partial sums they add (kh*F < (kh - 1)*kw*Cg per group), and im2col elsewhere.
    def rows(case):
        x_shape, w_shape, stride, padding, dilation, groups = CASES[case]
        geometry = pair(stride), pair(padding), pair(dilation)
        return engine_conv._row_grid(x_shape, w_shape, *geometry, groups) is not None

    takes_rows = ["3x3_pad_1", "dilation", "groups_2", "depthwise", "stride_1_2_wide_padding"]
    im2col = ["odd_non_square", "stride_does_not_divide", "1x1", "everything_at_once"]
    assert [rows(case) for case in takes_rows] == [grid == "flat"] * len(takes_rows)
    assert not any(rows(case) for case in im2col)


@pytest.mark.parametrize("method", FAST_METHODS)
def test_an_inf_pixel_reaches_only_the_weights_that_read_it(method, grid):
    # x[.., 10, 7] sits in the last column, one row from the bottom: only taps (1, 2) and (2, 2)
    # read it for a valid output. The flat layout's wrapped columns also hold it, times a zero
    # gradient: they must not turn 0 * inf into nan in the other taps.
    x = np.random.default_rng(0).standard_normal((1, 1, 12, 8))
    x[0, 0, 10, 7] = np.inf
    w = mt.tensor(np.random.default_rng(1).standard_normal((1, 1, 3, 3)), requires_grad=True)
    grad = np.random.default_rng(2).standard_normal((1, 1, 10, 6))
    F.conv2d(mt.tensor(x), w, method=method).backward(grad)
    reference = mt.tensor(w.detach().numpy(), requires_grad=True)
    F.conv2d(mt.tensor(x), reference, method="naive").backward(grad)
    expected = reference.grad
    assert not np.isfinite(expected[0, 0, 1:, 2]).any() and np.isfinite(expected).sum() == 7
    np.testing.assert_array_equal(np.isfinite(w.grad), np.isfinite(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(w.grad[finite], expected[finite], rtol=1e-10)


@pytest.mark.parametrize("method", ENGINE_METHODS)
def test_stride_1_input_gradient_is_a_convolution_with_flipped_filters(method, grid):
    # The identity gemm and direct use for dL/dx on the flat grid: the naive seven loops, run on
    # dL/dy with each group's filters turned 180 degrees and their channel axes swapped, over
    # padding k - 1 - p.
    x_shape, w_shape, _, padding, _, groups = CASES["groups_2"]
    x, w, _ = random_inputs(x_shape, w_shape)
    image, filters = mt.tensor(x, requires_grad=True), mt.tensor(w)
    y = F.conv2d(image, filters, padding=padding, groups=groups, method=method)
    grad = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(grad)
    nf, Cg, kh, kw = w_shape
    flipped = w.reshape(groups, nf // groups, Cg, kh, kw).transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1]
    flipped = flipped.reshape(groups * Cg, nf // groups, kh, kw)
    expected = F.conv2d(mt.tensor(grad), mt.tensor(flipped.copy()), padding=(kh - 1 - padding, kw - 1 - padding),
                        groups=groups, method="naive")
    check_forward(image.grad, expected.detach().numpy(), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- the two rooms


def test_the_lesson_never_imports_the_engine_room_or_the_kernels():
    import ast
    import pathlib

    lesson = pathlib.Path(F.__file__).parent
    for path in sorted(lesson.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                assert "engine" not in name and not name.startswith("kernels"), f"{path.name} imports {name}"


# ---------------------------------------------------------------- what "auto" runs


AUTO_TABLE = {
    # (kernel, stride, padding, groups, channels) -> method "auto" runs
    "1x1_is_direct_one_tap_no_copy": (((1, 1), (1, 1), (0, 0), 1, 256), "direct"),
    "1x1_grouped_is_direct": (((1, 1), (1, 1), (0, 0), 4, 8), "direct"),
    "grouped_but_not_depthwise_is_gemm": (((3, 3), (1, 1), (1, 1), 2, 8), "gemm"),
    "dense_3x3_is_gemm": (((3, 3), (1, 1), (1, 1), 1, 64), "gemm"),
    "strided_1x1_is_gemm": (((1, 1), (2, 2), (0, 0), 1, 64), "gemm"),
    "padded_1x1_is_gemm": (((1, 1), (1, 1), (0, 1), 1, 64), "gemm"),
    "alexnet_conv1_is_gemm": (((11, 11), (4, 4), (0, 0), 1, 3), "gemm"),
}


def _auto_conv(x, kernel, stride, padding, groups):
    return methods.choose("conv2d", "auto", x, kernel=kernel, stride=stride, padding=padding, groups=groups)


@pytest.mark.parametrize("case", list(AUTO_TABLE), ids=list(AUTO_TABLE))
def test_auto_follows_the_measured_table(case):
    (kernel, stride, padding, groups, channels), expected = AUTO_TABLE[case]
    x = np.zeros((1, channels, 1, 1), dtype=np.float32)
    assert _auto_conv(x, kernel, stride, padding, groups) is methods.choose("conv2d", expected)


def test_auto_depthwise_uses_numba_on_numpy_floats_and_direct_elsewhere():
    depthwise = dict(kernel=(3, 3), stride=(1, 1), padding=(1, 1), groups=128)
    numba_method, direct = methods.choose("conv2d", "numba"), methods.choose("conv2d", "direct")
    assert _auto_conv(np.zeros((1, 128, 1, 1), dtype=np.float32), **depthwise) is numba_method
    assert _auto_conv(np.zeros((1, 128, 1, 1), dtype=np.int64), **depthwise) is direct
    strict = pytest.importorskip("array_api_strict")
    assert _auto_conv(strict.zeros((1, 128, 1, 1)), **depthwise) is direct


def test_auto_max_pool_uses_numba_on_numpy_floats_only():
    assert methods.choose("max_pool2d", "auto", np.zeros((1, 1, 2, 2), dtype=np.float32)) is compiled.NumbaMaxPool2d
    assert methods.choose("max_pool2d", "auto", np.zeros((1, 1, 2, 2), dtype=np.int64)) is F.pooling.MaxPool2d
    strict = pytest.importorskip("array_api_strict")
    assert methods.choose("max_pool2d", "auto", strict.zeros((1, 1, 2, 2))) is F.pooling.MaxPool2d


# ---------------------------------------------------------------- keep_freed_memory

#: A step that holds twelve 4 MB arrays at once and then frees them all, as a forward pass builds up
#: activations and the backward pass lets them go; prints the page faults of ten such steps.
STEPS = textwrap.dedent("""
    import resource, sys
    import numpy as np
    if sys.argv[1] != "numpy":
        import minitorch_cnn
    if sys.argv[1] == "kept":
        assert minitorch_cnn.engine.keep_freed_memory()
    def step():
        held = [np.ones(2**20, np.float32) for _ in range(12)]
        del held
    for _ in range(3):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        step()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


#: Environment variables that choose malloc settings or another allocator; the child runs without them.
ALLOCATOR_VARIABLES = ("GLIBC_TUNABLES", "LD_PRELOAD", "MINITORCH_CNN_KEEP_FREED_MEMORY")


def _faults_per_step(mode):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k not in ALLOCATOR_VARIABLES}
    out = subprocess.run([sys.executable, "-c", STEPS, mode], capture_output=True, text=True, env=env, check=True)
    return int(out.stdout) / 10


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="keep_freed_memory tunes glibc's malloc, and this C library is not glibc",
)
def test_freed_memory_is_kept_when_asked_and_not_on_import():
    # Plain NumPy pays a fault per 4 KB page it gets back (thousands per step); importing the
    # framework changes nothing; after keep_freed_memory(), as training.fit calls it, none.
    assert _faults_per_step("numpy") > 1000
    assert _faults_per_step("imported") > 1000
    assert _faults_per_step("kept") < 50


def test_the_training_entry_points_keep_freed_memory(monkeypatch, tmp_path):
    from minitorch_cnn import cli, data, models, optim, training

    calls = []
    monkeypatch.setattr(training, "keep_freed_memory", lambda: calls.append("fit"))
    monkeypatch.setattr(mt.engine, "keep_freed_memory", lambda: calls.append("cli"))
    loader = data.DataLoader(data.TensorDataset(np.zeros((4, 1, 32, 32)), np.arange(4)), batch_size=4)
    model = models.create("lenet5", num_classes=10)
    training.fit(model, loader, optim.SGD(model.parameters(), lr=0.0), epochs=1, progress=False)
    assert cli.main(["models"]) == 0
    assert calls == ["fit", "cli"]


def test_keep_freed_memory_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("MINITORCH_CNN_KEEP_FREED_MEMORY", "0")
    assert keep_freed_memory() is False
