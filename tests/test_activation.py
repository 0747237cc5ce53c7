"""Activations: relu, leaky_relu, relu6, hardtanh, elu, gelu, softplus, hardswish, mish, tanh, sigmoid,
silu, softmax, log_softmax, hardsigmoid, selu, celu, softsign, logsigmoid."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import backend
from helpers import assert_namespace, check_forward, check_grad, check_torch, on, torch_or_skip


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


np_erf = np.vectorize(math.erf)


def np_softplus(x, beta=1.0, threshold=20.0):
    return np.where(beta * x > threshold, x, np.log1p(np.exp(beta * x)) / beta)


def np_gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


# name, our keyword arguments, PyTorch's keyword arguments, NumPy reference
CASES = [
    ("hardtanh", {}, {}, lambda x: np.clip(x, -1.0, 1.0)),
    ("hardtanh", {"min_val": -2.0, "max_val": 0.5}, {"min_val": -2.0, "max_val": 0.5}, lambda x: np.clip(x, -2.0, 0.5)),
    ("relu6", {}, {}, lambda x: np.clip(x, 0.0, 6.0)),
    ("elu", {}, {}, lambda x: np.where(x > 0, x, np.expm1(x))),
    ("elu", {"alpha": 0.5}, {"alpha": 0.5}, lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
    ("gelu", {}, {}, lambda x: 0.5 * x * (1 + np_erf(x / math.sqrt(2)))),
    ("gelu", {"approximate": "tanh"}, {"approximate": "tanh"}, np_gelu_tanh),
    ("softplus", {}, {}, np_softplus),
    ("softplus", {"beta": 2.0, "threshold": 3.0}, {"beta": 2.0, "threshold": 3.0}, lambda x: np_softplus(x, 2.0, 3.0)),
    ("hardswish", {}, {}, lambda x: x * np.clip(x + 3, 0, 6) / 6),
    ("mish", {}, {}, lambda x: x * np.tanh(np.log1p(np.exp(x)))),
    ("softmax", {"dim": 0}, {"dim": 0}, lambda x: np_softmax(x, 0)),
    ("log_softmax", {"dim": 0}, {"dim": 0}, lambda x: np.log(np_softmax(x, 0))),
    ("relu", {}, {}, lambda x: np.maximum(x, 0.0)),
    ("leaky_relu", {}, {}, lambda x: np.where(x > 0, x, 0.01 * x)),
    ("leaky_relu", {"negative_slope": 0.2}, {"negative_slope": 0.2}, lambda x: np.where(x > 0, x, 0.2 * x)),
    ("tanh", {}, {}, np.tanh),
    ("sigmoid", {}, {}, np_sigmoid),
    ("silu", {}, {}, lambda x: x * np_sigmoid(x)),
    ("softmax", {}, {"dim": -1}, lambda x: np_softmax(x, -1)),
    ("softmax", {"axis": 0}, {"dim": 0}, lambda x: np_softmax(x, 0)),
    ("log_softmax", {}, {"dim": -1}, lambda x: np.log(np_softmax(x, -1))),
    ("log_softmax", {"axis": 0}, {"dim": 0}, lambda x: np.log(np_softmax(x, 0))),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in ours.items()) or 'default'}" for name, ours, _, _ in CASES]


def away_from_zero(shape, seed=0):
    """Values with |x| in [0.1, 2]: central differences never straddle the kink of relu at 0."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.1, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


