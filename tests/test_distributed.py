"""Distributed training over MPI: the sampler's shards, DistributedDataParallel against one
process on the whole batch, SyncBatchNorm, evaluation over ranks, a failing rank, the CLI under
``mpiexec`` and AlexNet's two towers.

Tests that need several processes run a small script under ``mpiexec -n 2`` (see
:func:`helpers.run_mpiexec`); they skip, visibly, where ``mpiexec`` cannot start, except under
``CI=true``, where that is a failure.
"""

import numpy as np
import pytest

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import data
from minitorch_cnn.training import evaluate, fit

from helpers import require_mpiexec, run_mpiexec


def _shards(N, R, **options):
    dataset = list(range(N))
    return [list(data.DistributedSampler(dataset, num_replicas=R, rank=r, **options)) for r in range(R)]


@pytest.mark.parametrize("N, R", [(10, 3), (7, 2), (2, 4), (12, 4), (1, 2)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_sampler_shards_are_equal_and_cover_every_sample(N, R, shuffle):
    shards = _shards(N, R, shuffle=shuffle)
    assert {len(s) for s in shards} == {-(-N // R)}
    assert set().union(*shards) == set(range(N))
    # only the padding repeats: R * ceil(N / R) - N extra indices
    assert sum(map(len, shards)) - N == R * -(-N // R) - N


@pytest.mark.parametrize("N, R", [(10, 3), (7, 2), (12, 4)])
def test_sampler_drop_last_gives_equal_disjoint_shards(N, R):
    shards = _shards(N, R, shuffle=True, drop_last=True)
    assert {len(s) for s in shards} == {N // R}
    flat = [i for s in shards for i in s]
    assert len(flat) == len(set(flat)) == R * (N // R)


def test_sampler_set_epoch_changes_the_order_the_same_way_on_every_rank():
    dataset = list(range(20))
    samplers = [data.DistributedSampler(dataset, num_replicas=2, rank=r, seed=3) for r in range(2)]
    first = [list(s) for s in samplers]
    for s in samplers:
        s.set_epoch(1)
    second = [list(s) for s in samplers]
    assert first != second
    for shards in (first, second):
        assert sorted(shards[0] + shards[1]) == list(range(20))


@pytest.mark.parametrize("N, R", [(10, 3), (7, 2), (2, 4), (12, 4)])
def test_inference_sampler_counts_each_sample_once(N, R):
    shards = [list(data.InferenceSampler(list(range(N)), num_replicas=R, rank=r)) for r in range(R)]
    assert [i for s in shards for i in s] == list(range(N))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_samplers_alone_are_rank_0_of_1():
    sampler = data.DistributedSampler(list(range(5)), shuffle=False)
    assert (sampler.rank, sampler.num_replicas, list(sampler)) == (0, 1, [0, 1, 2, 3, 4])


@pytest.mark.parametrize("kwargs, message", [
    ({"num_replicas": 2, "rank": 2}, "expected rank in \\[0, 1\\], got 2"),
    ({"num_replicas": 0, "rank": 0}, "expected num_replicas to be a positive integer, got 0"),
])
def test_sampler_refuses_a_bad_rank(kwargs, message):
    with pytest.raises(ValueError, match=f"DistributedSampler: {message}"):
        data.DistributedSampler(list(range(4)), **kwargs)


def test_loader_batches_the_sampler_shard():
    dataset = data.TensorDataset(np.arange(7, dtype=np.float32).reshape(7, 1, 1, 1), np.arange(7))
    sampler = data.DistributedSampler(dataset, num_replicas=2, rank=1, shuffle=False)
    loader = data.DataLoader(dataset, batch_size=3, sampler=sampler)
    assert len(loader) == 2
    assert [labels.tolist() for _, labels in loader] == [[1, 3, 5], [0]]


def test_loader_state_resumes_a_sampler_epoch():
    dataset = data.TensorDataset(np.zeros((9, 1, 1, 1), np.float32), np.arange(9))
    loader = data.DataLoader(dataset, batch_size=2, sampler=data.DistributedSampler(dataset, num_replicas=2, rank=0))
    batches = iter(loader)
    first = next(batches)[1].tolist()
    resumed = data.DataLoader(dataset, batch_size=2, sampler=data.DistributedSampler(dataset, num_replicas=2, rank=0))
    resumed.load_state_dict(loader.state_dict())
    rest = [labels.tolist() for _, labels in resumed]
    assert first + [i for b in rest for i in b] == list(loader.sampler)


def test_loader_refuses_sampler_with_shuffle():
    with pytest.raises(ValueError, match="DataLoader: sampler and shuffle=True exclude each other"):
        data.DataLoader(list(range(4)), sampler=range(4), shuffle=True)


# ---------------------------------------------------------------- DistributedDataParallel

#: Two ranks with batch 32 each against one process with batch 64: 5 SGD steps in float64. Each
#: rank initialises with its own seed (rank 0 with the reference's), so the start relies on
#: the wrapper's broadcast; a small bucket cap splits the gradients over several buckets.
EQUIVALENCE = """
import numpy as np
import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import distributed as dist, models, nn, optim

NAME, C, S, SYNC = {name!r}, {channels}, {size}, {sync}
rank = dist.get_rank()
assert dist.get_world_size() == 2


def build(seed):
    mt.manual_seed(seed)
    return models.create(NAME, num_classes=10, in_channels=C).to(dtype="float64")


rng = np.random.default_rng(1)
x, y = rng.standard_normal((5, 64, C, S, S)), rng.integers(0, 10, (5, 64))


@mt.reference_mode()  # the lesson's plain NumPy paths: no compiled kernel to build in each process
def train(model, rows):
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for step in range(5):
        loss = F.cross_entropy(model(mt.tensor(x[step, rows])), mt.tensor(y[step, rows]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


# Every rank trains the one-process reference too (none idles while another does).
start = build(seed=0).state_dict()
reference = train(build(seed=0), slice(None)).state_dict()
model = build(seed=rank)
if SYNC:
    model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.02)
assert len(ddp.buckets()) > 1
train(ddp, slice(32 * rank, 32 * rank + 32))
for key, value in ddp.module.state_dict().items():
    assert not np.array_equal(reference[key], start[key]) or key.endswith("num_batches_tracked"), key
    np.testing.assert_allclose(value, reference[key], rtol=0, atol=1e-10, err_msg=f"rank {{rank}}: {{key}}")
print(f"rank {{rank}}: equal after 5 steps")
"""


def test_ddp_two_ranks_equal_one_process_on_the_whole_batch_lenet5():
    require_mpiexec()
    result = run_mpiexec(2, EQUIVALENCE.format(name="lenet5", channels=1, size=32, sync=False))
    assert result.returncode == 0, result.stderr
    assert "rank 0: equal after 5 steps" in result.stdout and "rank 1: equal after 5 steps" in result.stdout


def test_ddp_alone_changes_nothing():
    mt.manual_seed(0)
    model = mt.models.create("lenet5", num_classes=10, in_channels=1)
    ddp = mt.distributed.DistributedDataParallel(model)
    x = mt.randn(2, 1, 32, 32)
    assert np.array_equal(ddp(x).detach().numpy(), model(x).detach().numpy())
    ddp(x).sum().backward()
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    model.zero_grad()
    model(x).sum().backward()
    for g, p in zip(grads, model.parameters()):
        np.testing.assert_array_equal(g, p.grad.numpy())
    assert list(ddp.state_dict()) == ["module." + k for k in model.state_dict()]


def test_ddp_buckets_respect_the_cap_and_keep_every_parameter_once():
    model = mt.models.create("lenet5", num_classes=10, in_channels=1)
    buckets = mt.distributed.DistributedDataParallel(model, bucket_cap_mb=0.05).buckets()
    cap = 0.05 * 2**20
    assert len(buckets) > 1
    for bucket in buckets:
        assert len(bucket) == 1 or sum(p.numel() * 4 for p in bucket) <= cap
    flat = [p for bucket in buckets for p in bucket]
    assert flat == list(reversed(list(model.parameters())))


def test_queue_callback_runs_after_every_gradient_is_in():
    w = mt.tensor([1.0, 2.0], requires_grad=True)
    seen = []

    class Spy(mt.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, grad):
            mt.autograd.queue_callback(lambda: seen.append(w.grad.numpy().copy()))
            return grad

    (Spy.apply(w * 3) * w).sum().backward()
    np.testing.assert_array_equal(seen[0], [6.0, 12.0])
    with pytest.raises(RuntimeError, match="queue_callback: can only be called during a backward pass"):
        mt.autograd.queue_callback(print)


def test_ddp_two_ranks_equal_one_process_on_the_whole_batch_resnet20_sync_batchnorm():
    require_mpiexec()
    result = run_mpiexec(2, EQUIVALENCE.format(name="resnet20", channels=3, size=4, sync=True))
    assert result.returncode == 0, result.stderr
    assert "rank 0: equal after 5 steps" in result.stdout and "rank 1: equal after 5 steps" in result.stdout


# ---------------------------------------------------------------- SyncBatchNorm


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5, 5), (4, 3, 7)])
def test_sync_batch_norm_alone_is_batch_norm(shape):
    from minitorch_cnn.nn.sync_batchnorm import sync_batch_norm

    rng = np.random.default_rng(0)
    host = rng.standard_normal(shape) * 3 + 1
    w, b, grad = rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal(shape)
    results = []
    for sync in (True, False):
        x, weight, bias = (mt.tensor(a, requires_grad=True) for a in (host, w, b))
        stats = [mt.zeros(3, dtype="float64"), mt.ones(3, dtype="float64")]
        if sync:
            y = sync_batch_norm(x, *stats, weight, bias)
        else:
            x4 = x.reshape(shape[0], 3, -1, 1) if len(shape) == 3 else x
            y = F.batch_norm(x4, *stats, weight, bias, training=True).reshape(*shape)
        y.backward(mt.tensor(grad))
        results.append([y.detach().numpy(), x.grad.numpy(), weight.grad.numpy(), bias.grad.numpy()]
                       + [s.numpy() for s in stats])
    for got, expected in zip(*results):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_sync_batch_norm_saves_x_and_makes_only_its_output_in_the_forward():
    """As batch_norm (and PyTorch): the graph keeps x, which the layer before made, and the
    backward computes xhat again; the forward writes xhat, the scale and the shift into one array.
    Keeping xhat instead, the forward made four arrays of x's size at once. Measured with
    tracemalloc, which NumPy reports its arrays to."""
    import tracemalloc

    from minitorch_cnn.nn.sync_batchnorm import sync_batch_norm

    rng = np.random.default_rng(0)
    x = mt.tensor(rng.standard_normal((8, 16, 32, 32), dtype=np.float32), requires_grad=True)
    weight, bias = mt.ones(16, requires_grad=True), mt.zeros(16, requires_grad=True)
    stats = [mt.zeros(16), mt.ones(16)]
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    y = sync_batch_norm(x, *stats, weight, bias)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    size = x.array.nbytes
    # The output, plus per-channel vectors and Python's objects (a few KiB).
    assert peak < 1.2 * size, f"peak {peak / size:.2f} x the input's bytes"
    y.backward(mt.ones(*y.shape))
    assert np.allclose(x.grad.numpy(), 0, atol=1e-5)  # sum(y) does not change when x shifts or scales


def test_convert_sync_batchnorm_keeps_the_parameters_and_buffers():
    model = mt.models.create("resnet20", num_classes=10)
    before = {name: id(t) for name, t in model._state_tensors().items()}
    converted = mt.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert converted is model
    assert {name: id(t) for name, t in model._state_tensors().items()} == before
    kinds = {type(m).__name__ for m in model.modules()}
    assert "SyncBatchNorm" in kinds and "BatchNorm2d" not in kinds
    assert isinstance(mt.nn.SyncBatchNorm.convert_sync_batchnorm(mt.nn.BatchNorm1d(4)), mt.nn.SyncBatchNorm)


# ---------------------------------------------------------------- evaluation, fit and the CLI

#: Two ranks evaluate 7 samples through InferenceSampler shards (4 and 3) in batches of 2; the sums
#: over ranks must be those of one process over all 7.
EVALUATE = """
import numpy as np
import minitorch_cnn as mt
from minitorch_cnn import data, distributed as dist
from minitorch_cnn.training import evaluate

mt.manual_seed(0)
model = mt.nn.Sequential(mt.nn.Flatten(), mt.nn.Linear(4, 6))
rng = np.random.default_rng(0)
dataset = data.TensorDataset(rng.standard_normal((7, 1, 2, 2)), rng.integers(0, 6, 7))
shard = data.DataLoader(dataset, batch_size=2, sampler=data.InferenceSampler(dataset))
whole = evaluate(model, data.DataLoader(dataset, batch_size=2))
ours = evaluate(model, shard)
assert ours["count"] == 7 and len(shard.sampler) == (4 if dist.get_rank() == 0 else 3), (ours, len(shard.sampler))
for key in whole:
    assert np.isclose(ours[key], whole[key], rtol=1e-6), (key, ours[key], whole[key])
print("counted once")
"""


def test_evaluate_over_ranks_counts_each_sample_once():
    require_mpiexec()
    result = run_mpiexec(2, EVALUATE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("counted once") == 2


def test_evaluate_refuses_a_padding_sampler():
    dataset = data.TensorDataset(np.zeros((5, 1, 2, 2)), np.zeros(5, dtype=np.int64))
    loader = data.DataLoader(dataset, sampler=data.DistributedSampler(dataset, num_replicas=2, rank=0))
    with pytest.raises(ValueError, match="evaluate: the loader's DistributedSampler repeats samples"):
        evaluate(mt.nn.Flatten(), loader)


#: fit on two ranks: 3 epochs straight, against a run that rank 1 alone interrupts (SIGINT to
#: itself while loading its 7th batch, the 2nd of epoch 2), then a resume from its mid-epoch
#: checkpoint to 3 (new objects, as a restarted job builds them). Both ranks must stop after the
#: same step. Dropout makes each rank's random state matter.
RESUME = """
import os, signal, sys
import numpy as np
import minitorch_cnn as mt
from minitorch_cnn import data, distributed as dist, nn, optim
from minitorch_cnn.training import TrainingInterrupted, fit

rng = np.random.default_rng(0)
dataset = data.TensorDataset(rng.standard_normal((37, 1, 3, 3)), rng.integers(0, 3, 37))
batches = []


def stop_on_rank_1(images):
    batches.append(1)
    if dist.get_rank() == 1 and len(batches) == 7:
        os.kill(os.getpid(), signal.SIGINT)
    return images


def run(checkpoint, resume=None, transform=None):
    mt.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(9, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
    ddp = dist.DistributedDataParallel(model)
    mt.manual_seed(dist.get_rank())
    loader = data.DataLoader(dataset, batch_size=4, sampler=data.DistributedSampler(dataset, seed=1),
                             transform=transform)
    fit(ddp, loader, optim.SGD(model.parameters(), lr=0.1, momentum=0.9), 3, checkpoint=checkpoint,
        progress=False, resume=resume)
    return model.state_dict()


folder = sys.argv[1]
straight = run(os.path.join(folder, "straight.npz"))
try:
    run(os.path.join(folder, "stopped.npz"), transform=stop_on_rank_1)
    raise AssertionError("not interrupted")
except TrainingInterrupted as exc:
    print(f"rank {dist.get_rank()}: {exc.where}")
resumed = run(os.path.join(folder, "stopped.npz"), resume=os.path.join(folder, "stopped.npz"))
for key in straight:
    assert np.array_equal(straight[key], resumed[key]), key
print(f"rank {dist.get_rank()}: resumed equal")
"""


def test_fit_on_two_ranks_stopped_by_a_signal_on_one_resumes_to_the_uninterrupted_run(tmp_path):
    require_mpiexec()
    script = tmp_path / "resume.py"
    script.write_text(RESUME)
    result = run_mpiexec(2, [str(script), str(tmp_path)])
    assert result.returncode == 0, result.stderr
    for rank in (0, 1):
        assert f"rank {rank}: after batch 2 of 5 of epoch 2/3" in result.stdout
        assert f"rank {rank}: resumed equal" in result.stdout
    state = mt.load(tmp_path / "stopped.npz")
    assert state["metadata"] == {"world_size": 2} and len(state["training"]["ranks"]) == 2
    assert [h["epoch"] for h in state["history"]] == [1, 2, 3]


def test_cli_train_under_mpiexec(tmp_path):
    require_mpiexec()
    options = ["train", "lenet5", "--dataset", "digits", "--batch-size", "128", "--epochs", "1", "--no-progress",
               "--out", str(tmp_path)]
    result = run_mpiexec(2, ["-m", "minitorch_cnn.cli", *options], timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("training lenet5") == 1, "only rank 0 prints"
    assert "batch 128 per process x 2 processes" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz", "curves.png", "metrics.json"]
    state = mt.load(tmp_path / "checkpoint.npz")
    assert state["metadata"]["world_size"] == 2
    assert state["model"].keys() == mt.models.create("lenet5", num_classes=10, in_channels=1).state_dict().keys()
    from minitorch_cnn import cli

    with pytest.raises(SystemExit, match="written by a run on 2 process\\(es\\), this run has 1; resume with mpiexec -n 2"):
        cli.main(options[:6] + ["--epochs", "2", "--no-progress", "--out", str(tmp_path), "--resume"])


def test_fit_on_several_ranks_refuses_an_unwrapped_model(monkeypatch):
    from minitorch_cnn.distributed import comm

    monkeypatch.setitem(comm._state, "world_size", 2)
    dataset = data.TensorDataset(np.zeros((4, 1, 2, 2)), np.zeros(4, dtype=np.int64))
    model = mt.nn.Sequential(mt.nn.Flatten(), mt.nn.Linear(4, 2))
    with pytest.raises(ValueError, match="fit: running on 2 processes, expected the model wrapped in"):
        fit(model, data.DataLoader(dataset), mt.optim.SGD(model.parameters(), lr=0.1), 1, progress=False)


# ---------------------------------------------------------------- failures


FAILING_RANK = """
import numpy as np
from minitorch_cnn import distributed as dist

if dist.get_rank() == 1:
    raise RuntimeError("rank 1 ran out of data")
dist.all_reduce(np.ones(3))  # rank 0 waits here for a rank that has failed
"""


def test_a_failing_rank_aborts_the_job_within_seconds():
    require_mpiexec()
    result = run_mpiexec(2, FAILING_RANK, timeout=30)
    assert result.returncode != 0
    assert "rank 1 of 2 failed, aborting the job" in result.stderr
    assert "RuntimeError: rank 1 ran out of data" in result.stderr


def test_a_cli_error_on_every_rank_aborts_instead_of_hanging():
    require_mpiexec()
    result = run_mpiexec(2, ["-m", "minitorch_cnn.cli", "train", "lenet5", "--dataset", "mnist"], timeout=30)
    assert result.returncode != 0
    assert "--dataset mnist needs --data-dir" in result.stderr


# ---------------------------------------------------------------- AlexNet's two towers

#: A small grouped AlexNet (width_mult 1/16: 6-16-24-24-16 maps, fc 256) in float64; each rank
#: builds it, keeps its tower and checks the logits and its half of every gradient against the
#: one-process model (eval mode: dropout off).
TOWERS = """
import numpy as np
import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn import distributed as dist, models

# The lesson's plain NumPy paths: no compiled kernel to build in each process.
with mt.reference_mode():
    mt.manual_seed(0)
    grouped = models.create("alexnet", num_classes=5, two_gpu_groups=True, width_mult=1 / 16).to(dtype="float64").eval()
    tower = dist.AlexNetTowers(grouped).eval()
    rng = np.random.default_rng(0)
    x, y = mt.tensor(rng.standard_normal((2, 3, 67, 67))), mt.tensor([1, 4])
    F.cross_entropy(grouped(x), y).backward()
    logits = tower(x)
    F.cross_entropy(logits, y).backward()
    np.testing.assert_allclose(logits.detach().numpy(), grouped(x).detach().numpy(), rtol=1e-12, atol=1e-12)
    t = dist.get_rank()
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"):
        whole = getattr(grouped.features, name, None) or getattr(grouped.classifier, name)
        half = getattr(tower, name)
        n = whole.weight.shape[0]
        rows = slice(0, -(-n // 2)) if t == 0 else slice(-(-n // 2), n)
        for p in ("weight", "bias"):
            np.testing.assert_allclose(getattr(half, p).grad.numpy(), getattr(whole, p).grad.numpy()[rows],
                                       rtol=1e-10, atol=1e-12, err_msg=f"tower {t} {name}.{p}")
    print(f"tower {t}: logits and gradients equal")
"""


def test_alexnet_towers_on_two_ranks_equal_the_grouped_model():
    require_mpiexec()
    result = run_mpiexec(2, TOWERS)
    assert result.returncode == 0, result.stderr
    for t in (0, 1):
        assert f"tower {t}: logits and gradients equal" in result.stdout


def test_alexnet_towers_need_two_processes():
    grouped = mt.models.create("alexnet", num_classes=5, two_gpu_groups=True, width_mult=1 / 16)
    with pytest.raises(RuntimeError, match="AlexNetTowers: needs exactly 2 processes \\(mpiexec -n 2\\), got 1"):
        mt.distributed.AlexNetTowers(grouped)


def test_a_missing_mpiexec_skips_but_fails_under_ci(monkeypatch):
    import helpers

    monkeypatch.setattr(helpers, "_mpiexec_problem", lambda: "mpiexec not found")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="mpiexec not found"):
        require_mpiexec()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and the MPI tests cannot run: mpiexec not found"):
        require_mpiexec()


def test_mpiexec_env_lets_the_caller_override_a_variable_the_environment_already_has(monkeypatch):
    from minitorch_cnn.distributed import launch

    monkeypatch.setenv("PYTHONPATH", "/from/the/user")
    monkeypatch.setenv("OMPI_MCA_mpi_yield_when_idle", "0")
    env = launch.mpiexec_env(PYTHONPATH="/from/the/caller")
    assert env["PYTHONPATH"] == "/from/the/caller"
    assert env["OMPI_MCA_mpi_yield_when_idle"] == "0"
