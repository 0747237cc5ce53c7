"""minitorch_cnn.optim: SGD and Adam against hand-computed updates and torch.optim; the schedulers."""

import math

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import backend, nn
from minitorch_cnn.optim import SGD, Adam, AdamW, Optimizer, lr_scheduler
from helpers import assert_namespace, on, torch_or_skip

P0 = np.array([1.0, -2.0, 3.0])
GRADS = [np.array([0.5, 1.0, -1.5]), np.array([-0.25, 2.0, 0.5]), np.array([1.0, 0.0, -0.5])]


def param(host=P0, xp=None):
    if xp is None:
        return nn.Parameter(np.array(host, dtype=np.float64))
    return nn.Parameter(on(xp, host, dtype=np.float64))


def run(optimizer, p, grads):
    """Feed the gradients one step at a time; return the parameter's values after each step."""
    values = []
    for g in grads:
        p.grad = g if isinstance(g, mt.Tensor) else mt.Tensor(np.asarray(g))
        optimizer.step()
        values.append(p.detach().numpy())
    return values


# ---------------------------------------------------------------- SGD by hand


def test_sgd_step_is_p_minus_lr_times_grad():
    p = param()
    (after,) = run(SGD([p], lr=0.1), p, GRADS[:1])
    np.testing.assert_allclose(after, P0 - 0.1 * GRADS[0])


def test_sgd_momentum_accumulates_a_velocity():
    p = param()
    first, second = run(SGD([p], lr=0.1, momentum=0.9), p, GRADS[:2])
    buf1 = GRADS[0]  # the first buffer is the gradient itself
    buf2 = 0.9 * buf1 + GRADS[1]
    np.testing.assert_allclose(first, P0 - 0.1 * buf1)
    np.testing.assert_allclose(second, P0 - 0.1 * buf1 - 0.1 * buf2)


def test_sgd_nesterov_looks_ahead():
    p = param()
    first, second = run(SGD([p], lr=0.1, momentum=0.9, nesterov=True), p, GRADS[:2])
    buf1 = GRADS[0]
    buf2 = 0.9 * buf1 + GRADS[1]
    np.testing.assert_allclose(first, P0 - 0.1 * (GRADS[0] + 0.9 * buf1))
    np.testing.assert_allclose(second, first - 0.1 * (GRADS[1] + 0.9 * buf2))


def test_sgd_weight_decay_adds_an_l2_gradient():
    p = param()
    (after,) = run(SGD([p], lr=0.1, weight_decay=0.01), p, GRADS[:1])
    np.testing.assert_allclose(after, P0 - 0.1 * (GRADS[0] + 0.01 * P0))


def test_sgd_dampening_scales_new_gradients_after_the_first_step():
    p = param()
    first, second = run(SGD([p], lr=0.1, momentum=0.5, dampening=0.5), p, GRADS[:2])
    buf2 = 0.5 * GRADS[0] + 0.5 * GRADS[1]
    np.testing.assert_allclose(second, first - 0.1 * buf2)


def test_param_groups_have_their_own_lr_and_weight_decay():
    backbone, head = param(), param([0.5, 0.5, 0.5])
    optimizer = SGD([{"params": [backbone], "lr": 0.01}, {"params": [head], "weight_decay": 0.1}], lr=0.1)
    assert optimizer.param_groups[0]["weight_decay"] == 0.0
    assert optimizer.param_groups[1]["lr"] == 0.1
    backbone.grad = mt.Tensor(np.array(GRADS[0]))
    head.grad = mt.Tensor(np.array(GRADS[1]))
    optimizer.step()
    np.testing.assert_allclose(backbone.detach().numpy(), P0 - 0.01 * GRADS[0])
    np.testing.assert_allclose(head.detach().numpy(), 0.5 - 0.1 * (GRADS[1] + 0.1 * 0.5))


def test_add_param_group_fills_in_defaults():
    optimizer = SGD([param()], lr=0.1, momentum=0.9)
    optimizer.add_param_group({"params": param(), "lr": 0.5})
    assert optimizer.param_groups[1]["lr"] == 0.5 and optimizer.param_groups[1]["momentum"] == 0.9


