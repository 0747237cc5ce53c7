"""conv2d, the lesson's methods ("naive", "im2col"), im2col and col2im; every method by name.

* forward: a hand-computed case for every method, then the textbook im2col method against the
  seven loops; the engine room's methods are held to the same loops in test_engine.py;
* float64 gradient checks on named geometries and on hypothesis-drawn ones, on both backends;
* PyTorch oracle (float32) for every method, forward and all three gradients;
* im2col's layout against ``torch.nn.functional.unfold`` and col2im as its adjoint;
* bad input: each message names conv2d, what it expected and what it got.
"""

import re

import numpy as np
import pytest
from hypothesis import given

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import backend, methods
from minitorch_cnn.functional import conv
from conv_cases import (CASES, SETTINGS, TINY_CASES, check_conv_backward, check_conv_forward, check_conv_grad, conv_fn,
                        geometries,
                        gradcheck_mode, random_inputs, torch_conv)
from helpers import assert_namespace, check_forward, check_grad, check_torch, on, torch_or_skip

#: Every method that runs on every backend; "numba" (NumPy and CuPy only) is tested in test_conv_numba.py.
METHODS = ["naive", "im2col", "gemm", "direct", "auto"]
#: The lesson's vectorised method, and "auto" (what a layer runs by default, from the engine room):
#: both are held to the seven loops and gradient-checked here.
LESSON_METHODS = ["im2col", "auto"]


# ---------------------------------------------------------------- forward


@pytest.mark.parametrize("method", METHODS)
def test_hand_computed_example(method, xp):
    # y[0, 0] = 0*0 + 1*1 + 3*2 + 4*3 = 19, then slide right (+1 per tap: +6) and down (+3 per tap: +18).
    x = on(xp, np.arange(9.0).reshape(1, 1, 3, 3), dtype=np.float32)
    w = on(xp, np.array([[[[0.0, 1.0], [2.0, 3.0]]]]), dtype=np.float32)
    y = F.conv2d(x, w, method=method)
    check_forward(y, [[[[19.0, 25.0], [37.0, 43.0]]]])
    assert backend.dtype_name(y.dtype) == "float32"
    assert_namespace(y, xp)


@pytest.mark.parametrize("method", LESSON_METHODS)
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_forward_matches_the_seven_loops(case, method, xp):
    check_conv_forward(CASES[case], method, xp)


@SETTINGS
@given(geometry=geometries())
def test_im2col_matches_the_seven_loops_on_drawn_geometries(geometry, xp):
    check_conv_forward(geometry, "im2col", xp)


# ---------------------------------------------------------------- gradients


@pytest.mark.parametrize("method", LESSON_METHODS)
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_backward_matches_the_seven_loops(case, method, xp):
    check_conv_backward(CASES[case], method, xp)


@pytest.mark.parametrize("method", LESSON_METHODS)
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_gradcheck(case, method, xp):
    check_conv_grad(CASES[case], method, xp)


@pytest.mark.parametrize("case", list(TINY_CASES), ids=list(TINY_CASES))
def test_gradcheck_naive(case, xp):
    check_conv_grad(TINY_CASES[case], "naive", xp)


@SETTINGS
@given(geometry=geometries())
def test_gradcheck_im2col_on_drawn_geometries(geometry, xp):
    check_conv_grad(geometry, "im2col", xp)


@pytest.mark.parametrize("method", METHODS)
def test_empty_batch_gives_empty_output_and_zero_weight_gradient(method, xp):
    x = on(xp, np.zeros((0, 3, 8, 8)), requires_grad=True)
    w = on(xp, np.ones((4, 3, 3, 3)), requires_grad=True)
    y = F.conv2d(x, w, padding=1, method=method)
    assert tuple(y.shape) == (0, 4, 8, 8)
    y.sum().backward()
    assert tuple(x.grad.shape) == (0, 3, 8, 8)
    check_forward(mt.Tensor(w.grad), np.zeros((4, 3, 3, 3)))


def test_backward_skips_gradients_nobody_needs(monkeypatch):
    im2col_method = methods.choose("conv2d", "im2col")
    calls = []

    def spy(name, fn):
        def recorded(*args):
            calls.append(name)
            return fn(*args)

        return recorded

    spy_method = conv.ConvMethod(
        im2col_method.forward,
        spy("input", im2col_method.backward_input),
        spy("weight", im2col_method.backward_weight),
    )
    monkeypatch.setitem(methods._METHODS["conv2d"], "spy", spy_method)
    x, w, _ = random_inputs((1, 2, 4, 4), (3, 2, 3, 3))

    image, filters = mt.tensor(x), mt.tensor(w, requires_grad=True)
    F.conv2d(image, filters, method="spy").sum().backward()
    assert calls == ["weight"] and image.grad is None and filters.grad is not None

    calls.clear()
    image, frozen = mt.tensor(x, requires_grad=True), mt.tensor(w)
    F.conv2d(image, frozen, method="spy").sum().backward()
    assert calls == ["input"] and frozen.grad is None and image.grad is not None


