"""nn.init: fans, gains, and the variance each initialiser promises, for conv and linear weights."""

import math
import re
import warnings

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import backend, nn
from minitorch_cnn.nn import init
from helpers import assert_namespace, check_forward, model_on, on, torch_or_skip

CONV = (128, 64, 3, 3)  # (F, C, kh, kw): fan_in = 64*3*3 = 576, fan_out = 128*3*3 = 1152
LINEAR = (256, 512)  # (out, in): fan_in = 512, fan_out = 256


def empty(shape, dtype="float32"):
    return mt.tensor(np.zeros(shape), dtype=dtype)


def test_fans_of_a_linear_weight():
    assert init.calculate_fan_in_and_fan_out(empty(LINEAR)) == (512, 256)


def test_fans_of_a_conv_weight():
    assert init.calculate_fan_in_and_fan_out(empty(CONV)) == (576, 1152)


def test_fans_of_a_grouped_conv_weight_count_only_the_group_channels():
    conv = nn.Conv2d(8, 16, 3, groups=4)  # weight (16, 2, 3, 3): each filter sees 2 channels
    assert init.calculate_fan_in_and_fan_out(conv.weight) == (2 * 3 * 3, 16 * 3 * 3)


def test_fans_need_two_dimensions():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.calculate_fan_in_and_fan_out(empty((5,)))


@pytest.mark.parametrize("shape", [LINEAR, CONV, (3, 4, 5)])
def test_fans_match_pytorch(shape):
    torch = torch_or_skip()
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))
    assert init.calculate_fan_in_and_fan_out(empty(shape)) == expected


@pytest.mark.parametrize("nonlinearity, param, gain", [
    ("linear", None, 1.0),
    ("conv2d", None, 1.0),
    ("sigmoid", None, 1.0),
    ("tanh", None, 5 / 3),
    ("relu", None, math.sqrt(2)),
    ("leaky_relu", None, math.sqrt(2 / (1 + 0.01**2))),
    ("leaky_relu", 0.2, math.sqrt(2 / 1.04)),
])
def test_calculate_gain(nonlinearity, param, gain):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(gain)


def test_calculate_gain_matches_pytorch():
    torch = torch_or_skip()
    for name in ("linear", "sigmoid", "tanh", "relu", "leaky_relu"):
        assert init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name))


def test_unknown_nonlinearity_is_refused():
    with pytest.raises(ValueError, match="'gelu'"):
        init.calculate_gain("gelu")


def _variance(shape):
    fan_in, fan_out = init.calculate_fan_in_and_fan_out(empty(shape))
    return {
        "xavier_normal": 2 / (fan_in + fan_out),
        "xavier_uniform": 2 / (fan_in + fan_out),
        "kaiming_normal_relu": 2 / fan_in,
        "kaiming_uniform_relu": 2 / fan_in,
        "kaiming_normal_fan_out": 2 / fan_out,
        "kaiming_uniform_tanh": (5 / 3) ** 2 / fan_in,
        "kaiming_normal_leaky": 2 / (1 + 0.2**2) / fan_in,
        "pytorch_default": 1 / (3 * fan_in),
        "normal_0.01": 0.01**2,
        "uniform_-0.5_0.5": 1 / 12,
    }


INITIALISERS = {
    "xavier_normal": lambda t: init.xavier_normal_(t),
    "xavier_uniform": lambda t: init.xavier_uniform_(t),
    "kaiming_normal_relu": lambda t: init.kaiming_normal_(t, nonlinearity="relu"),
    "kaiming_uniform_relu": lambda t: init.kaiming_uniform_(t, nonlinearity="relu"),
    "kaiming_normal_fan_out": lambda t: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"),
    "kaiming_uniform_tanh": lambda t: init.kaiming_uniform_(t, nonlinearity="tanh"),
    "kaiming_normal_leaky": lambda t: init.kaiming_normal_(t, a=0.2),
    "pytorch_default": lambda t: init.kaiming_uniform_(t, a=math.sqrt(5)),
    "normal_0.01": lambda t: init.normal_(t, std=0.01),
    "uniform_-0.5_0.5": lambda t: init.uniform_(t, -0.5, 0.5),
}


@pytest.mark.parametrize("shape", [CONV, LINEAR], ids=["conv", "linear"])
@pytest.mark.parametrize("name", list(INITIALISERS))
def test_initialiser_gives_the_stated_variance(name, shape):
    """The sample variance of n >= 73,728 draws has relative standard error <= sqrt(2/n) = 0.52%
    (normal; less for uniform), so the 3% tolerance is about 6 standard errors wide."""
    values = INITIALISERS[name](empty(shape)).detach().numpy().astype(np.float64)
    expected = _variance(shape)[name]
    assert values.var() == pytest.approx(expected, rel=0.03)
    assert abs(values.mean()) < 5 * math.sqrt(expected / values.size)


