"""conv2d (every method), im2col and col2im.

* forward: a hand-computed case, then every method against an independent NumPy reference;
* float64 gradient checks on named geometries and on hypothesis-drawn ones, on both backends;
* PyTorch oracle (float32) for every method, forward and all three gradients;
* im2col's layout against ``torch.nn.functional.unfold`` and col2im as its adjoint;
* bad input: each message names conv2d, what it expected and what it got.
"""

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import backend
from minitorch_cnn.functional import conv
from helpers import assert_namespace, check_forward, check_grad, check_torch, on, torch_or_skip

METHODS = ["naive", "im2col", "direct", "auto"]
FAST_METHODS = ["im2col", "direct", "auto"]

# (x shape (N, C, H, W), weight shape (F, C/groups, kh, kw), stride, padding, dilation, groups)
CASES = {
    "3x3_pad_1": ((1, 2, 5, 5), (2, 2, 3, 3), 1, 1, 1, 1),
    "odd_non_square": ((1, 2, 5, 7), (3, 2, 3, 2), 1, 0, 1, 1),
    "stride_does_not_divide": ((1, 2, 7, 6), (2, 2, 3, 3), (2, 3), 0, 1, 1),
    "padding_ge_half_kernel": ((1, 2, 4, 5), (2, 2, 3, 3), (2, 1), (2, 1), 1, 1),
    "dilation": ((1, 2, 7, 6), (2, 2, 3, 2), 1, 1, (2, 3), 1),
    "depthwise": ((1, 3, 5, 4), (3, 1, 3, 3), 1, 1, 1, 3),
    "depthwise_multiplier_2_strided": ((1, 2, 5, 4), (4, 1, 3, 3), 2, 1, 1, 2),
    "groups_2": ((1, 4, 4, 5), (2, 2, 3, 3), 1, 1, 1, 2),
    "groups_4": ((1, 8, 3, 3), (4, 2, 2, 2), 1, 0, 1, 4),
    "1x1": ((2, 3, 4, 5), (5, 3, 1, 1), 1, 0, 1, 1),
    "1x1_groups_2": ((1, 4, 3, 3), (6, 2, 1, 1), 1, 0, 1, 2),
    "1x1_strided_padded": ((1, 3, 4, 5), (2, 3, 1, 1), 2, 1, 1, 1),
    "kernel_equals_input": ((2, 2, 3, 4), (3, 2, 3, 4), 1, 0, 1, 1),
    "everything_at_once": ((1, 4, 5, 6), (4, 2, 2, 3), (2, 3), (1, 2), (2, 1), 2),
}

# The naive method's seven Python loops cost ~20 us per step on array_api_strict: keep them tiny.
TINY_CASES = {
    "tiny": ((1, 1, 3, 3), (2, 1, 2, 2), 1, 0, 1, 1),
    "tiny_grouped_strided_dilated_padded": ((1, 2, 3, 4), (2, 1, 2, 2), (1, 2), 1, (2, 1), 2),
}

# The xp fixture only names a backend, so sharing it across hypothesis examples is safe.
SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def reference_conv2d(x, w, b, stride, padding, dilation, groups):
    """NumPy reference, one output pixel at a time: the window ``x[n, :, ho*sh + i*dh - ph, ...]``
    of every tap (i, j), contracted with each group's filters."""
    (sh, sw), (ph, pw), (dh, dw) = (np.broadcast_to(v, 2) for v in (stride, padding, dilation))
    N, C, H, W = x.shape
    nf, Cg, kh, kw = w.shape
    Fg = nf // groups
    Ho = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    Wo = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    y = np.zeros((N, nf, Ho, Wo))
    for ho in range(Ho):
        for wo in range(Wo):
            rows = slice(ho * sh, ho * sh + dh * (kh - 1) + 1, dh)
            columns = slice(wo * sw, wo * sw + dw * (kw - 1) + 1, dw)
            window = padded[:, :, rows, columns]
            for g in range(groups):
                y[:, g * Fg : (g + 1) * Fg, ho, wo] = np.einsum(
                    "ncij,fcij->nf", window[:, g * Cg : (g + 1) * Cg], w[g * Fg : (g + 1) * Fg]
                )
    return y + b.reshape(1, nf, 1, 1)


def gradcheck_mode(xp):
    """Every element on NumPy; three random directions on array_api_strict, where each indexing
    call costs about a millisecond and a full check of this file would take minutes. Both backends
    run the same code: the strict run proves the backward stays inside the standard API, the NumPy
    run checks every value."""
    return "directional" if xp.__name__ == "array_api_strict" else "full"


def random_inputs(x_shape, w_shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])


def conv_fn(stride, padding, dilation, groups, method):
    return lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups, method=method)


