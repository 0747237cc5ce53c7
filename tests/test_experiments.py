"""The lecture's weight-initialisation experiment reproduces its five qualitative findings.

The thresholds follow from ``Var(x @ W) = Din * std**2 * E[x**2]``: once activations are small
enough for tanh to act linearly, each layer scales the spread by ``std * sqrt(Din)``; a ReLU
halves ``E[x**2]``, so with ``std = 1/sqrt(Din)`` the spread shrinks by ``sqrt(2)`` per layer.
Widths of 1024 keep the tests fast; the saturation finding depends on ``std * sqrt(Din)``, so
it uses the lecture's 4096 (with fewer layers).
"""

import math

import numpy as np
import pytest

from minitorch_cnn.experiments import activation_statistics, constant_init_symmetry, format_table, plot_activation_histograms

D = 1024
DIMS = [D] * 7


def stds(stats):
    return np.array([row["std"] for row in stats])


def ratios(stats):
    s = stds(stats)
    return s[1:] / s[:-1]


def test_small_random_weights_with_tanh_collapse():
    stats = activation_statistics(DIMS, "tanh", 0.01)
    shrink = 0.01 * math.sqrt(D)  # 0.32 per layer once tanh is in its linear part
    np.testing.assert_allclose(ratios(stats)[1:], shrink, rtol=0.1)
    assert stats[-1]["std"] < 2 * stats[0]["std"] * shrink ** (len(stats) - 1)
    assert stats[-1]["std"] < 2e-3


def test_larger_random_weights_with_tanh_saturate():
    stats = activation_statistics([4096] * 3, "tanh", 0.05)
    # x @ W has std 0.05 * sqrt(4096) * rms(x) ~ 3: about a third of the units sit beyond |a| = 0.99
    for row in stats:
        assert row["saturated_fraction"] > 0.25
        assert row["std"] > 0.8


def test_xavier_with_tanh_stays_well_scaled():
    stats = activation_statistics(DIMS, "tanh", "xavier")
    assert all(0.25 < s < 0.7 for s in stds(stats))
    assert all(row["saturated_fraction"] < 0.02 for row in stats)


def test_xavier_with_relu_collapses_by_sqrt_two_per_layer():
    stats = activation_statistics(DIMS, "relu", "xavier")
    np.testing.assert_allclose(ratios(stats), 1 / math.sqrt(2), rtol=0.1)
    assert stats[-1]["std"] < 0.25 * stats[0]["std"]


def test_kaiming_with_relu_holds_steady():
    stats = activation_statistics(DIMS, "relu", "kaiming")
    np.testing.assert_allclose(ratios(stats), 1.0, rtol=0.1)
    assert all(0.6 < s < 1.1 for s in stds(stats))
    # half of the ReLU units are off for any given input: that is its flat, zero-gradient half
    assert all(abs(row["saturated_fraction"] - 0.5) < 0.05 for row in stats)


def test_statistics_describe_the_returned_values():
    stats = activation_statistics([64, 32, 16], "tanh", 0.5, batch=8)
    assert [row["layer"] for row in stats] == [1, 2]
    for row, width in zip(stats, [32, 16]):
        values = row["values"]
        assert isinstance(values, np.ndarray) and values.shape == (8, width)
        assert row["mean"] == pytest.approx(values.mean(), abs=1e-6)
        assert row["std"] == pytest.approx(values.std(), rel=1e-5)
        assert row["saturated_fraction"] == pytest.approx((np.abs(values) > 0.99).mean())


def test_same_seed_same_numbers():
    a = activation_statistics([64] * 3, "relu", "kaiming", seed=3)
    b = activation_statistics([64] * 3, "relu", "kaiming", seed=3)
    c = activation_statistics([64] * 3, "relu", "kaiming", seed=4)
    np.testing.assert_array_equal(a[-1]["values"], b[-1]["values"])
    assert not np.array_equal(a[-1]["values"], c[-1]["values"])


def test_gradients_vanish_towards_the_input_when_activations_collapse():
    stats = activation_statistics([256] * 5, "tanh", 0.01, gradients=True)
    grad_stds = np.array([row["grad_std"] for row in stats])
    # backward through each layer multiplies by W^T: again a factor 0.01 * sqrt(256) = 0.16
    assert np.all(grad_stds[:-1] < 0.3 * grad_stds[1:])
    assert all("grad_mean" in row for row in stats)


