"""Architecture search (minitorch_cnn/nas.py): the cell encoding, sampling and mutation stay inside
the space and are reproducible from a seed; the built network has the cell's shape; the three
strategies spend exactly their budget on a fake (instant) evaluation; bad input is refused."""

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import data, nas

E = nas.Edge
#: h1 = conv3x3(h0) + identity(h0); h2 = sep3x3(h1) + maxpool3x3(h0); h3 = avgpool3x3(h1) + conv1x1(h0)
ARCH = ((E(0, "conv3x3"), E(0, "identity")), (E(1, "sep3x3"), E(0, "maxpool3x3")),
        (E(1, "avgpool3x3"), E(0, "conv1x1")))


def rng(seed=0):
    return np.random.default_rng(seed)


def test_choices_and_size_count_inputs_then_operations_per_edge():
    space = nas.CellSpace(nodes=3)
    K = len(nas.OPERATIONS)
    assert space.choices() == [1, K, 1, K, 2, K, 2, K, 3, K, 3, K]
    assert space.size() == (1 * K) ** 2 * (2 * K) ** 2 * (3 * K) ** 2


def test_encode_then_decode_is_the_identity():
    space = nas.CellSpace(3)
    assert space.encode(ARCH) == (0, 1, 0, 6, 1, 3, 0, 4, 1, 5, 0, 0)
    assert space.decode(space.encode(ARCH)) == ARCH


def test_samples_are_valid_cover_every_choice_and_repeat_with_the_seed():
    space = nas.CellSpace(3)
    first = [space.sample(g) for g in [rng(1)] for _ in range(200)]
    again = [space.sample(g) for g in [rng(1)] for _ in range(200)]
    assert first == again
    for arch in first:
        space.check(arch)
    decisions = np.array([space.encode(a) for a in first])
    assert [len(set(column)) for column in decisions.T] == space.choices()


def test_mutation_changes_exactly_one_edge_and_stays_in_the_space():
    space = nas.CellSpace(3)
    g, kinds = rng(2), set()
    for _ in range(300):
        child = space.mutate(ARCH, g)
        space.check(child)
        changed = [(i, j) for i in range(3) for j in range(2) if child[i][j] != ARCH[i][j]]
        assert len(changed) == 1
        (i, j), = changed
        kinds.add("input" if child[i][j].input != ARCH[i][j].input else "op")
        assert (child[i][j].input == ARCH[i][j].input) != (child[i][j].op == ARCH[i][j].op)
        if i == 0:
            assert child[0][j].input == 0  # node 1 can read only the cell input
    assert kinds == {"input", "op"}
    assert [space.mutate(ARCH, g) for g in [rng(5)] for _ in range(20)] == \
           [space.mutate(ARCH, g) for g in [rng(5)] for _ in range(20)]


