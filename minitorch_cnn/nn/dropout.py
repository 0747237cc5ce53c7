"""``Dropout`` (Srivastava et al. 2014): active in training, the identity after ``eval()``."""

from __future__ import annotations

from .. import functional as F
from .module import Module


class Dropout(Module):
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)`` while
    ``training``; pass the input through unchanged in evaluation. See
    :func:`~minitorch_cnn.functional.dropout`."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: expected p in [0, 1], got {p!r}")
        self.p = float(p)
        self.inplace = inplace

    def forward(self, x):
        return F.dropout(x, self.p, training=self.training, inplace=self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"
