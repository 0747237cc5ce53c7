"""Lazy layers (LazyConv2d, LazyLinear, LazyBatchNorm1d/2d): sizes read from the first call, an
optimiser built before it, state dicts before and after, repr and summary, as PyTorch's."""

import numpy as np
import pytest

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import backend, nn
from helpers import assert_namespace, check_model_grad, torch_or_skip


def images(N=4, C=3, H=8, W=8, seed=0, dtype=np.float32):
    return mt.tensor(np.random.default_rng(seed).standard_normal((N, C, H, W)).astype(dtype))


def lenet(nn):
    """d2l's LeNet written with lazy layers (sigmoid, average pooling), for 8x8 inputs."""
    return nn.Sequential(
        nn.LazyConv2d(6, kernel_size=5, padding=2), nn.LazyBatchNorm2d(), nn.Sigmoid(), nn.AvgPool2d(2, stride=2),
        nn.LazyConv2d(16, kernel_size=3), nn.Sigmoid(),
        nn.Flatten(), nn.LazyLinear(12), nn.LazyBatchNorm1d(), nn.Sigmoid(), nn.LazyLinear(10),
    )


# ---------------------------------------------------------------- the first call


def test_first_call_sets_the_sizes_and_turns_each_layer_into_the_eager_one():
    net = lenet(nn)
    out = net(images(C=3))
    assert out.shape == (4, 10)
    conv1, bn, conv2, fc1, bn1, fc2 = net[0], net[1], net[4], net[7], net[8], net[10]
    assert (conv1.in_channels, conv2.in_channels, bn.num_features) == (3, 6, 6)
    assert (fc1.in_features, bn1.num_features, fc2.in_features) == (16 * 2 * 2, 12, 12)
    assert [type(m) for m in (conv1, bn, conv2, fc1, bn1, fc2)] == [
        nn.Conv2d, nn.BatchNorm2d, nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.Linear]
    assert conv1.weight.shape == (6, 3, 5, 5) and fc1.weight.shape == (12, 64) and bn.running_var.shape == (6,)
    assert all(type(p) is nn.Parameter for p in net.parameters())


@pytest.mark.parametrize("lazy, eager, x", [
    (lambda: nn.LazyConv2d(4, 3, stride=2, groups=2, bias=False),
     lambda: nn.Conv2d(6, 4, 3, stride=2, groups=2, bias=False), images(C=6)),
    (lambda: nn.LazyConv2d(4, (3, 1), padding=1), lambda: nn.Conv2d(3, 4, (3, 1), padding=1), images()),
    (lambda: nn.LazyLinear(5), lambda: nn.Linear(7, 5), mt.tensor(np.ones((2, 7), dtype=np.float32))),
    (lambda: nn.LazyBatchNorm2d(momentum=0.3), lambda: nn.BatchNorm2d(3, momentum=0.3), images()),
    (lambda: nn.LazyBatchNorm1d(affine=False), lambda: nn.BatchNorm1d(3, affine=False), images()[:, :, 0]),
    (lambda: nn.LazyBatchNorm2d(affine=False, track_running_stats=False),
     lambda: nn.BatchNorm2d(3, affine=False, track_running_stats=False), images()),
])
def test_a_lazy_layer_draws_exactly_what_the_eager_layer_draws(lazy, eager, x):
    # Nothing is drawn before the first call, and the first call draws as the eager constructor:
    # from the same seed the two layers are equal, parameters, buffers, repr and output.
    mt.manual_seed(3)
    expected = eager()
    mt.manual_seed(3)
    layer = lazy()
    out, want = layer(x), expected(x)
    assert type(layer) is type(expected) and repr(layer) == repr(expected)
    for (name, got), (_, saved) in zip(layer.state_dict().items(), expected.state_dict().items()):
        np.testing.assert_array_equal(got, saved, err_msg=name)
    np.testing.assert_array_equal(out.detach().numpy(), want.detach().numpy())