@pytest.mark.parametrize("name, ours, theirs, reference", CASES, ids=IDS)
def test_forward_matches_numpy_formula(name, ours, theirs, reference, xp):
    host = np.random.default_rng(0).standard_normal((3, 5)) * 3
    out = getattr(F, name)(on(xp, host), **ours)
    assert_namespace(out, xp)
    check_forward(out, reference(host), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, ours, theirs, reference", CASES, ids=IDS)
def test_gradcheck(name, ours, theirs, reference, xp):
    check_grad(lambda x: getattr(F, name)(x, **ours), xp, away_from_zero((3, 4)) * 2)


@pytest.mark.parametrize("name, ours, theirs, reference", CASES, ids=IDS)
def test_matches_torch(name, ours, theirs, reference):
    torch = torch_or_skip()
    check_torch(
        lambda x: getattr(F, name)(x, **ours),
        lambda x: getattr(torch.nn.functional, name)(x, **theirs),
        np.random.default_rng(2).standard_normal((4, 6)) * 3,
    )


INPLACE = ["relu", "leaky_relu", "relu6", "hardtanh", "elu", "silu", "hardswish", "hardsigmoid", "mish"]


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_writes_into_the_input_and_matches_torch(name):
    # F.relu(x, inplace=True) and nn.ReLU(inplace=True): the input becomes the output, gradients as torch.
    def run(F):
        def op(x):
            y = x * 1.5
            out = getattr(F, name)(y, inplace=True)
            assert out is y
            return y
        return op

    check_torch(run(F), run(torch_or_skip().nn.functional), np.linspace(-4.0, 7.0, 12).reshape(3, 4))
    x = mt.tensor([-1.0, 2.0])
    assert getattr(F, name)(x, inplace=True) is x
    check_forward(x, getattr(F, name)(mt.tensor([-1.0, 2.0])))
    with pytest.raises(RuntimeError, match=f"{name}: a leaf Variable that requires grad"):
        getattr(F, name)(mt.tensor([1.0], requires_grad=True), inplace=True)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_middle_axis_of_a_4d_input(name, xp):
    host = np.random.default_rng(3).standard_normal((2, 3, 2, 2))
    out = getattr(F, name)(on(xp, host), axis=1)
    expected = np_softmax(host, 1) if name == "softmax" else np.log(np_softmax(host, 1))
    check_forward(out, expected, rtol=1e-12, atol=1e-12)
    check_grad(lambda x: getattr(F, name)(x, axis=1), xp, host)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), data=st.data())
def test_softmax_sums_to_one_along_any_axis(shape, data, xp):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    host = np.random.default_rng(4).standard_normal(shape) * 10
    y = F.softmax(on(xp, host), axis=axis).detach().numpy()
    np.testing.assert_allclose(y.sum(axis=axis), 1.0, rtol=1e-12)
    np.testing.assert_allclose(F.log_softmax(on(xp, host), axis=axis).detach().numpy(), np.log(y), atol=1e-12)


# ---------------------------------------------------------------- conventions at the kink


def test_relu_derivative_at_zero_is_zero(xp):
    x = on(xp, np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    F.relu(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 1.0])
    assert_namespace(x, xp)


def test_relu_derivative_at_zero_agrees_with_torch():
    torch = torch_or_skip()
    check_torch(F.relu, torch.relu, np.array([-1.0, 0.0, 0.0, 2.0]))


def test_relu_and_leaky_relu_pass_nan_through(xp):
    x = on(xp, np.array([np.nan, -1.0]))
    assert np.isnan(F.relu(x).detach().numpy()[0]) and np.isnan(F.leaky_relu(x).detach().numpy()[0])


@pytest.mark.filterwarnings("ignore:invalid value encountered in multiply")
def test_an_inactive_unit_blocks_even_an_infinite_gradient(xp):
    # As in PyTorch: 0, not 0 * inf = nan, where the slope is 0.
    for op in (F.relu, lambda t: F.leaky_relu(t, negative_slope=0.0)):
        x = on(xp, np.array([-1.0, 2.0, -3.0]), requires_grad=True)
        op(x).backward(xp.asarray(np.array([np.inf, 1.0, np.nan])))
        np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 0.0])


def test_leaky_relu_passes_positive_inputs_exactly_for_any_slope():
    x = np.array([3.0, 0.1, -2.0], dtype=np.float32)
    for slope in (0.01, 0.2, 1.0018, 5.0):
        y = F.leaky_relu(on(np, x), negative_slope=slope).detach().numpy()
        np.testing.assert_array_equal(y[:2], x[:2])


def test_leaky_relu_derivative_at_zero_is_the_slope(xp):
    x = on(xp, np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    F.leaky_relu(x, negative_slope=0.1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.1, 0.1, 1.0])