def test_frozen_parameters_and_parameters_without_gradient_are_skipped():
    frozen, unused, trained = param(), param(), param()
    frozen.requires_grad = False
    frozen.grad = mt.Tensor(np.ones(3))
    optimizer = SGD([frozen, unused, trained], lr=0.1, momentum=0.9, weight_decay=0.1)
    trained.grad = mt.Tensor(np.ones(3))
    optimizer.step()
    np.testing.assert_array_equal(frozen.detach().numpy(), P0)
    np.testing.assert_array_equal(unused.detach().numpy(), P0)
    assert not np.array_equal(trained.detach().numpy(), P0)
    assert list(optimizer.state) == [trained]


def test_zero_grad_clears_every_gradient():
    a, b = param(), param()
    optimizer = SGD([a, b], lr=0.1)
    a.grad = b.grad = mt.Tensor(np.ones(3))
    optimizer.zero_grad()
    assert a.grad is None and b.grad is None


def test_zero_grad_set_to_none_as_torch():
    # set_to_none=True (the default) forgets the gradient; False writes zeros into its memory.
    model = nn.Linear(3, 2, bias=False)
    optimizer = SGD(model.parameters(), lr=0.1)
    model(mt.ones(4, 3)).sum().backward()
    grad = model.weight.grad
    optimizer.zero_grad(set_to_none=False)
    assert model.weight.grad is grad and grad.tolist() == [[0.0] * 3] * 2
    model.zero_grad(set_to_none=False)
    assert model.weight.grad is grad
    optimizer.zero_grad(set_to_none=True)
    assert model.weight.grad is None
    model(mt.ones(4, 3)).sum().backward()
    model.zero_grad(set_to_none=True)
    assert model.weight.grad is None
    optimizer.zero_grad(set_to_none=False)  # no gradient yet: nothing to zero, as torch
    assert model.weight.grad is None


def test_step_keeps_the_parameter_object_and_a_model_trains():
    model = nn.Linear(2, 1)
    weight = model.weight
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.5)
    x = mt.tensor(np.random.default_rng(0).standard_normal((32, 2)).astype(np.float32))
    target = x @ mt.tensor([[2.0], [-1.0]])
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = ((model(x) - target) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert model.weight is weight
    assert losses[-1] < 0.01 * losses[0]


# ---------------------------------------------------------------- Adam by hand


def adam_reference(p, grads, lr, beta1, beta2, eps, weight_decay):
    m = v = np.zeros_like(p)
    values = []
    for t, g in enumerate(grads, start=1):
        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        p = p - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        values.append(p)
    return values


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adam_matches_the_hand_computation(weight_decay):
    p = param()
    got = run(Adam([p], lr=0.01, weight_decay=weight_decay), p, GRADS)
    expected = adam_reference(P0, GRADS, 0.01, 0.9, 0.999, 1e-8, weight_decay)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_adamw_decays_the_weights_outside_the_moments():
    # Loshchilov & Hutter's Algorithm 2 by hand: p shrinks by lr * wd * p, the moments see g alone.
    p = param()
    got = run(AdamW([p], lr=0.01, weight_decay=0.5), p, GRADS)
    q, m, v = P0, np.zeros_like(P0), np.zeros_like(P0)
    for t, (g, after) in enumerate(zip(GRADS, got), start=1):
        q = q - 0.01 * 0.5 * q
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g**2
        q = q - 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        np.testing.assert_allclose(after, q, rtol=1e-12)
    coupled = param()
    assert not np.allclose(got[-1], run(Adam([coupled], lr=0.01, weight_decay=0.5), coupled, GRADS)[-1])


def test_adam_first_step_moves_every_coordinate_by_about_lr():
    """Bias correction makes m_hat = g and v_hat = g**2 at t = 1, so the step is lr * sign(g)."""
    p = param()
    (after,) = run(Adam([p], lr=0.01), p, GRADS[:1])
    np.testing.assert_allclose(after, P0 - 0.01 * np.sign(GRADS[0]), rtol=1e-6)


@pytest.mark.parametrize("weight_decay, made", [(0.0, 2), (0.1, 3)])
def test_adam_keeps_two_moments_and_makes_at_most_two_arrays_of_ps_size(weight_decay, made):
    """As PyTorch: its Adam keeps exp_avg and exp_avg_sq, updates them in place and makes two arrays
    the size of p per step (sqrt(v), then its bias correction), three with weight decay (the decayed
    gradient). Measured with tracemalloc, which NumPy reports its arrays to; out of place, the step
    made seven arrays of p's size at once (eight with weight decay)."""
    import tracemalloc

    model = nn.Linear(1024, 1024)  # a 4 MiB weight and a 4 KiB bias
    size = sum(q.array.nbytes for q in model.parameters())
    weight = model.weight.array.nbytes
    optimizer = Adam(model.parameters(), lr=0.01, weight_decay=weight_decay)
    rng = np.random.default_rng(0)
    for q in model.parameters():
        q.grad = mt.tensor(rng.standard_normal(q.shape, dtype=np.float32))

    def numpy_bytes():
        numpy_only = tracemalloc.DomainFilter(True, np.lib.tracemalloc_domain)
        return sum(t.size for t in tracemalloc.take_snapshot().filter_traces([numpy_only]).traces)

    def traced_step():
        tracemalloc.start()
        start, base = numpy_bytes(), tracemalloc.get_traced_memory()[0]
        optimizer.step()
        peak = tracemalloc.get_traced_memory()[1] - base
        alive = numpy_bytes() - start
        tracemalloc.stop()
        return alive, peak

    alive, _ = traced_step()  # the first step makes the moments
    assert alive == pytest.approx(2 * size, rel=0.01), f"{alive / size:.2f} x the parameters' bytes kept"
    alive, peak = traced_step()
    # The peak counts Python's objects too (a few KiB); the weight's arrays dominate it.
    assert peak < (made + 0.5) * weight, f"peak {peak / weight:.2f} x the weight's bytes, expected {made}"
    # Moments updated in their own memory: no new array outlives the step.
    assert alive < 0.01 * size, f"the second step left {alive / size:.2f} x the parameters' bytes in new arrays"
    assert optimizer.state[model.weight]["step"] == 2


# ---------------------------------------------------------------- against torch.optim


TORCH_CASES = [
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.1, momentum=0.9)),
    ("sgd", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2)),
    ("sgd", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=5e-4)),
    ("adam", dict(lr=1e-2)),
    ("adam", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("adamw", dict(lr=1e-2)),
    ("adamw", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.3)),
]


