"""Neural architecture search at toy scale: a NASNet-style cell search space and three ways to
search it under the same budget of trained architectures.

**The search space** (Zoph, Vasudevan, Shlens & Le 2018, "Learning Transferable Architectures for
Scalable Image Recognition", the NASNet space, cut down to one cell input). A cell is a small
DAG: node 0 is the cell's input, and each of the ``B`` nodes ``i = 1..B`` picks two earlier nodes
and one operation for each of the two edges, and adds the results::

    h_i = op_a(h_a) + op_b(h_b)          a, b in {0, ..., i - 1},  op in OPERATIONS

The cell's output is the mean of the nodes that no later node reads (NASNet concatenates them;
the mean keeps the channel count, so cells stack without a projection). An architecture is the
``B`` nodes' choices, ``((Edge(a, op_a), Edge(b, op_b)), ...)``; as a sequence of integer
decisions (what a controller emits) node ``i`` contributes ``[a, op_a, b, op_b]`` with ``i``,
``K``, ``i`` and ``K`` choices (``K = len(OPERATIONS)``).

**The network** built from a cell: a 3x3 conv-BN stem to ``C`` channels, ``N`` copies of the cell
at ``C`` channels (stride 1: the digits are small), ReLU, global average pooling, a linear layer.

**The strategies**, each given ``budget`` calls of ``evaluate(arch) -> accuracy``:

* random search: ``budget`` uniform samples;
* regularised evolution (Real, Aggarwal, Huang & Le 2019, "Regularized Evolution for Image
  Classifier Architecture Search", Algorithm 1): a population of ``P`` random architectures; then
  repeatedly sample ``S`` of them, mutate the best of the sample, add the child and remove the
  *oldest* member (ageing, not the worst);
* REINFORCE (Zoph & Le 2017, "Neural Architecture Search with Reinforcement Learning"): a policy
  samples the decisions, the validation accuracy ``R`` is the reward, and the policy follows
  ``grad J = (R - b) * grad sum_t log pi(a_t)`` with ``b`` an exponential moving average of past
  rewards. Zoph & Le's policy is an LSTM that conditions each decision on the earlier ones; ours
  is one independent softmax per decision (logits trained with this package's autograd and Adam).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from . import functional as F
from . import nn, optim
from .creation import zeros
from .data import DataLoader
from .backend import manual_seed
from .training import evaluate as evaluate_model
from .training import fit

#: The operations an edge can apply, all shape-preserving at ``C`` channels: convolutions are
#: ReLU-conv-BN (NASNet's order), the separable one a depthwise 3x3 then a pointwise 1x1.
OPERATIONS = ("conv1x1", "conv3x3", "conv5x5", "sep3x3", "maxpool3x3", "avgpool3x3", "identity")


class Edge(NamedTuple):
    """One edge of a cell: the node it reads (``input``) and the operation it applies."""

    input: int
    op: str


def _conv(C, k):
    return nn.Sequential(nn.ReLU(), nn.Conv2d(C, C, k, padding=k // 2, bias=False), nn.BatchNorm2d(C))


def operation(name, C):
    """The module for operation ``name`` (one of :data:`OPERATIONS`) at ``C`` channels, stride 1."""
    if name in ("conv1x1", "conv3x3", "conv5x5"):
        return _conv(C, int(name[-1]))
    if name == "sep3x3":
        return nn.Sequential(nn.ReLU(), nn.Conv2d(C, C, 3, padding=1, groups=C, bias=False),
                             nn.Conv2d(C, C, 1, bias=False), nn.BatchNorm2d(C))
    if name == "maxpool3x3":
        return nn.MaxPool2d(3, stride=1, padding=1)
    if name == "avgpool3x3":
        # Border windows average their real pixels only, so the zero padding does not darken edges.
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    if name == "identity":
        return nn.Identity()
    raise ValueError(f"operation: expected one of {', '.join(OPERATIONS)}, got {name!r}")


class CellSpace:
    """The cells of ``nodes`` nodes (``B``) over ``operations``: sampling, mutation, the decision
    encoding and building.

    >>> space = CellSpace(nodes=3)
    >>> arch = space.sample(np.random.default_rng(0))
    >>> space.decode(space.encode(arch)) == arch
    True
    """

    def __init__(self, nodes=3, operations=OPERATIONS):
        if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1:
            raise ValueError(f"CellSpace: expected nodes to be a positive count, got {nodes!r}")
        unknown = [op for op in operations if op not in OPERATIONS]
        if unknown or len(set(operations)) != len(operations) or len(operations) < 2:
            raise ValueError(f"CellSpace: expected at least two distinct operations from {', '.join(OPERATIONS)}, "
                             f"got {tuple(operations)!r}")
        self.nodes = nodes
        self.operations = tuple(operations)

    def choices(self):
        """The number of options of each decision, in :meth:`encode` order: ``[i, K, i, K]`` per node ``i``."""
        K = len(self.operations)
        return [n for i in range(1, self.nodes + 1) for n in (i, K, i, K)]

    def size(self):
        """How many architectures the space holds: the product of :meth:`choices`."""
        return math.prod(self.choices())

    def check(self, arch):
        """Raise ``ValueError`` unless ``arch`` is a cell of this space: ``B`` nodes of two edges, each
        reading an earlier node with a known operation."""
        if not isinstance(arch, tuple) or len(arch) != self.nodes:
            raise ValueError(f"CellSpace: expected a tuple of {self.nodes} nodes, got {arch!r}")
        for i, node in enumerate(arch, start=1):
            if not (isinstance(node, tuple) and len(node) == 2 and all(isinstance(e, Edge) for e in node)):
                raise ValueError(f"CellSpace: node {i} must be a pair of Edges, got {node!r}")
            for edge in node:
                if not 0 <= edge.input < i or edge.op not in self.operations:
                    raise ValueError(f"CellSpace: node {i} may read nodes 0..{i - 1} with operations "
                                     f"{', '.join(self.operations)}, got {edge!r}")

    def encode(self, arch):
        """``arch`` as its integer decisions (input index, operation index, ... per edge)."""
        self.check(arch)
        return tuple(v for node in arch for edge in node for v in (edge.input, self.operations.index(edge.op)))

    def decode(self, decisions):
        """The architecture of a sequence of integer decisions (the inverse of :meth:`encode`)."""
        decisions = tuple(int(d) for d in decisions)
        limits = self.choices()
        if len(decisions) != len(limits) or any(not 0 <= d < n for d, n in zip(decisions, limits)):
            raise ValueError(f"CellSpace: expected {len(limits)} decisions below {limits}, got {list(decisions)}")
        edges = [Edge(decisions[j], self.operations[decisions[j + 1]]) for j in range(0, len(decisions), 2)]
        return tuple((edges[2 * i], edges[2 * i + 1]) for i in range(self.nodes))

    def sample(self, rng):
        """A uniform random architecture, drawn with the NumPy ``Generator`` ``rng``."""
        return self.decode([rng.integers(n) for n in self.choices()])

    def mutate(self, arch, rng):
        """A child of ``arch`` that differs in exactly one edge (Real et al. 2019, section 2).

        Pick a node and one of its two edges uniformly, then with probability 1/2 a *hidden state
        mutation* (the edge reads another earlier node) or else an *op mutation* (it applies
        another operation). Node 1 can read only node 0, so its edges always get an op mutation.
        """
        self.check(arch)
        i, side = int(rng.integers(self.nodes)), int(rng.integers(2))
        edge = arch[i][side]
        if i > 0 and rng.random() < 0.5:
            others = [j for j in range(i + 1) if j != edge.input]
            edge = edge._replace(input=others[rng.integers(len(others))])
        else:
            others = [op for op in self.operations if op != edge.op]
            edge = edge._replace(op=others[rng.integers(len(others))])
        node = (edge, arch[i][1]) if side == 0 else (arch[i][0], edge)
        return arch[:i] + (node,) + arch[i + 1:]

    def build(self, arch, channels=16, cells=2, num_classes=10, in_channels=1):
        """The network of ``arch``: stem, ``cells`` copies of the cell, ReLU, GAP, linear."""
        self.check(arch)
        return CellNetwork(arch, channels, cells, num_classes, in_channels)


def describe(arch):
    """One line per node, e.g. ``h1 = conv3x3(h0) + identity(h0)``."""
    return "; ".join(f"h{i} = {a.op}(h{a.input}) + {b.op}(h{b.input})" for i, (a, b) in enumerate(arch, start=1))


class Cell(nn.Module):
    """One cell of ``arch`` at ``C`` channels; ``edges[2(i-1)]`` and ``edges[2(i-1)+1]`` are node ``i``'s."""

    def __init__(self, arch, C):
        super().__init__()
        self.arch = arch
        self.edges = nn.ModuleList([operation(edge.op, C) for node in arch for edge in node])
        read = {edge.input for node in arch for edge in node}
        #: The nodes no other node reads: their mean is the cell's output.
        self.outputs = [i for i in range(1, len(arch) + 1) if i not in read]

    def forward(self, x):
        h = [x]
        for i, (a, b) in enumerate(self.arch):
            h.append(self.edges[2 * i](h[a.input]) + self.edges[2 * i + 1](h[b.input]))
        out = h[self.outputs[0]]
        for i in self.outputs[1:]:
            out = out + h[i]
        return out * (1.0 / len(self.outputs))