def test_an_optimiser_built_before_the_first_call_trains_the_parameters():
    # d2l's Trainer builds the optimiser from net.parameters() before any forward.
    net = lenet(nn)
    placeholders = list(net.parameters())
    optimizer = mt.optim.SGD(net.parameters(), lr=0.5)
    x, y = images(N=8, seed=1), mt.tensor(np.arange(8) % 10)
    losses = []
    for _ in range(5):
        loss = F.cross_entropy(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(a is b for a, b in zip(net.parameters(), placeholders))
    assert losses[-1] < losses[0] - 0.1, losses


def test_a_lazy_model_trained_matches_the_eager_model_trained():
    mt.manual_seed(5)
    lazy = lenet(nn)
    optimizer = mt.optim.SGD(lazy.parameters(), lr=0.1, momentum=0.9)
    x, y = images(N=6, seed=2), mt.tensor(np.arange(6))
    lazy(x)  # initialise, then copy into an eager twin
    eager = nn.Sequential(nn.Conv2d(3, 6, 5, padding=2), nn.BatchNorm2d(6), nn.Sigmoid(), nn.AvgPool2d(2, stride=2),
                          nn.Conv2d(6, 16, 3), nn.Sigmoid(), nn.Flatten(), nn.Linear(64, 12), nn.BatchNorm1d(12),
                          nn.Sigmoid(), nn.Linear(12, 10))
    eager.load_state_dict(lazy.state_dict())
    twin = mt.optim.SGD(eager.parameters(), lr=0.1, momentum=0.9)
    for net, opt in ((lazy, optimizer), (eager, twin)):
        for _ in range(3):
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
    for (name, a), (_, b) in zip(lazy.state_dict().items(), eager.state_dict().items()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=name)


def test_to_before_the_first_call_sets_the_dtype_of_the_parameters():
    net = lenet(nn).to(dtype="float64")
    net(images(dtype=np.float64))
    assert {backend.dtype_name(t.dtype) for t in list(net.parameters())} == {"float64"}
    assert backend.dtype_name(net[1].num_batches_tracked.dtype) == "int64"


def test_lazy_layers_run_on_any_array_backend(xp):
    net = nn.Sequential(nn.LazyConv2d(2, 3), nn.LazyBatchNorm2d(), nn.Flatten(), nn.LazyLinear(3))
    for t in list(net.parameters()) + list(net.buffers()):
        t.array = xp.asarray(t.detach().numpy())
    out = net(mt.Tensor(xp.asarray(images().detach().numpy())))
    out.sum().backward()
    assert_namespace(out, xp)
    for p in net.parameters():
        assert_namespace(p, xp)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_initialised_lazy_model_passes_the_float64_gradient_check(mode):
    net = lenet(nn).to(dtype="float64")
    x = images(N=3, dtype=np.float64)
    net(x)
    check_model_grad(net, x, mode)


# ---------------------------------------------------------------- state dicts


def test_state_dict_before_the_first_call_holds_uninitialised_parameters_under_pytorchs_keys():
    torch = torch_or_skip()
    ours, theirs = lenet(nn).state_dict(), lenet(torch.nn).state_dict()
    assert list(ours) == list(theirs)
    for key, value in ours.items():
        kind = type(theirs[key]).__name__
        assert type(value).__name__ == (kind if kind.startswith("Uninitialized") else "ndarray"), key
    assert repr(ours["0.weight"]) == repr(theirs["0.weight"]) == "<UninitializedParameter>"


def test_loading_a_full_state_dict_initialises_the_layers_with_its_shapes():
    trained = lenet(nn)
    x = images(seed=4)
    trained(x)
    trained.eval()
    fresh = lenet(nn).eval()
    placeholders = list(fresh.parameters())
    fresh.load_state_dict(trained.state_dict())
    assert repr(fresh) == repr(trained) and fresh[0].in_channels == 3 and fresh[7].in_features == 64
    assert all(a is b for a, b in zip(fresh.parameters(), placeholders))
    np.testing.assert_array_equal(fresh(x).detach().numpy(), trained(x).detach().numpy())


def test_state_dict_round_trip_through_a_file(tmp_path):
    net = lenet(nn)
    net(images())
    mt.save(net.state_dict(), tmp_path / "lenet.npz")
    loaded = lenet(nn)
    loaded.load_state_dict(mt.load(tmp_path / "lenet.npz"))
    net.eval(), loaded.eval()
    np.testing.assert_array_equal(loaded(images(seed=6)).detach().numpy(), net(images(seed=6)).detach().numpy())


def test_pytorch_weights_initialise_a_lazy_model_and_give_pytorchs_outputs():
    torch = torch_or_skip()
    theirs = lenet(torch.nn).eval()
    x = images(seed=7)
    expected = theirs(torch.tensor(x.detach().numpy())).detach().numpy()
    ours = lenet(nn).eval()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_allclose(ours(x).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_an_uninitialised_state_dict_leaves_a_lazy_model_lazy_and_does_not_fit_an_eager_one():
    net = lenet(nn)
    net.load_state_dict(lenet(nn).state_dict())
    assert type(net[0]) is nn.LazyConv2d and net[0].has_uninitialized_params()
    with pytest.raises(ValueError, match=r"weight: checkpoint uninitialised, model \(4, 2\)"):
        nn.Linear(2, 4).load_state_dict(nn.LazyLinear(4).state_dict())


def test_loaded_weights_that_do_not_fit_the_input_are_named():
    layer = nn.LazyLinear(3)
    state = nn.Linear(5, 3).state_dict()
    layer.weight.materialize((3, 5))
    layer.load_state_dict(state)
    assert type(layer) is nn.Linear and layer.in_features == 5
    partial = nn.LazyConv2d(2, 3, bias=True)
    partial.load_state_dict({"weight": nn.Conv2d(4, 2, 3).state_dict()["weight"]}, strict=False)
    assert type(partial) is nn.LazyConv2d
    with pytest.raises(ValueError, match=r"LazyConv2d\(0, 2.*weight loaded with shape \(2, 4, 3, 3\) does not fit "
                                         r"input of shape \(4, 3, 8, 8\), which needs \(2, 3, 3, 3\)"):
        partial(images())


# ---------------------------------------------------------------- repr, summary, errors


@pytest.mark.parametrize("build", [
    lambda nn: nn.LazyConv2d(6, 5, padding=2),
    lambda nn: nn.LazyConv2d(8, (3, 5), stride=2, dilation=2, groups=2, bias=False),
    lambda nn: nn.LazyLinear(10),
    lambda nn: nn.LazyLinear(3, bias=False),
])
def test_repr_before_the_first_call_matches_pytorch(build):
    torch = torch_or_skip()
    assert repr(build(nn)) == repr(build(torch.nn))


def test_repr_of_lazy_batch_norm_before_the_first_call():
    assert repr(nn.LazyBatchNorm2d()) == (
        "LazyBatchNorm2d(0, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)")


def test_summary_says_which_layers_were_not_yet_initialised_and_counts_them():
    net = lenet(nn)
    table = mt.summary(net, (3, 8, 8))
    assert "not yet initialised before this summary" in str(table) and table.lazy == ("0", "1", "4", "7", "8", "10")
    assert table.rows[0]["params"] == 6 * 3 * 5 * 5 + 6
    assert table.total_params == sum(p.numel() for p in net.parameters())
    assert mt.summary(net, (3, 8, 8)).lazy == ()


@pytest.mark.parametrize("layer, x, message", [
    (nn.LazyConv2d(4, 3), mt.tensor(np.ones((3, 8, 8), dtype=np.float32)),
     r"LazyConv2d\(0, 4, .*\): expected a 4-D \(N, C, H, W\) input, got shape \(3, 8, 8\)"),
    (nn.LazyConv2d(4, 3, groups=2), images(C=3),
     r"LazyConv2d\(0, 4, .*\): expected input channels divisible by groups=2, got input of shape \(4, 3, 8, 8\)"),
    (nn.LazyBatchNorm2d(), mt.tensor(np.ones((2, 3), dtype=np.float32)),
     r"LazyBatchNorm2d\(0, .*\): expected a 4-D \(N, C, H, W\) input, got shape \(2, 3\)"),
    (nn.LazyLinear(2), mt.tensor(np.float32(1.0)),
     r"LazyLinear\(in_features=0.*\): expected an input \(..., in_features\)"),
])
def test_a_bad_first_input_names_the_layer_and_leaves_it_lazy(layer, x, message):
    with pytest.raises(ValueError, match=message):
        layer(x)
    assert layer.has_uninitialized_params()


@pytest.mark.parametrize("initialise, op", [
    (lambda w: nn.init.xavier_uniform_(w), "calculate_fan_in_and_fan_out"),
    (lambda w: nn.init.kaiming_normal_(w), "calculate_fan_in_and_fan_out"),
    (lambda w: nn.init.normal_(w, std=0.01), "normal_"),
    (lambda w: nn.init.uniform_(w), "uniform_"),
    (lambda w: nn.init.zeros_(w), "constant_"),
])
def test_initialising_before_the_first_call_is_refused_with_the_way_out(initialise, op):
    # d2l's apply_init runs a batch through the model before net.apply(init_cnn).
    layer = nn.LazyConv2d(4, 3)
    with pytest.raises(ValueError, match=rf"{op}: expected an initialised tensor, got <UninitializedParameter> "
                                         r"\(a lazy layer before its first call\): run the model on a batch first"):
        initialise(layer.weight)
    layer(images())
    initialise(layer.weight)