@pytest.mark.parametrize("name", ["xavier_uniform", "kaiming_uniform_relu", "uniform_-0.5_0.5"])
def test_uniform_initialisers_stay_within_their_bound(name):
    values = INITIALISERS[name](empty(CONV)).detach().numpy()
    bound = math.sqrt(3 * _variance(CONV)[name])
    assert np.abs(values).max() <= bound * (1 + 1e-6)
    assert np.abs(values).max() > 0.99 * bound


def test_constant_zeros_and_ones():
    t = empty((2, 3))
    assert init.constant_(t, 0.5).detach().numpy().tolist() == [[0.5] * 3] * 2
    assert init.ones_(t).detach().numpy().sum() == 6
    assert init.zeros_(t).detach().numpy().sum() == 0


def test_initialisers_work_in_place_and_keep_dtype_and_backend(xp):
    p = nn.Parameter(on(xp, np.zeros(CONV), dtype=np.float64))
    assert init.kaiming_normal_(p) is p
    assert isinstance(p, nn.Parameter) and p.requires_grad
    assert backend.dtype_name(p.dtype) == "float64"
    assert_namespace(p, xp)
    init.constant_(p, 2.0)
    assert_namespace(p, xp)
    assert float(backend.to_numpy(p.array).min()) == 2.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("draw", [init.kaiming_uniform_, init.kaiming_normal_], ids=["uniform", "normal"])
def test_random_initialisers_draw_into_the_weights_memory_in_its_dtype(draw, dtype):
    """A NumPy weight is overwritten where it lies: building VGG-16 then needs no second copy of
    its 411 MB first fully connected layer, nor a float64 one (bench --suite memory)."""
    p = nn.Parameter(np.zeros(CONV, dtype))
    memory = p.array
    draw(p)
    assert p.array is memory and p.array.dtype == dtype
    assert float(memory.std()) > 0


def test_float64_draws_are_the_host_generators_float64_stream():
    """In place or not, a float64 weight gets the generator's float64 numbers, scaled."""
    mt.manual_seed(3)
    p = init.uniform_(nn.Parameter(np.zeros((4, 5))), -2.0, 3.0)
    np.testing.assert_array_equal(p.array, np.random.default_rng(3).uniform(-2.0, 3.0, (4, 5)))


def test_tensor_methods_fill_the_parameter_through_data_as_d2l(xp):
    # d2l's net[0].weight.data.normal_(0, 0.01); net[0].bias.data.fill_(0): .data shares the
    # parameter's memory, so the draws must land there on every backend, and equal nn.init's.
    net = nn.Sequential(nn.Linear(20, 30))
    model_on(xp, net)
    weight = net[0].weight
    mt.manual_seed(5)
    net[0].weight.data.normal_(0, 0.01)
    net[0].bias.data.fill_(0.5)
    mt.manual_seed(5)
    expected = init.normal_(nn.Parameter(np.zeros((30, 20), np.float32)), 0, 0.01)
    assert net[0].weight is weight and weight.is_leaf and weight.grad is None
    assert_namespace(weight, xp)
    np.testing.assert_array_equal(backend.to_numpy(weight.array), expected.array)
    check_forward(net[0].bias, np.full(30, 0.5))
    net[0].weight.data.uniform_(-0.1, 0.1)
    drawn = backend.to_numpy(weight.array)
    assert drawn.min() >= -0.1 and drawn.max() < 0.1 and drawn.std() > 0.05


def test_tensor_in_place_draws_on_a_parameter_need_no_grad_as_torch():
    p = nn.Parameter(np.zeros((3, 3), np.float32))
    for op in ("normal_", "uniform_", "fill_"):
        args = (0.0,) if op == "fill_" else ()
        with pytest.raises(RuntimeError, match=f"{op}: a leaf Variable that requires grad is being used in an in-place"):
            getattr(p, op)(*args)
    with mt.no_grad():
        p.normal_(1.0, 0.5)
    assert p.is_leaf and float(p.array.std()) > 0
    with pytest.raises(ValueError, match="normal_: expected std >= 0, got -1"):
        mt.ones(2).normal_(0, -1)
    with pytest.raises(ValueError, match="uniform_: expected a <= b, got a=1, b=0"):
        mt.ones(2).uniform_(1, 0)


def test_initialisers_record_no_graph():
    p = nn.Parameter(np.zeros((3, 3), np.float32))
    init.xavier_uniform_(p)
    assert p.is_leaf and p.grad is None