def test_gradients_keep_their_scale_with_kaiming_relu():
    stats = activation_statistics([512] * 5, "relu", "kaiming", gradients=True)
    grad_stds = np.array([row["grad_std"] for row in stats])
    assert grad_stds.max() < 2 * grad_stds.min()


def test_format_table_lists_every_layer():
    stats = activation_statistics([32] * 4, "tanh", "xavier", gradients=True)
    lines = format_table(stats).splitlines()
    assert lines[0].split() == ["layer", "weight_std", "mean", "std", "saturated_fraction", "grad_mean", "grad_std",
                                "weight_grad_mean", "weight_grad_std"]
    assert [line.split()[0] for line in lines[2:]] == ["1", "2", "3"]


def test_histograms_are_saved_as_png(tmp_path):
    stats = activation_statistics([32] * 4, "tanh", "xavier")
    figure = plot_activation_histograms(stats, tmp_path / "plots" / "hist.png", title="tanh, xavier")
    assert (tmp_path / "plots" / "hist.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [ax.get_title().split("\n")[0] for ax in figure.axes] == ["layer 1", "layer 2", "layer 3"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(dims=[16], activation="tanh", init=0.1), "two positive int widths"),
    (dict(dims=[16, 0], activation="tanh", init=0.1), "two positive int widths"),
    (dict(dims=[16, 16], activation="gelu", init=0.1), "'tanh' or 'relu'"),
    (dict(dims=[16, 16], activation="tanh", init="he"), "a std >= 0 or one of xavier, kaiming, orthogonal, lsuv"),
    (dict(dims=[16, 16], activation="tanh", init=-0.1), "a std >= 0 or one of xavier, kaiming, orthogonal, lsuv"),
])
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        activation_statistics(**kwargs)


def test_weight_gradients_vanish_in_every_layer_when_activations_collapse():
    """dL/dW_l = a_(l-1).T @ dL/dz_l: going up, the activations shrink by 0.01 * sqrt(D) per layer;
    going down, so do the gradients; their product is small in every layer, not only at one end."""
    small = activation_statistics([256] * 5, "tanh", 0.01, gradients=True)
    xavier = activation_statistics([256] * 5, "tanh", "xavier", gradients=True)
    for a, b in zip(small, xavier):
        assert a["weight_grad_std"] < 0.05 * b["weight_grad_std"]
        assert a["weight_std"] == pytest.approx(0.01, rel=0.05) and b["weight_std"] == pytest.approx(1 / 16, rel=0.05)


def test_weight_gradient_statistics_describe_the_layers_weights():
    stats = activation_statistics([32, 16, 8], "relu", "kaiming", gradients=True)
    for row in stats:
        assert row["weight_grad_std"] > 0 and np.isfinite(row["weight_grad_mean"])
    assert stats[0]["weight_std"] == pytest.approx(math.sqrt(2 / 32), rel=0.15)


def test_orthogonal_with_relu_holds_steady_like_kaiming():
    stats = activation_statistics([512] * 5, "relu", "orthogonal")
    np.testing.assert_allclose(ratios(stats), 1.0, rtol=0.1)
    # orthogonal rows times the ReLU gain sqrt(2): every weight has variance 2 / D
    assert all(row["weight_std"] == pytest.approx(math.sqrt(2 / 512), rel=1e-3) for row in stats)


def test_lsuv_gives_unit_variance_pre_activations_so_relu_outputs_have_a_fixed_std():
    """z ~ N(0, 1) in every layer: relu(z) has E[a**2] = 1/2 and mean 1/sqrt(2 pi), std 0.584."""
    stats = activation_statistics([512] * 5, "relu", "lsuv", batch=64)
    expected = math.sqrt(0.5 - 1 / (2 * math.pi))
    for row in stats:
        assert row["std"] == pytest.approx(expected, rel=0.1)


def test_constant_weights_keep_every_hidden_unit_identical_through_training():
    constant = constant_init_symmetry("constant", epochs=3)
    random = constant_init_symmetry("random", epochs=3)
    assert constant["hidden_weight_std"] > 0  # the weights did change...
    assert constant["hidden_weight_spread"] <= 1e-6 * constant["hidden_weight_std"]  # ...all alike
    assert random["hidden_weight_spread"] > 0.5
    assert random["test_accuracy"] > constant["test_accuracy"] + 0.3
    with pytest.raises(ValueError, match="expected init 'constant' or 'random'"):
        constant_init_symmetry("zeros")