@pytest.mark.parametrize("name, kwargs, kinks", [
    ("hardtanh", {"min_val": -2.0, "max_val": 0.5}, [-2.0, 0.5]),
    ("relu6", {}, [0.0, 6.0]),
    ("elu", {"alpha": 0.5}, [0.0]),
    ("softplus", {"beta": 2.0, "threshold": 3.0}, [1.5]),
    ("hardswish", {}, [-3.0, 3.0]),
])
def test_derivative_at_the_kinks_agrees_with_torch(name, kwargs, kinks):
    torch = torch_or_skip()
    x = np.array([k + d for k in kinks for d in (-0.5, 0.0, 0.5)])
    check_torch(lambda t: getattr(F, name)(t, **kwargs), lambda t: getattr(torch.nn.functional, name)(t, **kwargs), x)


def test_erf_of_gelu_is_exact_to_float64_over_the_whole_range():
    from minitorch_cnn.functional.activation import _erf

    z = np.concatenate([np.linspace(-8, 8, 1601), [0.0, 1e-300, -1e-8]])
    np.testing.assert_allclose(_erf(z), np_erf(z), rtol=1e-14, atol=1e-16)


def test_softmax_takes_dim_as_pytorch_and_axis_as_before(xp):
    host = np.random.default_rng(5).standard_normal((3, 4))
    for op in (F.softmax, F.log_softmax):
        by_dim, positional, by_axis = op(on(xp, host), dim=0), op(on(xp, host), 0), op(on(xp, host), axis=0)
        check_forward(by_dim, by_axis.detach().numpy(), rtol=0, atol=0)
        check_forward(positional, by_axis.detach().numpy(), rtol=0, atol=0)
        with pytest.raises(TypeError, match=rf"{op.__name__}: expected dim or axis, got both \(dim=0, axis=1\)"):
            op(on(xp, host), dim=0, axis=1)


# ---------------------------------------------------------------- numerical stability


