"""AlexNet's two towers on two processes: model parallelism as in the 2012 paper.

Krizhevsky, Sutskever & Hinton (2012, section 3.2 and Fig. 2) split AlexNet over two GPUs of 3 GB
because it did not fit on one: each GPU holds half of the kernels of every layer, and "the GPUs
communicate only in certain layers": conv3 takes all of conv2's maps, and the fully connected
layers take all of the previous layer's neurons; conv2, conv4 and conv5 see only their own GPU's
maps. ``alexnet(two_gpu_groups=True)`` computes the same network in one process with
``groups=2``; :class:`AlexNetTowers` runs it on two ranks, tower ``t`` on rank ``t``::

    rank 0 (tower 0)                               rank 1 (tower 1)
    conv1 half, LRN <-- 2 edge maps each way -->   conv1 half, LRN
    conv2 half, LRN <-- 2 edge maps each way -->   conv2 half, LRN
              <------- all pooled conv2 maps ------->                     (conv3)
    conv3 half, conv4 half, conv5 half             conv3 half, conv4 half, conv5 half
              <--------- all conv5 features -------->                     (fc6)
    fc6 half  <------------- all of fc6 ----------->  fc6 half            (fc7)
    fc7 half  <------------- all of fc7 ----------->  fc7 half            (fc8)
    fc8 half  <------------- all logits ----------->  fc8 half

The two edge-map swaps are not the paper's: its LRN normalised each GPU's maps alone, while the
one-process model's LRN runs across all channels, so each tower borrows the 2 neighbouring maps
its window reaches across the split (``size // 2``), and the towers' output equals the
one-process model's.

Every swap is one differentiable :func:`exchange`, and autograd does the rest of the backward:
where a tower computes its half of the next layer from the gathered maps, the gradient of the
borrowed half goes back to its owner and is added to the owner's own gradient. The logits are
gathered with no way back: both ranks compute the same loss on the same logits, and each keeps
the gradient of its own half.
"""

from __future__ import annotations

import numpy as np

from .. import backend
from .. import functional as F
from .. import nn
from ..autograd import Function
from . import comm


class Exchange(Function):
    """Send ``mine`` to the other rank and return what it sent (``theirs``, of shape
    ``recv_shape``); the backward swaps the gradients the same way: the gradient of ``theirs``
    goes back to its owner, and the owner's gradient of ``mine`` arrives here."""

    @staticmethod
    def forward(ctx, mine, recv_shape, peer):
        ctx.save_for_backward(tuple(mine.shape), peer)
        return _swap(mine, recv_shape, peer)

    @staticmethod
    def backward(ctx, grad):
        mine_shape, peer = ctx.saved_tensors
        return _swap(grad, mine_shape, peer)


def _swap(array, recv_shape, peer):
    send = np.ascontiguousarray(backend.to_numpy(array))
    return backend.from_numpy(comm.sendrecv(send, np.empty(recv_shape, dtype=send.dtype), peer), array)


def exchange(mine, recv_shape, peer):
    """Differentiable swap of ``mine`` (a Tensor) for the other rank's ``recv_shape`` Tensor."""
    return Exchange.apply(mine, tuple(recv_shape), peer)


