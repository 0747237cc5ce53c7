"""Numba CPU kernels (kernels/cpu.py) against the lesson (minitorch_cnn/functional/).

The lesson is ``F.conv2d(method="naive")`` and ``F.max_pool2d(method="slices")`` in float64, its
gradients through autograd (:func:`helpers.lesson_conv2d`, :func:`helpers.lesson_max_pool2d`).
The output size the kernels are given comes from ``minitorch_cnn.functional.sizes``, as in the
framework. Every case runs in float32 and float64 and the result must keep the input's dtype. The
first run on a machine compiles each kernel (a few seconds each); later runs load Numba's cache.
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from helpers import check_kernel, lesson_conv2d, lesson_max_pool2d
from kernels import cpu
from minitorch_cnn.functional.sizes import conv2d_output_shape, pair

#: (N, C, H, W, F, kernel_size, stride, padding, dilation, groups)
CONV_CASES = [
    pytest.param(2, 3, 7, 6, 4, 3, 1, 0, 1, 1, id="3x3"),
    pytest.param(2, 4, 9, 8, 6, 3, 2, 1, 1, 2, id="stride2-pad1-groups2"),
    pytest.param(1, 3, 8, 9, 5, (3, 2), (2, 1), (1, 0), (2, 3), 1, id="rectangular-dilated"),
    pytest.param(2, 4, 6, 5, 8, 3, 1, 1, 1, 4, id="depthwise-two-filters-per-channel"),
    pytest.param(2, 3, 5, 5, 3, 3, 2, 2, 2, 3, id="depthwise-dilated-strided"),
    pytest.param(2, 3, 1, 1, 5, 1, 1, 0, 1, 1, id="1x1-image"),
    pytest.param(1, 2, 1, 1, 3, 3, 1, 1, 1, 1, id="1x1-image-3x3-padded"),
    pytest.param(2, 3, 5, 4, 2, (5, 4), 1, 0, 1, 1, id="kernel-equals-input"),
    pytest.param(1, 2, 7, 7, 2, 2, 3, 2, 1, 1, id="stride-larger-than-kernel"),
    # The kernels split the padded columns into sw phases and compute cpu.BLOCK filters or channels per task:
    pytest.param(2, 4, 7, 11, 6, (2, 3), (1, 2), (0, 1), (2, 3), 2, id="column-stride2-dilation3-groups2"),
    pytest.param(1, 3, 13, 14, 4, 5, 4, 2, 1, 1, id="stride4-kernel5-padded-width-not-a-multiple"),
    pytest.param(2, 18, 6, 5, 20, 3, 1, 1, 1, 2, id="groups2-more-filters-and-channels-than-one-block"),
    # At stride 1 they run several rows as one (cpu.ROW elements, cpu.ROW_DW for dL/dw): the forward and
    # dL/dx take 4 rows of 62 at a time here, the last pass 1 row; dL/dw takes 4 rows of 16 in the next case.
    pytest.param(1, 2, 21, 60, 3, 3, 1, 1, 1, 1, id="stride1-rows-per-pass-ragged-last-pass"),
    pytest.param(1, 2, 21, 14, 3, 3, 1, 1, 1, 1, id="stride1-rows-per-pass-weight-gradient"),
    pytest.param(1, 2, 23, 40, 3, (3, 2), 1, 2, (2, 3), 1, id="stride1-rows-per-pass-dilated"),
]

#: (N, C, H, W, kernel_size, stride, padding, ceil_mode)
POOL_CASES = [
    pytest.param(2, 3, 6, 6, 2, None, 0, False, id="2x2"),
    pytest.param(2, 3, 7, 6, 3, 2, 1, False, id="overlapping-3x3-stride2-pad1"),
    pytest.param(1, 2, 5, 7, (2, 3), (1, 2), (1, 1), False, id="rectangular"),
    pytest.param(2, 2, 1, 1, 1, 1, 0, False, id="1x1-image"),
    pytest.param(1, 2, 4, 5, (4, 5), None, 0, False, id="kernel-equals-input"),
    # ceil_mode sizes: the last window hangs over the bottom edge (6 rows), or over the padding (8 + 2).
    pytest.param(1, 2, 6, 7, 3, 2, 0, True, id="ceil-mode-last-row-of-windows-overhangs"),
    pytest.param(2, 2, 8, 8, 3, 2, 1, True, id="ceil-mode-padded"),
]

DTYPES = [pytest.param(np.float32, id="float32"), pytest.param(np.float64, id="float64")]


def _conv_arrays(N, C, H, W, F, kernel_size, stride, padding, dilation, groups, dtype, rng):
    """``x``, ``w``, a ``grad = dL/dy`` (all of ``dtype``) and ``out_size = (Ho, Wo)`` from the sizes helper."""
    kh, kw = pair(kernel_size)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C // groups, kh, kw)).astype(dtype)
    out_size = conv2d_output_shape(H, W, (kh, kw), stride, padding, dilation)
    grad = rng.standard_normal((N, F, *out_size)).astype(dtype)
    return x, w, grad, out_size


# ---------------------------------------------------------------- convolution


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N, C, H, W, F, kernel_size, stride, padding, dilation, groups", CONV_CASES)
def test_conv2d_forward(N, C, H, W, F, kernel_size, stride, padding, dilation, groups, dtype):
    geometry = (stride, padding, dilation, groups)
    x, w, grad, out_size = _conv_arrays(N, C, H, W, F, kernel_size, *geometry, dtype, np.random.default_rng(0))
    y, _, _ = lesson_conv2d(x, w, None, *geometry)
    check_kernel(cpu.conv2d_forward(x, w, *geometry, out_size=out_size), y, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N, C, H, W, F, kernel_size, stride, padding, dilation, groups", CONV_CASES)
def test_conv2d_backward_input(N, C, H, W, F, kernel_size, stride, padding, dilation, groups, dtype):
    geometry = (stride, padding, dilation, groups)
    x, w, grad, _ = _conv_arrays(N, C, H, W, F, kernel_size, *geometry, dtype, np.random.default_rng(1))
    _, dx, _ = lesson_conv2d(x, w, grad, *geometry)
    check_kernel(cpu.conv2d_backward_input(grad, w, x.shape, *geometry), dx, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N, C, H, W, F, kernel_size, stride, padding, dilation, groups", CONV_CASES)
def test_conv2d_backward_weight(N, C, H, W, F, kernel_size, stride, padding, dilation, groups, dtype):
    geometry = (stride, padding, dilation, groups)
    x, w, grad, _ = _conv_arrays(N, C, H, W, F, kernel_size, *geometry, dtype, np.random.default_rng(2))
    _, _, dw = lesson_conv2d(x, w, grad, *geometry)
    check_kernel(cpu.conv2d_backward_weight(x, grad, w.shape, *geometry), dw, dtype)


@pytest.mark.parametrize("kernel", ["backward_input", "backward_weight"])
def test_conv2d_backward_keeps_an_infinite_value_to_the_outputs_that_read_it(kernel):
    # At stride 1 the backward kernels widen grad's rows with zeros to run several rows at once;
    # 0 * inf is nan, so with an inf pixel (dL/dw) or weight (dL/dx) they take one row at a time.
    x, w, grad, _ = _conv_arrays(1, 2, 9, 10, 3, 3, 1, 1, 1, 1, np.float64, np.random.default_rng(4))
    Wq = 10 + 2  # the padded width: with finite values each kernel would take several rows per pass
    assert cpu._rows_per_pass(9, Wq, 1, 1, cpu.ROW_DW) > 1 and cpu._rows_per_pass(9, Wq, 1, 1, cpu.ROW) > 1
    if kernel == "backward_input":
        w[1, 0, 2, 2] = np.inf
        got = cpu.conv2d_backward_input(grad, w, x.shape, 1, 1)
        with np.errstate(invalid="ignore"):  # the lesson's forward multiplies the inf weight by padding: nan
            _, expected, _ = lesson_conv2d(x, w, grad, 1, 1)
    else:
        x[0, 1, 4, 0] = np.inf
        got = cpu.conv2d_backward_weight(x, grad, w.shape, 1, 1)
        _, _, expected = lesson_conv2d(x, w, grad, 1, 1)
    assert np.isinf(expected).any()
    check_kernel(got, expected, np.float64)


@settings(max_examples=20, deadline=None)
@given(
    N=st.integers(1, 2),
    groups=st.integers(1, 3),
    Cg=st.integers(1, 2),
    Fg=st.integers(1, 2),
    H=st.integers(1, 7),
    W=st.integers(1, 7),
    kh=st.integers(1, 3),
    kw=st.integers(1, 3),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
    ph=st.integers(0, 2),
    pw=st.integers(0, 2),
    dil_h=st.integers(1, 2),
    dil_w=st.integers(1, 2),
)
def test_conv2d_all_three_kernels_on_drawn_shapes(N, groups, Cg, Fg, H, W, kh, kw, sh, sw, ph, pw, dil_h, dil_w):
    assume(dil_h * (kh - 1) + 1 <= H + 2 * ph and dil_w * (kw - 1) + 1 <= W + 2 * pw)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((N, groups * Cg, H, W))
    w = rng.standard_normal((groups * Fg, Cg, kh, kw))
    args = ((sh, sw), (ph, pw), (dil_h, dil_w), groups)
    out_size = conv2d_output_shape(H, W, (kh, kw), *args[:3])
    grad = rng.standard_normal((N, groups * Fg, *out_size))
    y, dx, dw = lesson_conv2d(x, w, grad, *args)
    check_kernel(cpu.conv2d_forward(x, w, *args, out_size=out_size), y, np.float64)
    check_kernel(cpu.conv2d_backward_input(grad, w, x.shape, *args), dx, np.float64)
    check_kernel(cpu.conv2d_backward_weight(x, grad, w.shape, *args), dw, np.float64)


def test_conv2d_accepts_non_contiguous_input():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 6, 5, 3)).transpose(0, 1, 3, 2)
    w = rng.standard_normal((4, 6, 2, 2))
    out_size = conv2d_output_shape(3, 5, 2, padding=1)
    y, _, _ = lesson_conv2d(x, w, np.zeros((2, 4, *out_size)), padding=1)
    check_kernel(cpu.conv2d_forward(x, w, padding=1, out_size=out_size), y, np.float64)


def test_conv2d_computes_the_first_windows_of_a_smaller_out_size():
    x, w, _, out_size = _conv_arrays(1, 2, 9, 8, 3, 3, 2, 1, 1, 1, np.float64, np.random.default_rng(6))
    y = cpu.conv2d_forward(x, w, 2, 1, out_size=out_size)
    np.testing.assert_array_equal(cpu.conv2d_forward(x, w, 2, 1, out_size=(3, 2)), y[:, :, :3, :2])


def test_conv2d_rejects_mixed_dtypes():
    with pytest.raises(TypeError, match="conv2d_forward: expected float32 or float64 arrays of one dtype"):
        cpu.conv2d_forward(np.zeros((1, 2, 4, 4), np.float32), np.zeros((3, 2, 3, 3), np.float64), out_size=(2, 2))


def test_conv2d_rejects_weight_of_wrong_channels():
    with pytest.raises(ValueError, match=r"conv2d_forward: expected weight \(F, C/groups, kh, kw\)"):
        cpu.conv2d_forward(np.zeros((1, 3, 4, 4)), np.zeros((2, 2, 3, 3)), out_size=(2, 2))


def test_conv2d_rejects_an_out_size_whose_windows_leave_the_padded_input():
    # (3 - 1)*1 + 3 = 5 rows for an input of 4 plus no padding: the kernel would read past the array.
    with pytest.raises(ValueError, match=r"conv2d_forward: expected windows that end inside the padded input \(4, 4\)"):
        cpu.conv2d_forward(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)), out_size=(3, 2))
    with pytest.raises(ValueError, match=r"conv2d_forward: expected \(Ho, Wo\) from out_size of at least 1"):
        cpu.conv2d_forward(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)), out_size=(0, 2))


def test_max_pool2d_backward_rejects_argmax_that_is_not_int64():
    with pytest.raises(TypeError, match="max_pool2d_backward: expected an int64 argmax"):
        cpu.max_pool2d_backward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int32), (1, 1, 4, 4), 2)


def test_conv2d_backward_rejects_grad_of_wrong_shape():
    with pytest.raises(ValueError, match=r"conv2d_backward_input: expected grad_out of shape \(1, 2, 2, 2\)"):
        cpu.conv2d_backward_input(np.zeros((1, 3, 2, 2)), np.zeros((2, 3, 3, 3)), (1, 3, 4, 4))
    with pytest.raises(ValueError, match=r"conv2d_backward_input: expected windows .* from grad_out"):
        cpu.conv2d_backward_input(np.zeros((1, 2, 3, 3)), np.zeros((2, 3, 3, 3)), (1, 3, 4, 4))


# ---------------------------------------------------------------- max-pooling


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N, C, H, W, kernel_size, stride, padding, ceil_mode", POOL_CASES)
def test_max_pool2d_forward_and_backward(N, C, H, W, kernel_size, stride, padding, ceil_mode, dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    step = kernel_size if stride is None else stride
    out_size = conv2d_output_shape(H, W, kernel_size, step, padding, ceil_mode=ceil_mode)
    y, argmax = cpu.max_pool2d_forward(x, kernel_size, stride, padding, out_size=out_size)
    grad = rng.standard_normal(y.shape).astype(dtype)
    y_lesson, dx_lesson = lesson_max_pool2d(x, grad, kernel_size, stride, padding, ceil_mode)
    check_kernel(y, y_lesson, dtype)
    # The lesson keeps no argmax: a wrong winner shows as a gradient sent to the wrong pixel.
    check_kernel(cpu.max_pool2d_backward(grad, argmax, x.shape, kernel_size, stride, padding), dx_lesson, dtype)


def test_max_pool2d_ties_go_to_first_maximum_and_overlaps_add_up():
    x = np.ones((1, 1, 3, 3))
    y, argmax = cpu.max_pool2d_forward(x, 2, 1, out_size=(2, 2))
    np.testing.assert_array_equal(argmax[0, 0], [[0, 1], [3, 4]])
    dx = cpu.max_pool2d_backward(np.ones_like(y), argmax, x.shape, 2, 1)
    np.testing.assert_array_equal(dx[0, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])


def test_max_pool2d_nan_wins_its_window():
    x = np.array([[[[1.0, np.nan], [5.0, 2.0]]]])
    y, argmax = cpu.max_pool2d_forward(x, 2, out_size=(1, 1))
    assert np.isnan(y[0, 0, 0, 0]) and argmax[0, 0, 0, 0] == 1


def test_max_pool2d_window_of_only_padding_is_minus_inf():
    y, argmax = cpu.max_pool2d_forward(np.ones((1, 1, 1, 1)), 1, 1, 1, out_size=(3, 3))
    assert y[0, 0, 0, 0] == -np.inf and argmax[0, 0, 0, 0] == -1
    assert y[0, 0, 1, 1] == 1.0 and argmax[0, 0, 1, 1] == 0


def test_max_pool2d_rejects_a_window_that_starts_past_the_padded_input():
    # Windows start at rows 0, 2, 4: the third begins below the 4 rows (no padding) and holds nothing.
    with pytest.raises(ValueError, match=r"max_pool2d_forward: expected a last window .* padded input \(4, 4\)"):
        cpu.max_pool2d_forward(np.zeros((1, 1, 4, 4)), 2, out_size=(3, 2))
    with pytest.raises(ValueError, match=r"max_pool2d_backward: expected a last window .* from grad_out"):
        cpu.max_pool2d_backward(np.zeros((1, 1, 3, 2)), np.zeros((1, 1, 3, 2), np.int64), (1, 1, 4, 4), 2)
