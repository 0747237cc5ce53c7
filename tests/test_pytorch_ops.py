"""PyTorch's tensor ops on ``mt`` and ``Tensor`` (issue 14): creation functions, ``cat``/``stack``,
reductions with ``dim``/``keepdim``, element-wise ops, 1-D ``matmul``, ``flatten`` and dtype
promotion. Each op: its forward against PyTorch (and its gradient), a float64 gradient check on
every backend, and the errors a student can act on."""

import warnings

import numpy as np
import pytest

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import backend
from helpers import on, check_forward, check_grad, check_torch, assert_namespace

rng = np.random.default_rng(0)


def host(*shape):
    return rng.standard_normal(shape)


# ---------------------------------------------------------------- creation


def test_zeros_ones_take_sizes_as_arguments_or_a_tuple():
    assert mt.zeros(2, 3).shape == (2, 3)
    assert mt.ones((2, 3)).shape == (2, 3)
    assert mt.zeros([4]).shape == (4,)
    assert mt.zeros(()).shape == ()
    check_forward(mt.ones(2, 2), np.ones((2, 2)))
    assert backend.dtype_name(mt.zeros(2).dtype) == "float32"


def test_creation_dtype_device_requires_grad():
    x = mt.zeros(2, dtype=mt.float64, device="cpu", requires_grad=True)
    assert backend.dtype_name(x.dtype) == "float64" and x.device == "cpu" and x.requires_grad
    assert x.dtype == mt.float64
    assert backend.dtype_name(mt.ones(2, dtype=mt.int64).dtype) == "int64"


def test_full_infers_int64_from_an_int_value_as_torch():
    assert backend.dtype_name(mt.full((2, 2), 7).dtype) == "int64"
    assert backend.dtype_name(mt.full((2, 2), 0.5).dtype) == "float32"
    check_forward(mt.full((2, 3), 0.5), np.full((2, 3), 0.5))


def test_arange_of_ints_is_int64_of_floats_float32():
    torch = pytest.importorskip("torch")
    for args in [(5,), (2, 7), (1, 10, 3), (0.0, 1.0, 0.25), (5, 0, -2)]:
        ours, theirs = mt.arange(*args), torch.arange(*args)
        check_forward(ours, theirs.detach().numpy())
        assert backend.dtype_name(ours.dtype) == str(theirs.dtype).replace("torch.", "")


def test_eye_square_and_rectangular():
    check_forward(mt.eye(3), np.eye(3))
    check_forward(mt.eye(2, 4), np.eye(2, 4))


def test_rand_randn_follow_manual_seed():
    mt.manual_seed(3)
    a, b = mt.rand(3, 4), mt.randn(5)
    mt.manual_seed(3)
    check_forward(mt.rand(3, 4), a.detach().numpy())
    check_forward(mt.randn(5), b.detach().numpy())
    assert backend.dtype_name(a.dtype) == "float32"
    assert 0.0 <= a.detach().numpy().min() and a.detach().numpy().max() < 1.0