# ---------------------------------------------------------------- PyTorch oracle


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_matches_torch(case, method):
    x_shape, w_shape, stride, padding, dilation, groups = CASES[case]
    check_torch(
        conv_fn(stride, padding, dilation, groups, method),
        torch_conv(stride, padding, dilation, groups),
        *random_inputs(x_shape, w_shape),
    )


def test_matches_torch_without_bias():
    x, w, _ = random_inputs((2, 3, 6, 5), (4, 3, 3, 3))
    check_torch(lambda x, w: F.conv2d(x, w, padding=1), lambda x, w: torch_conv(1, 1, 1, 1)(x, w, None), x, w)


# ---------------------------------------------------------------- padding="same" and "valid"
#
# (x_shape, w_shape, dilation, groups): an odd kernel splits its padding evenly; an even one
# (or an even one along one axis) puts the extra row at the bottom and column at the right;
# dilation widens the span, and an even kernel with odd dilation keeps an odd total.
SAME_CASES = {
    "3x3": ((2, 3, 6, 5), (4, 3, 3, 3), 1, 1),
    "4x4_even": ((2, 3, 6, 5), (4, 3, 4, 4), 1, 1),
    "2x3_even_rows": ((1, 2, 5, 7), (3, 2, 2, 3), 1, 1),
    "3x3_dilation_2": ((1, 2, 7, 6), (2, 2, 3, 3), 2, 1),
    "4x2_dilation_1x3_grouped": ((1, 4, 6, 7), (4, 2, 4, 2), (1, 3), 2),
}


def _same_padding_reference(x, w, dilation, groups):
    """The seven loops on an input padded by hand: top/left ``total // 2``, bottom/right the rest."""
    dil_h, dil_w = (dilation, dilation) if isinstance(dilation, int) else dilation
    total_h, total_w = dil_h * (w.shape[2] - 1), dil_w * (w.shape[3] - 1)
    widths = ((0, 0), (0, 0), (total_h // 2, total_h - total_h // 2), (total_w // 2, total_w - total_w // 2))
    x_padded = mt.tensor(np.pad(x, widths))
    return F.conv2d(x_padded, mt.tensor(w), None, 1, 0, dilation, groups, method="naive").detach().numpy()


@pytest.mark.parametrize("method", LESSON_METHODS)
@pytest.mark.parametrize("case", list(SAME_CASES), ids=list(SAME_CASES))
def test_same_padding_keeps_the_size(case, method, xp):
    x_shape, w_shape, dilation, groups = SAME_CASES[case]
    x, w, _ = random_inputs(x_shape, w_shape)
    y = F.conv2d(on(xp, x), on(xp, w), padding="same", dilation=dilation, groups=groups, method=method)
    assert tuple(y.shape[2:]) == x_shape[2:]
    check_forward(y, _same_padding_reference(x, w, dilation, groups))
    assert_namespace(y, xp)


@pytest.mark.parametrize("case", list(SAME_CASES), ids=list(SAME_CASES))
def test_same_padding_gradcheck(case, xp):
    x_shape, w_shape, dilation, groups = SAME_CASES[case]
    fn = conv_fn(1, "same", dilation, groups, "auto")
    check_grad(fn, xp, *random_inputs(x_shape, w_shape), mode=gradcheck_mode(xp))


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", list(SAME_CASES), ids=list(SAME_CASES))
def test_same_padding_matches_torch(case, method):
    x_shape, w_shape, dilation, groups = SAME_CASES[case]
    check_torch(
        conv_fn(1, "same", dilation, groups, method),
        torch_conv(1, "same", dilation, groups),
        *random_inputs(x_shape, w_shape),
    )


def test_valid_padding_is_no_padding_as_torch():
    x, w, b = random_inputs((2, 3, 6, 5), (4, 3, 3, 2))
    check_torch(conv_fn(2, "valid", 1, 1, "auto"), torch_conv(2, "valid", 1, 1), x, w, b)
    assert F.conv2d(mt.tensor(x), mt.tensor(w), padding="valid").shape == (2, 4, 4, 4)


# ---------------------------------------------------------------- im2col / col2im


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_im2col_layout_matches_torch_unfold(case):
    torch = torch_or_skip()
    x_shape, w_shape, stride, padding, dilation, _ = CASES[case]
    x, _, _ = random_inputs(x_shape, w_shape)
    kernel = w_shape[2:]
    cols = F.im2col(mt.tensor(x), kernel, stride, padding, dilation)
    expected = torch.nn.functional.unfold(torch.tensor(x), kernel, dilation, padding, stride).detach().numpy()
    check_forward(cols, expected, rtol=0, atol=0)


def test_col2im_counts_how_many_windows_read_each_pixel(xp):
    ones = on(xp, np.ones((1, 1, 3, 3)))
    counts = F.col2im(F.im2col(ones, 2), (1, 1, 3, 3), 2)
    check_forward(counts, [[[[1, 2, 1], [2, 4, 2], [1, 2, 1]]]])
    assert_namespace(counts, xp)


@SETTINGS
@given(geometry=geometries())
def test_col2im_is_the_adjoint_of_im2col(geometry, xp):
    # <im2col(x), y> = <x, col2im(y)> for all x, y: col2im is im2col's transpose, so its gradient.
    x_shape, w_shape, stride, padding, dilation, _ = geometry
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape)
    cols = F.im2col(on(xp, x), w_shape[2:], stride, padding, dilation)
    y = rng.standard_normal(cols.shape)
    back = F.col2im(on(xp, y), x_shape, w_shape[2:], stride, padding, dilation)
    assert_namespace(cols, xp)
    assert_namespace(back, xp)
    np.testing.assert_allclose(np.sum(cols.detach().numpy() * y), np.sum(x * back.detach().numpy()), rtol=1e-10)


def test_gradcheck_im2col_and_col2im(xp):
    args = ((3, 2), (2, 1), 1, (1, 2))
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 5))
    check_grad(lambda t: F.im2col(t, *args), xp, x, mode=gradcheck_mode(xp))
    cols = np.random.default_rng(1).standard_normal(F.im2col(mt.tensor(x), *args).shape)
    check_grad(lambda t: F.col2im(t, x.shape, *args), xp, cols, mode=gradcheck_mode(xp))


