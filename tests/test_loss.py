"""cross_entropy: fused log-softmax + negative log-likelihood over class indices or probabilities,
with weight, ignore_index, reduction and label_smoothing as PyTorch's; nn.CrossEntropyLoss;
nll_loss, binary_cross_entropy (with logits) and one_hot."""

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


def test_float_targets_of_another_shape_than_the_logits_are_refused():
    message = (r"cross_entropy: expected class indices of shape \(2,\) \(integer\) or class probabilities of shape "
               r"\(2, 3\) \(floating\) for logits of shape \(2, 3\), got float32 target of shape \(2,\)")
    with pytest.raises(ValueError, match=message):
        F.cross_entropy(mt.tensor(np.zeros((2, 3))), mt.tensor([0.0, 1.0]))


def test_boolean_targets_are_a_type_error():
    message = "cross_entropy: expected integer class indices or floating probabilities, got dtype bool"
    with pytest.raises(TypeError, match=message):
        F.cross_entropy(mt.tensor(np.zeros((2, 3))), mt.tensor(np.array([True, False])))


def test_integer_logits_are_a_type_error():
    with pytest.raises(TypeError, match="cross_entropy: expected floating-point logits, got dtype int64"):
        F.cross_entropy(mt.tensor([[1, 2]]), mt.tensor([0]))


def test_batch_size_mismatch():
    message = r"cross_entropy: expected class indices of shape \(8,\) .* got int64 target of shape \(7,\)"
    with pytest.raises(ValueError, match=message):
        F.cross_entropy(mt.tensor(np.zeros((8, 10))), mt.tensor(np.zeros(7, dtype=np.int64)))


def test_wrong_ndim():
    message = r"cross_entropy: expected class indices of shape \(2, 4\) .* got int64 target of shape \(2,\)"
    with pytest.raises(ValueError, match=message):
        F.cross_entropy(mt.tensor(np.zeros((2, 3, 4))), mt.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"cross_entropy: expected class indices of shape \(2,\) .* of shape \(2, 1\)"):
        F.cross_entropy(mt.tensor(np.zeros((2, 3))), mt.tensor([[0], [1]]))
    message = r"cross_entropy: expected logits \(N, C\), \(N, C, d1, ...\) or \(C,\), got a 0-d input"
    with pytest.raises(ValueError, match=message):
        F.cross_entropy(mt.tensor(1.0), mt.tensor(0))


def test_empty_batch():
    with pytest.raises(ValueError, match="cross_entropy: expected at least one sample"):
        F.cross_entropy(mt.tensor(np.zeros((0, 3))), mt.tensor(np.zeros(0, dtype=np.int64)))


@pytest.mark.parametrize("call, message", [
    (lambda x, t: F.cross_entropy(x, t, reduction="avg"), "expected reduction 'none', 'mean' or 'sum', got 'avg'"),
    (lambda x, t: F.cross_entropy(x, t, label_smoothing=1.5), r"expected label_smoothing in \[0, 1\], got 1.5"),
    (lambda x, t: F.cross_entropy(x, t, weight=mt.tensor(np.ones(2))),
     r"expected weight of shape \(3,\), one per class, got \(2,\)"),
    (lambda x, t: F.cross_entropy(x, mt.tensor(np.full((2, 3), 1 / 3)), ignore_index=1),
     "ignore_index applies to class indices only, got 1 with probability targets"),
])
def test_bad_options(call, message):
    with pytest.raises(ValueError, match="cross_entropy: " + message):
        call(mt.tensor(np.zeros((2, 3))), mt.tensor([0, 1]))


# ---------------------------------------------------------------- PyTorch's options