@st.composite
def geometries(draw):
    """A small conv geometry: dense, 2 or 4 groups, or depthwise; any kernel up to 3x3, stride up
    to 3 (often not dividing the input), padding up to 2, dilation up to 2, and an input from
    exactly the kernel's span to 2 pixels more."""
    kind = draw(st.sampled_from(["dense", "groups_2", "groups_4", "depthwise"]))
    if kind == "depthwise":
        groups, Cg = draw(st.integers(1, 3)), 1
    else:
        groups, Cg = {"dense": 1, "groups_2": 2, "groups_4": 4}[kind], draw(st.integers(1, 2))
    Fg = draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    sizes = []
    for k, p, d in ((kh, padding[0], dilation[0]), (kw, padding[1], dilation[1])):
        smallest = max(1, d * (k - 1) + 1 - 2 * p)
        sizes.append(draw(st.integers(smallest, smallest + 2)))
    x_shape = (draw(st.integers(1, 2)), groups * Cg, *sizes)
    return x_shape, (groups * Fg, Cg, kh, kw), stride, padding, dilation, groups


@pytest.fixture(params=["flat", "strided"])
def grid(request, monkeypatch):
    """Both layouts of the im2col and direct methods on every case: "flat" stride-1 taps and the
    flipped-filter input gradient (taken by real layers with little padding, forced here), and
    "strided" tap copies with col2im (taken by real layers with much padding, forced here)."""
    monkeypatch.setattr(conv, "_MAX_GRID_WASTE", float("inf") if request.param == "flat" else 0.0)
    return request.param


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


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_forward_matches_reference(case, method, xp, grid):
    x_shape, w_shape, stride, padding, dilation, groups = CASES[case]
    x, w, b = random_inputs(x_shape, w_shape)
    y = F.conv2d(on(xp, x), on(xp, w), on(xp, b), stride, padding, dilation, groups, method=method)
    check_forward(y, reference_conv2d(x, w, b, stride, padding, dilation, groups), rtol=1e-10, atol=1e-12)
    assert_namespace(y, xp)


@SETTINGS
@given(geometry=geometries(), method=st.sampled_from(FAST_METHODS))
def test_forward_matches_reference_on_drawn_geometries(geometry, method, xp):
    x_shape, w_shape, stride, padding, dilation, groups = geometry
    x, w, b = random_inputs(x_shape, w_shape)
    y = F.conv2d(on(xp, x), on(xp, w), on(xp, b), stride, padding, dilation, groups, method=method)
    check_forward(y, reference_conv2d(x, w, b, stride, padding, dilation, groups), rtol=1e-10, atol=1e-12)


def test_auto_takes_the_direct_method_only_for_1x1_stride_1_unpadded():
    assert conv._dispatch("auto", (1, 1), (1, 1), (0, 0)) is conv._METHODS["direct"]
    assert conv._dispatch("auto", (1, 1), (2, 1), (0, 0)) is conv._METHODS["im2col"]
    assert conv._dispatch("auto", (1, 1), (1, 1), (0, 1)) is conv._METHODS["im2col"]
    assert conv._dispatch("auto", (3, 3), (1, 1), (0, 0)) is conv._METHODS["im2col"]


# ---------------------------------------------------------------- gradients


def check_conv_grad(geometry, method, xp):
    x_shape, w_shape, stride, padding, dilation, groups = geometry
    fn = conv_fn(stride, padding, dilation, groups, method)
    check_grad(fn, xp, *random_inputs(x_shape, w_shape), mode=gradcheck_mode(xp))


@pytest.mark.parametrize("method", FAST_METHODS)
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_gradcheck(case, method, xp, grid):
    check_conv_grad(CASES[case], method, xp)


@pytest.mark.parametrize("case", list(TINY_CASES), ids=list(TINY_CASES))
def test_gradcheck_naive(case, xp):
    check_conv_grad(TINY_CASES[case], "naive", xp)


@SETTINGS
@given(geometry=geometries(), method=st.sampled_from(FAST_METHODS))
def test_gradcheck_on_drawn_geometries(geometry, method, xp):
    check_conv_grad(geometry, method, xp)