class CellNetwork(nn.Module):
    """Stem (3x3 conv, BN), ``cells`` copies of the cell, ReLU, global average pooling, linear."""

    def __init__(self, arch, channels=16, cells=2, num_classes=10, in_channels=1):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels))
        self.cells = nn.ModuleList([Cell(arch, channels) for _ in range(cells)])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        return self.fc(F.flatten(self.avgpool(F.relu(x)), 1))


class ProxyTask:
    """``task(arch) -> validation accuracy``: train the network of ``arch`` briefly and score it.

    Every architecture gets the same seeded schedule (``seed`` fixes the initialisation and the
    batch order): Adam at ``lr`` with a cosine decay over ``epochs`` epochs of ``train_set``,
    then accuracy on ``val_set``. The search reads only validation accuracy; keep a test set apart
    for the architectures it finds. Results are remembered, so an architecture proposed twice is
    trained once (with the same seed it would score the same); ``results`` maps each trained
    architecture to ``(accuracy, parameters)``.
    """

    def __init__(self, space, train_set, val_set, epochs=1, channels=16, cells=2, lr=1e-2, batch_size=64, seed=0):
        self.space, self.train_set, self.val_set = space, train_set, val_set
        self.epochs, self.channels, self.cells = epochs, channels, cells
        self.lr, self.batch_size, self.seed = lr, batch_size, seed
        self.results = {}

    def build(self, arch):
        manual_seed(self.seed)
        return self.space.build(arch, self.channels, self.cells, len(self.train_set.classes),
                                self.train_set.images.shape[1])

    def train(self, arch):
        """The network of ``arch`` after the task's schedule: the same one on every call."""
        model = self.build(arch)
        optimizer = optim.Adam(model.parameters(), lr=self.lr)
        fit(model, DataLoader(self.train_set, self.batch_size, shuffle=True), optimizer, self.epochs,
            scheduler=optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.epochs), progress=False)
        return model

    def __call__(self, arch):
        if arch not in self.results:
            model = self.train(arch)
            accuracy = evaluate_model(model, DataLoader(self.val_set, 256))["accuracy"]
            self.results[arch] = (accuracy, sum(p.numel() for p in model.parameters()))
        return self.results[arch][0]