def test_randint_in_both_of_torchs_forms():
    torch = pytest.importorskip("torch")
    for args, kwargs in [((10, (3, 4)), {}), ((2, 5, (1000,)), {}), ((3, 4), {"size": (2,)}), ((0, 2, (5,)), {"dtype": mt.float32})]:
        theirs = torch.randint(*args, **{k: (torch.float32 if k == "dtype" else v) for k, v in kwargs.items()})
        ours = mt.randint(*args, **kwargs)
        assert ours.shape == tuple(theirs.shape)
        assert backend.dtype_name(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    draws = mt.randint(2, 5, (1000,)).numpy()
    assert set(draws.tolist()) == {2, 3, 4}
    mt.manual_seed(1)
    first = mt.randint(100, (5,)).tolist()
    mt.manual_seed(1)
    assert mt.randint(100, (5,)).tolist() == first
    with pytest.raises(ValueError, match="randint: expected ints low < high, got low=5, high=5"):
        mt.randint(5, 5, (2,))
    with pytest.raises(TypeError, match="randint: expected randint"):
        mt.randint(5)


def test_normal_with_numbers_and_with_tensors():
    x = mt.normal(2.0, 0.5, (2000,))
    assert x.shape == (2000,) and backend.dtype_name(x.dtype) == "float32"
    assert abs(float(x.detach().numpy().mean()) - 2.0) < 0.05 and abs(float(x.detach().numpy().std()) - 0.5) < 0.05
    y = mt.normal(mt.zeros(3, 1), mt.ones(1, 4) * 1e-6)
    assert y.shape == (3, 4) and np.abs(y.detach().numpy()).max() < 1e-4


def test_like_functions_keep_library_shape_and_dtype(xp):
    x = on(xp, np.ones((2, 3)), dtype=np.float64)
    for made in [mt.zeros_like(x), mt.ones_like(x), mt.full_like(x, 2.0), mt.rand_like(x), mt.randn_like(x)]:
        assert made.shape == (2, 3) and backend.dtype_name(made.dtype) == "float64"
        assert_namespace(made, xp)
    check_forward(mt.full_like(x, 2.0), np.full((2, 3), 2.0))
    assert backend.dtype_name(mt.zeros_like(x, dtype=mt.float32).dtype) == "float32"


def test_creation_errors_name_the_op():
    with pytest.raises(ValueError, match=r"zeros: expected sizes as non-negative ints, got \(2, -1\)"):
        mt.zeros(2, -1)
    with pytest.raises(TypeError, match="rand: expected a floating dtype, got int64"):
        mt.rand(2, dtype=mt.int64)
    with pytest.raises(ValueError, match="arange: step must be nonzero"):
        mt.arange(0, 3, 0)


# ---------------------------------------------------------------- cat and stack


def test_cat_matches_torch():
    check_torch(lambda a, b: mt.cat([a, b], dim=1), lambda a, b: __import__("torch").cat([a, b], dim=1), host(2, 3), host(2, 1))
    check_torch(lambda a, b: mt.cat((a, b)), lambda a, b: __import__("torch").cat((a, b)), host(2, 3), host(1, 3))


def test_cat_keeps_concat_and_axis():
    a, b = mt.ones(2, 3), mt.zeros(2, 1)
    check_forward(F.concat([a, b], axis=1), np.concatenate([np.ones((2, 3)), np.zeros((2, 1))], axis=1))


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_stack_matches_torch(dim):
    torch = pytest.importorskip("torch")
    check_torch(lambda a, b: mt.stack([a, b], dim), lambda a, b: torch.stack([a, b], dim), host(2, 3), host(2, 3))


def test_cat_and_stack_gradcheck(xp):
    check_grad(lambda a, b: F.cat([a, b], dim=-1), xp, host(2, 3), host(2, 2))
    check_grad(lambda a, b: F.stack([a, b], dim=1), xp, host(2, 3), host(2, 3))


def test_cat_and_stack_errors_name_the_op():
    with pytest.raises(IndexError, match=r"cat: dim 2 is out of range for 2-D tensors: expected a dim in \[-2, 1\]"):
        mt.cat([mt.ones(2, 3), mt.ones(2, 3)], dim=2)
    with pytest.raises(ValueError, match=r"cat: shapes \(2, 3\) and \(3, 3\) differ outside dim 1"):
        mt.cat([mt.ones(2, 3), mt.ones(3, 3)], dim=1)
    with pytest.raises(ValueError, match=r"stack: expected tensors of equal shape, got \(2,\) at entry 0 and \(3,\) at entry 1"):
        mt.stack([mt.ones(2), mt.ones(3)])


# ---------------------------------------------------------------- reductions

REDUCTIONS = [
    ("sum_dim", lambda x: x.sum(dim=1), lambda x: x.sum(dim=1)),
    ("sum_keepdim", lambda x: mt.sum(x, (0, 2), keepdim=True), lambda x: x.sum(dim=(0, 2), keepdim=True)),
    ("mean_d2l", lambda x: x.mean(dim=(0, 2), keepdim=True), lambda x: x.mean(dim=(0, 2), keepdim=True)),
    ("mean_negative_dim", lambda x: F.mean(x, -1), lambda x: x.mean(-1)),
    ("var", lambda x: x.var(), lambda x: x.var()),
    ("var_dim", lambda x: mt.var(x, dim=(0, 2), keepdim=True), lambda x: x.var(dim=(0, 2), keepdim=True)),
    ("var_correction_0", lambda x: x.var(1, correction=0), lambda x: x.var(1, correction=0)),
    ("var_unbiased_false", lambda x: x.var(1, unbiased=False), lambda x: x.var(1, unbiased=False)),
    ("std", lambda x: mt.std(x, dim=1), lambda x: x.std(dim=1)),
    ("amax", lambda x: x.amax(dim=(1, 2)), lambda x: x.amax(dim=(1, 2))),
    ("amin", lambda x: mt.amin(x, 0, keepdim=True), lambda x: x.amin(0, keepdim=True)),
    ("max_dim_values", lambda x: x.max(dim=1).values, lambda x: x.max(dim=1).values),
    ("min_dim_keepdim", lambda x: mt.min(x, 2, keepdim=True)[0], lambda x: x.min(2, keepdim=True)[0]),
    ("max_all", lambda x: x.max(), lambda x: x.max()),
    ("min_all", lambda x: mt.min(x), lambda x: x.min()),
]


@pytest.mark.parametrize("name, ours, theirs", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
def test_reduction_matches_torch(name, ours, theirs):
    check_torch(ours, theirs, host(2, 3, 4))


@pytest.mark.parametrize("name, ours, theirs", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
def test_reduction_gradcheck(name, ours, theirs, xp):
    check_grad(ours, xp, host(2, 3, 4))


def test_max_dim_returns_values_and_indices_as_torch():
    torch = pytest.importorskip("torch")
    h = host(3, 5).astype(np.float32)
    for dim, keepdim in [(0, False), (1, True), (-1, False)]:
        ours, theirs = mt.tensor(h).max(dim, keepdim), torch.tensor(h).max(dim, keepdim)
        check_forward(ours.values, theirs.values.detach().numpy())
        np.testing.assert_array_equal(ours.indices.detach().numpy(), theirs.indices.detach().numpy())
        _, indices = mt.tensor(h).min(dim=dim, keepdim=keepdim)
        np.testing.assert_array_equal(indices.detach().numpy(), torch.tensor(h).min(dim, keepdim).indices.detach().numpy())


def test_max_dim_sends_the_gradient_to_its_index_amax_splits_ties():
    tied = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    x = mt.tensor(tied, requires_grad=True)
    x.max(dim=1).values.sum().backward()
    check_forward(x.grad, [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    check_torch(lambda t: t.amax(dim=1), lambda t: t.amax(dim=1), tied)
    check_torch(lambda t: t.max(), lambda t: t.max(), tied)


def test_argmax_argmin_with_dim_and_keepdim():
    torch = pytest.importorskip("torch")
    h = host(3, 4, 2).astype(np.float32)
    for dim, keepdim in [(None, False), (1, False), (-1, True), (0, True)]:
        for op in ("argmax", "argmin"):
            ours = getattr(mt.tensor(h), op)(dim, keepdim)
            theirs = getattr(torch.tensor(h), op)(dim, keepdim)
            np.testing.assert_array_equal(ours.detach().numpy(), theirs.detach().numpy())
    assert not mt.tensor(h, requires_grad=True).argmax().requires_grad


def test_max_and_min_of_two_tensors_are_elementwise_as_torch():
    torch = pytest.importorskip("torch")
    check_torch(lambda a, b: mt.max(a, b), lambda a, b: torch.max(a, b), host(3, 4), host(4))
    check_torch(lambda a, b: a.min(b), lambda a, b: a.min(b), host(3, 4), host(3, 1))


def test_mean_var_std_of_integers_raise_as_torch():
    ints = mt.tensor([1, 2, 3])
    for op in (mt.mean, mt.var, mt.std):
        with pytest.raises(TypeError, match=r"(mean|var): expected a floating-point tensor, got dtype int64"):
            op(ints)
    assert ints.sum().item() == 6


def test_reductions_keep_axis_and_keepdims():
    x = mt.tensor(host(2, 3))
    check_forward(x.sum(axis=1, keepdims=True), x.detach().numpy().sum(axis=1, keepdims=True))
    check_forward(F.mean(x, axis=0), x.detach().numpy().mean(axis=0))
    check_forward(x.amax(axis=0), x.detach().numpy().max(axis=0))


def test_bad_dim_raises_index_error_naming_the_op():
    x = mt.ones(2, 3, 4, 5)
    with pytest.raises(IndexError, match=r"sum: dim 5 is out of range for a 4-D tensor: expected a dim in \[-4, 3\]"):
        F.sum(x, 5)
    with pytest.raises(IndexError, match=r"mean: dim -5 is out of range"):
        x.mean(dim=(0, -5))
    with pytest.raises(IndexError, match=r"max: dim 4 is out of range"):
        x.max(4)
    with pytest.raises(IndexError, match=r"argmax: dim 7"):
        x.argmax(7)
    with pytest.raises(TypeError, match="max: dim must be one int"):
        x.max(dim=(0, 1))
    with pytest.raises(TypeError, match="sum: got both dim=0 and axis=1"):
        F.sum(x, 0, axis=1)


def test_zero_dim_tensor_accepts_dim_0_and_minus_1_as_torch():
    x = mt.tensor(3.0, requires_grad=True)
    for dim in (0, -1):
        check_forward(x.sum(dim), 3.0)
        check_forward(x.mean(dim=dim, keepdim=True), 3.0)
    values, indices = x.max(0)
    assert values.item() == 3.0 and indices.item() == 0
    with pytest.raises(IndexError, match=r"sum: dim 1 is out of range for a 0-D tensor: expected a dim in \[-1, 0\]"):
        x.sum(1)


# ---------------------------------------------------------------- element-wise

positive = np.abs(host(2, 3)) + 0.5
ELEMENTWISE = [
    ("sqrt", lambda a: mt.sqrt(a), lambda a: a.sqrt(), [positive]),
    ("sqrt_method", lambda a: a.sqrt(), lambda a: a.sqrt(), [positive]),
    ("abs", lambda a: mt.abs(a), lambda a: a.abs(), [host(2, 3)]),
    ("abs_builtin", lambda a: abs(a), lambda a: abs(a), [host(2, 3)]),
    ("clamp", lambda a: mt.clamp(a, -0.5, 0.5), lambda a: a.clamp(-0.5, 0.5), [host(3, 4)]),
    ("clamp_min", lambda a: a.clamp(min=0.0), lambda a: a.clamp(min=0.0), [host(3, 4)]),
    ("clip_max", lambda a: mt.clip(a, max=0.2), lambda a: a.clip(max=0.2), [host(3, 4)]),
    ("clamp_tensors", lambda a, lo, hi: mt.clamp(a, lo, hi), lambda a, lo, hi: a.clamp(lo, hi),
     [host(3, 4), host(4) - 0.5, host(3, 1) + 0.5]),
    ("clamp_tensor_max", lambda a, hi: a.clamp(max=hi), lambda a, hi: a.clamp(max=hi), [host(3, 4), host(1, 4)]),
    ("double", lambda a: a.double() * 2, lambda a: a.double() * 2, [host(2, 3)]),
    ("clone", lambda a: a.clone() * a, lambda a: a.clone() * a, [host(2, 3)]),
    ("maximum", lambda a, b: mt.maximum(a, b), lambda a, b: __import__("torch").maximum(a, b), [host(3, 4), host(4)]),
    ("minimum", lambda a, b: a.minimum(b), lambda a, b: a.minimum(b), [host(3, 1), host(3, 4)]),
    ("pow_tensor", lambda a, b: a**b, lambda a, b: a**b, [positive, host(2, 3)]),
    ("pow_function", lambda a, b: mt.pow(a, b), lambda a, b: a.pow(b), [positive, host(1, 3)]),
    ("rpow", lambda a: 2.0**a, lambda a: 2.0**a, [host(2, 3)]),
]


@pytest.mark.parametrize("name, ours, theirs, hosts", ELEMENTWISE, ids=[r[0] for r in ELEMENTWISE])
def test_elementwise_matches_torch(name, ours, theirs, hosts):
    check_torch(ours, theirs, *hosts)


@pytest.mark.parametrize("name, ours, theirs, hosts", ELEMENTWISE, ids=[r[0] for r in ELEMENTWISE])
def test_elementwise_gradcheck(name, ours, theirs, hosts, xp):
    check_grad(ours, xp, *hosts)


@pytest.mark.parametrize("name, args", [("relu", ()), ("sigmoid", ()), ("tanh", ()), ("softmax", (1,)), ("log_softmax", (-1,))])
def test_activations_at_the_top_level_as_torch(name, args):
    torch = pytest.importorskip("torch")
    check_torch(lambda x: getattr(mt, name)(x, *args), lambda x: getattr(torch, name)(x, *args), host(3, 4))


def test_float_and_is_tensor_as_torch():
    y_hat, y = mt.tensor([[0.1, 0.9], [0.8, 0.2]]), mt.tensor([1, 1])
    accuracy = (y_hat.argmax(dim=1) == y).type(mt.float).mean()
    assert mt.float == mt.float32 and accuracy.dtype == mt.float32 and accuracy.item() == 0.5
    assert mt.is_tensor(y) and not mt.is_tensor(np.ones(2))


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow", "maximum", "minimum"])
def test_shapes_that_do_not_broadcast_name_the_op(op):
    # A residual Y + X whose shortcut kept 3 channels at full size while Y has 6 at half size.
    Y, X = mt.rand(1, 6, 3, 3), mt.rand(1, 3, 6, 6)
    with pytest.raises(ValueError, match=rf"{op}: shapes \(1, 6, 3, 3\) and \(1, 3, 6, 6\) do not broadcast: .* sizes 3 and 6"):
        getattr(mt, op)(Y, X)
    Y.requires_grad_()
    with pytest.raises(ValueError, match=r"add: shapes \(1, 6, 3, 3\) and \(1, 3, 6, 6\) do not broadcast"):
        Y = Y * 1.0
        Y += X
    assert getattr(mt, op)(mt.rand(3, 1), mt.rand(4)).shape == (3, 4)


def test_maximum_and_minimum_split_ties_as_torch():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0])
    check_torch(lambda x, y: mt.maximum(x, y), lambda x, y: x.maximum(y), a, b)
    check_torch(lambda x, y: mt.minimum(x, y), lambda x, y: x.minimum(y), a, b)


def test_clamp_bounds_pass_the_gradient_as_torch():
    at_bounds = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    check_torch(lambda x: x.clamp(-0.5, 0.5), lambda x: x.clamp(-0.5, 0.5), at_bounds)


def test_clamp_with_crossed_and_tied_tensor_bounds_routes_the_gradient_as_torch():
    # low > high gives high whatever x is; x on a bound gets the gradient itself.
    x = np.array([0.0, 1.0, 2.0, 3.0, 0.0, 5.0])
    low = np.array([1.0, 1.0, 1.0, 1.0, 2.0, 6.0])
    high = np.array([2.0, 2.0, 2.0, 2.0, 1.0, 4.0])
    check_torch(lambda x, lo, hi: x.clamp(lo, hi), lambda x, lo, hi: x.clamp(lo, hi), x, low, high)


def test_clamp_refuses_bounds_that_are_not_numbers_or_tensors():
    with pytest.raises(TypeError, match="clamp: max must be a number, a Tensor or None, got str"):
        mt.ones(2).clamp(0.0, "1")
    with pytest.raises(ValueError, match="clamp: expected at least one of min and max, got neither"):
        mt.ones(2).clamp()


def test_conversions_keep_the_graph_and_integer_results_need_no_grad():
    x = mt.tensor([1.5, -2.5], requires_grad=True)
    y = x.double()
    assert y.dtype == mt.float64 and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == mt.float32
    check_forward(x.grad, [3.0, -5.0])
    assert x.to(mt.float32) is x and x.float() is x and x.cpu() is x
    assert x.to("cpu", mt.float64).dtype == mt.float64
    assert x.to(mt.zeros(1, dtype=mt.float64)).dtype == mt.float64
    assert x.type(mt.float64).dtype == mt.float64 and x.type() == "float32"
    for integer in (x.long(), x.int(), x.bool()):
        assert not integer.requires_grad
    assert x.long().tolist() == [1, -2] and x.bool().tolist() == [True, True]
    copy = x.to(mt.float32, copy=True)
    assert copy is not x and copy.requires_grad


def test_device_as_torch():
    torch = pytest.importorskip("torch")
    for args in [("cpu",), ("cuda",), ("cuda:1",), ("cuda", 0)]:
        ours, theirs = mt.device(*args), torch.device(*args)
        assert repr(ours) == repr(theirs) and str(ours) == str(theirs)
        assert (ours.type, ours.index) == (theirs.type, theirs.index)
    assert mt.device(mt.device("cuda:0")) == mt.device("cuda", 0)
    device = mt.device("cuda" if mt.cuda.is_available() else "cpu")
    assert (mt.cuda.device_count() > 0) == mt.cuda.is_available()
    x = mt.randn(1, 1, 28, 28).to(device)
    assert x.device == device.type and mt.zeros(2, device=device).device == device.type
    for bad in ["tpu", "cuda:x", "cpu:-1"]:
        with pytest.raises(ValueError, match="device: expected"):
            mt.device(bad)


def test_clone_is_a_copy_in_new_memory():
    x = mt.tensor([1.0, 2.0])
    y = x.clone()
    y[0] = 5.0
    assert x.tolist() == [1.0, 2.0] and y.tolist() == [5.0, 2.0]
    assert mt.clone(x).tolist() == [1.0, 2.0] and x.contiguous() is x and x.dim() == 1


def test_where_matches_torch_and_gradchecks(xp):
    torch = pytest.importorskip("torch")
    cond = host(3, 4) > 0
    check_torch(
        lambda c, a, b: mt.where(c, a, b), lambda c, a, b: torch.where(c, a, b), cond, host(3, 4), host(4), grad_mask=[False, True, True]
    )
    check_grad(lambda c, a, b: mt.where(c, a, b), xp, cond, host(3, 4), host(1, 4))
    check_forward(mt.where(mt.tensor(cond), mt.ones(3, 4), 0.0), cond.astype(np.float32))


def test_pow_of_zero_exponent_has_zero_gradient_at_zero():
    x = mt.tensor([0.0, 1.0, -2.0], requires_grad=True)
    (x**0).sum().backward()
    check_forward(x.grad, [0.0, 0.0, 0.0])
    check_torch(lambda x: x**0, lambda x: x**0, np.array([0.0, 1.0, -2.0]))
    check_torch(lambda x, e: x**e, lambda x, e: x**e, np.array([0.0, 0.0, 2.0]), np.array([0.0, 2.0, 0.0]))


def test_pow_of_zero_base_to_a_negative_exponent_has_gradient_minus_inf():
    # dz/db = z * log(a) = inf * -inf at a = 0, b < 0 (it was nan); tinygrad's test_pow_const checks 0 ** x.
    check_torch(lambda x: 0**x, lambda x: 0**x, np.array([-2.0, -1.0, 0.0, 1.0, 2.0]))
    check_torch(lambda x, e: x**e, lambda x, e: x**e, np.array([0.0, 0.0]), np.array([-0.3, 0.3]))


def test_pow_needs_a_tensor_operand():
    with pytest.raises(TypeError, match="pow: expected a Tensor base or exponent, got float and int"):
        F.pow(2.0, 3)


# ---------------------------------------------------------------- matmul, flatten, t, type

MATMULS = [
    ("vector_matrix", (3,), (3, 2)),
    ("matrix_vector", (2, 3), (3,)),
    ("dot", (3,), (3,)),
    ("batched_matrix_vector", (4, 2, 3), (3,)),
    ("vector_batched_matrix", (3,), (4, 3, 2)),
]


@pytest.mark.parametrize("name, sa, sb", MATMULS, ids=[m[0] for m in MATMULS])
def test_matmul_with_a_vector_matches_torch(name, sa, sb):
    check_torch(lambda a, b: mt.matmul(a, b), lambda a, b: a @ b, host(*sa), host(*sb))


@pytest.mark.parametrize("name, sa, sb", MATMULS, ids=[m[0] for m in MATMULS])
def test_matmul_with_a_vector_gradcheck(name, sa, sb, xp):
    check_grad(lambda a, b: a @ b, xp, host(*sa), host(*sb))


def test_matmul_errors_name_the_op():
    with pytest.raises(ValueError, match=r"matmul: inner sizes differ: \(3,\) @ \(2,\) \(3 != 2\)"):
        mt.ones(3) @ mt.ones(2)
    with pytest.raises(ValueError, match=r"matmul: expected operands with at least 1 dimension, got \(\) and \(3,\)"):
        mt.matmul(mt.tensor(2.0), mt.ones(3))


@pytest.mark.parametrize("args", [(), (1,), (1, 2), (0, -2), (-1,)])
def test_flatten_start_and_end_dim_as_torch(args):
    torch = pytest.importorskip("torch")
    check_torch(lambda x: mt.flatten(x, *args), lambda x: torch.flatten(x, *args), host(2, 3, 4, 2))
    check_torch(lambda x: x.flatten(*args), lambda x: x.flatten(*args), host(2, 3, 4, 2))


def test_flatten_of_a_0d_tensor_and_bad_dims():
    assert mt.flatten(mt.tensor(1.0)).shape == (1,)
    with pytest.raises(ValueError, match="flatten: start_dim 2 comes after end_dim 1"):
        mt.flatten(mt.ones(2, 3, 4), 2, 1)


def test_flatten_gradcheck(xp):
    check_grad(lambda x: F.flatten(x, 1, 2), xp, host(2, 3, 2, 2))


@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 2)])
def test_squeeze_as_torch(dim):
    check_torch(lambda x: x.squeeze(dim) if dim is not None else x.squeeze(),
                lambda x: x.squeeze(dim) if dim is not None else x.squeeze(), host(1, 3, 1, 2))
    assert mt.tensor(2.0).squeeze(0).shape == ()


