"""Batch norm and local response norm: NumPy references, running statistics, gradchecks, PyTorch, bad input."""

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

import minitorch_cnn.functional as F
from minitorch_cnn import backend
from helpers import assert_namespace, check_forward, check_grad, check_torch, on, torch_or_skip

SMALL = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

SHAPES = {"2d": (5, 3), "4d": (4, 3, 3, 2)}


# ---------------------------------------------------------------- NumPy references


def numpy_batch_norm(x, mean, var, weight, bias, eps=1e-5):
    per_channel = (1, -1) + (1,) * (x.ndim - 2)
    xhat = (x - mean.reshape(per_channel)) / np.sqrt(var.reshape(per_channel) + eps)
    return xhat * weight.reshape(per_channel) + bias.reshape(per_channel)


def channel_axes(x):
    return (0,) + tuple(range(2, x.ndim))


def naive_lrn(x, size, alpha, beta, k):
    """AlexNet section 3.3, one channel at a time, window clipped at both ends."""
    C = x.shape[1]
    out = np.empty_like(x)
    for i in range(C):
        lo, hi = max(0, i - size // 2), min(C - 1, i + (size - 1) // 2)
        total = sum(x[:, j] ** 2 for j in range(lo, hi + 1))
        out[:, i] = x[:, i] / (k + alpha * total) ** beta
    return out


def channel_stats(C, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(C), rng.uniform(0.5, 2.0, C), rng.standard_normal(C), rng.standard_normal(C)


# ---------------------------------------------------------------- batch norm forward and running statistics


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_batch_norm_training_uses_batch_stats_and_updates_running_stats(xp, shape):
    host = np.random.default_rng(0).standard_normal(shape)
    mean0, var0, weight, bias = channel_stats(shape[1], 1)
    running_mean, running_var, count = on(xp, mean0), on(xp, var0), on(xp, 5, dtype=np.int64)
    weight_t, bias_t = on(xp, weight), on(xp, bias)
    out = F.batch_norm(on(xp, host), running_mean, running_var, weight_t, bias_t, training=True, momentum=0.3,
                       num_batches_tracked=count)
    axes = channel_axes(host)
    check_forward(out, numpy_batch_norm(host, host.mean(axis=axes), host.var(axis=axes), weight, bias))
    check_forward(running_mean, 0.7 * mean0 + 0.3 * host.mean(axis=axes))
    check_forward(running_var, 0.7 * var0 + 0.3 * host.var(axis=axes, ddof=1))
    assert count.item() == 6
    for t in (out, running_mean, running_var, count):
        assert_namespace(t, xp)


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_batch_norm_eval_uses_running_stats_and_leaves_them(xp, shape):
    host = np.random.default_rng(0).standard_normal(shape)
    mean0, var0, weight, bias = channel_stats(shape[1], 1)
    running_mean, running_var, count = on(xp, mean0), on(xp, var0), on(xp, 5, dtype=np.int64)
    out = F.batch_norm(on(xp, host), running_mean, running_var, on(xp, weight), on(xp, bias), training=False,
                       num_batches_tracked=count)
    check_forward(out, numpy_batch_norm(host, mean0, var0, weight, bias))
    check_forward(running_mean, mean0)
    check_forward(running_var, var0)
    assert count.item() == 5
    assert_namespace(out, xp)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_without_running_stats_uses_batch_stats(xp, training):
    host = np.random.default_rng(0).standard_normal(SHAPES["4d"])
    out = F.batch_norm(on(xp, host), None, None, training=training)
    axes = channel_axes(host)
    ones, zeros = np.ones(host.shape[1]), np.zeros(host.shape[1])
    check_forward(out, numpy_batch_norm(host, host.mean(axis=axes), host.var(axis=axes), ones, zeros))
    assert_namespace(out, xp)


def test_batch_norm_keeps_running_stats_dtype():
    running_mean, running_var = on(np, np.zeros(3), dtype=np.float32), on(np, np.ones(3), dtype=np.float32)
    F.batch_norm(on(np, np.random.default_rng(0).standard_normal((4, 3))), running_mean, running_var, training=True)
    assert backend.dtype_name(running_mean.dtype) == backend.dtype_name(running_var.dtype) == "float32"


# ---------------------------------------------------------------- batch norm gradients


@st.composite
def batch_norm_case(draw):
    C = draw(st.integers(1, 3))
    spatial = draw(st.sampled_from([(), (1, 1), (2, 3), (3, 1)]))
    return {
        "shape": (draw(st.integers(2, 3)), C) + spatial,
        "training": draw(st.booleans()),
        "affine": draw(st.booleans()),
        "tracked": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**16)),
    }