def test_manual_seed_makes_draws_reproducible():
    mt.manual_seed(42)
    first = init.xavier_normal_(empty(LINEAR)).detach().numpy()
    mt.manual_seed(42)
    again = init.xavier_normal_(empty(LINEAR)).detach().numpy()
    mt.manual_seed(43)
    other = init.xavier_normal_(empty(LINEAR)).detach().numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_rng_state_round_trips_through_a_checkpoint(tmp_path):
    mt.manual_seed(5)
    mt.randn(3)
    mt.save({"rng": mt.get_rng_state()}, tmp_path / "rng.npz")
    expected = mt.randn(4).numpy()
    mt.manual_seed(0)
    mt.set_rng_state(mt.load(tmp_path / "rng.npz")["rng"])
    np.testing.assert_array_equal(mt.randn(4).numpy(), expected)
    with pytest.raises(ValueError, match=r"set_rng_state: expected a state from get_rng_state\(\) \(PCG64\)"):
        mt.set_rng_state({"seed": 0, "bit_generator": {"bit_generator": "MT19937"}})


def test_manual_seed_makes_layer_construction_reproducible():
    mt.manual_seed(7)
    a = nn.Conv2d(3, 8, 3).state_dict()
    mt.manual_seed(7)
    b = nn.Conv2d(3, 8, 3).state_dict()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.parametrize("bad, message", [
    (lambda t: init.kaiming_normal_(t, mode="fan_avg"), "mode"),
    (lambda t: init.normal_(t, std=-1.0), "std"),
    (lambda t: init.uniform_(t, 1.0, 0.0), "a <= b"),
    (lambda t: init.xavier_uniform_(empty((5,))), "at least 2 dimensions"),
])
def test_bad_arguments_raise_value_error(bad, message):
    with pytest.raises(ValueError, match=message):
        bad(empty(LINEAR))


# ---------------------------------------------------------------- orthogonal_ (Saxe et al. 2013)


def _as_matrix(t):
    values = t.detach().numpy().astype(np.float64)
    return values.reshape(values.shape[0], -1)


@pytest.mark.parametrize("shape", [(4, 8), (8, 8), (8, 4), (8, 3, 3, 3), (64, 3, 3, 3), (6, 5, 4)],
                         ids=["wide", "square", "tall", "conv-wide", "conv-tall", "3d"])
@pytest.mark.parametrize("gain", [1.0, math.sqrt(2)])
def test_orthogonal_rows_or_columns_are_orthonormal_times_gain(shape, gain):
    W = _as_matrix(init.orthogonal_(empty(shape), gain=gain))
    rows, cols = W.shape
    gram = W @ W.T if rows <= cols else W.T @ W
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(rows, cols)), atol=1e-5)
    np.testing.assert_allclose(np.linalg.svd(W, compute_uv=False), gain, rtol=1e-5)


@pytest.mark.parametrize("shape", [(4, 8), (8, 4), (8, 3, 3, 3), (64, 3, 3, 3)])
def test_orthogonal_equals_pytorch_given_the_same_gaussian_draw(shape, monkeypatch):
    """torch draws A = randn(rows, cols) and QR-factorises A or A.T; fed the same A, ours must
    give the same W, which pins the transposes, the sign correction and the reshape."""
    torch = torch_or_skip()
    rows = shape[0]
    cols = math.prod(shape[1:])
    torch.manual_seed(3)
    A = torch.empty(rows, cols).normal_(0, 1).numpy()
    torch.manual_seed(3)
    expected = torch.nn.init.orthogonal_(torch.empty(shape), gain=0.5).numpy()
    monkeypatch.setattr(backend, "random_normal", lambda draw_shape, like, *a, **k: A.astype(like.dtype))
    check_forward(init.orthogonal_(empty(shape), gain=0.5), expected, rtol=1e-4, atol=1e-5)


def test_orthogonal_keeps_dtype_backend_and_identity(xp):
    p = nn.Parameter(on(xp, np.zeros((6, 3, 2, 2)), dtype=np.float64))
    assert init.orthogonal_(p) is p
    assert backend.dtype_name(p.dtype) == "float64"
    assert_namespace(p, xp)
    W = backend.to_numpy(p.array).reshape(6, -1)
    np.testing.assert_allclose(W @ W.T, np.eye(6), atol=1e-12)


def test_orthogonal_of_an_empty_weight_is_a_no_op_and_a_vector_is_refused():
    t = empty((0, 3))
    assert init.orthogonal_(t) is t and t.shape == (0, 3)
    with pytest.raises(ValueError, match=r"orthogonal_: expected a weight with at least 2 dimensions, got shape \(5,\)"):
        init.orthogonal_(empty((5,)))


# ---------------------------------------------------------------- lsuv_ and data_dependent_