@pytest.mark.parametrize("dim", [0, 2, -1, -4])
def test_unsqueeze_as_torch(dim):
    torch = pytest.importorskip("torch")
    check_torch(lambda x: mt.unsqueeze(x, dim), lambda x: torch.unsqueeze(x, dim), host(3, 1, 2))
    with pytest.raises(IndexError, match="unsqueeze: dim 4 is out of range"):
        mt.ones(3, 2).unsqueeze(4)


def test_expand_as_torch_sums_the_gradient_over_stretched_dims():
    check_torch(lambda x: x.expand(4, 3, 5, -1), lambda x: x.expand(4, 3, 5, -1), host(3, 1, 2))
    check_torch(lambda x: x.expand((2, 3)), lambda x: x.expand((2, 3)), host(3))
    with pytest.raises(ValueError, match=r"expand: cannot expand dim 0 of size 3 \(shape \(3, 1\)\) to 4"):
        mt.ones(3, 1).expand(4, 2)


def test_squeeze_unsqueeze_expand_gradcheck(xp):
    check_grad(lambda x: F.expand(F.unsqueeze(F.squeeze(x, 1), 0), 2, 3, 2), xp, host(3, 1, 2))


def test_arithmetic_methods_neg_add_sub_mul_div():
    check_torch(lambda a, b: a.neg().add(b).sub(a).mul(b).div(b.mul(b).add(1.0)),
                lambda a, b: a.neg().add(b).sub(a).mul(b).div(b.mul(b).add(1.0)), host(3, 4), host(4))


