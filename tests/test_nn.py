"""minitorch_cnn.nn: module registration, state dicts, train/eval, hooks, repr, devices and the layers."""

import collections
import math

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import backend, nn
from minitorch_cnn.optim import SGD
from helpers import assert_namespace, model_on, torch_or_skip


class Net(nn.Module):
    """A small CNN with every kind of registered object: nested Sequential, BN buffers, a head."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2))
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4 * 2 * 2, 5)

    def forward(self, x):
        return self.fc(self.flatten(self.features(x)))


NET_KEYS = [
    "features.0.weight", "features.0.bias",
    "features.1.weight", "features.1.bias",
    "features.1.running_mean", "features.1.running_var", "features.1.num_batches_tracked",
    "fc.weight", "fc.bias",
]


def torch_net(torch):
    """The same network in PyTorch; a Sequential with these names has the same keys and forward."""
    tnn = torch.nn
    return tnn.Sequential(collections.OrderedDict(
        features=tnn.Sequential(tnn.Conv2d(3, 4, 3, padding=1), tnn.BatchNorm2d(4), tnn.ReLU(), tnn.MaxPool2d(2)),
        flatten=tnn.Flatten(),
        fc=tnn.Linear(16, 5),
    ))


def images(N=2, C=3, H=4, W=4, seed=0):
    return mt.tensor(np.random.default_rng(seed).standard_normal((N, C, H, W)).astype(np.float32))


# ---------------------------------------------------------------- registration


def test_add_module_registers_a_child_under_any_name_and_register_module_is_an_alias():
    net = nn.Module()
    assert net.add_module("conv-1", nn.Conv2d(1, 2, 3)) is None
    net.register_module("head", nn.Linear(2, 3))
    assert [name for name, _ in net.named_parameters()] == ["conv-1.weight", "conv-1.bias", "head.weight", "head.bias"]
    assert "(conv-1): Conv2d(1, 2" in repr(net)


@pytest.mark.parametrize("name, module, error, message", [
    ("a.b", nn.ReLU(), ValueError, r"add_module: expected a non-empty name without '\.', got 'a.b'"),
    ("", nn.ReLU(), ValueError, "add_module: expected a non-empty name"),
    ("training", nn.ReLU(), ValueError, "add_module: expected a new name, got 'training'"),
    ("act", "relu", TypeError, "add_module: expected a Module, got str"),
])
def test_add_module_refuses_bad_names_and_non_modules(name, module, error, message):
    with pytest.raises(error, match=message):
        nn.Module().add_module(name, module)


def test_apply_visits_children_first_then_self_and_returns_self():
    net = nn.Sequential(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), nn.Linear(2, 1))
    seen = []
    assert net.apply(lambda m: seen.append(m)) is net
    assert seen == [net[0][0], net[0][1], net[0], net[1], net]


def test_apply_reinitialises_like_d2l_init_cnn():
    def init_cnn(module):
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.constant_(module.weight, 0.5)

    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2, 1)).apply(init_cnn)
    assert np.all(net[0].weight.detach().numpy() == 0.5) and np.all(net[3].weight.detach().numpy() == 0.5)


def test_nn_functional_is_the_functional_module_under_pytorchs_path():
    import minitorch_cnn.nn.functional as F1
    from minitorch_cnn.nn import functional as F2

    assert F1 is F2 is mt.functional is nn.functional


def test_parameters_buffers_and_children_register_on_assignment():
    net = Net()
    assert [name for name, _ in net.named_children()] == ["features", "flatten", "fc"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert [name for name, _ in net.named_buffers()] == [
        "features.1.running_mean", "features.1.running_var", "features.1.num_batches_tracked"
    ]
    assert [name for name, _ in net.named_modules()] == [
        "", "features", "features.0", "features.1", "features.2", "features.3", "flatten", "fc"
    ]


def test_named_parameters_follow_registration_order_with_pytorch_names():
    names = [name for name, _ in Net().named_parameters()]
    assert names == [k for k in NET_KEYS if "running" not in k and "tracked" not in k]


def test_shared_layer_is_trained_once_but_saved_under_both_names_like_pytorch():
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(model.parameters())) == 2
    assert [name for name, _ in model.named_modules()] == ["", "0", "1"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError):
        Net().convv1


def test_disabled_bias_is_none_and_not_a_parameter():
    conv = nn.Conv2d(1, 2, 3, bias=False)
    assert conv.bias is None
    assert [name for name, _ in conv.named_parameters()] == ["weight"]


def test_assigning_a_plain_tensor_to_a_parameter_name_is_refused():
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        layer.weight = layer.weight * 2


def test_reassigning_a_name_moves_it_between_registries():
    layer = nn.Linear(2, 2)
    layer.weight = nn.Parameter(np.zeros((2, 2), np.float32))
    layer.extra = nn.ReLU()
    layer.extra = 3
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    assert list(layer.named_children()) == []
    del layer.bias
    assert [name for name, _ in layer.named_parameters()] == ["weight"]


def test_register_buffer_refuses_an_existing_attribute_or_a_non_tensor():
    bn = nn.BatchNorm1d(2)
    with pytest.raises(ValueError, match="'weight'"):
        bn.register_buffer("weight", mt.tensor([0.0, 0.0]))
    with pytest.raises(TypeError, match="expected a Tensor"):
        bn.register_buffer("scale", [1.0, 2.0])
    bn.running_mean = mt.tensor([1.0, 2.0])
    assert bn.state_dict()["running_mean"].tolist() == [1.0, 2.0]


def test_forgetting_super_init_gives_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match="super\\(\\).__init__\\(\\)"):
        Broken()


# ---------------------------------------------------------------- state dicts


def test_state_dict_has_pytorch_keys_and_host_arrays():
    sd = Net().state_dict()
    assert list(sd) == NET_KEYS
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    assert sd["features.1.num_batches_tracked"].dtype == np.int64


def test_state_dict_keys_match_pytorch():
    torch = torch_or_skip()
    assert list(Net().state_dict()) == list(torch_net(torch).state_dict())


def test_state_dict_round_trip_reproduces_outputs():
    source, target = Net(), Net()
    source.train()
    source(images())  # moves the running statistics away from their initial values
    source.eval(), target.eval()
    sd = source.state_dict()
    weight = target.fc.weight
    target.load_state_dict(sd)
    assert target.fc.weight is weight
    np.testing.assert_array_equal(target(images(seed=1)).detach().numpy(), source(images(seed=1)).detach().numpy())
    sd["fc.weight"][...] = 0.0  # the model holds copies, not views of the dict
    assert np.abs(target.fc.weight.detach().numpy()).sum() > 0


def test_load_state_dict_strict_lists_every_problem_and_copies_nothing():
    net = Net()
    before = net.fc.weight.detach().numpy()
    sd = Net().state_dict()
    del sd["fc.bias"], sd["features.1.running_var"]
    sd["fc.weights"] = np.zeros((5, 16), np.float32)
    sd["features.0.weight"] = np.zeros((4, 3, 5, 5), np.float32)
    with pytest.raises(ValueError) as info:
        net.load_state_dict(sd)
    message = str(info.value)
    for key in ("fc.bias", "features.1.running_var", "fc.weights", "features.0.weight"):
        assert key in message
    assert "(4, 3, 5, 5)" in message and "(4, 3, 3, 3)" in message
    np.testing.assert_array_equal(net.fc.weight.detach().numpy(), before)


def test_load_state_dict_non_strict_reports_missing_and_unexpected():
    net = Net()
    sd = Net().state_dict()
    del sd["fc.bias"]
    sd["head.weight"] = np.zeros(3, np.float32)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["fc.bias"]
    assert result.unexpected_keys == ["head.weight"]
    np.testing.assert_array_equal(net.fc.weight.detach().numpy(), sd["fc.weight"])


def test_load_state_dict_refuses_a_shape_mismatch_even_when_not_strict():
    sd = nn.Linear(3, 2).state_dict()
    with pytest.raises(ValueError, match="weight: checkpoint \\(2, 3\\), model \\(2, 4\\)"):
        nn.Linear(4, 2).load_state_dict(sd, strict=False)


def test_pytorch_weights_give_pytorch_outputs():
    torch = torch_or_skip()
    theirs = torch_net(torch)
    with torch.no_grad():
        theirs.features[1].running_mean.uniform_(-1, 1)
        theirs.features[1].running_var.uniform_(0.5, 2)
    theirs.eval()
    ours = Net().eval()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = images()
    expected = theirs(torch.tensor(x.detach().numpy())).detach().numpy()
    np.testing.assert_allclose(ours(x).detach().numpy(), expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- train / eval


def test_train_and_eval_reach_every_submodule():
    net = Net()
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_dropout_is_active_in_training_and_the_identity_in_eval():
    drop = nn.Dropout(0.5)
    x = mt.tensor(np.ones((200, 50), np.float32))
    y = drop(x).detach().numpy()
    assert set(np.unique(y)) == {0.0, 2.0}
    assert 0.4 < (y == 0).mean() < 0.6
    drop.eval()
    np.testing.assert_array_equal(drop(x).detach().numpy(), x.detach().numpy())


def test_batchnorm_uses_batch_statistics_in_training_and_running_ones_in_eval():
    bn = nn.BatchNorm2d(3)
    x = mt.tensor(np.random.default_rng(0).normal(5.0, 3.0, (8, 3, 4, 4)).astype(np.float32))
    y = bn(x).detach().numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(0, 2, 3)), 1.0, atol=1e-3)
    assert bn.num_batches_tracked.item() == 1
    host = x.detach().numpy()
    m = host.size // 3
    np.testing.assert_allclose(bn.running_mean.detach().numpy(), 0.1 * host.mean(axis=(0, 2, 3)), rtol=1e-5)
    expected_var = 0.9 + 0.1 * host.var(axis=(0, 2, 3)) * m / (m - 1)
    np.testing.assert_allclose(bn.running_var.detach().numpy(), expected_var, rtol=1e-5)

    bn.eval()
    y_eval = bn(x).detach().numpy()
    mean = bn.running_mean.detach().numpy().reshape(1, 3, 1, 1)
    var = bn.running_var.detach().numpy().reshape(1, 3, 1, 1)
    np.testing.assert_allclose(y_eval, (host - mean) / np.sqrt(var + 1e-5), rtol=1e-5, atol=1e-5)
    assert bn.num_batches_tracked.item() == 1


def test_batchnorm_freeze_stats_normalises_with_running_stats_and_keeps_them_in_training():
    bn = nn.BatchNorm2d(3, freeze_stats=True)
    mean0, var0 = np.array([1.0, -1.0, 0.5], np.float32), np.array([4.0, 0.25, 2.0], np.float32)
    bn.running_mean, bn.running_var = mt.tensor(mean0), mt.tensor(var0)
    host = np.random.default_rng(0).normal(5.0, 3.0, (8, 3, 4, 4)).astype(np.float32)
    assert bn.training and "freeze_stats=True" in repr(bn)
    y = bn(mt.tensor(host)).detach().numpy()
    np.testing.assert_allclose(y, (host - mean0.reshape(1, 3, 1, 1)) / np.sqrt(var0.reshape(1, 3, 1, 1) + 1e-5),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(bn.running_mean.detach().numpy(), mean0)
    np.testing.assert_array_equal(bn.running_var.detach().numpy(), var0)
    assert bn.num_batches_tracked.item() == 0

    bn.freeze_stats = False
    bn(mt.tensor(host))
    assert bn.num_batches_tracked.item() == 1
    np.testing.assert_allclose(bn.running_mean.detach().numpy(), 0.9 * mean0 + 0.1 * host.mean(axis=(0, 2, 3)), rtol=1e-5)


def test_batchnorm_running_statistics_match_pytorch():
    torch = torch_or_skip()
    ours, theirs = nn.BatchNorm2d(3, momentum=0.2), torch.nn.BatchNorm2d(3, momentum=0.2)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.normal(2.0, 1.5, (4, 3, 5, 5)).astype(np.float32)
        np.testing.assert_allclose(ours(mt.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(),
                                   rtol=1e-4, atol=1e-5)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=key)


def test_batchnorm1d_takes_features_and_sequences_like_pytorch():
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    for shape in [(6, 4), (6, 4, 3)]:
        ours, theirs = nn.BatchNorm1d(4), torch.nn.BatchNorm1d(4)
        x = rng.standard_normal(shape).astype(np.float32)
        np.testing.assert_allclose(ours(mt.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(),
                                   rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(ours.running_var.detach().numpy(), theirs.running_var.detach().numpy(), rtol=1e-5)


def test_batchnorm_without_running_stats_normalises_with_the_batch_in_eval_too():
    bn = nn.BatchNorm1d(2, affine=False, track_running_stats=False).eval()
    assert list(bn.state_dict()) == []
    y = bn(mt.tensor(np.array([[1.0, 10.0], [3.0, 30.0]], np.float32))).detach().numpy()
    np.testing.assert_allclose(y, [[-1.0, -1.0], [1.0, 1.0]], atol=1e-3)


# ---------------------------------------------------------------- hooks


def test_forward_hooks_capture_activations_and_can_be_removed():
    net = Net()
    seen = {}

    def keep(name):
        def hook(module, inputs, output):
            seen[name] = (inputs[0].shape, output.shape)
        return hook

    handles = [net.features[0].register_forward_hook(keep("conv")), net.fc.register_forward_hook(keep("fc"))]
    net(images())
    assert seen == {"conv": ((2, 3, 4, 4), (2, 4, 4, 4)), "fc": ((2, 16), (2, 5))}
    for handle in handles:
        handle.remove()
    seen.clear()
    net(images())
    assert seen == {}


def test_a_hook_that_returns_a_value_replaces_the_output():
    relu = nn.ReLU()
    relu.register_forward_hook(lambda module, inputs, output: output * 0)
    assert relu(mt.tensor([1.0, 2.0])).tolist() == [0.0, 0.0]


# ---------------------------------------------------------------- repr


EXPECTED_REPR = """Net(
  (features): Sequential(
    (0): Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    (1): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
    (2): ReLU()
    (3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  )
  (flatten): Flatten(start_dim=1, end_dim=-1)
  (fc): Linear(in_features=16, out_features=5, bias=True)
)"""


def test_repr_is_nested_like_pytorch():
    assert repr(Net()) == EXPECTED_REPR


@pytest.mark.parametrize("build", [
    lambda nn: nn.Conv2d(3, 64, 3, padding=1),
    lambda nn: nn.Conv2d(4, 8, (3, 5), stride=2, dilation=2, groups=2, bias=False),
    lambda nn: nn.Conv2d(3, 8, 4, padding="same"),
    lambda nn: nn.Linear(120, 84),
    lambda nn: nn.AvgPool2d(2),
    lambda nn: nn.AdaptiveAvgPool2d((6, 6)),
    lambda nn: nn.LeakyReLU(0.2),
    lambda nn: nn.Softmax(dim=1),
    lambda nn: nn.Sequential(nn.Tanh(), nn.Sigmoid(), nn.SiLU(), nn.Identity()),
    lambda nn: nn.Sequential(nn.Hardtanh(-2.0, 0.5), nn.ReLU6(), nn.ELU(0.5), nn.GELU(), nn.GELU("tanh")),
    lambda nn: nn.Sequential(nn.Softplus(2.0, 10.0), nn.Hardswish(), nn.Mish(), nn.LogSoftmax(dim=1)),
    lambda nn: nn.Sequential(nn.ReLU(inplace=True), nn.LeakyReLU(0.2, True), nn.ReLU6(True), nn.Hardtanh(inplace=True),
                             nn.ELU(inplace=True), nn.SiLU(True), nn.Hardswish(True), nn.Hardsigmoid(True), nn.Mish(True)),
    lambda nn: nn.Sequential(nn.Dropout(0.5), nn.Dropout(p=0.2, inplace=True)),
    lambda nn: nn.Sequential(nn.Flatten(), nn.Flatten(0, 2)),
    lambda nn: nn.Sequential(nn.MaxPool2d(2), nn.MaxPool2d(3, 2, 1, dilation=2, return_indices=True, ceil_mode=True)),
])
def test_layer_repr_matches_pytorch(build):
    torch = torch_or_skip()
    assert repr(build(nn)) == repr(build(torch.nn))


# ---------------------------------------------------------------- devices, dtypes, gradients


def test_to_dtype_casts_in_place_and_keeps_parameter_identity():
    net = Net()
    weight = net.fc.weight
    optimizer = SGD(net.parameters(), lr=0.1)
    net(images()).sum().backward()
    assert net.to(dtype="float64") is net
    assert net.fc.weight is weight
    assert backend.dtype_name(weight.dtype) == "float64"
    assert backend.dtype_name(weight.grad.dtype) == "float64"
    assert backend.dtype_name(net.features[1].running_mean.dtype) == "float64"
    assert backend.dtype_name(net.features[1].num_batches_tracked.dtype) == "int64"
    before = weight.detach().numpy()
    optimizer.step()
    assert not np.array_equal(weight.detach().numpy(), before)


def test_to_cpu_keeps_numpy_arrays():
    net = Net().to(device="cpu")
    assert all(backend.device_name(p.array) == "cpu" for p in net.parameters())


def test_to_takes_pytorchs_positional_forms():
    # model.to(device) with a device object, model.to(dtype) and model.to(device, dtype), as PyTorch.
    net = Net()
    assert net.to(mt.device("cpu")) is net
    assert backend.dtype_name(net.to(mt.float64).fc.weight.dtype) == "float64"
    assert backend.dtype_name(net.to("cpu", mt.float32).fc.weight.dtype) == "float32"
    assert backend.dtype_name(net.to(mt.zeros(1, dtype=mt.float64)).fc.weight.dtype) == "float64"
    assert all(backend.device_name(p.array) == "cpu" for p in net.parameters())


def test_zero_grad_and_requires_grad_():
    net = Net()
    net(images()).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.features.requires_grad_(False)
    net(images()).sum().backward()
    assert net.features[0].weight.grad is None and net.fc.weight.grad is not None


def test_layers_run_on_any_array_backend(xp):
    net = Net()
    model_on(xp, net)
    x = mt.Tensor(xp.asarray(images().detach().numpy()))
    out = net(x)
    out.sum().backward()
    assert_namespace(out, xp)
    for p in net.parameters():
        assert_namespace(p, xp)
    assert_namespace(net.features[1].running_mean, xp)


def test_module_gradients_pass_gradcheck():
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(12, 2))
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 4))
    assert mt.gradcheck_module(net, mt.tensor(x, dtype="float64"))


# ---------------------------------------------------------------- containers


def test_sequential_indexing_slicing_iteration_and_append():
    seq = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    assert len(seq) == 2 and isinstance(seq[-1], nn.ReLU)
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU"]
    seq.append(nn.Linear(3, 2))
    assert seq(mt.tensor(np.ones((5, 4), np.float32))).shape == (5, 2)
    head = seq[1:]
    assert isinstance(head, nn.Sequential) and [name for name, _ in head.named_children()] == ["1", "2"]
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    with pytest.raises(TypeError, match="expected a Module"):
        nn.Sequential(nn.ReLU(), "relu")


def test_sequential_from_an_ordered_dict_keeps_the_names():
    seq = nn.Sequential({"conv": nn.Conv2d(1, 2, 3), "act": nn.ReLU()})
    assert list(seq.state_dict()) == ["conv.weight", "conv.bias"]


def test_a_new_head_by_item_assignment_as_torch():
    # Fine-tuning: model.classifier[-1] = nn.Linear(...) replaces the layer in place, keeping its name.
    def build(nn):
        model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 10))
        model[-1] = nn.Linear(8, 5)
        model[0] = nn.Conv2d(1, 2, 3, bias=False)
        blocks = nn.ModuleList([nn.ReLU(), nn.Tanh()])
        blocks[1] = nn.Sigmoid()
        return model, blocks
    model, blocks = build(nn)
    assert list(model.state_dict()) == ["0.weight", "2.weight", "2.bias"]
    assert model(mt.ones(1, 1, 4, 4)).shape == (1, 5) and isinstance(blocks[-1], nn.Sigmoid)
    named = nn.Sequential({"features": nn.ReLU(), "fc": nn.Linear(2, 3)})
    named[1] = nn.Linear(2, 4)
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"] and named.fc.out_features == 4
    with pytest.raises(IndexError, match="Sequential: index 3 is out of range for 3 modules"):
        model[3] = nn.ReLU()
    with pytest.raises(TypeError, match="Sequential.__setitem__: expected a Module, got int"):
        model[0] = 3
    torch = torch_or_skip()
    assert repr(build(nn)) == repr(build(torch.nn))


def test_module_list_registers_without_chaining():
    blocks = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
    blocks.append(nn.Linear(2, 1))
    assert len(blocks) == 3 and len(list(blocks.parameters())) == 6
    assert list(blocks.state_dict())[:2] == ["0.weight", "0.bias"]
    with pytest.raises(NotImplementedError):
        blocks(mt.tensor([1.0, 2.0]))


# ---------------------------------------------------------------- layers


def test_conv2d_error_names_the_layer():
    conv = nn.Conv2d(3, 64, 3, padding=1)
    x = mt.tensor(np.zeros((8, 1, 32, 32), np.float32))
    with pytest.raises(ValueError) as info:
        conv(x)
    message = str(info.value)
    assert message.startswith("Conv2d(3, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)): ")
    assert "expected input with 3 channels" in message and "(8, 1, 32, 32)" in message


def test_linear_error_names_the_layer():
    with pytest.raises(ValueError, match="^Linear\\(in_features=400, out_features=120, bias=True\\): .*400.*\\(8, 256\\)"):
        nn.Linear(400, 120)(mt.tensor(np.zeros((8, 256), np.float32)))


def test_dtype_error_names_the_layer():
    with pytest.raises(TypeError, match="^Conv2d\\(1, 2, .*float64"):
        nn.Conv2d(1, 2, 3)(mt.tensor(np.zeros((1, 1, 5, 5))))


def test_batchnorm_error_names_the_layer():
    with pytest.raises(ValueError, match="^BatchNorm2d\\(4, .*expected a 4-D"):
        nn.BatchNorm2d(4)(mt.tensor(np.zeros((8, 4), np.float32)))


@pytest.mark.parametrize("bad", [
    lambda: nn.Conv2d(3, 4, 3, groups=2),
    lambda: nn.Conv2d(0, 4, 3),
    lambda: nn.Linear(3, 0),
    lambda: nn.Dropout(1.5),
    lambda: nn.BatchNorm2d(0),
    lambda: nn.Conv2d(3, 4, 3, stride=2, padding="same"),
    lambda: nn.Conv2d(3, 4, 3, padding="full"),
])
def test_bad_layer_arguments_raise_value_error(bad):
    with pytest.raises(ValueError):
        bad()


@pytest.mark.parametrize("layer, fan_in", [
    (lambda: nn.Conv2d(8, 4, (3, 5), stride=2), 8 * 3 * 5),
    (lambda: nn.Conv2d(8, 4, 3, groups=4), 2 * 3 * 3),
    (lambda: nn.Linear(50, 10), 50),
])
def test_default_init_is_uniform_within_one_over_sqrt_fan_in(layer, fan_in):
    module = layer()
    bound = 1 / math.sqrt(fan_in)
    weight = np.abs(module.weight.detach().numpy())
    assert weight.max() <= bound and weight.max() > 0.9 * bound
    assert np.abs(module.bias.detach().numpy()).max() <= bound


def _same_weights(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours


@pytest.mark.parametrize("name, build_ours, build_theirs, shape", [
    ("conv", lambda nn: nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), None, (2, 4, 7, 7)),
    ("dilated conv", lambda nn: nn.Conv2d(3, 2, 3, dilation=2, bias=False), None, (1, 3, 9, 8)),
    ("linear", lambda nn: nn.Linear(6, 3), None, (4, 6)),
    ("max pool", lambda nn: nn.MaxPool2d(3, stride=2, padding=1), None, (2, 3, 7, 7)),
    ("dilated max pool, PyTorch's order", lambda nn: nn.MaxPool2d(3, 2, 1, 2, False, True), None, (2, 3, 8, 9)),
    ("same conv, even kernel", lambda nn: nn.Conv2d(3, 4, (2, 3), padding="same", dilation=(1, 2)), None,
     (2, 3, 5, 6)),
    ("avg pool", lambda nn: nn.AvgPool2d(2), None, (2, 3, 6, 6)),
    ("adaptive avg pool", lambda nn: nn.AdaptiveAvgPool2d((2, 3)), None, (2, 3, 5, 7)),
    ("lrn", lambda nn: nn.LocalResponseNorm(3, alpha=0.1, beta=0.75, k=2.0),
     lambda tnn: tnn.LocalResponseNorm(3, alpha=0.3, beta=0.75, k=2.0), (2, 6, 3, 3)),
    ("leaky relu", lambda nn: nn.LeakyReLU(0.2), None, (3, 5)),
    ("silu", lambda nn: nn.SiLU(), None, (3, 5)),
    ("softmax", lambda nn: nn.Softmax(dim=1), None, (3, 5)),
    ("log softmax", lambda nn: nn.LogSoftmax(dim=0), None, (3, 5)),
    ("hardtanh", lambda nn: nn.Hardtanh(-0.5, 2.0), None, (3, 5)),
    ("relu6", lambda nn: nn.ReLU6(), None, (3, 5)),
    ("elu", lambda nn: nn.ELU(0.7), None, (3, 5)),
    ("gelu", lambda nn: nn.GELU(), None, (3, 5)),
    ("gelu tanh", lambda nn: nn.GELU(approximate="tanh"), None, (3, 5)),
    ("softplus", lambda nn: nn.Softplus(beta=2.0, threshold=1.0), None, (3, 5)),
    ("hardswish", lambda nn: nn.Hardswish(), None, (2, 3, 2, 2)),
    ("mish", lambda nn: nn.Mish(), None, (3, 5)),
    ("flatten", lambda nn: nn.Flatten(), None, (2, 3, 2, 2)),
])
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")
def test_layer_matches_pytorch(name, build_ours, build_theirs, shape):
    torch = torch_or_skip()
    theirs = (build_theirs or build_ours)(torch.nn)
    ours = _same_weights(build_ours(nn), theirs)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    xo = mt.tensor(x, requires_grad=True)
    expected, got = theirs(xt), ours(xo)
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-5, err_msg=name)
    weight = np.random.default_rng(1).standard_normal(expected.shape).astype(np.float32)
    (expected * torch.tensor(weight)).sum().backward()
    (got * mt.tensor(weight)).sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)
    for (key, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=key)


def test_max_pool_indices_feed_max_unpool_as_in_pytorch():
    torch = torch_or_skip()
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 9)).astype(np.float32)
    outputs = []
    for library, tensor in ((nn, mt.tensor), (torch.nn, torch.tensor)):
        pool, unpool = library.MaxPool2d(2, return_indices=True), library.MaxUnpool2d(2)
        y, indices = pool(tensor(x))
        outputs.append((indices.detach().numpy(), unpool(y, indices, output_size=x.shape).detach().numpy()))
    (ours_indices, ours), (their_indices, theirs) = outputs
    np.testing.assert_array_equal(ours_indices, their_indices)
    np.testing.assert_array_equal(ours, theirs)
    assert repr(nn.MaxUnpool2d(3, 2)) == repr(torch.nn.MaxUnpool2d(3, 2))


def test_layers_pass_their_method_to_the_op(monkeypatch):
    from minitorch_cnn.engine import compiled

    def refuse(x, op):
        raise AssertionError(f"{op} reached the compiled kernels")

    monkeypatch.setattr(compiled, "kernels_for", refuse)
    x = mt.tensor(np.random.default_rng(0).standard_normal((1, 2, 6, 6)).astype(np.float32))
    pool, conv = nn.MaxPool2d(2, method="slices"), nn.Conv2d(2, 2, 3, groups=2, method="im2col")
    assert tuple(pool(x).shape) == (1, 2, 3, 3) and tuple(conv(x).shape) == (1, 2, 4, 4)
    assert "method='slices'" in repr(pool) and "method='im2col'" in repr(conv)
    with pytest.raises(AssertionError, match="max_pool2d reached the compiled kernels"):
        nn.MaxPool2d(2)(x)  # "auto" runs the Numba kernel on float NumPy arrays
    with pytest.raises(ValueError, match=r"MaxPool2d\(.*method='fft'\): max_pool2d: expected method to be one of"):
        nn.MaxPool2d(2, method="fft")(x)


def test_an_index_error_inside_a_model_names_the_layer():
    class Picks(nn.Module):
        def forward(self, x):
            return x.sum(dim=5)

    model = nn.Sequential(nn.ReLU(), Picks())
    message = r"layer '1' of Sequential got input of shape \(2, 3\): Picks\(\): sum: dim 5 is out of range"
    with pytest.raises(IndexError, match=message):
        model(mt.zeros(2, 3))


def test_skip_init_builds_the_same_structure_without_drawing():
    mt.manual_seed(0)
    state = mt.get_rng_state()
    skipped = nn.utils.skip_init(Net)
    assert mt.get_rng_state() == state, "skip_init drew from the framework's generator"
    assert not np.any(skipped.features[0].weight.detach().numpy()), "skip_init: a weight was drawn"
    drawn = Net()
    assert mt.get_rng_state() != state and np.any(drawn.features[0].weight.detach().numpy())
    assert {k: v.shape for k, v in skipped.state_dict().items()} == {k: v.shape for k, v in drawn.state_dict().items()}


def test_skip_init_restores_the_initialisers_when_the_constructor_fails():
    with pytest.raises(ValueError):
        nn.utils.skip_init(nn.Conv2d, 3, 4, 3, padding="sideways")
    assert np.any(nn.Conv2d(3, 4, 3).weight.detach().numpy())


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch = torch_or_skip()
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal(shape).astype(np.float32) for shape in [(4, 3), (3,), (2, 2, 2)]]
    ours = [mt.zeros(*g.shape, requires_grad=True) for g in grads]
    theirs = [torch.zeros(*g.shape, requires_grad=True) for g in grads]
    for p, q, g in zip(ours, theirs, grads):
        p.grad, q.grad = mt.tensor(g.copy()), torch.tensor(g.copy())
    held = ours[0].grad  # the optimiser holds the same gradient objects: they are scaled in place
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    np.testing.assert_allclose(float(total), float(expected), rtol=1e-5)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)
    assert held is ours[0].grad
    if max_norm > 1e3:
        np.testing.assert_array_equal(ours[0].grad.numpy(), grads[0])


def test_clip_grad_norm_skips_parameters_without_gradients_and_can_refuse_nan():
    w = mt.zeros(3, requires_grad=True)
    assert float(nn.utils.clip_grad_norm_([w], 1.0)) == 0.0
    w.grad = mt.tensor([np.nan, 1.0, 1.0])
    with pytest.raises(RuntimeError, match=r"clip_grad_norm_: the total norm of order 2.0 of the gradients is nan"):
        nn.utils.clip_grad_norm_(w, 1.0, error_if_nonfinite=True)


def test_module_dict_registers_by_name_as_torch():
    torch = torch_or_skip()

    def build(nn_):
        heads = nn_.ModuleDict({"digits": nn_.Linear(4, 10)})
        heads["shapes"] = nn_.Linear(4, 3)
        heads.update([("extra", nn_.Linear(4, 2))])
        del heads["extra"]
        return heads

    ours, theirs = build(nn), build(torch.nn)
    assert list(ours.keys()) == list(theirs.keys()) == ["digits", "shapes"]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    assert "shapes" in ours and len(ours) == 2 and [k for k, _ in ours.items()] == ["digits", "shapes"]
    assert repr(ours) == repr(theirs)
    with pytest.raises(KeyError, match=r"ModuleDict: no module named 'colours' \(has digits, shapes\)"):
        ours["colours"]
    with pytest.raises(TypeError, match=r"ModuleDict.__setitem__: expected a Module, got int"):
        ours["x"] = 3
