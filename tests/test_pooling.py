"""Pooling: max, average and adaptive average against naive loops, gradchecks, PyTorch, bad input."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings, strategies as st

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import backend, methods
from minitorch_cnn.functional import pooling
from helpers import assert_namespace, check_forward, check_grad, check_torch, on, torch_or_skip

SMALL = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# ---------------------------------------------------------------- naive references


def naive_pool(x, kernel, stride, padding, reduce, fill, dilation=(1, 1)):
    """Seven loops over (n, c, io, jo) and an explicit window; ``fill`` is the padding value.
    A dilated window takes every ``dil``-th pixel of its ``dil*(k - 1) + 1`` span."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    N, C, H, W = x.shape
    padded = np.full((N, C, H + 2 * ph, W + 2 * pw), fill)
    padded[:, :, ph : ph + H, pw : pw + W] = x
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    Ho, Wo = (H + 2 * ph - span_h) // sh + 1, (W + 2 * pw - span_w) // sw + 1
    out = np.empty((N, C, Ho, Wo))
    for n in range(N):
        for c in range(C):
            for io in range(Ho):
                for jo in range(Wo):
                    window = padded[n, c, io * sh : io * sh + span_h : dh, jo * sw : jo * sw + span_w : dw]
                    out[n, c, io, jo] = reduce(window)
    return out


def naive_unpool(x, indices, Ho, Wo):
    """The scatter written out: each value to its flat index, later ones overwriting earlier ones."""
    N, C = x.shape[:2]
    out = np.zeros((N, C, Ho * Wo))
    for n in range(N):
        for c in range(C):
            for k, where in enumerate(indices[n, c].reshape(-1)):
                out[n, c, where] = x[n, c].reshape(-1)[k]
    return out.reshape(N, C, Ho, Wo)


def naive_adaptive_pool(x, Ho, Wo, reduce=np.mean):
    N, C, H, W = x.shape
    out = np.empty((N, C, Ho, Wo))
    for io in range(Ho):
        h0, h1 = math.floor(io * H / Ho), math.ceil((io + 1) * H / Ho)
        for jo in range(Wo):
            w0, w1 = math.floor(jo * W / Wo), math.ceil((jo + 1) * W / Wo)
            out[:, :, io, jo] = reduce(x[:, :, h0:h1, w0:w1], axis=(2, 3))
    return out


def distinct_values(shape, seed):
    """Values 1/size apart, so no max-pool window ties and a 1e-6 finite step never swaps a maximum."""
    size = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(size).reshape(shape) / size - 0.5


# ---------------------------------------------------------------- drawn geometries


