"""linear (y = x W^T + b) and inverted dropout."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import backend
from helpers import assert_namespace, check_forward, check_grad, check_torch, on, torch_or_skip


def draw(x_shape, out_features, seed=0):
    rng = np.random.default_rng(seed)
    in_features = x_shape[-1]
    return (
        rng.standard_normal(x_shape),
        rng.standard_normal((out_features, in_features)),
        rng.standard_normal(out_features),
    )


# ---------------------------------------------------------------- linear


@pytest.mark.parametrize("x_shape", [(4, 3), (2, 3, 3), (3,)], ids=["N_in", "batch_axes", "single_vector"])
def test_linear_forward_matches_numpy(x_shape, xp):
    x, W, b = draw(x_shape, 5)
    out = F.linear(on(xp, x), on(xp, W), on(xp, b))
    assert_namespace(out, xp)
    check_forward(out, x @ W.T + b, rtol=1e-12, atol=1e-12)
    check_forward(F.linear(on(xp, x), on(xp, W)), x @ W.T, rtol=1e-12, atol=1e-12)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lead=st.lists(st.integers(1, 3), min_size=0, max_size=2),
    in_features=st.integers(1, 4),
    out_features=st.integers(1, 4),
    with_bias=st.booleans(),
)
def test_linear_gradcheck(lead, in_features, out_features, with_bias, xp):
    x, W, b = draw(tuple(lead) + (in_features,), out_features)
    if with_bias:
        check_grad(F.linear, xp, x, W, b)
    else:
        check_grad(F.linear, xp, x, W)


@pytest.mark.parametrize("x_shape", [(8, 6), (2, 3, 6)])
def test_linear_matches_torch(x_shape):
    torch = torch_or_skip()
    x, W, b = draw(x_shape, 4, seed=1)
    check_torch(F.linear, torch.nn.functional.linear, x, W, b)
    check_torch(F.linear, torch.nn.functional.linear, x, W)


def test_linear_weight_only_needs_no_input_gradient():
    x, W, b = draw((3, 2), 4)
    weight = mt.tensor(W, requires_grad=True)
    F.linear(mt.tensor(x), weight, mt.tensor(b)).sum().backward()
    np.testing.assert_allclose(weight.grad, np.ones((3, 4)).T @ x)


def test_linear_feature_mismatch_message():
    with pytest.raises(
        ValueError, match=r"linear: expected input with 120 features \(weight is \(84, 120\)\), got \(8, 100\)"
    ):
        F.linear(mt.tensor(np.zeros((8, 100))), mt.tensor(np.zeros((84, 120))))


def test_linear_weight_must_be_2d():
    with pytest.raises(ValueError, match=r"linear: expected a 2-D weight \(out, in\), got shape \(84,\)"):
        F.linear(mt.tensor(np.zeros((8, 84))), mt.tensor(np.zeros(84)))


def test_linear_bias_shape_message():
    message = r"linear: expected bias of shape \(84,\) \(weight is \(84, 120\)\), got \(10,\)"
    with pytest.raises(ValueError, match=message):
        F.linear(mt.tensor(np.zeros((8, 120))), mt.tensor(np.zeros((84, 120))), mt.tensor(np.zeros(10)))


def test_linear_scalar_input():
    message = r"linear: expected an input \(\.\.\., in\) with at least 1 dimension, got shape \(\)"
    with pytest.raises(ValueError, match=message):
        F.linear(mt.tensor(1.0), mt.tensor(np.zeros((2, 1))))


def test_linear_integer_input_is_a_type_error():
    with pytest.raises(TypeError, match="linear: expected floating-point input, got dtype int64"):
        F.linear(mt.tensor([[1, 2]]), mt.tensor(np.zeros((3, 2))))


# ---------------------------------------------------------------- dropout


def test_dropout_is_reproducible_with_manual_seed(xp):
    x = on(xp, np.ones((5, 7)))
    mt.manual_seed(3)
    first = F.dropout(x, p=0.5).detach().numpy()
    mt.manual_seed(3)
    again = F.dropout(x, p=0.5).detach().numpy()
    mt.manual_seed(4)
    other = F.dropout(x, p=0.5).detach().numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_dropout_masks_are_the_same_on_every_backend(xp):
    host = np.random.default_rng(0).standard_normal((4, 6))
    mt.manual_seed(7)
    ours = F.dropout(on(xp, host), p=0.3).detach().numpy()
    mt.manual_seed(7)
    reference = F.dropout(mt.tensor(host), p=0.3).detach().numpy()
    np.testing.assert_array_equal(ours, reference)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_keeps_survivors_scaled_and_the_mean(p, xp):
    x = on(xp, np.ones(20000))
    y = F.dropout(x, p=p)
    assert_namespace(y, xp)
    values = y.detach().numpy()
    np.testing.assert_allclose(np.unique(values), [0.0, 1.0 / (1.0 - p)], rtol=1e-12)
    # the mean of 20000 draws has standard deviation sqrt(p / (1 - p) / 20000) <= 0.022
    assert abs(values.mean() - 1.0) < 0.1
    assert abs((values == 0).mean() - p) < 0.03


def test_dropout_backward_uses_the_forward_mask(xp):
    p = 0.4
    x = on(xp, np.random.default_rng(0).uniform(1.0, 2.0, (6, 5)), requires_grad=True)
    y = F.dropout(x, p=p)
    y.sum().backward()
    kept = y.detach().numpy() != 0
    np.testing.assert_allclose(x.grad.numpy(), kept / (1.0 - p), rtol=1e-12)
    assert 0 < kept.sum() < kept.size
    assert_namespace(x, xp)


def test_dropout_inplace_writes_the_same_mask_into_the_input(xp):
    host = np.random.default_rng(0).uniform(1.0, 2.0, (6, 5))
    mt.manual_seed(7)
    expected = F.dropout(on(xp, host), p=0.4).detach().numpy()
    x = on(xp, host)
    mt.manual_seed(7)
    assert F.dropout(x, p=0.4, inplace=True) is x
    np.testing.assert_array_equal(x.detach().numpy(), expected)
    layer = mt.nn.Dropout(0.4, inplace=True)
    x = on(xp, host, requires_grad=True) * 1.0
    mt.manual_seed(7)
    assert layer(x) is x
    x.sum().backward()
    np.testing.assert_array_equal(x.detach().numpy(), expected)


def test_dropout_gradcheck(xp):
    # gradcheck reseeds before every evaluation, so each one draws the same mask
    check_grad(lambda x: F.dropout(x, p=0.3), xp, np.random.default_rng(1).standard_normal((3, 4)))


def test_dropout_eval_mode_and_p0_return_x_itself():
    x = mt.tensor(np.ones((2, 3)), requires_grad=True)
    assert F.dropout(x, p=0.5, training=False) is x
    assert F.dropout(x, p=0.0) is x


def test_dropout_p1_zeroes_everything_without_nan(xp):
    x = on(xp, np.ones((3, 4)), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = F.dropout(x, p=1.0)
        y.sum().backward()
    np.testing.assert_array_equal(y.detach().numpy(), np.zeros((3, 4)))
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((3, 4)))


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_p_outside_unit_interval(p):
    with pytest.raises(ValueError, match=rf"dropout: expected p in \[0, 1\], got {p}"):
        F.dropout(mt.tensor([1.0]), p=p)


def test_dropout_p_must_be_a_number():
    with pytest.raises(TypeError, match=r"dropout: expected a number p in \[0, 1\], got '0.5'"):
        F.dropout(mt.tensor([1.0]), p="0.5")


def test_dropout_integer_input_is_a_type_error():
    with pytest.raises(TypeError, match="dropout: expected floating-point input, got dtype int64"):
        F.dropout(mt.tensor([1, 2]))