@SMALL
@example(case={"shape": (2, 3), "training": True, "affine": True, "tracked": True, "seed": 0})
@example(case={"shape": (3, 2, 2, 3), "training": True, "affine": True, "tracked": False, "seed": 1})
@example(case={"shape": (2, 2, 3, 1), "training": False, "affine": True, "tracked": True, "seed": 2})
@example(case={"shape": (3, 2), "training": False, "affine": False, "tracked": True, "seed": 3})
@given(case=batch_norm_case())
def test_batch_norm_gradcheck(xp, case):
    shape, C = case["shape"], case["shape"][1]
    host = np.random.default_rng(case["seed"]).standard_normal(shape)
    mean0, var0, weight, bias = channel_stats(C, case["seed"] + 1)
    running = (on(xp, mean0), on(xp, var0)) if case["tracked"] else (None, None)

    def fn(x, *affine):
        return F.batch_norm(x, *running, *affine, training=case["training"])

    check_grad(fn, xp, host, *((weight, bias) if case["affine"] else ()))


# ---------------------------------------------------------------- batch norm against PyTorch


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_matches_torch(shape, training):
    torch = torch_or_skip()
    host = np.random.default_rng(0).standard_normal(shape)
    mean0, var0, weight, bias = (a.astype(np.float32) for a in channel_stats(shape[1], 1))
    ours_mean, ours_var = on(np, mean0), on(np, var0)
    torch_mean, torch_var = torch.tensor(mean0), torch.tensor(var0)
    check_torch(
        lambda x, w, b: F.batch_norm(x, ours_mean, ours_var, w, b, training=training, momentum=0.2),
        lambda x, w, b: torch.nn.functional.batch_norm(x, torch_mean, torch_var, w, b, training=training, momentum=0.2),
        host, weight, bias,
    )
    np.testing.assert_allclose(ours_mean.detach().numpy(), torch_mean.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg="running_mean")
    np.testing.assert_allclose(ours_var.detach().numpy(), torch_var.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg="running_var")


def test_batch_norm_without_running_stats_matches_torch():
    torch = torch_or_skip()
    host = np.random.default_rng(0).standard_normal(SHAPES["4d"])
    check_torch(
        lambda x: F.batch_norm(x, None, None, training=True),
        lambda x: torch.nn.functional.batch_norm(x, None, None, training=True),
        host,
    )


# ---------------------------------------------------------------- local response norm

LRN_CASES = {
    "alexnet_defaults": (5, 1e-4, 0.75, 2.0),
    "even_size": (4, 0.3, 0.75, 1.0),
    "size_one": (1, 0.5, 0.75, 2.0),
    "window_wider_than_channels": (9, 1.0, 0.5, 0.5),
}


@pytest.mark.parametrize("size, alpha, beta, k", LRN_CASES.values(), ids=LRN_CASES.keys())
def test_local_response_norm_matches_naive_loops(xp, size, alpha, beta, k):
    host = np.random.default_rng(0).standard_normal((2, 6, 3, 2))
    out = F.local_response_norm(on(xp, host), size, alpha, beta, k)
    check_forward(out, naive_lrn(host, size, alpha, beta, k))
    assert_namespace(out, xp)


def test_local_response_norm_defaults_are_alexnets():
    host = np.random.default_rng(0).standard_normal((1, 7, 2, 2))
    check_forward(F.local_response_norm(on(np, host)), naive_lrn(host, 5, 1e-4, 0.75, 2.0))