@pytest.mark.parametrize("kwargs", [{}, {"correction": 0, "keepdim": True}, {"dim": (1, 2)}, {"dim": 0, "correction": 2}])
def test_std_mean_and_var_mean_match_torch(kwargs):
    torch = pytest.importorskip("torch")
    for name in ("std_mean", "var_mean"):
        check_torch(lambda x: mt.stack(getattr(mt, name)(x, **kwargs)),
                    lambda x: torch.stack(getattr(torch, name)(x, **kwargs)), host(4, 3, 5))


def test_rsqrt_matches_torch_and_gradcheck(xp):
    torch = pytest.importorskip("torch")
    x = np.abs(host(3, 4)) + 0.1
    check_torch(lambda x: x.rsqrt(), lambda x: x.rsqrt(), x)
    check_torch(lambda x: mt.rsqrt(x), lambda x: torch.rsqrt(x), np.array(2.0))
    check_grad(F.rsqrt, xp, x)


def test_t_transposes_a_matrix_and_leaves_a_vector():
    check_torch(lambda x: x.t(), lambda x: x.t(), host(2, 3))
    assert mt.ones(3).t().shape == (3,)
    with pytest.raises(ValueError, match=r"t: expected a tensor with at most 2 dims, got shape \(2, 3, 4\)"):
        mt.ones(2, 3, 4).t()


