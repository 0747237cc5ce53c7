"""Loss layers: thin modules around :mod:`minitorch_cnn.functional.loss`, written as in PyTorch
(``criterion = nn.CrossEntropyLoss(); loss = criterion(logits, labels)``)."""

from __future__ import annotations

from .. import functional as F
from ..functional.loss import IGNORE_INDEX
from .module import Module


class CrossEntropyLoss(Module):
    """``F.cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing)``, with the
    options stored on the layer; see :func:`minitorch_cnn.functional.cross_entropy`.

    ``weight`` (a ``(C,)`` Tensor) is registered as a buffer, as in PyTorch, so it is saved in the
    state dict and moved by ``to()``.
    """

    def __init__(self, weight=None, ignore_index=IGNORE_INDEX, reduction="mean", label_smoothing=0.0):
        super().__init__()
        # nn.CrossEntropyLoss(logits, labels) builds a layer instead of computing a loss; say so here.
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, int) or (
                weight is not None and len(getattr(weight, "shape", ())) != 1):
            raise TypeError(f"CrossEntropyLoss: expected weight=None or a (C,) tensor and an int ignore_index, got "
                            f"{_described(weight)} and {_described(ignore_index)}; to compute a loss, build the layer, "
                            f"then call it: nn.CrossEntropyLoss()(logits, labels)")
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class MSELoss(Module):
    """``F.mse_loss(input, target, reduction)``: the mean squared error, as PyTorch's
    ``nn.MSELoss``; see :func:`minitorch_cnn.functional.mse_loss`."""

    def __init__(self, reduction="mean"):
        super().__init__()
        if not isinstance(reduction, str) or reduction not in ("none", "mean", "sum"):
            raise ValueError(f"MSELoss: expected reduction 'none', 'mean' or 'sum', got {_described(reduction)}; to compute a "
                             f"loss, build the layer, then call it: nn.MSELoss()(prediction, target)")
        self.reduction = reduction

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


def _described(value):
    return f"a tensor of shape {tuple(value.shape)}" if hasattr(value, "shape") else repr(value)