def test_the_cell_averages_the_nodes_no_one_reads_and_the_network_keeps_its_shape():
    space = nas.CellSpace(3)
    mt.manual_seed(0)
    model = space.build(ARCH, channels=4, cells=2, num_classes=10, in_channels=1)
    assert model.cells[0].outputs == [2, 3]
    assert len(model.cells[0].edges) == 6
    assert model(mt.randn(2, 1, 8, 8)).shape == (2, 10)
    identity = ((E(0, "identity"), E(0, "identity")),)
    cell = nas.Cell(identity, 3)
    x = mt.randn(1, 3, 5, 5)
    np.testing.assert_allclose(cell(x).detach().numpy(), 2 * x.detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", nas.OPERATIONS)
def test_every_operation_keeps_the_shape(name):
    assert nas.operation(name, 4)(mt.randn(2, 4, 6, 6)).shape == (2, 4, 6, 6)


def fake_accuracy(arch):
    """An instant stand-in for training: convolutions score, pools and identities do not."""
    return sum(edge.op.startswith("conv") for node in arch for edge in node) / 6 + 0.01 * arch[2][0].input


@pytest.mark.parametrize("strategy, options", [
    (nas.random_search, {}), (nas.regularized_evolution, {"population": 5, "sample": 2}), (nas.reinforce, {})])
def test_each_strategy_spends_its_budget_reproducibly(strategy, options):
    space = nas.CellSpace(3)
    result = strategy(space, fake_accuracy, 30, seed=3, **options)
    assert len(result.archs) == len(result.accuracies) == 30
    assert result.accuracies == [fake_accuracy(a) for a in result.archs]
    assert result.best_so_far() == np.maximum.accumulate(result.accuracies).tolist()
    assert result.best[1] == max(result.accuracies)
    assert strategy(space, fake_accuracy, 30, seed=3, **options).archs == result.archs


def test_evolution_starts_from_the_random_samples_and_then_mutates_its_population():
    space = nas.CellSpace(3)
    evolved = nas.regularized_evolution(space, fake_accuracy, 40, population=6, sample=3, seed=0)
    assert evolved.archs[:6] == nas.random_search(space, fake_accuracy, 6, seed=0).archs
    # each child differs in one edge from some member of the population it was bred from
    for n in range(6, 40):
        parents = evolved.archs[n - 6:n]
        assert any(sum(a != b for x, y in zip(p, evolved.archs[n]) for a, b in zip(x, y)) == 1 for p in parents)


def test_reinforce_concentrates_the_policy_on_the_rewarded_choices():
    space = nas.CellSpace(3)
    result = nas.reinforce(space, fake_accuracy, 150, lr=0.1, seed=0)
    assert result.entropy[0] == pytest.approx(sum(np.log(space.choices())), rel=1e-6)
    assert result.entropy[-1] < 0.8 * result.entropy[0]
    assert np.mean(result.accuracies[-30:]) > np.mean(result.accuracies[:30]) + 0.1


def test_proxy_task_is_seeded_and_trains_each_architecture_once():
    train = data.digits("train", size=8)
    small = data.TensorDataset(train.images[:64], train.labels[:64], classes=train.classes)
    task = nas.ProxyTask(nas.CellSpace(1), small, small, epochs=1, channels=4, cells=1, batch_size=32)
    arch = ((E(0, "conv3x3"), E(0, "identity")),)
    first = task(arch)
    assert list(task.results) == [arch] and 0.0 <= first <= 1.0
    again = nas.ProxyTask(nas.CellSpace(1), small, small, epochs=1, channels=4, cells=1, batch_size=32)(arch)
    assert again == first


def test_bad_input_is_refused_with_a_message():
    space = nas.CellSpace(2)
    with pytest.raises(ValueError, match="CellSpace: expected nodes to be a positive count, got 0"):
        nas.CellSpace(0)
    with pytest.raises(ValueError, match="expected at least two distinct operations .* got \\('conv7x7',\\)"):
        nas.CellSpace(2, ("conv7x7",))
    with pytest.raises(ValueError, match="node 1 may read nodes 0..0 .* got Edge\\(input=1"):
        space.check(((E(1, "conv3x3"), E(0, "identity")), (E(0, "identity"), E(0, "identity"))))
    with pytest.raises(ValueError, match="expected a tuple of 2 nodes"):
        space.check(ARCH)
    with pytest.raises(ValueError, match="expected 8 decisions below \\[1, 7, 1, 7, 2, 7, 2, 7\\], got \\[0\\]"):
        space.decode([0])
    with pytest.raises(ValueError, match="operation: expected one of conv1x1, .* got 'conv2x2'"):
        nas.operation("conv2x2", 4)
    with pytest.raises(ValueError, match="random_search: expected budget to be a positive count .* got 0"):
        nas.random_search(space, fake_accuracy, 0)
    with pytest.raises(ValueError, match="regularized_evolution: expected 1 <= sample <= population <= budget"):
        nas.regularized_evolution(space, fake_accuracy, 5, population=10)
    with pytest.raises(ValueError, match="reinforce: expected baseline_decay in \\[0, 1\\), got 1.0"):
        nas.reinforce(space, fake_accuracy, 5, baseline_decay=1.0)