class SearchResult:
    """What a strategy tried, in order: ``archs`` and their ``accuracies``; REINFORCE adds the
    policy's ``entropy`` (nats, summed over decisions) before each sample."""

    def __init__(self, name):
        self.name = name
        self.archs, self.accuracies, self.entropy = [], [], []

    def add(self, arch, accuracy):
        self.archs.append(arch)
        self.accuracies.append(accuracy)

    def best_so_far(self):
        """The best accuracy among the first ``n`` evaluations, for ``n = 1..budget``."""
        return np.maximum.accumulate(self.accuracies).tolist()

    @property
    def best(self):
        """``(arch, accuracy)`` of the best evaluation (the first of ties)."""
        i = int(np.argmax(self.accuracies))
        return self.archs[i], self.accuracies[i]


def _check_budget(op, budget):
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ValueError(f"{op}: expected budget to be a positive count of evaluations, got {budget!r}")


def random_search(space, evaluate, budget, seed=0):
    """Evaluate ``budget`` uniform random architectures of ``space``; returns a :class:`SearchResult`."""
    _check_budget("random_search", budget)
    rng = np.random.default_rng(seed)
    result = SearchResult("random search")
    for _ in range(budget):
        arch = space.sample(rng)
        result.add(arch, evaluate(arch))
    return result