def np_cross_entropy_full(logits, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """The textbook loop: one row at a time, the class axis moved last, every option spelled out."""
    C = logits.shape[0] if logits.ndim == 1 else logits.shape[1]

    def rows(a):  # (N, C, d1, ...) or (C,) -> (M, C)
        return np.moveaxis(a.reshape((1, C)) if a.ndim == 1 else a, 1, -1).reshape(-1, C)

    x = rows(logits)
    indices = target.dtype.kind == "i"
    rows_shape = logits.shape[:1] + logits.shape[2:] if logits.ndim > 1 else ()
    t = target.reshape(-1) if indices else rows(target)
    w = np.ones(C) if weight is None else weight
    losses, denominator = [], 0.0
    for m in range(x.shape[0]):
        log_p = x[m] - x[m].max() - np.log(np.exp(x[m] - x[m].max()).sum())
        if indices and t[m] == ignore_index:
            losses.append(0.0)
            continue
        y = np.eye(C)[t[m]] if indices else t[m]
        q = (1 - label_smoothing) * y + label_smoothing / C
        losses.append(-(w * q * log_p).sum())
        denominator += w[t[m]] if indices else 1.0
    losses = np.array(losses)
    if reduction == "none":
        return losses.reshape(rows_shape)
    return losses.sum() if reduction == "sum" else losses.sum() / denominator


def probabilities(shape, seed=0):
    p = np.random.default_rng(seed).random(shape) + 0.1
    return p / p.sum(axis=0 if len(shape) == 1 else 1, keepdims=True)


OPTION_CASES = [
    ({}, "indices"),
    ({"reduction": "sum"}, "indices"),
    ({"reduction": "none"}, "indices"),
    ({"label_smoothing": 0.2}, "indices"),
    ({"weight": True}, "indices"),
    ({"weight": True, "reduction": "none", "label_smoothing": 0.1}, "indices"),
    ({"ignore_index": 2}, "indices"),
    ({"ignore_index": 1, "weight": True, "label_smoothing": 0.3}, "indices"),
    ({"ignore_index": 0, "reduction": "sum"}, "indices"),
    ({}, "probabilities"),
    ({"reduction": "none"}, "probabilities"),
    ({"label_smoothing": 0.25, "weight": True}, "probabilities"),
    ({"reduction": "sum", "weight": True}, "probabilities"),
]
OPTION_IDS = [f"{kind}-{'-'.join(f'{k}={v}' for k, v in o.items()) or 'default'}" for o, kind in OPTION_CASES]


def option_inputs(shape, kind, options, seed=0):
    """Logits, target and weight as host arrays for one case; a row per ``ignore_index`` is ignored."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal(shape) * 2
    C = shape[0] if len(shape) == 1 else shape[1]
    if kind == "indices":
        target = rng.integers(0, C, shape[:1] + shape[2:] if len(shape) > 1 else ())
        if "ignore_index" in options:
            # The first row ignored; a lone 0-d target is kept (an all-ignored mean has a test of its own).
            target = np.asarray(target)
            target.flat[0] = options["ignore_index"] if target.ndim else (options["ignore_index"] + 1) % C
    else:
        target = probabilities(shape, seed)
    weight = rng.random(C) + 0.5 if options.get("weight") else None
    kwargs = {k: v for k, v in options.items() if k != "weight"}
    return logits, target, weight, kwargs


@pytest.mark.parametrize("shape", [(5, 4), (2, 4, 3, 2), (4,)])
@pytest.mark.parametrize("options, kind", OPTION_CASES, ids=OPTION_IDS)
def test_options_forward_matches_the_textbook_loop(options, kind, shape, xp):
    logits, target, weight, kwargs = option_inputs(shape, kind, options)
    w = None if weight is None else on(xp, weight)
    loss = F.cross_entropy(on(xp, logits), on(xp, target), weight=w, **kwargs)
    assert_namespace(loss, xp)
    check_forward(loss, np_cross_entropy_full(logits, target, weight, **kwargs), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("shape", [(3, 4), (2, 4, 3)])
@pytest.mark.parametrize("options, kind", OPTION_CASES, ids=OPTION_IDS)
def test_options_gradcheck(options, kind, shape, xp):
    logits, target, weight, kwargs = option_inputs(shape, kind, options, seed=3)
    if weight is None:
        check_grad(lambda x, t: F.cross_entropy(x, t, **kwargs), xp, logits, target)
    else:
        check_grad(lambda x, t, w: F.cross_entropy(x, t, weight=w, **kwargs), xp, logits, target, weight,
                   grad_mask=[True, True, False])


@pytest.mark.parametrize("shape", [(6, 5), (2, 5, 3, 2), (5,)])
@pytest.mark.parametrize("options, kind", OPTION_CASES, ids=OPTION_IDS)
def test_options_match_torch(options, kind, shape):
    torch = torch_or_skip()
    logits, target, weight, kwargs = option_inputs(shape, kind, options, seed=4)
    if weight is None:
        check_torch(lambda x, t: F.cross_entropy(x, t, **kwargs),
                    lambda x, t: torch.nn.functional.cross_entropy(x, t, **kwargs), logits, target)
    else:
        check_torch(lambda x, t, w: F.cross_entropy(x, t, weight=w, **kwargs),
                    lambda x, t, w: torch.nn.functional.cross_entropy(x, t, weight=w, **kwargs),
                    logits, target, weight, grad_mask=[True, True, False])


def test_ignored_rows_get_no_gradient_and_an_all_ignored_mean_is_nan_as_in_torch():
    x = mt.tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    F.cross_entropy(x, mt.tensor([1, -100, 2])).backward()
    np.testing.assert_array_equal(x.grad.numpy()[1], 0.0)
    x.grad = None
    with np.errstate(invalid="ignore", divide="ignore"):
        loss = F.cross_entropy(x, mt.tensor([-100, -100, -100]))
        loss.backward()
    assert np.isnan(loss.item())
    np.testing.assert_array_equal(x.grad.numpy(), 0.0)
    assert F.cross_entropy(x, mt.tensor([-100, -100, -100]), reduction="sum").item() == 0.0


def test_ignore_index_may_be_a_valid_class_and_is_not_range_checked():
    logits, _ = draw(3, 4)
    loss = F.cross_entropy(mt.tensor(logits), mt.tensor([0, 3, 0]), ignore_index=0)
    check_forward(loss, np_cross_entropy(logits[1:2], np.array([3])), rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match=r"cross_entropy: expected class targets in \[0, 4\), got min 3 max 7"):
        F.cross_entropy(mt.tensor(logits), mt.tensor([7, 3, -5]), ignore_index=-5)


def test_cross_entropy_loss_layer_stores_the_options_and_matches_torch():
    torch = torch_or_skip()
    logits, target, weight, _ = option_inputs((6, 4), "indices", {"weight": True})
    ours = mt.nn.CrossEntropyLoss(weight=mt.tensor(weight), ignore_index=1, reduction="sum", label_smoothing=0.1)
    theirs = torch.nn.CrossEntropyLoss(weight=torch.tensor(weight), ignore_index=1, reduction="sum",
                                       label_smoothing=0.1)
    assert repr(mt.nn.CrossEntropyLoss()) == repr(torch.nn.CrossEntropyLoss()) == "CrossEntropyLoss()"
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    check_forward(ours(mt.tensor(logits), mt.tensor(target)),
                  theirs(torch.tensor(logits), torch.tensor(target)).detach().numpy(), rtol=1e-12, atol=1e-12)


def test_cross_entropy_loss_built_with_logits_and_labels_says_how_to_call_it():
    # The student's nn.CrossEntropyLoss(y_hat, y) built a layer and failed only when called.
    message = (r"CrossEntropyLoss: expected weight=None or a \(C,\) tensor and an int ignore_index, got a tensor of "
               r"shape \(4, 10\) and a tensor of shape \(4,\); .* nn.CrossEntropyLoss\(\)\(logits, labels\)")
    with pytest.raises(TypeError, match=message):
        mt.nn.CrossEntropyLoss(mt.randn(4, 10), mt.tensor([1, 2, 3, 4]))
    assert mt.nn.CrossEntropyLoss(mt.ones(10), 3).ignore_index == 3


# ---------------------------------------------------------------- nll_loss


NLL_CASES = [{}, {"reduction": "sum"}, {"reduction": "none"}, {"weight": True}, {"ignore_index": 1},
             {"weight": True, "ignore_index": 2, "reduction": "none"}]


@pytest.mark.parametrize("shape", [(6, 5), (2, 5, 3, 2), (5,)])
@pytest.mark.parametrize("options", NLL_CASES, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()) or "plain")
def test_nll_loss_matches_torch(options, shape):
    torch = torch_or_skip()
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape)
    C = shape[0] if len(shape) == 1 else shape[1]
    target = rng.integers(0, C, () if len(shape) == 1 else shape[:1] + shape[2:])
    kwargs = {k: v for k, v in options.items() if k != "weight"}
    if "weight" in options:
        check_torch(lambda x, t, w: F.nll_loss(x, t, weight=w, **kwargs),
                    lambda x, t, w: torch.nn.functional.nll_loss(x, t, weight=w, **kwargs),
                    x, target, rng.uniform(0.5, 2.0, C), grad_mask=[True, False, False])
    else:
        check_torch(lambda x, t: F.nll_loss(x, t, **kwargs),
                    lambda x, t: torch.nn.functional.nll_loss(x, t, **kwargs), x, target)


def test_nll_loss_of_log_softmax_is_cross_entropy(xp):
    logits, target = draw(5, 4)
    x, t = on(xp, logits), on(xp, target)
    check_forward(F.nll_loss(F.log_softmax(x, dim=1), t), F.cross_entropy(x, t).detach().numpy(), rtol=1e-12, atol=1e-14)
    check_grad(lambda x, t: F.nll_loss(x, t, ignore_index=0), xp, logits, target)


def test_nll_loss_errors_name_the_op():
    with pytest.raises(ValueError, match=r"nll_loss: expected class targets in \[0, 4\), got min 0 max 4"):
        F.nll_loss(mt.zeros(2, 4), mt.tensor([0, 4]))
    with pytest.raises(ValueError, match=r"nll_loss: expected integer class indices of shape \(2,\)"):
        F.nll_loss(mt.zeros(2, 4), mt.zeros(2, 4))


# ---------------------------------------------------------------- binary cross-entropy, one_hot


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_matches_torch(reduction, weighted):
    torch = torch_or_skip()
    rng = np.random.default_rng(6)
    p, y, w = rng.uniform(0.05, 0.95, (4, 3)), rng.uniform(0, 1, (4, 3)), rng.uniform(0.5, 2, (3,))
    extra = {"weight": True} if weighted else {}

    def ours(p, y, *w):
        return F.binary_cross_entropy(p, y, *w, reduction=reduction)

    def theirs(p, y, *w):
        return torch.nn.functional.binary_cross_entropy(p, y, *w, reduction=reduction)

    check_torch(ours, theirs, p, y, *([w] if extra else []), grad_mask=[True, True, False])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("pos_weight", [False, True])
def test_binary_cross_entropy_with_logits_matches_torch_and_is_finite_for_large_logits(reduction, pos_weight):
    torch = torch_or_skip()
    rng = np.random.default_rng(7)
    x, y, pw = rng.standard_normal((4, 3)) * 3, rng.uniform(0, 1, (4, 3)), rng.uniform(0.25, 4, (3,))
    x[0, 0], x[1, 1] = 200.0, -200.0  # sigmoid saturates; the logits form stays finite
    if pos_weight:
        check_torch(lambda x, y, pw: F.binary_cross_entropy_with_logits(x, y, reduction=reduction, pos_weight=pw),
                    lambda x, y, pw: torch.nn.functional.binary_cross_entropy_with_logits(
                        x, y, reduction=reduction, pos_weight=pw), x, y, pw, grad_mask=[True, True, False])
    else:
        check_torch(lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction=reduction),
                    lambda x, y: torch.nn.functional.binary_cross_entropy_with_logits(x, y, reduction=reduction), x, y)


def test_binary_cross_entropy_clamps_its_logs_at_minus_100_and_gradchecks(xp):
    loss = F.binary_cross_entropy(mt.tensor([0.0, 1.0]), mt.tensor([1.0, 0.0]), reduction="none")
    check_forward(loss, [100.0, 100.0])
    rng = np.random.default_rng(8)
    check_grad(F.binary_cross_entropy, xp, rng.uniform(0.1, 0.9, (3, 2)), rng.uniform(0, 1, (3, 2)))
    check_grad(F.binary_cross_entropy_with_logits, xp, rng.standard_normal((3, 2)), rng.uniform(0, 1, (3, 2)))


def test_one_hot_matches_torch():
    torch = torch_or_skip()
    data = [[1, 2, 3], [0, 3, 5]]
    for C in (-1, 8):
        got = F.one_hot(mt.tensor(data), C)
        want = torch.nn.functional.one_hot(torch.tensor(data), C)
        assert got.dtype == mt.int64 and got.shape == tuple(want.shape)
        np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())
    with pytest.raises(ValueError, match=r"one_hot: expected class targets in \[0, 3\), got min 1 max 4"):
        F.one_hot(mt.tensor([1, 4]), 3)


# ---------------------------------------------------------------- mean squared error


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_torch_and_gradchecks(reduction, xp):
    rng = np.random.default_rng(9)
    x, y = rng.standard_normal((4, 3, 2)), rng.standard_normal((4, 3, 2))
    check_grad(lambda x, y: F.mse_loss(x, y, reduction=reduction), xp, x, y)
    torch = torch_or_skip()
    check_torch(lambda x, y: mt.nn.MSELoss(reduction=reduction)(x, y),
                lambda x, y: torch.nn.MSELoss(reduction=reduction)(x, y), x, y)


def test_mse_loss_errors_name_the_op():
    with pytest.raises(ValueError, match=r"mse_loss: expected target of the input's shape \(2, 3\), got \(3,\)"):
        F.mse_loss(mt.zeros(2, 3), mt.zeros(3))
    with pytest.raises(ValueError, match=r"mse_loss: expected reduction 'none', 'mean' or 'sum', got 'avg'"):
        F.mse_loss(mt.zeros(2), mt.zeros(2), reduction="avg")
    with pytest.raises(ValueError, match=r"MSELoss: .*nn.MSELoss\(\)\(prediction, target\)"):
        mt.nn.MSELoss(mt.zeros(2))

