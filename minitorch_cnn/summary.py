"""Model summary (the lectures' per-layer table) and receptive-field arithmetic.

``summary(model, input_shape)`` runs one forward pass on zeros of shape ``(1, *input_shape)``
with forward hooks on every leaf layer and reports, per layer: output shape, trainable
parameters, activation values (the output's element count per image) and MACs.

MACs count multiply-accumulates of convolutions and linear layers only:

* conv: ``Ho * Wo * F * (C / groups) * kh * kw``  (output positions x out channels x the inputs
  each output reads)
* linear: ``in_features * out_features`` per row

Pooling, normalisation and activations are not counted (they are listed with 0 MACs). Activation
memory is the sum of every leaf layer's output elements times 4 bytes (float32), per image.
"""

from __future__ import annotations

from . import backend
from .autograd import no_grad
from .tensor import Tensor


def _leaf_modules(model):
    return [(name, m) for name, m in model.named_modules() if not list(m.children()) and name != ""] or [("", model)]


def _macs(module, out_shape):
    from .nn import Conv2d, Linear

    if isinstance(module, Conv2d):
        _, F, Ho, Wo = out_shape
        C_per_group, kh, kw = module.weight.shape[1:]
        return Ho * Wo * F * C_per_group * kh * kw
    if isinstance(module, Linear):
        rows = 1
        for s in out_shape[1:-1]:
            rows *= s
        return rows * module.weight.shape[1] * module.weight.shape[0]
    return 0


def _first_tensor(out):
    if isinstance(out, Tensor):
        return out
    if isinstance(out, (tuple, list)):
        return next((o for o in out if isinstance(o, Tensor)), None)
    return None


class Summary:
    """The result of :func:`summary`: ``rows`` plus totals; ``str()`` gives the table."""

    def __init__(self, rows, input_shape, total_params, trainable_params, lazy=()):
        self.rows = rows
        self.lazy = tuple(lazy)
        self.input_shape = tuple(input_shape)
        self.total_params = total_params
        self.trainable_params = trainable_params
        self.total_macs = sum(r["macs"] for r in rows)
        self.total_activations = sum(r["activations"] for r in rows)
        self.activation_mb = self.total_activations * 4 / 1e6  # decimal MB, as the course slides count

    def __getitem__(self, key):
        return getattr(self, key)

    def table(self):
        head = f"{'layer':<34} {'type':<18} {'output shape':<20} {'params':>12} {'activations':>12} {'MACs':>15}"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            lines.append(
                f"{r['name'][:34]:<34} {r['type'][:18]:<18} {str(r['output_shape']):<20} "
                f"{r['params']:>12,} {r['activations']:>12,} {r['macs']:>15,}"
            )
        lines.append("-" * len(head))
        if self.lazy:
            lines.append(f"not yet initialised before this summary (lazy layers, sized by its forward pass on "
                         f"{self.input_shape}): {', '.join(self.lazy)}")
        lines.append(f"input {self.input_shape}: {self.total_params:,} parameters "
                     f"({self.trainable_params:,} trainable)")
        lines.append(f"total MACs (conv + linear multiply-accumulates) per image: {self.total_macs:,} "
                     f"({self.total_macs / 1e9:.3f} G)")
        lines.append(f"activation memory per image (float32, forward outputs of every layer): "
                     f"{self.total_activations:,} values = {self.activation_mb:.2f} MB")
        return "\n".join(lines)

    def __str__(self):
        return self.table()


def summary(model, input_shape, print_table=False):
    """Layer-by-layer shapes, parameters, activation values and MACs of ``model``.

    Args:
        input_shape: one image's shape ``(C, H, W)``; the forward pass uses batch 1.

    Returns a :class:`Summary` with ``rows``, ``total_params``, ``total_macs`` and
    ``activation_mb``. The model is run in eval mode and restored afterwards.

    A model with lazy layers not yet called (``nn.LazyConv2d``...) has no parameter counts yet:
    the forward pass initialises them, as any first call does, so each layer's parameters are
    counted after it ran, and ``lazy`` (a line of the table) names the layers that were not yet
    initialised.
    """
    from .nn.lazy import LazyModuleMixin

    rows, handles = [], []
    lazy = [name or type(m).__name__ for name, m in model.named_modules()
            if isinstance(m, LazyModuleMixin) and m.has_uninitialized_params()]
    for name, module in _leaf_modules(model):
        def hook(module, inputs, output, name=name):
            out = _first_tensor(output)
            if out is None:
                return
            shape = tuple(out.shape)
            count = 1
            for s in shape[1:]:
                count *= s
            rows.append({
                "name": name,
                "type": type(module).__name__,
                "output_shape": shape,
                "params": sum(p.numel() for p in module.parameters()),
                "activations": count,
                "macs": _macs(module, shape),
            })

        handles.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        x = Tensor(_zeros_like_model((1,) + tuple(input_shape), model))
        with no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    params = list(model.parameters())
    result = Summary(rows, input_shape, sum(p.numel() for p in params),
                     sum(p.numel() for p in params if p.requires_grad), lazy)
    if print_table:
        print(result.table())
    return result


def _zeros_like_model(shape, model):
    """Zeros on the model's device and in its dtype (float32 for a model without parameters)."""
    params = list(model.parameters())
    if not params:
        xp = backend.namespace_for_device("cpu")
        return xp.zeros(shape, dtype=xp.float32)
    xp = params[0].xp
    return xp.zeros(shape, dtype=params[0].dtype, device=getattr(params[0].array, "device", None))


def receptive_field(layers):
    """Receptive field of a chain of window layers.

    ``layers`` is a model (its conv and pool layers are taken in order) or a list of
    ``(kernel, stride)`` / ``(kernel, stride, dilation)`` tuples. With ``r`` the receptive field
    and ``j`` the distance in input pixels between neighbouring outputs ("jump")::

        r_out = r_in + (k - 1) * d * j_in,     j_out = j_in * s,     starting from r = j = 1

    Returns ``(r, j)``; three stacked 3x3 stride-1 convs give ``r = 7``.
    """
    if not isinstance(layers, (list, tuple)):
        layers = _window_layers(layers)
    r, j = 1, 1
    for layer in layers:
        k, s, d = (tuple(layer) + (1,))[:3] if len(layer) == 2 else tuple(layer)
        r = r + (k - 1) * d * j
        j = j * s
    return r, j


def _window_layers(model):
    found = []
    for _, m in _leaf_modules(model):
        k = getattr(m, "kernel_size", None)
        if k is None:
            continue
        k = k[0] if isinstance(k, tuple) else k
        s = getattr(m, "stride", 1) or k
        s = s[0] if isinstance(s, tuple) else s
        d = getattr(m, "dilation", 1)
        d = d[0] if isinstance(d, tuple) else d
        found.append((k, s, d))
    return found
