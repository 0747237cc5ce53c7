"""Normalisation layers: ``BatchNorm1d``, ``BatchNorm2d`` (Ioffe & Szegedy 2015) and AlexNet's
``LocalResponseNorm``. The arithmetic is in :mod:`minitorch_cnn.functional.normalization`."""

from __future__ import annotations

from .. import functional as F
from ..functional.normalization import LRN_ALPHA, LRN_BETA, LRN_K, LRN_SIZE
from ..tensor import Tensor
from .module import Module, Parameter, new_array


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d; they differ only in the input layouts they accept.

    Args:
        num_features: ``C``, the number of channels.
        eps: added to the variance before the square root (1e-5).
        momentum: weight of each new batch in the running statistics (0.1).
        affine: learn a per-channel scale ``weight`` (gamma, starts at 1) and shift ``bias``
            (beta, starts at 0).
        track_running_stats: keep the buffers ``running_mean`` (starts at 0), ``running_var``
            (starts at 1, unbiased) and ``num_batches_tracked``, and normalise with them after
            ``eval()``. Without them the batch statistics are used in both modes.
        freeze_stats: normalise with the running statistics and leave them unchanged in training
            too, as in eval mode; ``weight`` and ``bias`` still train unless their
            ``requires_grad`` is off. Fine-tuning on small batches sets it on a pretrained base
            (:func:`minitorch_cnn.transfer.freeze` with ``bn_eval=True``): a few images give poor
            estimates of the statistics the base was trained with. An attribute, so it can be
            switched at any time; ``train()`` and ``eval()`` leave it alone.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 freeze_stats=False):
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"{type(self).__name__}: expected num_features to be a positive int, got {num_features!r}")
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.freeze_stats = freeze_stats
        self.weight = Parameter(new_array((num_features,))) if affine else None
        self.bias = Parameter(new_array((num_features,))) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(new_array((num_features,))))
            self.register_buffer("running_var", Tensor(new_array((num_features,))))
            self.register_buffer("num_batches_tracked", Tensor(new_array((), 0, "int64")))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None
        self.reset_parameters()

    def reset_running_stats(self):
        """Forget the running statistics: mean 0, variance 1, no batch counted (PyTorch's start)."""
        if self.track_running_stats:
            for buffer, fill in ((self.running_mean, 0.0), (self.running_var, 1.0), (self.num_batches_tracked, 0)):
                buffer.array = buffer.xp.full_like(buffer.array, fill)

    def reset_parameters(self):
        """Start as the identity: scale 1, shift 0, and fresh running statistics."""
        self.reset_running_stats()
        if self.affine:
            self.weight.array = self.weight.xp.ones_like(self.weight.array)
            self.bias.array = self.bias.xp.zeros_like(self.bias.array)

    def _normalize(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=self.training and not self.freeze_stats, momentum=self.momentum,
                            eps=self.eps, num_batches_tracked=self.num_batches_tracked)

    def _check_ndim(self, x, ndims, layout):
        if len(x.shape) not in ndims:
            raise ValueError(f"expected a {layout} input, got shape {tuple(x.shape)}")

    def extra_repr(self):
        # PyTorch's text, so printed models compare equal; the flag PyTorch lacks shows only when set.
        frozen = ", freeze_stats=True" if self.freeze_stats else ""
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}{frozen}")


class BatchNorm1d(_BatchNorm):
    """Batch norm for ``(N, C)`` features (after a Linear) or ``(N, C, L)`` sequences; statistics
    per channel over ``N`` (and ``L``)."""

    def forward(self, x):
        self._check_ndim(x, (2, 3), "2-D (N, C) or 3-D (N, C, L)")
        if len(x.shape) == 3:
            N, C, L = x.shape
            return self._normalize(x.reshape(N, C, L, 1)).reshape(N, C, L)
        return self._normalize(x)


class BatchNorm2d(_BatchNorm):
    """Batch norm for ``(N, C, H, W)`` feature maps; statistics per channel over ``N*H*W``."""

    def forward(self, x):
        self._check_ndim(x, (4,), "4-D (N, C, H, W)")
        return self._normalize(x)


class LocalResponseNorm(Module):
    """AlexNet's local response normalisation across ``size`` neighbouring channels.

    Defaults are the paper's ``n=5, alpha=1e-4, beta=0.75, k=2`` (Krizhevsky et al. 2012,
    section 3.3). Note ``alpha`` is not divided by ``size`` as in PyTorch: see
    :func:`~minitorch_cnn.functional.local_response_norm`.
    """

    def __init__(self, size=LRN_SIZE, alpha=LRN_ALPHA, beta=LRN_BETA, k=LRN_K):
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, x):
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
