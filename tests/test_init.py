"""nn.init: fans, gains, and the variance each initialiser promises, for conv and linear weights."""

import math

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import backend, nn
from minitorch_cnn.nn import init
from helpers import assert_namespace, on, torch_or_skip

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
