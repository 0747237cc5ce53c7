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
from minitorch_cnn import data


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
