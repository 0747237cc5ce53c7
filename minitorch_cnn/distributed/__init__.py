"""Training on several processes with MPI: ``mpiexec -n 2 python train.py``.

Data parallelism, as PyTorch's ``torch.distributed`` and ``DistributedDataParallel``: every
process (rank) holds a full copy of the model and trains on its own shard of each epoch
(:class:`~minitorch_cnn.data.DistributedSampler`); after every ``backward()`` the gradients are
averaged over the ranks, so every copy takes the same step and the copies stay equal. With ``R``
ranks of batch ``B`` each, a step is the step of one process on a batch of ``R * B``.

* :mod:`.comm`: ``init``, ``get_rank``, ``get_world_size``, ``is_main`` and the collectives;
  without ``mpiexec`` a program is rank 0 of 1 and MPI is never imported.
* :class:`DistributedDataParallel`: the model wrapper that averages the gradients.
* :class:`AlexNetTowers`: model parallelism instead, AlexNet's two towers on two ranks.

Batch norm over all ranks is :class:`minitorch_cnn.nn.SyncBatchNorm`; the samplers that shard the
data are :class:`minitorch_cnn.data.DistributedSampler` and :class:`~minitorch_cnn.data.InferenceSampler`.
"""

from .comm import (
    abort, abort_on_error, all_gather_object, all_reduce, broadcast, communication_seconds, get_rank, get_world_size, init, is_main,
)
from .ddp import DistributedDataParallel
from .towers import AlexNetTowers