class AlexNetTowers(nn.Module):
    """Tower ``rank`` (0 or 1) of a grouped AlexNet, on the two ranks of an ``mpiexec -n 2`` job.

    Args:
        grouped: ``models.alexnet(two_gpu_groups=True, ...)`` (any ``width_mult``), built the
            same way on both ranks; this tower copies its half of every layer from it: output
            channels ``[t*C/2, (t+1)*C/2)`` of each conv, output rows of each fully connected
            layer (the classes are split ``ceil/floor``).
        rank: the tower to keep (default: this process's rank); the job must have 2 ranks.

    ``forward(x)`` takes the whole batch ``(N, C, H, W)`` on both ranks and returns the whole
    logits ``(N, num_classes)`` on both, equal to ``grouped(x)``. Both ranks must call forward
    and backward together. Train it like any model, each rank with an optimiser over its own
    tower's parameters and the same batches (no DistributedDataParallel: nothing is replicated).
    """

    def __init__(self, grouped, rank=None):
        # Imported here: the models import nn, which imports this package (SyncBatchNorm).
        from ..models.alexnet import AlexNet

        super().__init__()
        if not isinstance(grouped, AlexNet) or grouped.features.conv2.groups != 2:
            raise ValueError("AlexNetTowers: expected models.alexnet(two_gpu_groups=True), got "
                             f"{type(grouped).__name__}" + ("" if not isinstance(grouped, AlexNet) else " without groups=2"))
        if comm.get_world_size() != 2:
            raise RuntimeError(f"AlexNetTowers: needs exactly 2 processes (mpiexec -n 2), got {comm.get_world_size()}")
        self.rank = comm.get_rank() if rank is None else rank
        self.peer = 1 - self.rank
        t = self.rank
        f, c = grouped.features, grouped.classifier
        self.conv1, self.conv2 = _conv_half(f.conv1, t, grouped_input=False), _conv_half(f.conv2, t, grouped_input=True)
        self.conv3 = _conv_half(f.conv3, t, grouped_input=False)
        self.conv4, self.conv5 = _conv_half(f.conv4, t, grouped_input=True), _conv_half(f.conv5, t, grouped_input=True)
        self.norm1, self.norm2 = f.norm1, f.norm2
        self.pool1, self.pool2, self.pool5, self.avgpool = f.pool1, f.pool2, f.pool5, grouped.avgpool
        self.drop6, self.drop7 = c.drop6, c.drop7
        self.fc6, self.fc7, self.fc8 = (_linear_half(layer, t) for layer in (c.fc6, c.fc7, c.fc8))
        #: The widths of the whole layers whose outputs the towers gather.
        self.widths = {"conv2": f.conv2.out_channels, "features": c.fc6.in_features, "fc6": c.fc6.out_features,
                       "fc7": c.fc7.out_features, "fc8": c.fc8.out_features}

    def forward(self, x):
        w = self.widths
        x = self.pool1(self._lrn(self.norm1, F.relu(self.conv1(x))))
        x = self.pool2(self._lrn(self.norm2, F.relu(self.conv2(x))))
        x = F.relu(self.conv3(self._gather(x, w["conv2"])))  # conv3 sees both towers' maps
        x = F.relu(self.conv5(F.relu(self.conv4(x))))
        x = F.flatten(self.avgpool(self.pool5(x)), 1)  # channel-major: tower 0's maps, then tower 1's
        x = F.relu(self.fc6(self._gather(self.drop6(x), w["features"])))
        x = F.relu(self.fc7(self._gather(self.drop7(x), w["fc6"])))
        return self._gather(self.fc8(self._gather(x, w["fc7"])), w["fc8"], backward=False)

    def _gather(self, mine, width, backward=True):
        """Both towers' parts, ``cat`` along axis 1 (tower 0's first) to the whole ``width``.
        ``backward=False``: the result feeds a computation both ranks repeat (the loss), so each
        keeps the gradient of its own part and nothing travels back."""
        N, rest = mine.shape[0], tuple(mine.shape[2:])
        shape = (N, width - mine.shape[1]) + rest
        theirs = exchange(mine if backward else mine.detach(), shape, self.peer)
        return F.cat([mine, theirs] if self.rank == 0 else [theirs, mine], dim=1)

    def _lrn(self, norm, x):
        """``norm`` over all channels of both towers, for this tower's channels: each tower borrows
        the maps the window reaches across the split (tower 0 the first ``after`` of tower 1,
        tower 1 the last ``before`` of tower 0)."""
        before, after = norm.size // 2, (norm.size - 1) // 2
        N, C, H, W = x.shape
        if self.rank == 0:
            edge = exchange(x[:, C - before :], (N, after, H, W), self.peer)
            return norm(F.cat([x, edge], dim=1))[:, :C]
        edge = exchange(x[:, :after], (N, before, H, W), self.peer)
        return norm(F.cat([edge, x], dim=1))[:, before:]

    def extra_repr(self):
        return f"tower={self.rank} of 2"


def _rows(n, t):
    """Tower ``t``'s share of ``n`` outputs: the first ``ceil(n/2)`` for tower 0, the rest for 1."""
    half = -(-n // 2)
    return slice(0, half) if t == 0 else slice(half, n)


def _conv_half(conv, t, grouped_input):
    """Output channels of tower ``t`` of ``conv``; with ``grouped_input`` (a ``groups=2`` conv) its
    weight already sees only the tower's half of the input."""
    rows = _rows(conv.out_channels, t)
    w = conv.weight.array[rows]
    half = nn.Conv2d(w.shape[1], w.shape[0], conv.kernel_size, conv.stride, conv.padding, conv.dilation)
    half.weight = nn.Parameter(w.copy())
    half.bias = nn.Parameter(conv.bias.array[rows].copy())
    return half


def _linear_half(linear, t):
    rows = _rows(linear.out_features, t)
    w = linear.weight.array[rows]
    half = nn.Linear(w.shape[1], w.shape[0])
    half.weight = nn.Parameter(w.copy())
    half.bias = nn.Parameter(linear.bias.array[rows].copy())
    return half
