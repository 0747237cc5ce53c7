"""``SyncBatchNorm``: batch norm whose batch statistics are taken over the batches of every rank.

With :class:`~minitorch_cnn.distributed.DistributedDataParallel`, plain batch norm normalises
each rank's batch of ``B`` with that batch's own mean and variance; ``SyncBatchNorm`` uses the
mean and variance of all ``R * B`` samples, so two ranks with batch 32 compute what one process
computes with batch 64 (the statistics a small per-rank batch would estimate poorly).
"""

from __future__ import annotations

from ..autograd import Function
from ..backend import array_namespace, to_numpy, from_numpy
from ..distributed import comm
from ..functional.normalization import _channel_dot, _check_channel_vector, scale_and_shift_, update_running_stats
from .normalization import BatchNorm1d, BatchNorm2d, _BatchNorm


def _sum_over_ranks(*vectors):
    """The per-channel vectors summed over all ranks, in one ``Allreduce`` of their concatenation."""
    xp = array_namespace(*vectors)
    flats = [xp.reshape(v, (-1,)) for v in vectors]
    total = from_numpy(comm.all_reduce(to_numpy(xp.concat(flats))), vectors[0])
    out, start = [], 0
    for f in flats:
        out.append(total[start : start + f.shape[0]])
        start += f.shape[0]
    return out