@pytest.mark.parametrize("name, options", TORCH_CASES)
def test_matches_torch_optim_over_several_steps(name, options):
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    start = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(6)]
    ours_cls, theirs_cls = {"sgd": (SGD, torch.optim.SGD), "adam": (Adam, torch.optim.Adam),
                            "adamw": (AdamW, torch.optim.AdamW)}[name]
    p = param(start)
    q = torch.tensor(start, requires_grad=True)
    got = run(ours_cls([p], **options), p, grads)
    theirs = theirs_cls([q], **options)
    for step, g in enumerate(grads):
        q.grad = torch.tensor(g)
        theirs.step()
        np.testing.assert_allclose(got[step], q.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=f"step {step}")


# ---------------------------------------------------------------- backends


@pytest.mark.parametrize("make", [
    lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda ps: Adam(ps, lr=0.01, weight_decay=0.01),
], ids=["sgd", "adam"])
def test_updates_stay_on_the_parameters_backend(xp, make):
    p = param(xp=xp)
    optimizer = make([p])
    run(optimizer, p, [on(xp, g) for g in GRADS])
    assert_namespace(p, xp)
    for value in optimizer.state[p].values():
        if backend.is_array(value):
            assert backend.array_namespace(value).__name__ == xp.__name__


# ---------------------------------------------------------------- state dicts


@pytest.mark.parametrize("make", [
    lambda ps: SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: Adam(ps, lr=0.01),
], ids=["sgd", "adam"])
def test_state_dict_round_trip_continues_identically(make):
    p, twin = param(), param()
    optimizer = make([p])
    run(optimizer, p, GRADS[:2])
    saved = optimizer.state_dict()
    assert list(saved["state"]) == [0] and saved["param_groups"][0]["params"] == [0]
    assert all(isinstance(v, (np.ndarray, int)) for v in saved["state"][0].values())

    twin.data = p.data.clone()
    restored = make([twin])
    restored.load_state_dict(saved)
    np.testing.assert_array_equal(run(optimizer, p, GRADS[2:]), run(restored, twin, GRADS[2:]))


