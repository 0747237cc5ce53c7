"""The Tensor's PyTorch protocol: ``.data`` and ``.grad`` are Tensors, in-place ops and item
assignment (recorded in the graph, so d2l's ``corr2d`` loop trains), Python conversions."""

import numpy as np
import pytest

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import no_grad
from helpers import assert_namespace, check_forward, check_grad, check_torch, on, torch_or_skip

LR = 0.1
W0 = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.5]])
W0.setflags(write=False)  # mt.tensor shares a NumPy array: tests that update in place pass W0.copy()


def trained_weight(xp):
    """A float64 leaf on ``xp`` whose gradient of ``sum(w * w)`` is ``2 * W0``."""
    w = on(xp, W0.copy(), requires_grad=True)
    (w * w).sum().backward()
    return w


# ---------------------------------------------------------------- .data


def test_data_is_a_tensor_sharing_the_array_without_grad():
    w = mt.tensor(W0, requires_grad=True)
    d = w.data
    assert isinstance(d, mt.Tensor)
    assert d.array is w.array
    assert not d.requires_grad and d.is_leaf


def test_data_assignment_replaces_the_array():
    w = mt.tensor(W0, requires_grad=True)
    w.data = mt.tensor(np.zeros(2))
    check_forward(w, np.zeros(2))
    w.data = np.ones(3)
    check_forward(w, np.ones(3))
    assert w.requires_grad
    with pytest.raises(TypeError, match="Tensor.data: expected a Tensor or a backend array, got list"):
        w.data = [1.0, 2.0]


def step_isub(w):
    w.data -= LR * w.grad


def step_iadd(w):
    w.data += -LR * w.grad


def step_slice(w):
    w.data[...] -= LR * w.grad


def step_add_(w):
    w.data.add_(w.grad, alpha=-LR)


def step_sub_(w):
    w.data.sub_(LR * w.grad)


@pytest.mark.parametrize("step", [step_isub, step_iadd, step_slice, step_add_, step_sub_],
                         ids=["-=", "+=", "[...] -=", "add_", "sub_"])
def test_sgd_step_written_with_data_updates_the_parameter(xp, step):
    w = trained_weight(xp)
    step(w)
    check_forward(w, W0 - LR * 2 * W0, rtol=1e-12, atol=0)
    assert_namespace(w, xp)
    assert w.requires_grad and w.is_leaf


def test_sgd_step_written_with_a_full_slice_updates_the_parameter(xp):
    # ``[:]`` on a 2-D array is NumPy's (and PyTorch's) shorthand for ``[:, ...]``; array_api_strict
    # refuses the short form, so the index is completed before it reaches the array.
    w = trained_weight(xp)
    w.data[:] -= LR * w.grad
    check_forward(w, W0 - LR * 2 * W0, rtol=1e-12, atol=0)