def test_unsigned_dtypes_keep_their_names():
    # A uint8 image was called int8 in type() and in every dtype error ("expected ... dtype int8").
    torch = pytest.importorskip("torch")
    image = mt.zeros(1, 1, 5, 5, dtype=mt.uint8)
    assert image.type() == "uint8" == str(torch.zeros(1, dtype=torch.uint8).dtype).replace("torch.", "")
    assert [backend.dtype_name(np.dtype(f"{u}int{b}")) for u in ("u", "") for b in (8, 16, 32, 64)] == [
        "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64"]
    with pytest.raises(TypeError, match="conv2d: expected weight with the input's dtype uint8, got float32"):
        mt.nn.Conv2d(1, 2, 3)(image)


def test_type_float_double_long_convert():
    x = mt.tensor([1.5, 2.5])
    assert backend.dtype_name(x.type(mt.float64).dtype) == "float64"
    assert x.type() == "float32"
    assert backend.dtype_name(x.double().float().dtype) == "float32"
    assert x.long().tolist() == [1, 2]
    assert x.int().tolist() == [1, 2] and backend.dtype_name(x.int().dtype) == "int32"


# ---------------------------------------------------------------- dtype promotion


def test_int_tensor_with_floats_gives_the_default_float_as_torch():
    torch = pytest.importorskip("torch")
    ints = [1, 2, 3]
    cases = [
        (lambda t: t + 0.5, "add a Python float"),
        (lambda t: t * 0.5, "multiply by a Python float"),
        (lambda t: t / 2, "true division"),
        (lambda t: t.exp(), "exp"),
        (lambda t: t.log(), "log"),
        (lambda t: t.sqrt(), "sqrt"),
        (lambda t: t**0.5, "fractional power"),
    ]
    for op, what in cases:
        ours, theirs = op(mt.tensor(ints)), op(torch.tensor(ints))
        assert backend.dtype_name(ours.dtype) == "float32", what
        check_forward(ours, theirs.detach().numpy())
    assert backend.dtype_name((mt.tensor(ints) + 1).dtype) == "int64"
    mixed = mt.tensor(ints) + mt.tensor([0.5, 0.5, 0.5])
    assert backend.dtype_name(mixed.dtype) == "float32"
    double = mt.tensor(np.array([0.5, 0.5, 0.5])) * mt.tensor(ints)
    assert backend.dtype_name(double.dtype) == "float64"