def test_load_state_dict_accepts_values_read_back_from_a_file():
    """np.savez turns the step count into a 0-d array and keys into strings."""
    p = param()
    optimizer = Adam([p], lr=0.01)
    run(optimizer, p, GRADS[:1])
    saved = optimizer.state_dict()
    saved["state"] = {"0": {k: np.asarray(v) for k, v in saved["state"][0].items()}}
    restored = Adam([param()], lr=0.5)
    restored.load_state_dict(saved)
    assert restored.param_groups[0]["lr"] == 0.01
    assert restored.state[restored.param_groups[0]["params"][0]]["step"] == 1


def test_load_state_dict_names_mismatched_groups():
    saved = SGD([param(), param()], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="groups of sizes \\[1\\], got \\[2\\]"):
        SGD([param()], lr=0.1).load_state_dict(saved)


def test_state_dict_refers_to_parameters_by_position_across_groups():
    a, b, c = param(), param(), param()
    saved = SGD([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1).state_dict()
    assert [g["params"] for g in saved["param_groups"]] == [[0, 1], [2]]
    assert saved["param_groups"][1]["lr"] == 0.5


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("bad, error, message", [
    (lambda: SGD(param(), lr=0.1), TypeError, "single Tensor"),
    (lambda: SGD([], lr=0.1), ValueError, "empty parameter list"),
    (lambda: SGD([np.zeros(3)], lr=0.1), TypeError, "only optimise Tensors"),
    (lambda: SGD([param() * 2], lr=0.1), ValueError, "non-leaf"),
    (lambda: SGD([param(), param()][:1] * 2, lr=0.1), ValueError, "more than once"),
    (lambda: SGD([param()], lr=-1.0), ValueError, "lr"),
    (lambda: SGD([param()], lr=0.1, nesterov=True), ValueError, "nesterov"),
    (lambda: Adam([param()], betas=(0.9, 1.0)), ValueError, "betas"),
])
def test_bad_arguments_are_refused(bad, error, message):
    with pytest.raises(error, match=message):
        bad()


def test_base_class_needs_a_step():
    with pytest.raises(NotImplementedError):
        Optimizer([param()], {"lr": 0.1}).step()


# ---------------------------------------------------------------- schedulers


def lr_sequence(scheduler, epochs, metrics=None):
    lrs = [scheduler.get_last_lr()]
    for epoch in range(epochs):
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[epoch])
        lrs.append(scheduler.get_last_lr())
    return lrs


def two_groups():
    return SGD([{"params": [param()]}, {"params": [param()], "lr": 0.01}], lr=0.1)


def test_step_lr_divides_every_step_size_epochs():
    lrs = lr_sequence(lr_scheduler.StepLR(two_groups(), step_size=3), 7)
    expected = [0.1] * 3 + [0.01] * 3 + [0.001] * 2
    np.testing.assert_allclose([lr[0] for lr in lrs], expected)
    np.testing.assert_allclose([lr[1] for lr in lrs], np.array(expected) / 10)