def regularized_evolution(space, evaluate, budget, population=10, sample=3, seed=0):
    """Regularised (ageing) evolution, Real et al. 2019, Algorithm 1.

    ``population`` random architectures are evaluated first; then, until ``budget`` evaluations,
    ``sample`` members drawn uniformly (without replacement) compete, the best one's mutation
    (:meth:`CellSpace.mutate`) is evaluated and joins, and the oldest member leaves. Ageing keeps
    an architecture only as long as its descendants stay good, not for one lucky evaluation.
    """
    _check_budget("regularized_evolution", budget)
    if not 1 <= sample <= population <= budget:
        raise ValueError(f"regularized_evolution: expected 1 <= sample <= population <= budget, got sample={sample}, "
                         f"population={population}, budget={budget}")
    rng = np.random.default_rng(seed)
    result = SearchResult("regularised evolution")
    alive = []  # (arch, accuracy), oldest first
    for _ in range(population):
        arch = space.sample(rng)
        alive.append((arch, evaluate(arch)))
        result.add(*alive[-1])
    while len(result.accuracies) < budget:
        contenders = [alive[i] for i in rng.choice(len(alive), sample, replace=False)]
        parent = max(contenders, key=lambda member: member[1])[0]
        child = space.mutate(parent, rng)
        alive.append((child, evaluate(child)))
        result.add(*alive[-1])
        alive.pop(0)
    return result


class Controller(nn.Module):
    """The policy of :func:`reinforce`: one vector of logits per decision of ``space``
    (``decision0``, ``decision1``, ...), all zero at first (the uniform policy)."""

    def __init__(self, space):
        super().__init__()
        self.space = space
        for t, n in enumerate(space.choices()):
            setattr(self, f"decision{t}", nn.Parameter(zeros(n)))

    def log_probs(self):
        """``log pi`` of every decision, a list of Tensors."""
        return [F.log_softmax(p, dim=0) for p in self.parameters()]

    def entropy(self):
        """``H(pi) = -sum_t sum_k pi_tk log pi_tk`` in nats (independent decisions: the entropies add)."""
        total = 0.0
        for log_p in self.log_probs():
            p = log_p.exp()
            total -= float((p * log_p).sum().item())
        return total

    def sample(self, rng):
        """Integer decisions drawn from the policy with the NumPy ``Generator`` ``rng``."""
        decisions = []
        for log_p in self.log_probs():
            p = np.exp(np.asarray(log_p.detach().numpy(), dtype=np.float64))
            decisions.append(int(rng.choice(len(p), p=p / p.sum())))
        return decisions


def reinforce(space, evaluate, budget, lr=0.05, baseline_decay=0.8, seed=0):
    """REINFORCE with a moving-average baseline (Zoph & Le 2017, section 3.2), one architecture per step.

    For each of ``budget`` steps: sample decisions ``a_1..a_T`` from the :class:`Controller`,
    evaluate the architecture for reward ``R``, and take an Adam step (rate ``lr``) on the loss
    ``-(R - b) * sum_t log pi(a_t)``, whose gradient is minus the policy-gradient estimate; then
    ``b <- baseline_decay * b + (1 - baseline_decay) * R``. The baseline starts at the first
    reward, so the first step does not move the policy. The result's ``entropy`` is the policy's
    entropy before each sample.
    """
    _check_budget("reinforce", budget)
    if not 0.0 <= baseline_decay < 1.0:
        raise ValueError(f"reinforce: expected baseline_decay in [0, 1), got {baseline_decay!r}")
    rng = np.random.default_rng(seed)
    controller = Controller(space)
    optimizer = optim.Adam(controller.parameters(), lr=lr)
    result = SearchResult("REINFORCE")
    baseline = None
    for _ in range(budget):
        result.entropy.append(controller.entropy())
        decisions = controller.sample(rng)
        arch = space.decode(decisions)
        reward = evaluate(arch)
        result.add(arch, reward)
        baseline = reward if baseline is None else baseline
        log_prob = sum(log_p[a] for log_p, a in zip(controller.log_probs(), decisions))
        optimizer.zero_grad()
        (log_prob * -(reward - baseline)).backward()
        optimizer.step()
        baseline = baseline_decay * baseline + (1.0 - baseline_decay) * reward
    return result