def test_inf_and_nan_results_come_without_numpy_warnings_as_in_torch():
    x = mt.tensor([0.0, 1.0], requires_grad=True)
    logits = mt.zeros(2, 3, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = x.log() + 0**x + x**-1.0 + x / x
        y.sum().backward()
        loss = F.cross_entropy(logits, mt.tensor([-100, -100]))
        loss.backward()
    assert y.tolist()[0] != y.tolist()[0]  # 0 / 0 is nan
    assert loss.item() != loss.item()  # every target ignored: 0 / 0, as torch


def test_logical_ops_any_all_and_comparison_methods_match_torch(xp):
    torch = pytest.importorskip("torch")
    a, b = np.array([[0.0, 1.0, -2.0], [0.0, 0.0, 3.0]]), np.array([[1.0, 0.0, -2.0], [0.0, 2.0, 3.0]])
    x, y, tx, ty = on(xp, a), on(xp, b), torch.tensor(a), torch.tensor(b)
    for name in ("logical_and", "logical_or", "eq", "ne", "lt", "le", "gt", "ge"):
        np.testing.assert_array_equal(getattr(x, name)(y).numpy(), getattr(tx, name)(ty).numpy(), err_msg=name)
    np.testing.assert_array_equal(x.logical_not().numpy(), tx.logical_not().numpy())
    np.testing.assert_array_equal((~(x > 0)).numpy(), (~(tx > 0)).numpy())
    for dim, keepdim in ((None, False), (0, False), (1, True), (-1, False)):
        kwargs = {} if dim is None else {"dim": dim, "keepdim": keepdim}
        np.testing.assert_array_equal(x.any(**kwargs).numpy(), tx.any(**kwargs).numpy())
        np.testing.assert_array_equal(x.all(**kwargs).numpy(), tx.all(**kwargs).numpy())
    with pytest.raises(IndexError, match=r"any: dim 2 is out of range for a 2-D tensor"):
        x.any(dim=2)
    with pytest.raises(TypeError, match="~: expected a bool tensor, got float64; use logical_not"):
        ~x