def test_short_indices_read_and_write_rows_on_every_backend(xp):
    x = on(xp, np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = x * 1.0
    y[0] = on(xp, np.array([7.0, 8.0, 9.0]))
    check_forward(y[1], [3.0, 4.0, 5.0])
    check_forward(y[:, 1], [8.0, 4.0])
    assert y[None, 0].shape == (1, 3)
    (y[1] * 2).sum().backward()
    check_forward(x.grad, [[0.0, 0.0, 0.0], [2.0, 2.0, 2.0]])


def test_mul_and_div_through_data_update_the_parameter(xp):
    w = on(xp, W0.copy(), requires_grad=True)
    w.data *= 0.9
    w.data.mul_(2.0)
    w.data /= 4.0
    w.data.div_(0.5)
    check_forward(w, W0 * 0.9, rtol=1e-12, atol=0)


# ---------------------------------------------------------------- in-place ops


def test_in_place_on_a_leaf_that_requires_grad_raises():
    w = mt.tensor(W0, requires_grad=True)
    for op in (lambda: w.__iadd__(1.0), lambda: w.mul_(2.0), lambda: w.__setitem__(0, 1.0)):
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
            op()
    check_forward(w, W0)


def test_in_place_under_no_grad_updates_a_leaf_in_memory():
    w = mt.tensor(W0.copy(), requires_grad=True)
    alias = w.data
    with no_grad():
        w -= 1.0
    check_forward(alias, W0 - 1.0)
    assert w.is_leaf and w.requires_grad


def test_in_place_on_a_non_leaf_is_recorded():
    def f(x):
        y = x * 2.0
        y *= x
        y += x
        return y

    check_torch(f, f, W0)


def test_a_read_before_an_in_place_op_gets_the_old_version():
    def f(x):
        y = x * 1.0
        y[0] = y[0] * 3.0  # the read of y[0] sees y before the assignment
        return y

    check_torch(f, f, W0)


def test_overwriting_a_saved_input_raises_at_backward():
    x = mt.tensor(W0.copy())
    w = mt.tensor(W0, requires_grad=True)
    y = x * w
    x += 1.0
    with pytest.raises(RuntimeError, match="Mul.backward: an input of shape \\(2, 3\\) was modified by an in-place"):
        y.sum().backward()


def test_in_place_op_that_would_change_the_shape_raises():
    y = mt.tensor(np.ones(3), requires_grad=True) * 1.0
    with pytest.raises(RuntimeError, match=r"\+=: the result has shape \(2, 3\).*keep this tensor's shape \(3,\)"):
        y += mt.tensor(np.ones((2, 3)))


# ---------------------------------------------------------------- .grad


def test_grad_is_a_tensor_on_the_inputs_backend(xp):
    w = trained_weight(xp)
    assert isinstance(w.grad, mt.Tensor) and not w.grad.requires_grad
    assert_namespace(w, xp)
    np.testing.assert_allclose(w.grad, 2 * W0)


def test_gradients_of_a_sum_do_not_share_memory():
    a = mt.tensor(W0, requires_grad=True)
    b = mt.tensor(W0, requires_grad=True)
    (a + b).sum().backward()
    a.grad *= 2.0
    check_forward(b.grad, np.ones_like(W0))


def test_grad_can_be_zeroed_in_place():
    w = trained_weight(np)
    w.grad.zero_()
    check_forward(w.grad, np.zeros_like(W0))


def test_grad_accepts_only_a_tensor_of_the_same_shape():
    w = mt.tensor(W0, requires_grad=True)
    with pytest.raises(TypeError, match="Tensor.grad: expected a Tensor or None, got ndarray"):
        w.grad = np.ones_like(W0)
    with pytest.raises(RuntimeError, match=r"Tensor.grad: expected shape \(2, 3\), got \(3,\)"):
        w.grad = mt.tensor(np.ones(3))


# ---------------------------------------------------------------- item assignment


def corr2d(X, K, Y):
    """d2l's cross-correlation loop, written as a student writes it for PyTorch."""
    h, w = K.shape
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return Y


def test_corr2d_loop_matches_conv2d_forward_and_kernel_gradient(xp):
    rng = np.random.default_rng(0)
    X, K, R = rng.standard_normal((6, 8)), rng.standard_normal((2, 3)), rng.standard_normal((5, 6))
    k_loop = on(xp, K, requires_grad=True)
    Y = corr2d(on(xp, X), k_loop, on(xp, np.zeros((5, 6))))
    (Y * on(xp, R)).sum().backward()
    k_conv = mt.tensor(K[None, None], requires_grad=True)
    Y_conv = F.conv2d(mt.tensor(X[None, None]), k_conv)
    (Y_conv * mt.tensor(R[None, None])).sum().backward()
    check_forward(Y, Y_conv.detach().numpy()[0, 0], rtol=1e-12, atol=1e-12)
    check_forward(k_loop.grad, k_conv.grad.numpy()[0, 0], rtol=1e-12, atol=1e-12)
    assert_namespace(k_loop, xp)


def test_corr2d_loop_against_pytorch():
    torch = torch_or_skip()
    rng = np.random.default_rng(1)
    check_torch(lambda X, K: corr2d(X, K, mt.tensor(np.zeros((4, 4), dtype=np.float32))),
                lambda X, K: corr2d(X, K, torch.zeros(4, 4)),
                rng.standard_normal((5, 5)), rng.standard_normal((2, 2)))


def test_assigned_broadcast_value_gets_the_summed_gradient():
    def f(x, v):
        y = x * 1.0
        y[1:3] = v
        return y

    rng = np.random.default_rng(2)
    check_torch(f, f, rng.standard_normal((4, 3)), rng.standard_normal(3))


def test_setitem_gradient_check(xp):
    def f(x, v):
        y = x * x
        y[:, 1] = v * 2.0
        return y * y

    rng = np.random.default_rng(3)
    check_grad(f, xp, rng.standard_normal((3, 4)), rng.standard_normal(3))


def test_setitem_without_grad_writes_in_place():
    t = mt.tensor(np.array([-1.0, 2.0, -3.0]))
    alias = t.data
    t[t < 0] = 0.0
    t[1] = mt.tensor(5.0)
    check_forward(alias, [0.0, 5.0, 0.0])
    assert t.is_leaf and not t.requires_grad


# ---------------------------------------------------------------- conversions


def test_float_and_int_of_a_one_element_tensor():
    assert float(mt.tensor([[2.5]])) == 2.5
    assert int(mt.tensor(-2.7)) == -2  # truncation towards zero, as int(-2.7)
    with pytest.raises(ValueError, match=r"float\(\): only one-element tensors .* got shape \(2,\)"):
        float(mt.tensor([1.0, 2.0]))


def test_format_a_0d_tensor_like_its_number():
    loss = mt.tensor(W0).sum()
    assert f"{loss:.3f}" == f"{W0.sum():.3f}"
    t = mt.tensor([1.5])
    assert f"{t}" == repr(t)
    with pytest.raises(TypeError, match="unsupported format string '.3f' passed to Tensor.__format__"):
        f"{t:.3f}"


def test_bool_of_one_element_and_the_ambiguous_cases():
    loss, best = mt.tensor(0.25), 0.5
    assert loss < best
    assert not mt.tensor([0.0])
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with more than one value is ambiguous"):
        bool(mt.tensor([1.0, 2.0]) > 0)
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with no values is ambiguous"):
        bool(mt.tensor(np.zeros(0)))


def test_len_and_iteration_over_the_first_axis():
    x = mt.tensor(W0, requires_grad=True)
    assert len(x) == 2
    rows = list(x)
    check_forward(rows[1], W0[1])
    (rows[0] * 2.0 + rows[1]).sum().backward()
    check_forward(x.grad, [[2.0, 2.0, 2.0], [1.0, 1.0, 1.0]])
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(mt.tensor(1.0))
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        iter(mt.tensor(1.0))


def test_numpy_asarray_item_and_tolist(xp):
    t = on(xp, W0)
    host = np.asarray(t)
    assert isinstance(host, np.ndarray) and host.dtype == np.float64
    np.testing.assert_array_equal(host, W0)
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    assert t.tolist() == W0.tolist() and t[1, 1].item() == 4.0
    with pytest.raises(ValueError, match="copy=False"):
        np.asarray(t, copy=False)