@st.composite
def pool_geometry(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    H, W = draw(st.integers(max(1, kh - 2 * ph), 6)), draw(st.integers(max(1, kw - 2 * pw), 6))
    return {
        "shape": (draw(st.integers(1, 2)), draw(st.integers(1, 2)), H, W),
        "kernel": (kh, kw),
        "stride": (draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        "padding": (ph, pw),
        "seed": draw(st.integers(0, 2**16)),
    }


NAMED = {
    "alexnet_3x3_stride_2": {"shape": (1, 2, 7, 7), "kernel": (3, 3), "stride": (2, 2), "padding": (0, 0), "seed": 0},
    "stride_does_not_divide": {"shape": (1, 1, 7, 6), "kernel": (2, 2), "stride": (2, 3), "padding": (0, 0), "seed": 1},
    "padding_half_kernel": {"shape": (2, 1, 5, 4), "kernel": (3, 2), "stride": (2, 1), "padding": (1, 1), "seed": 2},
    "kernel_equals_input": {"shape": (1, 2, 5, 3), "kernel": (5, 3), "stride": (5, 3), "padding": (0, 0), "seed": 3},
}


def with_named_examples(test):
    for geometry in NAMED.values():
        test = example(geometry=geometry)(test)
    return test


# ---------------------------------------------------------------- forward against naive loops


@SMALL
@with_named_examples
@given(geometry=pool_geometry())
def test_max_pool2d_matches_naive_loops(xp, geometry):
    g = geometry
    host = np.random.default_rng(g["seed"]).standard_normal(g["shape"])
    out = F.max_pool2d(on(xp, host), g["kernel"], g["stride"], g["padding"])
    check_forward(out, naive_pool(host, g["kernel"], g["stride"], g["padding"], np.max, -np.inf))
    assert_namespace(out, xp)


@SMALL
@with_named_examples
@given(geometry=pool_geometry())
def test_avg_pool2d_matches_naive_loops(xp, geometry):
    g = geometry
    host = np.random.default_rng(g["seed"]).standard_normal(g["shape"])
    out = F.avg_pool2d(on(xp, host), g["kernel"], g["stride"], g["padding"])
    check_forward(out, naive_pool(host, g["kernel"], g["stride"], g["padding"], np.mean, 0.0))
    assert_namespace(out, xp)


@SMALL
@example(H=7, W=5, Ho=3, Wo=2, seed=0)
@example(H=4, W=6, Ho=5, Wo=7, seed=1)
@given(
    H=st.integers(1, 7), W=st.integers(1, 7), Ho=st.integers(1, 5), Wo=st.integers(1, 5), seed=st.integers(0, 2**16)
)
def test_adaptive_pool2d_matches_naive_bins(xp, H, W, Ho, Wo, seed):
    host = np.random.default_rng(seed).standard_normal((2, 3, H, W))
    for pool, reduce in ((F.adaptive_avg_pool2d, np.mean), (F.adaptive_max_pool2d, np.max)):
        out = pool(on(xp, host), (Ho, Wo))
        check_forward(out, naive_adaptive_pool(host, Ho, Wo, reduce))
        assert_namespace(out, xp)


def test_adaptive_max_pool2d_sends_the_gradient_to_the_first_maximum_of_each_bin():
    # Bins of a 3-wide row pooled to 2: columns 0-1 and 1-2 share column 1, which wins both.
    x = on(np, np.array([[[[1.0, 5.0, 5.0]]]]), requires_grad=True)
    y, indices = F.adaptive_max_pool2d(x, (1, 2), return_indices=True)
    y.backward(on(np, np.array([[[[1.0, 10.0]]]])))
    assert indices.numpy().tolist() == [[[[1, 1]]]]
    check_forward(x.grad, np.array([[[[0.0, 11.0, 0.0]]]]))


def test_stride_defaults_to_kernel_size():
    host = np.random.default_rng(0).standard_normal((1, 1, 6, 6))
    check_forward(F.max_pool2d(on(np, host), 2), naive_pool(host, (2, 2), (2, 2), (0, 0), np.max, -np.inf))
    check_forward(F.avg_pool2d(on(np, host), 3), naive_pool(host, (3, 3), (3, 3), (0, 0), np.mean, 0.0))


def test_avg_pool2d_counts_padding_in_the_average():
    out = F.avg_pool2d(on(np, np.ones((1, 1, 2, 2))), 3, stride=1, padding=1)
    check_forward(out, np.full((1, 1, 2, 2), 4 / 9))


def test_global_adaptive_avg_pool_is_exactly_the_mean(xp):
    host = np.random.default_rng(0).standard_normal((2, 3, 7, 5)).astype(np.float32)
    x = on(xp, host, requires_grad=True)
    out = F.adaptive_avg_pool2d(x, 1)
    assert bool(xp.all(out.array == xp.mean(x.array, axis=(2, 3), keepdims=True)))
    out.sum().backward()
    assert bool(xp.all(x.grad.array == 1 / 35))


# ---------------------------------------------------------------- max-pool ties


def test_max_pool2d_tie_sends_gradient_to_first_maximum(xp):
    x = on(xp, np.array([[[[1.0, 3.0], [3.0, 0.0]]]]), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    check_forward(x.grad.numpy(), [[[[0.0, 1.0], [0.0, 0.0]]]])


def test_max_pool2d_tie_in_overlapping_windows(xp):
    x = on(xp, np.full((1, 1, 1, 3), 2.0), requires_grad=True)
    F.max_pool2d(x, (1, 2), stride=1).sum().backward()
    check_forward(x.grad.numpy(), [[[[1.0, 1.0, 0.0]]]])


def test_max_pool2d_ties_match_torch():
    torch = torch_or_skip()
    host = np.array([[[[1.0, 3.0, 3.0], [3.0, 3.0, 0.0], [3.0, 3.0, 3.0]]]])
    check_torch(lambda x: F.max_pool2d(x, 2, 1), lambda x: torch.nn.functional.max_pool2d(x, 2, 1), host)


# ---------------------------------------------------------------- float64 gradient checks


@SMALL
@with_named_examples
@given(geometry=pool_geometry())
def test_max_pool2d_gradcheck(xp, geometry):
    g = geometry
    host = distinct_values(g["shape"], g["seed"])
    check_grad(lambda x: F.max_pool2d(x, g["kernel"], g["stride"], g["padding"]), xp, host)


@SMALL
@with_named_examples
@given(geometry=pool_geometry())
def test_avg_pool2d_gradcheck(xp, geometry):
    g = geometry
    host = np.random.default_rng(g["seed"]).standard_normal(g["shape"])
    check_grad(lambda x: F.avg_pool2d(x, g["kernel"], g["stride"], g["padding"]), xp, host)


@SMALL
@example(H=7, W=5, Ho=3, Wo=2, seed=0)
@example(H=3, W=4, Ho=1, Wo=1, seed=1)
@given(
    H=st.integers(1, 6), W=st.integers(1, 6), Ho=st.integers(1, 4), Wo=st.integers(1, 4), seed=st.integers(0, 2**16)
)
def test_adaptive_pool2d_gradcheck(xp, H, W, Ho, Wo, seed):
    host = np.random.default_rng(seed).standard_normal((1, 2, H, W))
    check_grad(lambda x: F.adaptive_avg_pool2d(x, (Ho, Wo)), xp, host)
    check_grad(lambda x: F.adaptive_max_pool2d(x, (Ho, Wo)), xp, host)


# ---------------------------------------------------------------- PyTorch oracle

ORACLE_CASES = {
    "alexnet_3x3_stride_2": ((2, 3, 13, 13), 3, 2, 0),
    "padding": ((2, 2, 7, 6), 3, 2, 1),
    "non_square": ((1, 2, 7, 9), (2, 3), (2, 1), (1, 0)),
    "kernel_equals_input": ((2, 3, 5, 5), 5, None, 0),
}


@pytest.mark.parametrize("shape, kernel, stride, padding", ORACLE_CASES.values(), ids=ORACLE_CASES.keys())
def test_max_pool2d_matches_torch(shape, kernel, stride, padding):
    torch = torch_or_skip()
    host = np.random.default_rng(0).standard_normal(shape)
    check_torch(
        lambda x: F.max_pool2d(x, kernel, stride, padding),
        lambda x: torch.nn.functional.max_pool2d(x, kernel, stride, padding),
        host,
    )


@pytest.mark.parametrize("shape, kernel, stride, padding", ORACLE_CASES.values(), ids=ORACLE_CASES.keys())
def test_avg_pool2d_matches_torch(shape, kernel, stride, padding):
    torch = torch_or_skip()
    host = np.random.default_rng(0).standard_normal(shape)
    check_torch(
        lambda x: F.avg_pool2d(x, kernel, stride, padding),
        lambda x: torch.nn.functional.avg_pool2d(x, kernel, stride, padding),
        host,
    )


# ceil_mode keeps a last window that hangs over the edge; count_include_pad=False divides by the
# real pixels only. (shape, kernel, stride, padding): overhang of 1 row / column, an overhang
# that PyTorch drops because the window would start past the input, padding plus overhang, and
# an input smaller than the kernel that only ceil_mode accepts.
CEIL_CASES = {
    "squeezenet_3x3_stride_2": ((2, 3, 8, 9), 3, 2, 0),
    "window_past_the_input_dropped": ((1, 2, 5, 5), 2, 3, 1),
    "padding_and_overhang": ((2, 1, 6, 7), (3, 2), (2, 2), (1, 1)),
    "input_smaller_than_kernel": ((1, 2, 2, 2), 3, 2, 0),
}


@pytest.mark.parametrize("shape, kernel, stride, padding", CEIL_CASES.values(), ids=CEIL_CASES.keys())
def test_max_pool2d_ceil_mode_matches_torch(shape, kernel, stride, padding):
    torch = torch_or_skip()
    host = distinct_values(shape, 0)
    check_torch(
        lambda x: F.max_pool2d(x, kernel, stride, padding, ceil_mode=True),
        lambda x: torch.nn.functional.max_pool2d(x, kernel, stride, padding, ceil_mode=True),
        host,
    )


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("shape, kernel, stride, padding", CEIL_CASES.values(), ids=CEIL_CASES.keys())
def test_avg_pool2d_ceil_mode_and_count_include_pad_match_torch(shape, kernel, stride, padding, ceil_mode,
                                                                  count_include_pad):
    torch = torch_or_skip()
    host = np.random.default_rng(0).standard_normal(shape)
    options = dict(ceil_mode=ceil_mode, count_include_pad=count_include_pad)
    if not ceil_mode and shape == CEIL_CASES["input_smaller_than_kernel"][0]:
        # Without ceil_mode the kernel does not fit: an error here, as in PyTorch.
        with pytest.raises(ValueError, match="avg_pool2d: kernel spans 3 pixels but the padded input is only 2"):
            F.avg_pool2d(on(np, host), kernel, stride, padding, **options)
        with pytest.raises(RuntimeError):
            torch.nn.functional.avg_pool2d(torch.tensor(host), kernel, stride, padding, **options)
        return
    check_torch(
        lambda x: F.avg_pool2d(x, kernel, stride, padding, **options),
        lambda x: torch.nn.functional.avg_pool2d(x, kernel, stride, padding, **options),
        host,
    )


@pytest.mark.parametrize("shape, kernel, stride, padding", CEIL_CASES.values(), ids=CEIL_CASES.keys())
def test_ceil_mode_gradcheck(xp, shape, kernel, stride, padding):
    host = distinct_values(shape, 1)
    check_grad(lambda x: F.max_pool2d(x, kernel, stride, padding, ceil_mode=True), xp, host)
    check_grad(lambda x: F.avg_pool2d(x, kernel, stride, padding, ceil_mode=True, count_include_pad=False), xp, host)


def test_avg_pool2d_of_integers_is_a_float_mean():
    x = on(np, np.arange(8).reshape(1, 1, 2, 4))
    check_forward(F.avg_pool2d(x, 2), [[[[2.5, 4.5]]]])


def test_ceil_mode_output_sizes():
    # ceil((8 - 3)/2) + 1 = 4 windows, against floor's 3; PyTorch drops a window that would start
    # past the input and its padding: ceil((5 + 2 - 2)/3) + 1 = 3, but window 2 starts at 6 >= 5 + 1.
    assert F.max_pool2d(on(np, np.zeros((1, 1, 8, 8))), 3, 2, ceil_mode=True).shape == (1, 1, 4, 4)
    assert F.max_pool2d(on(np, np.zeros((1, 1, 8, 8))), 3, 2).shape == (1, 1, 3, 3)
    assert F.avg_pool2d(on(np, np.zeros((1, 1, 5, 5))), 2, 3, 1, ceil_mode=True).shape == (1, 1, 2, 2)


@pytest.mark.parametrize(
    "shape, output_size",
    [((2, 3, 7, 5), (3, 2)), ((2, 3, 6, 6), 1), ((1, 2, 4, 6), (5, 7)), ((2, 2, 8, 8), 4)],
    ids=["overlapping_bins", "global", "larger_than_input", "even_bins"],
)
def test_adaptive_pool2d_matches_torch(shape, output_size):
    torch = torch_or_skip()
    host = np.random.default_rng(0).standard_normal(shape)
    check_torch(
        lambda x: F.adaptive_avg_pool2d(x, output_size),
        lambda x: torch.nn.functional.adaptive_avg_pool2d(x, output_size),
        host,
    )
    check_torch(
        lambda x: F.adaptive_max_pool2d(x, output_size),
        lambda x: torch.nn.functional.adaptive_max_pool2d(x, output_size),
        host,
    )
    ours = F.adaptive_max_pool2d(on(np, host), output_size, return_indices=True)[1].numpy()
    theirs = torch.nn.functional.adaptive_max_pool2d(torch.from_numpy(host), output_size, return_indices=True)[1]
    np.testing.assert_array_equal(ours, theirs.numpy())


# ---------------------------------------------------------------- the method dispatch point


def test_max_pool2d_method_registry(monkeypatch):
    calls = []

    class Spy(pooling.MaxPool2d):
        @staticmethod
        def forward(ctx, x, kh, kw, sh, sw, ph, pw, ceil_mode, dilation, indices=None):
            calls.append((kh, kw, sh, sw, ph, pw))
            return pooling.MaxPool2d.forward(ctx, x, kh, kw, sh, sw, ph, pw, ceil_mode, dilation, indices)

    monkeypatch.setitem(methods._METHODS["max_pool2d"], "spy", Spy)
    host = np.random.default_rng(0).standard_normal((1, 1, 5, 5))
    out = F.max_pool2d(on(np, host), 3, 2, 1, method="spy")
    assert calls == [(3, 3, 2, 2, 1, 1)]
    check_forward(out, F.max_pool2d(on(np, host), 3, 2, 1, method="slices").detach().numpy())


# ---------------------------------------------------------------- bad input

BAD_INPUTS = {
    "max_3d_input": (F.max_pool2d, (3, 4, 4), dict(kernel_size=2), ValueError,
                     r"max_pool2d: expected a 4-D input \(N, C, H, W\), got shape \(3, 4, 4\)"),
    "avg_kernel_too_large": (F.avg_pool2d, (1, 1, 4, 4), dict(kernel_size=7, padding=1), ValueError,
                             r"avg_pool2d: kernel spans 7 pixels but the padded input is only 6"),
    "max_negative_padding": (F.max_pool2d, (1, 1, 4, 4), dict(kernel_size=2, padding=-1), ValueError,
                             r"max_pool2d: padding must be >= 0, got -1"),
    "max_padding_over_half": (F.max_pool2d, (1, 1, 8, 8), dict(kernel_size=3, padding=2), ValueError,
                              r"max_pool2d: expected padding at most half the kernel size \(kernel \(3, 3\)\), "
                              r"got padding \(2, 2\)"),
    "avg_zero_stride": (F.avg_pool2d, (1, 1, 4, 4), dict(kernel_size=2, stride=0), ValueError,
                        r"avg_pool2d: stride must be >= 1, got 0"),
    "max_float_kernel": (F.max_pool2d, (1, 1, 4, 4), dict(kernel_size=2.0), TypeError,
                         r"max_pool2d: kernel_size must be an int or an \(h, w\) pair of ints, got 2.0"),
    "max_numba_dilation": (F.max_pool2d, (1, 1, 6, 6), dict(kernel_size=2, dilation=2, method="numba"), ValueError,
                           r"max_pool2d: method='numba' expected dilation 1 \(the compiled kernels have none\), "
                           r"got dilation \(2, 2\)"),
    "max_zero_dilation": (F.max_pool2d, (1, 1, 6, 6), dict(kernel_size=2, dilation=0), ValueError,
                          r"max_pool2d: dilation must be >= 1, got 0"),
    "max_dilated_kernel_too_large": (F.max_pool2d, (1, 1, 4, 4), dict(kernel_size=3, dilation=2), ValueError,
                                     r"max_pool2d: kernel spans 5 pixels but the padded input is only 4"),
    "max_unknown_method": (F.max_pool2d, (1, 1, 4, 4), dict(kernel_size=2, method="fft"), ValueError,
                           r"max_pool2d: expected method to be one of 'auto', 'slices', 'numba', got 'fft'"),
    "max_ceil_mode_input_too_small": (F.max_pool2d, (1, 1, 1, 1), dict(kernel_size=3, stride=2, ceil_mode=True),
                                      ValueError, r"max_pool2d: kernel spans 3 pixels but the padded input with its "
                                      r"ceil_mode overhang is only 2 \(size 1 \+ 2\*padding 0 \+ overhang 1\)"),
    "adaptive_2d_input": (F.adaptive_avg_pool2d, (4, 4), dict(output_size=1), ValueError,
                          r"adaptive_avg_pool2d: expected a 4-D input \(N, C, H, W\), got shape \(4, 4\)"),
    "adaptive_zero_output": (F.adaptive_avg_pool2d, (1, 1, 4, 4), dict(output_size=(0, 2)), ValueError,
                             r"adaptive_avg_pool2d: expected output_size >= 1, got \(0, 2\)"),
}


@pytest.mark.parametrize("op, shape, kwargs, error, message", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_names_op_expected_and_got(op, shape, kwargs, error, message):
    with pytest.raises(error, match=message):
        op(on(np, np.zeros(shape)), **kwargs)


# ---------------------------------------------------------------- max_pool2d: dilation
#
# (shape, kernel, stride, padding, dilation): a 3x3 window spanning 5x5, dilation only along W,
# dilation with padding, and a dilated window that only ceil_mode keeps at the edge.
DILATION_CASES = {
    "3x3_dilation_2": ((2, 2, 9, 9), 3, 1, 0, 2),
    "dilation_along_width": ((1, 3, 6, 9), (2, 3), (2, 1), 0, (1, 3)),
    "dilation_and_padding": ((2, 1, 8, 7), 3, 2, 1, 2),
    "overhang_at_the_edge": ((1, 2, 8, 10), 2, 3, 1, (2, 3)),
}


@pytest.mark.parametrize("shape, kernel, stride, padding, dilation", DILATION_CASES.values(),
                         ids=DILATION_CASES.keys())
def test_dilated_max_pool2d_matches_naive_loops(xp, shape, kernel, stride, padding, dilation):
    host = np.random.default_rng(0).standard_normal(shape)
    out = F.max_pool2d(on(xp, host), kernel, stride, padding, dilation)
    pairs = [(v, v) if isinstance(v, int) else v for v in (kernel, stride, padding, dilation)]
    check_forward(out, naive_pool(host, *pairs[:3], np.max, -np.inf, dilation=pairs[3]))
    assert_namespace(out, xp)


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("shape, kernel, stride, padding, dilation", DILATION_CASES.values(),
                         ids=DILATION_CASES.keys())
def test_dilated_max_pool2d_gradcheck(xp, shape, kernel, stride, padding, dilation, ceil_mode):
    host = distinct_values(shape, 2)
    check_grad(lambda x: F.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode), xp, host)


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("shape, kernel, stride, padding, dilation", DILATION_CASES.values(),
                         ids=DILATION_CASES.keys())
def test_dilated_max_pool2d_matches_torch(shape, kernel, stride, padding, dilation, ceil_mode):
    torch = torch_or_skip()
    host = distinct_values(shape, 3)
    check_torch(
        lambda x: F.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode),
        lambda x: torch.nn.functional.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode),
        host,
    )


@st.composite
def dilated_pool_geometry(draw):
    """A max-pool geometry with dilation up to 3, the input at least the dilated window's span."""
    geometry = draw(pool_geometry())
    (kh, kw), (ph, pw) = geometry["kernel"], geometry["padding"]
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    low_h, low_w = max(1, dilation[0] * (kh - 1) + 1 - 2 * ph), max(1, dilation[1] * (kw - 1) + 1 - 2 * pw)
    H, W = draw(st.integers(low_h, low_h + 3)), draw(st.integers(low_w, low_w + 3))
    return {**geometry, "shape": geometry["shape"][:2] + (H, W), "dilation": dilation}


@SMALL
@given(geometry=dilated_pool_geometry())
def test_dilated_max_pool2d_on_drawn_geometries(xp, geometry):
    g = geometry
    host = distinct_values(g["shape"], g["seed"])
    out = F.max_pool2d(on(xp, host), g["kernel"], g["stride"], g["padding"], g["dilation"])
    check_forward(out, naive_pool(host, g["kernel"], g["stride"], g["padding"], np.max, -np.inf, g["dilation"]))
    # Spaced taps can all land in the padding: that window is -inf (as in PyTorch) and has no gradient.
    assume(bool(np.isfinite(out.detach().numpy()).all()))
    check_grad(lambda x: F.max_pool2d(x, g["kernel"], g["stride"], g["padding"], g["dilation"]), xp, host)


def test_ceil_mode_keeps_a_dilated_window_over_the_edge():
    # W = 10, padding 1, span 4, stride 3: floor gives (10 + 2 - 4)//3 + 1 = 3 windows, ceil 4.
    x = on(np, np.zeros((1, 1, 8, 10)))
    assert F.max_pool2d(x, 2, 3, 1, (2, 3)).shape == (1, 1, 3, 3)
    assert F.max_pool2d(x, 2, 3, 1, (2, 3), True).shape == (1, 1, 3, 4)


def test_auto_takes_the_lesson_when_the_window_is_dilated():
    x = np.zeros((1, 1, 6, 6), dtype=np.float32)
    assert methods.choose("max_pool2d", "auto", x, dilation=(1, 2)) is pooling.MaxPool2d
    y = F.max_pool2d(on(np, x), 2, dilation=2)  # the Numba kernels' adapter would raise
    assert y.shape == (1, 1, 2, 2)  # (6 - 3)//2 + 1


# ---------------------------------------------------------------- max_pool2d: return_indices

INDEX_CASES = {
    "alexnet_3x3_stride_2": ((2, 3, 9, 9), 3, 2, 0, 1, False),
    "padding_and_ceil_mode": ((1, 2, 8, 7), 3, 2, 1, 1, True),
    "non_square": ((2, 1, 7, 9), (2, 3), (2, 1), (1, 0), 1, False),
    "dilated": ((1, 2, 9, 8), 3, 2, 1, (2, 1), True),
}


def _pool_with_indices(xp, host, method, case):
    kernel, stride, padding, dilation, ceil_mode = case[1:]
    return F.max_pool2d(on(xp, host), kernel, stride, padding, dilation, ceil_mode, True, method=method)


@pytest.mark.parametrize("method", ["slices", "numba"])
@pytest.mark.parametrize("case", INDEX_CASES.values(), ids=INDEX_CASES.keys())
def test_return_indices_point_at_the_maxima(xp, method, case):
    if method == "numba" and (xp.__name__ != "numpy" or case[4] != 1):
        pytest.skip("the Numba kernels take NumPy or CuPy arrays and no dilation")
    host = np.random.default_rng(0).standard_normal(case[0])
    y, indices = _pool_with_indices(xp, host, method, case)
    got = backend.to_numpy(indices.array)
    assert got.dtype == np.int64 and got.shape == tuple(y.shape)
    N, C = host.shape[:2]
    at_indices = np.take_along_axis(host.reshape(N, C, -1), got.reshape(N, C, -1), axis=2)
    check_forward(at_indices.reshape(got.shape), y.detach().numpy())


@pytest.mark.parametrize("method", ["slices", "numba"])
@pytest.mark.parametrize("case", INDEX_CASES.values(), ids=INDEX_CASES.keys())
def test_return_indices_match_torch(method, case):
    torch = torch_or_skip()
    if method == "numba" and case[4] != 1:
        pytest.skip("the Numba kernels have no dilation")
    host = np.random.default_rng(1).standard_normal(case[0]).astype(np.float32)
    host[0, 0, :2, :2] = 1.0  # a tie: both pick the first maximum
    y, indices = _pool_with_indices(np, host, method, case)
    expected_y, expected_indices = torch.nn.functional.max_pool2d(torch.tensor(host), *case[1:], return_indices=True)
    check_forward(y, expected_y.detach().numpy())
    np.testing.assert_array_equal(indices.detach().numpy(), expected_indices.detach().numpy())


def test_indices_carry_no_gradient_and_y_still_trains():
    x = on(np, distinct_values((1, 1, 4, 4), 0), requires_grad=True)
    y, indices = F.max_pool2d(x, 2, return_indices=True)
    assert not indices.requires_grad
    y.sum().backward()
    assert np.asarray(x.grad).sum() == 4.0


# ---------------------------------------------------------------- max_unpool2d

UNPOOL_CASES = {
    "2x2_stride_2": ((2, 3, 6, 8), 2, None, 0, None),
    "padding": ((1, 2, 7, 7), 3, 3, 1, None),
    "size_lost_to_the_floor": ((2, 1, 7, 9), 2, 2, 0, (7, 9)),
    "overlapping_windows": ((1, 2, 7, 7), 3, 2, 0, None),
}


def _pooled(xp, case, seed=0):
    """``(x, y, indices, output_size)`` of a pooling whose indices max_unpool2d then takes."""
    shape, kernel, stride, padding, output_size = case
    host = distinct_values(shape, seed)
    y, indices = F.max_pool2d(on(np, host), kernel, stride, padding, return_indices=True)
    return host, on(xp, y.detach().numpy()), on(xp, indices.detach().numpy()), output_size


@pytest.mark.parametrize("case", UNPOOL_CASES.values(), ids=UNPOOL_CASES.keys())
def test_max_unpool2d_matches_the_scatter_loop(xp, case):
    _, y, indices, output_size = _pooled(xp, case)
    out = F.max_unpool2d(y, indices, *case[1:4], output_size=output_size)
    Ho, Wo = out.shape[2], out.shape[3]
    check_forward(out, naive_unpool(y.detach().numpy(), backend.to_numpy(indices.array), Ho, Wo))
    assert_namespace(out, xp)


@pytest.mark.parametrize("case", UNPOOL_CASES.values(), ids=UNPOOL_CASES.keys())
def test_max_unpool2d_round_trips_the_maxima(case):
    # ZFNet's deconvnet: every maximum goes back to its pixel, everything else is zero.
    host, y, indices, _ = _pooled(np, case)
    out = F.max_unpool2d(y, indices, *case[1:4], output_size=host.shape).detach().numpy()
    N, C = host.shape[:2]
    maxima = np.zeros((N, C, host.shape[2] * host.shape[3]), dtype=bool)
    np.put_along_axis(maxima, indices.detach().numpy().reshape(N, C, -1), True, axis=2)
    np.testing.assert_array_equal(out, np.where(maxima.reshape(host.shape), host, 0.0))


@pytest.mark.parametrize("case", [UNPOOL_CASES[k] for k in ("2x2_stride_2", "padding", "size_lost_to_the_floor")],
                         ids=["2x2_stride_2", "padding", "size_lost_to_the_floor"])
def test_max_unpool2d_gradcheck(xp, case):
    # Windows that do not overlap: no two values share a target, so the gather is the exact gradient.
    _, y, indices, output_size = _pooled(np, case)
    check_grad(lambda t, i: F.max_unpool2d(t, i, *case[1:4], output_size=output_size), xp, y.detach().numpy(),
               indices.detach().numpy())


@pytest.mark.parametrize("case", UNPOOL_CASES.values(), ids=UNPOOL_CASES.keys())
def test_max_unpool2d_matches_torch(case):
    torch = torch_or_skip()
    _, y, indices, output_size = _pooled(np, case)
    host_indices = indices.detach().numpy()
    check_torch(
        lambda t: F.max_unpool2d(t, mt.tensor(host_indices), *case[1:4], output_size=output_size),
        lambda t: torch.nn.functional.max_unpool2d(t, torch.tensor(host_indices), *case[1:4],
                                                   output_size=output_size),
        y.detach().numpy(),
    )


def test_max_unpool2d_shared_target_keeps_the_later_value_as_torch():
    torch = torch_or_skip()
    x = np.array([[[[1.0, 2.0, 3.0]]]], dtype=np.float32)
    indices = np.array([[[[4, 4, 0]]]])
    got = F.max_unpool2d(mt.tensor(x), mt.tensor(indices), (1, 2), output_size=(1, 6)).detach().numpy()
    expected = torch.nn.functional.max_unpool2d(torch.tensor(x), torch.tensor(indices), (1, 2), output_size=(1, 6))
    np.testing.assert_array_equal(got, expected.detach().numpy())
    np.testing.assert_array_equal(got, [[[[3.0, 0.0, 0.0, 0.0, 2.0, 0.0]]]])


UNPOOL_BAD_INPUTS = {
    "indices_shape": (dict(indices=np.zeros((1, 1, 2, 3), dtype=np.int64)), ValueError,
                      r"max_unpool2d: expected indices of the input's shape \(1, 1, 2, 2\), got \(1, 1, 2, 3\)"),
    "float_indices": (dict(indices=np.zeros((1, 1, 2, 2))), TypeError,
                      r"max_unpool2d: expected integer indices, got dtype float64"),
    "index_past_the_plane": (dict(indices=np.full((1, 1, 2, 2), 16)), ValueError,
                             r"max_unpool2d: expected indices in \[0, 16\) for an output plane of \(4, 4\), "
                             r"got values in \[16, 16\]"),
    "output_size_too_far": (dict(output_size=(6, 4)), ValueError,
                            r"max_unpool2d: expected output_size dim 0 between 2 and 6 \(exclusive\), got \(6, 4\)"),
    "input_3d": (dict(x=np.zeros((1, 2, 2)), indices=np.zeros((1, 2, 2), dtype=np.int64)), ValueError,
                 r"max_unpool2d: expected a 4-D input \(N, C, H, W\), got shape \(1, 2, 2\)"),
}


@pytest.mark.parametrize("spec, error, message", UNPOOL_BAD_INPUTS.values(), ids=UNPOOL_BAD_INPUTS.keys())
def test_max_unpool2d_bad_input_names_op_expected_and_got(spec, error, message):
    x = spec.get("x", np.zeros((1, 1, 2, 2)))
    indices = spec.get("indices", np.zeros((1, 1, 2, 2), dtype=np.int64))
    with pytest.raises(error, match=message):
        F.max_unpool2d(mt.tensor(x), mt.tensor(indices), 2, output_size=spec.get("output_size"))