class SyncBatchNormFunction(Function):
    """Batch norm in training mode with statistics over all ranks (Ioffe & Szegedy 2015,
    Algorithm 1, over the union of the ranks' batches).

    Rank ``r`` holds ``m_r`` values per channel (``N*H*W`` of its batch); ``m = sum_r m_r``.
    Forward, two ``Allreduce`` of per-channel sums (the second centred, as one process
    computes the variance)::

        mu  = (sum over ranks of sum x) / m
        var = (sum over ranks of sum (x - mu)**2) / m            (biased)
        y   = weight * xhat + bias,   xhat = (x - mu) / sqrt(var + eps)

    Backward: every ``xhat`` depends on every ``x`` of its channel on every rank, so the two
    sums of the one-process backward are taken over all ranks (one ``Allreduce``)::

        dx = weight * inv_std * (grad - sum_all(grad) / m - xhat * sum_all(grad * xhat) / m)

    while ``dweight = sum(grad * xhat)`` and ``dbias = sum(grad)`` stay this rank's sums:
    DistributedDataParallel averages them with the other gradients. Each rank's ``grad`` is that
    of its own mean loss, ``R`` times the gradient of the mean over all ranks; the same factor
    sits in every rank's ``dx`` and in every parameter gradient, and the DDP mean removes it.

    The running statistics are updated as :func:`~minitorch_cnn.functional.batch_norm` does,
    with the global ``mu`` and the unbiased ``var * m / (m - 1)``, identically on every rank.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean=None, running_var=None, num_batches_tracked=None,
                momentum=0.1, eps=1e-5):
        xp = array_namespace(x)
        C = x.shape[1]
        axes = (0,) + tuple(range(2, len(x.shape)))
        per_channel = (1, C) + (1,) * (len(x.shape) - 2)
        m_r = x.size // C
        sum_x, m = _sum_over_ranks(xp.sum(x, axis=axes), xp.full((1,), m_r, dtype=x.dtype))
        m = int(m[0])
        if m < 2:
            raise ValueError(f"SyncBatchNorm: expected more than 1 value per channel over all ranks, got {m} "
                             f"(input {tuple(x.shape)} on this rank)")
        mu = xp.reshape(sum_x / m, per_channel)
        centered = x - mu
        (sum_sq,) = _sum_over_ranks(_channel_dot(centered, centered))
        var = xp.reshape(sum_sq / m, per_channel)
        if running_mean is not None:
            update_running_stats(running_mean, running_var, num_batches_tracked, mu, var, m, momentum)
        inv_std = 1.0 / xp.sqrt(var + eps)
        # Saved: x, not xhat, as batch_norm does: the backward computes xhat again.
        ctx.save_for_backward(x, mu, inv_std, weight, axes, m)
        # In place on the array this function made, as batch_norm: no second full-size buffer.
        xhat = centered
        xhat *= inv_std
        return scale_and_shift_(xhat, weight, bias, per_channel)

    @staticmethod
    def backward(ctx, grad):
        x, mu, inv_std, weight, axes, m = ctx.saved_tensors
        xp = array_namespace(grad)
        xhat = x - mu
        xhat *= inv_std
        sum_grad = xp.sum(grad, axis=axes, keepdims=True)
        sum_grad_xhat = _channel_dot(grad, xhat)
        dweight = xp.reshape(sum_grad_xhat, (-1,)) if ctx.needs_input_grad[1] else None
        dbias = xp.reshape(sum_grad, (-1,)) if ctx.needs_input_grad[2] else None
        dx = None
        if ctx.needs_input_grad[0]:
            all_grad, all_grad_xhat = _sum_over_ranks(sum_grad, sum_grad_xhat)
            shape = inv_std.shape
            scale = inv_std if weight is None else inv_std * xp.reshape(weight, shape)
            dx = xhat  # in place: this backward made xhat, and needs it no more
            dx *= -xp.reshape(all_grad_xhat, shape) / m
            dx += grad
            dx -= xp.reshape(all_grad, shape) / m
            dx *= scale
        return dx, dweight, dbias


def sync_batch_norm(x, running_mean, running_var, weight=None, bias=None, momentum=0.1, eps=1e-5,
                    num_batches_tracked=None):
    """Training-mode batch norm of ``x`` ``(N, C, ...)`` with statistics over all ranks (see
    :class:`SyncBatchNormFunction`); the arguments are :func:`~minitorch_cnn.functional.batch_norm`'s.
    In one process it computes what ``batch_norm(..., training=True)`` does."""
    if len(x.shape) < 2:
        raise ValueError(f"SyncBatchNorm: expected an input (N, C, ...) of at least 2 dimensions, got shape "
                         f"{tuple(x.shape)}")
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        _check_channel_vector(t, name, x, "SyncBatchNorm")
    return SyncBatchNormFunction.apply(x, weight, bias, running_mean=running_mean, running_var=running_var,
                                       num_batches_tracked=num_batches_tracked, momentum=momentum, eps=eps)


class SyncBatchNorm(_BatchNorm):
    """Batch norm over ``(N, C, ...)`` inputs whose training statistics are those of the batches of
    all ranks together, as PyTorch's ``nn.SyncBatchNorm``; the arguments are ``BatchNorm2d``'s.

    In training mode with more than one rank it runs :func:`sync_batch_norm` (collectives: every
    rank must call it, in the same order); otherwise, in eval mode, with ``freeze_stats`` or in
    one process, it is plain batch norm. Build models with ``BatchNorm2d`` and convert them with
    :meth:`convert_sync_batchnorm`.
    """

    def forward(self, x):
        self._check_ndim(x, range(2, 9), "(N, C, ...)")
        batch_stats = (self.training and not self.freeze_stats) or self.running_mean is None
        if batch_stats and comm.get_world_size() > 1:
            return sync_batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                   momentum=self.momentum, eps=self.eps, num_batches_tracked=self.num_batches_tracked)
        if len(x.shape) in (2, 4):
            return self._normalize(x)
        N, C = x.shape[0], x.shape[1]
        return self._normalize(x.reshape(N, C, -1, 1)).reshape(*x.shape)

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """Replace every ``BatchNorm1d``/``BatchNorm2d`` in ``module`` by a ``SyncBatchNorm`` holding
        the same parameters and buffers (the same Tensor objects, so an optimiser built earlier
        still updates them), as PyTorch's. Returns the converted module: ``module`` itself,
        changed in place, unless ``module`` is a batch norm. ``process_group`` must be ``None``
        (all ranks), the only group here."""
        if process_group is not None:
            raise ValueError("SyncBatchNorm.convert_sync_batchnorm: only process_group=None (every rank) is supported")
        if isinstance(module, (BatchNorm1d, BatchNorm2d)):
            sync = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats,
                       module.freeze_stats)
            if module.affine:
                sync.weight, sync.bias = module.weight, module.bias
            if module.track_running_stats:
                for name in ("running_mean", "running_var", "num_batches_tracked"):
                    setattr(sync, name, getattr(module, name))
            sync.train(module.training)
            return sync
        for name, child in list(module.named_children()):
            converted = cls.convert_sync_batchnorm(child)
            if converted is not child:
                setattr(module, name, converted)
        return module
