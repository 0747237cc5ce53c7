"""cross_entropy: fused log-softmax + negative log-likelihood over integer class targets."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import backend
from helpers import assert_namespace, check_forward, check_grad, check_torch, on, torch_or_skip


def np_cross_entropy(logits, targets):
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(targets)), targets].mean()


def draw(N, K, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, K)) * 2, rng.integers(0, K, N)


def test_forward_matches_numpy_formula(xp):
    logits, targets = draw(6, 5)
    loss = F.cross_entropy(on(xp, logits), on(xp, targets))
    assert loss.shape == ()
    assert_namespace(loss, xp)
    check_forward(loss, np_cross_entropy(logits, targets), rtol=1e-12, atol=0)


def test_gradient_is_softmax_minus_onehot_over_N(xp):
    logits, targets = draw(4, 3, seed=1)
    x = on(xp, logits, requires_grad=True)
    F.cross_entropy(x, on(xp, targets)).backward()
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected = (e / e.sum(axis=1, keepdims=True) - np.eye(3)[targets]) / 4
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12, atol=1e-15)
    assert_namespace(x, xp)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(N=st.integers(1, 5), K=st.integers(1, 6), seed=st.integers(0, 100))
def test_gradcheck(N, K, seed, xp):
    logits, targets = draw(N, K, seed)
    check_grad(F.cross_entropy, xp, logits, targets)


@pytest.mark.parametrize("N, K", [(8, 10), (1, 2), (5, 1)])
def test_matches_torch(N, K):
    torch = torch_or_skip()
    logits, targets = draw(N, K, seed=2)
    check_torch(F.cross_entropy, torch.nn.functional.cross_entropy, logits, targets)


def test_int32_targets_work(xp):
    logits, targets = draw(3, 4)
    loss = F.cross_entropy(on(xp, logits), on(xp, targets.astype(np.int32)))
    check_forward(loss, np_cross_entropy(logits, targets), rtol=1e-12, atol=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_loss_keeps_the_logits_dtype(dtype, xp):
    logits, targets = draw(3, 4)
    loss = F.cross_entropy(on(xp, logits, dtype=dtype), on(xp, targets))
    assert backend.dtype_name(loss.dtype) == dtype


def test_huge_logits_are_stable(xp):
    x = on(xp, np.array([[1000.0, 0.0], [0.0, -1000.0]]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = F.cross_entropy(x, on(xp, np.array([1, 1])))
        loss.backward()
    assert loss.item() == pytest.approx(1000.0)
    np.testing.assert_allclose(x.grad.numpy(), [[0.5, -0.5], [0.5, -0.5]])


def test_targets_get_no_gradient():
    logits, targets = draw(3, 4)
    t = mt.tensor(targets)
    F.cross_entropy(mt.tensor(logits, requires_grad=True), t).backward()
    assert t.grad is None


# ---------------------------------------------------------------- bad input


def test_targets_out_of_range():
    logits = mt.tensor(np.zeros((4, 10)))
    message = r"cross_entropy: expected class targets in \[0, 10\), got min -1 max 12"
    with pytest.raises(ValueError, match=message):
        F.cross_entropy(logits, mt.tensor([-1, 3, 12, 0]))
    with pytest.raises(ValueError, match=r"got min 0 max 10"):
        F.cross_entropy(logits, mt.tensor([0, 1, 2, 10]))


def test_float_targets_are_a_type_error():
    with pytest.raises(TypeError, match="cross_entropy: expected integer class targets, got dtype float32"):
        F.cross_entropy(mt.tensor(np.zeros((2, 3))), mt.tensor([0.0, 1.0]))


def test_integer_logits_are_a_type_error():
    with pytest.raises(TypeError, match="cross_entropy: expected floating-point logits, got dtype int64"):
        F.cross_entropy(mt.tensor([[1, 2]]), mt.tensor([0]))


def test_batch_size_mismatch():
    message = r"cross_entropy: expected 8 targets for logits of shape \(8, 10\), got shape \(7,\)"
    with pytest.raises(ValueError, match=message):
        F.cross_entropy(mt.tensor(np.zeros((8, 10))), mt.tensor(np.zeros(7, dtype=np.int64)))


def test_wrong_ndim():
    with pytest.raises(ValueError, match=r"cross_entropy: expected a 2-D input \(N, K\) of logits, got shape \(2, 3, 4"):
        F.cross_entropy(mt.tensor(np.zeros((2, 3, 4))), mt.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"cross_entropy: expected a 1-D input \(N,\) of class targets, got shape"):
        F.cross_entropy(mt.tensor(np.zeros((2, 3))), mt.tensor([[0], [1]]))


def test_empty_batch():
    with pytest.raises(ValueError, match="cross_entropy: expected at least one sample"):
        F.cross_entropy(mt.tensor(np.zeros((0, 3))), mt.tensor(np.zeros(0, dtype=np.int64)))