def small_conv_net(bias=True):
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=bias), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=bias), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Dropout(0.5), nn.Flatten(), nn.Linear(16 * 4 * 4, 10),
    )


def batch(seed=0, scale=5.0):
    """Inputs far from unit scale, so the initialisers have something to correct."""
    return mt.tensor(scale * np.random.default_rng(seed).standard_normal((32, 3, 8, 8)).astype(np.float32))


def affine_outputs(model, x):
    """Each Conv2d/Linear layer's output (float64 NumPy) on ``x``, in eval mode."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    seen = {}
    handles = [m.register_forward_hook(lambda m, i, out: seen.__setitem__(id(m), out.detach().numpy()))
               for m in layers]
    model.eval()
    with mt.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return [seen[id(m)].astype(np.float64) for m in layers]


def test_lsuv_gives_every_layer_unit_output_variance_within_tol():
    model = small_conv_net()
    x = batch()
    before = [out.var() for out in affine_outputs(model, x)]
    assert any(abs(v - 1) > 0.5 for v in before)
    init.lsuv_(model, x, tol=0.05)
    for out in affine_outputs(model, x):
        assert abs(out.var() - 1) < 0.05


def test_lsuv_keeps_orthogonal_directions_and_leaves_modes_and_running_statistics_alone():
    model = small_conv_net().train()
    init.lsuv_(model, batch())
    assert all(m.training for m in model.modules())
    np.testing.assert_array_equal(model[3].running_mean.numpy(), 0)
    W = _as_matrix(model[2].weight)  # (16, 72): orthonormal rows, rescaled as a whole
    gram = W @ W.T
    np.testing.assert_allclose(gram, gram[0, 0] * np.eye(16), atol=1e-5 * gram[0, 0])


def test_lsuv_warns_when_max_iter_is_not_enough():
    """One rescaling cannot reach 1e-9: the bias of each layer keeps its variance off 1 after the division."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        init.lsuv_(small_conv_net(), batch(), tol=1e-9, max_iter=1)
    messages = [str(w.message) for w in caught]
    assert [m.split("'")[1] for m in messages] == ["0", "2", "7"]
    assert all(re.fullmatch(r"lsuv_: layer '\d' has output variance \S+ after 1 rescalings \(tol 1e-09\)", m)
               for m in messages)


def test_data_dependent_gives_every_unit_zero_mean_and_unit_variance():
    model = small_conv_net()
    x = batch()
    init.data_dependent_(model, x)
    for out in affine_outputs(model, x):
        axes = tuple(a for a in range(out.ndim) if a != 1)
        np.testing.assert_allclose(out.mean(axis=axes), 0, atol=1e-4)
        np.testing.assert_allclose(out.std(axis=axes), 1, rtol=1e-4)


def test_data_dependent_scales_a_layer_without_bias_to_unit_std():
    model = small_conv_net(bias=False)
    init.data_dependent_(model, batch())
    second = affine_outputs(model, batch())[1]  # reads ReLU outputs, whose mean is positive
    np.testing.assert_allclose(second.std(axis=(0, 2, 3)), 1, rtol=1e-4)
    assert np.abs(second.mean(axis=(0, 2, 3))).max() > 0.1  # no bias: the mean is not corrected


@pytest.mark.parametrize("bad, message", [
    (lambda: init.lsuv_(nn.Sequential(nn.ReLU()), batch()), "lsuv_: expected a model with Conv2d or Linear layers"),
    (lambda: init.lsuv_(small_conv_net(), batch(), tol=0), "lsuv_: expected tol > 0"),
    (lambda: init.lsuv_(small_conv_net(), batch(), max_iter=0), "positive int"),
    (lambda: init.data_dependent_(small_conv_net(), batch(scale=0.0)), "data_dependent_: a unit of layer '0'"),
    (lambda: init.lsuv_(nn.Sequential(nn.LazyLinear(3)), batch()), "lsuv_: expected an initialised tensor"),
])
def test_data_driven_initialisers_refuse_bad_input(bad, message):
    with pytest.raises(ValueError, match=message):
        bad()


def test_data_driven_initialisers_stay_in_the_models_array_library(xp):
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4))
    for p in model.parameters():
        p.data = xp.asarray(p.detach().numpy())
    x = on(xp, np.random.default_rng(0).standard_normal((16, 6)))
    init.data_dependent_(model, x)
    for p in model.parameters():
        assert_namespace(p, xp)
    init.lsuv_(model, x, tol=0.01)
    for p in model.parameters():
        assert_namespace(p, xp)
    with mt.no_grad():
        out = backend.to_numpy(model(x).array)
    assert abs(out.var() - 1) < 0.01