# ---------------------------------------------------------------- bad input


BAD_INPUTS = {
    "input_not_4d": (
        dict(x=(3, 5, 5), w=(4, 3, 3, 3)),
        ValueError, "conv2d: expected a 4-D input (N, C, H, W), got shape (3, 5, 5)",
    ),
    "weight_not_4d": (
        dict(x=(1, 3, 5, 5), w=(4, 3, 3)),
        ValueError, "conv2d: expected a 4-D weight (F, C/groups, kh, kw), got shape (4, 3, 3)",
    ),
    "channel_mismatch": (
        dict(x=(8, 1, 224, 224), w=(64, 3, 7, 7)),
        ValueError, "conv2d: expected input with 3 channels (weight is (64, 3, 7, 7)), got (8, 1, 224, 224)",
    ),
    "channel_mismatch_grouped": (
        dict(x=(1, 4, 5, 5), w=(4, 3, 3, 3), groups=2),
        ValueError, "conv2d: expected input with 6 channels (weight is (4, 3, 3, 3), groups=2), got (1, 4, 5, 5)",
    ),
    "groups_do_not_divide_channels": (
        dict(x=(1, 5, 5, 5), w=(4, 2, 3, 3), groups=2),
        ValueError, "conv2d: expected groups to divide the 5 input channels, got groups=2",
    ),
    "groups_do_not_divide_filters": (
        dict(x=(1, 4, 5, 5), w=(3, 2, 3, 3), groups=2),
        ValueError, "conv2d: expected groups to divide the 3 filters (weight is (3, 2, 3, 3)), got groups=2",
    ),
    "groups_zero": (
        dict(x=(1, 4, 5, 5), w=(4, 4, 3, 3), groups=0),
        ValueError, "conv2d: expected groups to be a positive int, got 0",
    ),
    "kernel_larger_than_padded_input": (
        dict(x=(1, 1, 3, 3), w=(1, 1, 5, 5), padding=0),
        ValueError, "conv2d: kernel spans 5 pixels but the padded input is only 3 (size 3 + 2*padding 0)",
    ),
    "dilated_kernel_larger_than_input": (
        dict(x=(1, 1, 4, 4), w=(1, 1, 3, 3), dilation=2),
        ValueError, "conv2d: kernel spans 5 pixels but the padded input is only 4",
    ),
    "negative_padding": (
        dict(x=(1, 1, 5, 5), w=(1, 1, 3, 3), padding=(0, -1)),
        ValueError, "conv2d: padding must be >= 0, got -1",
    ),
    "stride_zero": (
        dict(x=(1, 1, 5, 5), w=(1, 1, 3, 3), stride=0),
        ValueError, "conv2d: stride must be >= 1, got 0",
    ),
    "negative_stride": (
        dict(x=(1, 1, 5, 5), w=(1, 1, 3, 3), stride=-2),
        ValueError, "conv2d: stride must be >= 1, got -2",
    ),
    "float_stride": (
        dict(x=(1, 1, 5, 5), w=(1, 1, 3, 3), stride=1.5),
        TypeError, "conv2d: stride must be an int or an (h, w) pair of ints, got 1.5",
    ),
    "bias_shape": (
        dict(x=(1, 3, 5, 5), w=(4, 3, 3, 3), b=(3,)),
        ValueError, "conv2d: expected bias of shape (F,) = (4,), got (3,)",
    ),
    "same_padding_with_stride_2": (
        dict(x=(1, 1, 6, 6), w=(1, 1, 3, 3), stride=2, padding="same"),
        ValueError, "conv2d: padding='same' expected stride 1 (as in PyTorch), got stride (2, 2)",
    ),
    "unknown_padding_string": (
        dict(x=(1, 1, 6, 6), w=(1, 1, 3, 3), padding="full"),
        ValueError, "conv2d: expected padding 'same', 'valid', an int or an (h, w) pair, got 'full'",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_raises_a_clear_error(case):
    spec, error, message = BAD_INPUTS[case]
    spec = dict(spec)
    x, w = mt.tensor(np.zeros(spec.pop("x"))), mt.tensor(np.zeros(spec.pop("w")))
    b = mt.tensor(np.zeros(spec.pop("b"))) if "b" in spec else None
    with pytest.raises(error, match=re.escape(message)):
        F.conv2d(x, w, b, **spec)


def test_unknown_method_lists_the_known_ones():
    x, w = mt.tensor(np.zeros((1, 1, 5, 5))), mt.tensor(np.zeros((1, 1, 3, 3)))
    message = "conv2d: expected method to be one of 'auto', 'naive', 'im2col', 'gemm', 'direct', 'numba', got 'fft'"
    with pytest.raises(ValueError, match=re.escape(message)):
        F.conv2d(x, w, method="fft")


def test_groups_must_be_an_int():
    x, w = mt.tensor(np.zeros((1, 2, 5, 5))), mt.tensor(np.zeros((2, 1, 3, 3)))
    with pytest.raises(TypeError, match=re.escape("conv2d: expected groups to be a positive int, got 2.0")):
        F.conv2d(x, w, groups=2.0)


def test_dtype_mismatch_is_a_type_error():
    x = mt.tensor(np.zeros((1, 1, 4, 4), dtype=np.float32))
    w = mt.tensor(np.zeros((1, 1, 3, 3), dtype=np.float64))
    message = "conv2d: expected weight with the input's dtype float32, got float64"
    with pytest.raises(TypeError, match=re.escape(message)):
        F.conv2d(x, w)


def test_input_must_be_a_tensor():
    with pytest.raises(TypeError, match="conv2d: expected input to be a Tensor, got list"):
        F.conv2d([[1.0]], mt.tensor(np.zeros((1, 1, 1, 1))))
    # A NumPy batch given to a model ended in an AttributeError deep in conv2d.
    model = mt.nn.Sequential(mt.nn.Conv2d(1, 2, 3), mt.nn.MaxPool2d(2))
    with pytest.raises(TypeError, match=r"layer '0' of Sequential .*conv2d: expected input to be a Tensor, got ndarray"):
        model(np.zeros((1, 1, 8, 8), np.float32))
    with pytest.raises(TypeError, match=r"max_pool2d: expected input to be a Tensor, got ndarray \(mt.tensor\(x\) makes one\)"):
        F.max_pool2d(np.zeros((1, 1, 8, 8), np.float32), 2)


def test_one_unbatched_image_is_refused_with_the_fix():
    conv = mt.nn.Conv2d(1, 6, 5)
    message = r"conv2d: expected a 4-D input \(N, C, H, W\), got shape \(1, 28, 28\) \(one image \(C, H, W\) needs a batch axis: x.unsqueeze\(0\)\)"
    with pytest.raises(ValueError, match=message):
        conv(mt.randn(1, 28, 28))
    assert conv(mt.randn(1, 28, 28).unsqueeze(0)).shape == (1, 6, 24, 24)


def test_im2col_and_col2im_check_their_shapes():
    message = "im2col: expected a 4-D input (N, C, H, W), got shape (5, 5)"
    with pytest.raises(ValueError, match=re.escape(message)):
        F.im2col(mt.tensor(np.zeros((5, 5))), 3)
    message = "col2im: expected columns of shape (1, 9, 9) for x_shape (1, 1, 5, 5), got (1, 9, 8)"
    with pytest.raises(ValueError, match=re.escape(message)):
        F.col2im(mt.tensor(np.zeros((1, 9, 8))), (1, 1, 5, 5), 3)