def test_multistep_lr_divides_at_the_milestones():
    optimizer = two_groups()
    lrs = lr_sequence(lr_scheduler.MultiStepLR(optimizer, milestones=[4, 2]), 5)
    np.testing.assert_allclose([lr[0] for lr in lrs], [0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.001)


def test_cosine_annealing_goes_from_base_to_eta_min():
    lrs = [lr[0] for lr in lr_sequence(lr_scheduler.CosineAnnealingLR(two_groups(), T_max=4, eta_min=0.02), 4)]
    expected = [0.02 + 0.08 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(5)]
    np.testing.assert_allclose(lrs, expected)
    assert lrs[0] == pytest.approx(0.1) and lrs[-1] == pytest.approx(0.02)


def test_reduce_on_plateau_divides_by_ten_after_patience_bad_epochs():
    scheduler = lr_scheduler.ReduceLROnPlateau(two_groups(), patience=2)
    losses = [1.0, 0.9, 0.9, 0.9, 0.9, 0.5, 0.5, 0.5]
    lrs = [lr[0] for lr in lr_sequence(scheduler, len(losses), losses)]
    # bad epochs 3, 4, 5 (0.9 is no improvement on 0.9): more than 2 -> divide after epoch 5
    np.testing.assert_allclose(lrs, [0.1] * 5 + [0.01] * 4)


def test_reduce_on_plateau_respects_min_lr():
    scheduler = lr_scheduler.ReduceLROnPlateau(two_groups(), patience=0, min_lr=[0.05, 0.0])
    lrs = lr_sequence(scheduler, 3, [1.0, 1.0, 1.0])
    assert lrs[-1] == pytest.approx([0.05, 0.0001])


def test_scheduler_state_dict_round_trip():
    scheduler = lr_scheduler.StepLR(two_groups(), step_size=2)
    lr_sequence(scheduler, 3)
    saved = scheduler.state_dict()
    assert "optimizer" not in saved
    restored = lr_scheduler.StepLR(two_groups(), step_size=2)
    restored.load_state_dict(saved)
    restored.step(), scheduler.step()
    assert restored.get_last_lr() == scheduler.get_last_lr()


def test_bad_scheduler_arguments():
    with pytest.raises(ValueError, match="step_size"):
        lr_scheduler.StepLR(two_groups(), step_size=0)
    with pytest.raises(ValueError, match="mode"):
        lr_scheduler.ReduceLROnPlateau(two_groups(), mode="lowest")
    with pytest.raises(ValueError, match="min_lr"):
        lr_scheduler.ReduceLROnPlateau(two_groups(), min_lr=[0.1])


SCHEDULER_CASES = [
    ("StepLR", dict(step_size=3, gamma=0.5), None),
    ("MultiStepLR", dict(milestones=[2, 5, 6], gamma=0.1), None),
    ("CosineAnnealingLR", dict(T_max=5, eta_min=0.001), None),
    ("ReduceLROnPlateau", dict(patience=1, cooldown=1), [5, 4, 4, 4, 4, 4, 3.9999, 4, 4, 4, 4, 4]),
    ("ReduceLROnPlateau", dict(mode="max", factor=0.5, patience=0, threshold=0.1, threshold_mode="abs"),
     [0.5, 0.55, 0.7, 0.75, 0.8, 0.95, 0.96, 0.96, 0.97, 0.99, 1.0, 1.0]),
]


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`")
@pytest.mark.parametrize("name, options, metrics", SCHEDULER_CASES)
def test_scheduler_matches_torch(name, options, metrics):
    torch = torch_or_skip()
    ours = getattr(lr_scheduler, name)(two_groups(), **options)
    q = torch.zeros(1, requires_grad=True)
    r = torch.zeros(1, requires_grad=True)
    theirs_opt = torch.optim.SGD([{"params": [q]}, {"params": [r], "lr": 0.01}], lr=0.1)
    theirs = getattr(torch.optim.lr_scheduler, name)(theirs_opt, **options)
    got = lr_sequence(ours, 12, metrics)
    expected = lr_sequence(theirs, 12, metrics)
    np.testing.assert_allclose(got, expected, rtol=1e-9)


@pytest.mark.parametrize("make", [
    lambda ps: SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: Adam(ps, lr=0.01),
], ids=["sgd", "adam"])
def test_step_writes_into_the_parameters_memory_so_data_views_follow(make):
    # PyTorch's optimisers update in place: a `p.data` taken before the step sees the new values.
    p = param()
    view, before = p.data, p.detach().numpy().copy()
    run(make([p]), p, GRADS[:1])
    assert not np.array_equal(p.detach().numpy(), before)
    np.testing.assert_array_equal(view.numpy(), p.detach().numpy())


def test_load_state_dict_copies_into_the_parameters_memory():
    model = mt.nn.Linear(3, 2)
    view = model.weight.data
    source = {k: v + 1 for k, v in model.state_dict().items()}
    model.load_state_dict(source)
    np.testing.assert_array_equal(view.numpy(), source["weight"])
    source["weight"][...] = 0  # the model holds a copy, not the caller's array
    assert np.all(view.numpy() != 0)