@pytest.mark.parametrize("method", ["im2col", "direct"])
@pytest.mark.parametrize("case", ["3x3_pad_1", "everything_at_once"])
def test_batch_split_into_chunks_with_a_shorter_last_one(case, method, xp, grid, monkeypatch):
    # Real layers split the batch into chunks of a few MB; these tiny inputs only split when the
    # budget is shrunk to two images' worth of columns, leaving a shorter third chunk.
    _, w_shape, stride, padding, dilation, groups = CASES[case]
    x_shape = (5, *CASES[case][0][1:])
    stride, padding, dilation = conv._pairs("test", stride, padding, dilation)
    one_image = conv._direct_layout((1, *x_shape[1:]), w_shape[2:], stride, padding, dilation)
    monkeypatch.setattr(conv, "_CHUNK_ELEMENTS", 2 * x_shape[1] * w_shape[2] * w_shape[3] * one_image.columns)
    chunks = [(n0, n1) for n0, n1, _ in conv._chunk_layouts(x_shape, w_shape[2:], stride, padding, dilation)]
    assert chunks == [(0, 2), (2, 4), (4, 5)]

    x, w, b = random_inputs(x_shape, w_shape)
    y = F.conv2d(on(xp, x), on(xp, w), on(xp, b), stride, padding, dilation, groups, method=method)
    check_forward(y, reference_conv2d(x, w, b, stride, padding, dilation, groups), rtol=1e-10, atol=1e-12)
    check_conv_grad((x_shape, w_shape, stride, padding, dilation, groups), method, xp)


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
    reference = mt.tensor(w.numpy(), requires_grad=True)
    F.conv2d(mt.tensor(x), reference, method="naive").backward(grad)
    expected = reference.grad
    assert not np.isfinite(expected[0, 0, 1:, 2]).any() and np.isfinite(expected).sum() == 7
    np.testing.assert_array_equal(np.isfinite(w.grad), np.isfinite(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(w.grad[finite], expected[finite], rtol=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_empty_batch_gives_empty_output_and_zero_weight_gradient(method, xp):
    x = on(xp, np.zeros((0, 3, 8, 8)), requires_grad=True)
    w = on(xp, np.ones((4, 3, 3, 3)), requires_grad=True)
    y = F.conv2d(x, w, padding=1, method=method)
    assert tuple(y.shape) == (0, 4, 8, 8)
    y.sum().backward()
    assert tuple(x.grad.shape) == (0, 3, 8, 8)
    check_forward(mt.Tensor(w.grad), np.zeros((4, 3, 3, 3)))


def test_stride_1_input_gradient_is_a_convolution_with_flipped_filters():
    # The identity the fast methods use for dL/dx: the naive seven loops, run on dL/dy with each
    # group's filters turned 180 degrees and their channel axes swapped, over padding k - 1 - p.
    x_shape, w_shape, _, padding, _, groups = CASES["groups_2"]
    x, w, _ = random_inputs(x_shape, w_shape)
    image, filters = mt.tensor(x, requires_grad=True), mt.tensor(w)
    y = F.conv2d(image, filters, padding=padding, groups=groups)
    grad = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(grad)
    nf, Cg, kh, kw = w_shape
    flipped = w.reshape(groups, nf // groups, Cg, kh, kw).transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1]
    flipped = flipped.reshape(groups * Cg, nf // groups, kh, kw)
    expected = F.conv2d(mt.tensor(grad), mt.tensor(flipped.copy()), padding=(kh - 1 - padding, kw - 1 - padding),
                        groups=groups, method="naive")
    check_forward(image.grad, expected.numpy(), rtol=1e-10, atol=1e-12)


def test_backward_skips_gradients_nobody_needs(monkeypatch):
    im2col_method = conv._METHODS["im2col"]
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
    monkeypatch.setitem(conv._METHODS, "spy", spy_method)
    x, w, _ = random_inputs((1, 2, 4, 4), (3, 2, 3, 3))

    image, filters = mt.tensor(x), mt.tensor(w, requires_grad=True)
    F.conv2d(image, filters, method="spy").sum().backward()
    assert calls == ["weight"] and image.grad is None and filters.grad is not None

    calls.clear()
    image, frozen = mt.tensor(x, requires_grad=True), mt.tensor(w)
    F.conv2d(image, frozen, method="spy").sum().backward()
    assert calls == ["input"] and frozen.grad is None and image.grad is not None


# ---------------------------------------------------------------- PyTorch oracle


def torch_conv(stride, padding, dilation, groups):
    torch = torch_or_skip()
    return lambda x, w, b: torch.nn.functional.conv2d(x, w, b, stride, padding, dilation, groups)


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


# ---------------------------------------------------------------- im2col / col2im


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_im2col_layout_matches_torch_unfold(case):
    torch = torch_or_skip()
    x_shape, w_shape, stride, padding, dilation, _ = CASES[case]
    x, _, _ = random_inputs(x_shape, w_shape)
    kernel = w_shape[2:]
    cols = F.im2col(mt.tensor(x), kernel, stride, padding, dilation)
    expected = torch.nn.functional.unfold(torch.tensor(x), kernel, dilation, padding, stride).numpy()
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
    np.testing.assert_allclose(np.sum(cols.numpy() * y), np.sum(x * back.numpy()), rtol=1e-10)


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
    # ".*" leaves room for methods registered later (Numba kernels).
    message = r"conv2d: expected method to be one of 'auto', 'naive', 'im2col', 'direct'.*, got 'fft'"
    with pytest.raises(ValueError, match=message):
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


def test_im2col_and_col2im_check_their_shapes():
    message = "im2col: expected a 4-D input (N, C, H, W), got shape (5, 5)"
    with pytest.raises(ValueError, match=re.escape(message)):
        F.im2col(mt.tensor(np.zeros((5, 5))), 3)
    message = "col2im: expected columns of shape (1, 9, 9) for x_shape (1, 1, 5, 5), got (1, 9, 8)"
    with pytest.raises(ValueError, match=re.escape(message)):
        F.col2im(mt.tensor(np.zeros((1, 9, 8))), (1, 1, 5, 5), 3)