@SMALL
@example(N=1, C=6, H=2, W=2, size=5, alpha=0.5, beta=0.75, k=2.0, seed=0)
@example(N=2, C=3, H=1, W=2, size=4, alpha=1.0, beta=0.5, k=1.0, seed=1)
@given(
    N=st.integers(1, 2), C=st.integers(1, 6), H=st.integers(1, 3), W=st.integers(1, 2), size=st.integers(1, 6),
    alpha=st.floats(0.1, 1.0), beta=st.floats(0.5, 1.0), k=st.floats(1.0, 2.0), seed=st.integers(0, 2**16),
)
def test_local_response_norm_gradcheck(xp, N, C, H, W, size, alpha, beta, k, seed):
    host = np.random.default_rng(seed).standard_normal((N, C, H, W))
    check_grad(lambda x: F.local_response_norm(x, size, alpha, beta, k), xp, host)


@pytest.mark.parametrize("size, alpha, beta, k", LRN_CASES.values(), ids=LRN_CASES.keys())
def test_local_response_norm_matches_torch_with_alpha_times_size(size, alpha, beta, k):
    torch = torch_or_skip()
    host = np.random.default_rng(0).standard_normal((2, 6, 4, 3))
    check_torch(
        lambda x: F.local_response_norm(x, size, alpha, beta, k),
        lambda x: torch.nn.functional.local_response_norm(x, size, alpha * size, beta, k),
        host,
    )


# ---------------------------------------------------------------- bad input


def _batch_norm_with(shape, weight_shape=None, mean_shape=None, var_shape=None, training=False):
    def make(s):
        return None if s is None else on(np, np.ones(s))

    return F.batch_norm(on(np, np.zeros(shape)), make(mean_shape), make(var_shape), make(weight_shape),
                        training=training)


BAD_INPUTS = {
    "batch_norm_3d_input": (lambda: _batch_norm_with((2, 3, 4)), ValueError,
                            r"batch_norm: expected a 2-D \(N, C\) or 4-D \(N, C, H, W\) input, got shape \(2, 3, 4\)"),
    "batch_norm_weight_channels": (lambda: _batch_norm_with((2, 3, 4, 4), weight_shape=(4,)), ValueError,
                                   r"batch_norm: expected weight of shape \(C,\) = \(3,\) for input \(2, 3, 4, 4\), "
                                   r"got \(4,\)"),
    "batch_norm_running_mean_channels": (lambda: _batch_norm_with((2, 3), mean_shape=(2,), var_shape=(3,)), ValueError,
                                         r"batch_norm: expected running_mean of shape \(C,\) = \(3,\) .* got \(2,\)"),
    "batch_norm_one_running_stat": (lambda: _batch_norm_with((2, 3), mean_shape=(3,)), ValueError,
                                    r"batch_norm: expected running_mean and running_var both given or both None"),
    "batch_norm_counter_without_running_stats": (
        lambda: F.batch_norm(on(np, np.zeros((2, 3))), None, None, training=True,
                             num_batches_tracked=on(np, 0, dtype=np.int64)),
        ValueError, r"batch_norm: expected num_batches_tracked only with running_mean and running_var"),
    "batch_norm_one_value_per_channel": (lambda: _batch_norm_with((1, 3), training=True), ValueError,
                                         r"batch_norm: expected more than 1 value per channel .* got input \(1, 3\)"),
    "lrn_2d_input": (lambda: F.local_response_norm(on(np, np.zeros((2, 3)))), ValueError,
                     r"local_response_norm: expected a 4-D input \(N, C, H, W\), got shape \(2, 3\)"),
    "lrn_zero_size": (lambda: F.local_response_norm(on(np, np.zeros((1, 3, 2, 2))), size=0), ValueError,
                      r"local_response_norm: expected size >= 1, got 0"),
    "lrn_float_size": (lambda: F.local_response_norm(on(np, np.zeros((1, 3, 2, 2))), size=2.5), TypeError,
                       r"local_response_norm: expected an integer size, got 2.5"),
}


@pytest.mark.parametrize("call, error, message", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_names_op_expected_and_got(call, error, message):
    with pytest.raises(error, match=message):
        call()