@pytest.mark.parametrize("name", ["elu", "gelu", "softplus", "mish"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_exponential_activations_of_huge_inputs_do_not_overflow(name, dtype, xp):
    host = np.array([-1000.0, -100.0, 0.0, 100.0, 1000.0], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = on(xp, host, requires_grad=True)
        y = getattr(F, name)(x)
        y.sum().backward()
    assert np.all(np.isfinite(y.detach().numpy())) and np.all(np.isfinite(x.grad.numpy()))
    np.testing.assert_array_equal(y.detach().numpy()[3:], host[3:])


@pytest.mark.parametrize("dim", [0, -1])
def test_softmax_and_log_softmax_of_a_0d_tensor_as_torch(dim):
    # A 0-d tensor is a single class: softmax 1, log_softmax 0, gradient 0 (tinygrad's test_softmax).
    check_torch(lambda x: x.softmax(dim), lambda x: x.softmax(dim), np.array(0.7))
    check_torch(lambda x: x.log_softmax(dim), lambda x: x.log_softmax(dim), np.array(0.7))


def test_softmax_and_log_softmax_methods_take_dim():
    check_torch(lambda x: x.softmax(1), lambda x: x.softmax(1), np.random.default_rng(0).standard_normal((3, 4, 2)))
    check_torch(lambda x: x.log_softmax(0), lambda x: x.log_softmax(0), np.random.default_rng(0).standard_normal((3, 4)))


@pytest.mark.parametrize("name, kwargs", [("hardsigmoid", {}), ("selu", {}), ("celu", {}), ("celu", {"alpha": 0.5}),
                                          ("softsign", {}), ("logsigmoid", {})])
def test_more_activations_match_torch_and_gradcheck(name, kwargs, xp):
    torch = torch_or_skip()
    # -3 and 3 are hardsigmoid's kinks, 0 is the ELU family's; 40 checks logsigmoid stays finite.
    x = np.array([-40.0, -3.0, -2.5, -1.0, 0.0, 0.7, 3.0, 3.5, 40.0])
    check_torch(lambda t: getattr(F, name)(t, **kwargs), lambda t: getattr(torch.nn.functional, name)(t, **kwargs), x)
    check_grad(lambda t: getattr(F, name)(t, **kwargs), xp, np.array([-2.5, -1.0, -0.3, 0.7, 2.0]))


def test_hardsigmoid_layer():
    torch = torch_or_skip()
    x = np.linspace(-4, 4, 9)
    check_torch(lambda t: mt.nn.Hardsigmoid()(t), lambda t: torch.nn.Hardsigmoid()(t), x)


def test_softmax_of_huge_logits_is_finite(xp):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = F.softmax(on(xp, np.array([[1000.0, 0.0], [-1000.0, -1000.0]])))
        log_y = F.log_softmax(on(xp, np.array([[1000.0, 0.0]])))
    check_forward(y, [[1.0, 0.0], [0.5, 0.5]], rtol=0, atol=0)
    check_forward(log_y, [[0.0, -1000.0]], rtol=0, atol=0)


def test_log_softmax_gradient_is_finite_where_softmax_underflows(xp):
    x = on(xp, np.array([[1000.0, 0.0]]), requires_grad=True)
    F.log_softmax(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[-1.0, 1.0]])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_and_silu_of_huge_inputs_do_not_overflow(dtype, xp):
    host = np.array([-1000.0, -100.0, 0.0, 100.0, 1000.0], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = F.sigmoid(on(xp, host)).detach().numpy()
        x = on(xp, host, requires_grad=True)
        F.silu(x).sum().backward()
        silu = F.silu(on(xp, host)).detach().numpy()
    assert s[0] == 0.0 and s[2] == 0.5 and s[-1] == 1.0
    assert np.all(np.isfinite(x.grad.numpy()))
    np.testing.assert_array_equal(silu[[0, 2, 4]], [0.0, 0.0, 1000.0])


def test_dtype_is_kept(xp):
    for dtype in ("float32", "float64"):
        x = on(xp, np.ones((2, 3)), dtype=dtype)
        for op in (F.relu, F.leaky_relu, F.tanh, F.sigmoid, F.silu, F.softmax, F.log_softmax, F.hardtanh,
                   F.relu6, F.elu, F.gelu, F.softplus, F.hardswish, F.mish):
            assert backend.dtype_name(op(x).dtype) == dtype, op.__name__


def test_tensor_methods_call_the_same_ops():
    host = np.array([-2.0, 0.5, 3.0])
    x = mt.tensor(host)
    np.testing.assert_allclose(x.relu().detach().numpy(), F.relu(x).detach().numpy())
    np.testing.assert_allclose(x.tanh().detach().numpy(), np.tanh(host))
    np.testing.assert_allclose(x.sigmoid().detach().numpy(), np_sigmoid(host))


# ---------------------------------------------------------------- bad input


def test_softmax_axis_out_of_range():
    message = r"softmax: expected axis in \[-2, 2\) for an input of shape \(3, 4\), got 2"
    with pytest.raises(ValueError, match=message):
        F.softmax(mt.tensor(np.ones((3, 4))), axis=2)
    with pytest.raises(ValueError, match=r"log_softmax: expected axis in \[-1, 1\)"):
        F.log_softmax(mt.tensor(np.ones(3)), axis=-2)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "tanh", "sigmoid", "silu", "softmax", "log_softmax",
                                  "hardtanh", "relu6", "elu", "gelu", "softplus", "hardswish", "mish",
                                  "hardsigmoid", "selu", "celu", "softsign", "logsigmoid"])
def test_integer_input_is_a_type_error(name):
    with pytest.raises(TypeError, match=rf"{name}: expected floating-point input, got dtype int64"):
        getattr(F, name)(mt.tensor([1, 2, 3]))


@pytest.mark.parametrize("call, error, message", [
    (lambda x: F.hardtanh(x, 1.0, -1.0), ValueError,
     "hardtanh: expected min_val <= max_val, got min_val=1.0, max_val=-1.0"),
    (lambda x: F.elu(x, alpha="1"), TypeError, "elu: expected a number for alpha, got '1'"),
    (lambda x: F.gelu(x, approximate="erf"), ValueError, "gelu: expected approximate 'none' or 'tanh', got 'erf'"),
    (lambda x: F.softplus(x, beta=0), ValueError, "softplus: expected a non-zero beta, got 0"),
    (lambda x: F.softplus(x, threshold=None), TypeError, "softplus: expected a number for threshold, got None"),
])
def test_bad_activation_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call(mt.tensor([1.0]))


def test_leaky_relu_slope_must_be_a_number():
    with pytest.raises(TypeError, match="leaky_relu: expected a number for negative_slope, got '0.1'"):
        F.leaky_relu(mt.tensor([1.0]), negative_slope="0.1")
