"""``DistributedDataParallel``: the same model on every rank, gradients averaged after ``backward()``."""

from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function, is_grad_enabled, queue_callback
from ..nn.module import Module, _check_module, is_uninitialized
from ..tensor import Tensor
from . import comm


class _AverageAfterBackward(Function):
    """The identity on the model's output; its backward, the first to run in ``loss.backward()``,
    queues the gradient averaging for when the whole pass has finished."""

    @staticmethod
    def forward(ctx, x, ddp):
        ctx.save_for_backward(ddp)
        return x

    @staticmethod
    def backward(ctx, grad):
        (ddp,) = ctx.saved_tensors
        ddp._queue_average()
        return grad


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training, as PyTorch's ``DistributedDataParallel``.

    Every rank builds the same model and wraps it; the wrapper

    1. broadcasts rank 0's parameters and buffers when it is built, so every rank starts from
       the same point whatever its random initialisation drew;
    2. in training mode, with gradients on, broadcasts rank 0's buffers before each forward
       (``broadcast_buffers=True``: batch norm's running statistics follow rank 0's);
    3. at the end of each ``backward()`` through its output, replaces every parameter's gradient
       by the mean over the ``R`` ranks::

           grad = (grad_0 + grad_1 + ... + grad_{R-1}) / R

       With each rank's loss a mean over its batch of ``B``, that is the gradient of the mean loss
       over all ``R * B`` samples, so the optimiser steps agree on every rank and the copies stay
       equal (the optimiser itself is not wrapped).

    The gradients travel in buckets: the parameters, last first (the order their gradients
    appear), are packed into contiguous host buffers of at most ``bucket_cap_mb`` MiB, one
    ``Allreduce`` each, instead of one call per parameter. A parameter without a gradient on
    some rank counts as zero there; one without a gradient on every rank keeps ``grad = None``.

    ``wrapper.module`` is the wrapped model; ``wrapper.state_dict()`` prefixes its keys with
    ``"module."``, as in PyTorch, so save ``wrapper.module.state_dict()`` to load it anywhere.
    In one process (no ``mpiexec``) the wrapper changes nothing.
    """

    def __init__(self, module, broadcast_buffers=True, bucket_cap_mb=25):
        super().__init__()
        _check_module(module, "DistributedDataParallel")
        if any(is_uninitialized(t) for t in list(module.parameters()) + list(module.buffers())):
            raise ValueError("DistributedDataParallel: the model has lazy layers that are not initialised yet; "
                             "run one forward pass on a batch before wrapping it")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: expected bucket_cap_mb > 0, got {bucket_cap_mb!r}")
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.bucket_cap_mb = bucket_cap_mb
        self._average_queued = False
        _broadcast_tensors(list(module.parameters()) + list(module.buffers()))

    def forward(self, *args, **kwargs):
        # A new step: a backward that raised before its callbacks ran leaves no averaging pending.
        self._average_queued = False
        syncing = self.training and is_grad_enabled() and comm.get_world_size() > 1
        if syncing and self.broadcast_buffers:
            _broadcast_tensors(list(self.module.buffers()))
        out = self.module(*args, **kwargs)
        if not syncing:
            return out
        if isinstance(out, (tuple, list)):
            return type(out)(self._hooked(o) for o in out)
        return self._hooked(out)

    def _hooked(self, out):
        return _AverageAfterBackward.apply(out, ddp=self) if isinstance(out, Tensor) and out.requires_grad else out

    def _queue_average(self):
        # A model with several outputs (GoogLeNet's auxiliary heads) reaches here once per output.
        if not self._average_queued:
            self._average_queued = True
            queue_callback(self._average_gradients)

    def _average_gradients(self):
        self._average_queued = False
        R = comm.get_world_size()
        for bucket in self.buckets():
            present = np.array([p.grad is not None for p in bucket], dtype=bucket[0].array.dtype)
            flat = np.concatenate([_host_grad(p) for p in bucket] + [present])
            comm.all_reduce(flat)
            start = 0
            for p, count in zip(bucket, flat[-len(bucket):]):
                n = p.numel()
                if count > 0:
                    mean = flat[start : start + n].reshape(p.shape) / R
                    p.grad = Tensor(backend.from_numpy(mean, p.array))
                start += n

    def buckets(self):
        """The parameters that require a gradient, last first, in groups of one dtype and at most
        ``bucket_cap_mb`` MiB (a larger parameter is a bucket alone); the same on every rank."""
        cap = self.bucket_cap_mb * 2**20
        buckets, size = [], 0
        for p in reversed([p for p in self.module.parameters() if p.requires_grad]):
            nbytes = p.numel() * p.array.dtype.itemsize
            if not buckets or size + nbytes > cap or buckets[-1][0].array.dtype != p.array.dtype:
                buckets.append([])
                size = 0
            buckets[-1].append(p)
            size += nbytes
        return buckets

    def extra_repr(self):
        return f"world_size={comm.get_world_size()}, broadcast_buffers={self.broadcast_buffers}, " \
               f"bucket_cap_mb={self.bucket_cap_mb}"


def _host_grad(p):
    if p.grad is None:
        return np.zeros(p.numel(), dtype=p.array.dtype)
    return backend.to_numpy(p.grad.array).reshape(-1)


def _broadcast_tensors(tensors):
    """Every tensor takes rank 0's values, written into its memory (``.data`` views follow); one
    broadcast per dtype, of the tensors packed into one buffer."""
    if comm.get_world_size() == 1:
        return
    by_dtype = {}
    for t in tensors:
        by_dtype.setdefault(np.dtype(backend.dtype_name(t.dtype)), []).append(t)
    for dtype, group in by_dtype.items():
        flat = np.concatenate([backend.to_numpy(t.array).reshape(-1).astype(dtype) for t in group])
        comm.broadcast(flat)
        start = 0
        for t in group:
            n = t.numel()
            t.array[...] = backend.from_numpy(flat[start : start + n].reshape(t.shape), t.array)
            start += n
