"""Pooling: max, average and adaptive average against naive loops, gradchecks, PyTorch, bad input."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

import minitorch_cnn.functional as F
from minitorch_cnn import backend, methods
from minitorch_cnn.functional import pooling
from helpers import assert_namespace, check_forward, check_grad, check_torch, on, torch_or_skip

SMALL = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# ---------------------------------------------------------------- naive references


def naive_pool(x, kernel, stride, padding, reduce, fill):
    """Seven loops over (n, c, io, jo) and an explicit window; ``fill`` is the padding value."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    N, C, H, W = x.shape
    padded = np.full((N, C, H + 2 * ph, W + 2 * pw), fill)
    padded[:, :, ph : ph + H, pw : pw + W] = x
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    out = np.empty((N, C, Ho, Wo))
    for n in range(N):
        for c in range(C):
            for io in range(Ho):
                for jo in range(Wo):
                    out[n, c, io, jo] = reduce(padded[n, c, io * sh : io * sh + kh, jo * sw : jo * sw + kw])
    return out


def naive_adaptive_avg_pool(x, Ho, Wo):
    N, C, H, W = x.shape
    out = np.empty((N, C, Ho, Wo))
    for io in range(Ho):
        h0, h1 = math.floor(io * H / Ho), math.ceil((io + 1) * H / Ho)
        for jo in range(Wo):
            w0, w1 = math.floor(jo * W / Wo), math.ceil((jo + 1) * W / Wo)
            out[:, :, io, jo] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
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
def test_adaptive_avg_pool2d_matches_naive_bins(xp, H, W, Ho, Wo, seed):
    host = np.random.default_rng(seed).standard_normal((2, 3, H, W))
    out = F.adaptive_avg_pool2d(on(xp, host), (Ho, Wo))
    check_forward(out, naive_adaptive_avg_pool(host, Ho, Wo))
    assert_namespace(out, xp)


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
    assert bool(xp.all(out.data == xp.mean(x.data, axis=(2, 3), keepdims=True)))
    out.sum().backward()
    assert bool(xp.all(x.grad == 1 / 35))


# ---------------------------------------------------------------- max-pool ties


def test_max_pool2d_tie_sends_gradient_to_first_maximum(xp):
    x = on(xp, np.array([[[[1.0, 3.0], [3.0, 0.0]]]]), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    check_forward(backend.to_numpy(x.grad), [[[[0.0, 1.0], [0.0, 0.0]]]])


def test_max_pool2d_tie_in_overlapping_windows(xp):
    x = on(xp, np.full((1, 1, 1, 3), 2.0), requires_grad=True)
    F.max_pool2d(x, (1, 2), stride=1).sum().backward()
    check_forward(backend.to_numpy(x.grad), [[[[1.0, 1.0, 0.0]]]])


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
def test_adaptive_avg_pool2d_gradcheck(xp, H, W, Ho, Wo, seed):
    host = np.random.default_rng(seed).standard_normal((1, 2, H, W))
    check_grad(lambda x: F.adaptive_avg_pool2d(x, (Ho, Wo)), xp, host)


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
def test_adaptive_avg_pool2d_matches_torch(shape, output_size):
    torch = torch_or_skip()
    host = np.random.default_rng(0).standard_normal(shape)
    check_torch(
        lambda x: F.adaptive_avg_pool2d(x, output_size),
        lambda x: torch.nn.functional.adaptive_avg_pool2d(x, output_size),
        host,
    )


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
    check_forward(out, F.max_pool2d(on(np, host), 3, 2, 1, method="slices").numpy())


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
