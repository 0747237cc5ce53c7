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

from typing import NamedTuple

from . import backend
from .autograd import enable_grad, no_grad
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
    _run_hooked(model, input_shape, handles, record_graph=False)
    params = list(model.parameters())
    result = Summary(rows, input_shape, sum(p.numel() for p in params),
                     sum(p.numel() for p in params if p.requires_grad), lazy)
    if print_table:
        print(result.table())
    return result


def _run_hooked(model, input_shape, handles, record_graph):
    """One eval-mode forward of a zero image of ``input_shape`` through ``model``, whose forward
    hooks (``handles``) read what they need; the hooks are removed and the mode restored after.
    ``record_graph`` keeps the autograd graph (``receptive_field`` walks it back to the returned
    input) instead of ``no_grad``."""
    was_training = model.training
    model.eval()
    try:
        x = Tensor(_zeros_like_model((1,) + tuple(input_shape), model), requires_grad=record_graph)
        with enable_grad() if record_graph else no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return x


def _zeros_like_model(shape, model):
    """Zeros on the model's device and in its dtype (float32 for a model without parameters)."""
    params = list(model.parameters())
    if not params:
        xp = backend.namespace_for_device("cpu")
        return xp.zeros(shape, dtype=xp.float32)
    xp = params[0].xp
    return xp.zeros(shape, dtype=params[0].dtype, device=getattr(params[0].array, "device", None))


def named_layer(model, name, op="named_layer"):
    """The submodule of ``model`` called ``name`` in ``model.named_modules()`` (``"features.0"``).

    An unknown name raises a ``ValueError`` from ``op`` that lists every name the model has.
    """
    if not isinstance(name, str):
        raise TypeError(f"{op}: expected layer to be a module name (str), got {type(name).__name__}")
    modules = dict(model.named_modules())
    if name == "" or name not in modules:
        names = [n for n in modules if n]
        raise ValueError(f"{op}: {type(model).__name__} has no layer {name!r}; its layers are: {', '.join(names)}")
    return modules[name]


class ReceptiveField(NamedTuple):
    """Where a unit of a feature map looks in the input, per axis ``(h, w)``.

    The unit at position ``(i, j)`` sees input rows ``offset[0] + i*jump[0]`` up to (excluded)
    ``offset[0] + i*jump[0] + size[0]`` (columns likewise). ``offset`` is negative when padding
    puts part of the first unit's field outside the image.
    """

    size: tuple
    jump: tuple
    offset: tuple

    def box(self, position, image_size):
        """``(top, left, bottom, right)`` of the unit at ``position = (i, j)``, clipped to an image
        of ``image_size = (H, W)``; rows ``top:bottom``, columns ``left:right``."""
        (i, j), (H, W) = position, image_size
        top, left = self.offset[0] + i * self.jump[0], self.offset[1] + j * self.jump[1]
        return (max(top, 0), max(left, 0), min(top + self.size[0], H), min(left + self.size[1], W))


def receptive_field(model, layer=None, input_shape=None):
    """Receptive field of a unit of a chain of window layers, or of a layer of any model.

    With ``r`` the receptive field, ``j`` the distance in input pixels between neighbouring
    units ("jump") and ``o`` the input row where the first unit's field starts, a window layer
    with kernel ``k``, stride ``s``, padding ``p`` and dilation ``d`` gives::

        r_out = r_in + (k - 1) * d * j_in,   j_out = j_in * s,   o_out = o_in - p * j_in,   from r = j = 1, o = 0

    ``model`` a list of ``(kernel, stride)`` / ``(kernel, stride, dilation)`` tuples: the chain,
    returned as ``(r, j)``; three stacked 3x3 stride-1 convs give ``(7, 1)``.

    ``model`` a Module: one forward pass on zeros of shape ``(1, *input_shape)`` (default
    ``(C, 32, 32)``, ``C`` the first conv's input channels; the model runs in eval mode and is
    restored) records which tensor came from which op, and the fields follow that graph back to
    the input, so a branch (ResNet's shortcut, an Inception block) counts once. Where branches
    meet (a sum, a concatenation) the field is the union of theirs: the longest path decides.
    Convolutions and max/average pools apply the formula above; an adaptive pool whose output
    size divides its input is a window of ``in/out``, any other one sees its whole input (an
    over-estimate); a strided slice ``x[:, :, a::s, b::s]`` is a window of 1 with stride ``s``
    starting ``a`` rows in; a ``(N, C, 1, 1)`` gate broadcast over a larger map (squeeze-and-excitation)
    rescales the map without moving it, so it adds nothing; every other op (activations, batch
    norm, sums) keeps a unit where it was. Returns a :class:`ReceptiveField` ``(size, jump,
    offset)`` of ``(h, w)`` pairs for the output of ``layer`` (a name from ``named_modules()``),
    or, with ``layer=None``, for the last convolution or (non-adaptive) pooling layer that ran.

    Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks",
    Distill 2019, derive the same recurrences.
    """
    if isinstance(model, (list, tuple)):
        r, j = 1, 1
        for window in model:
            k, s, d = (tuple(window) + (1,))[:3] if len(window) == 2 else tuple(window)
            r = r + (k - 1) * d * j
            j = j * s
        return r, j
    return _graph_field(model, layer, input_shape)


def _window(module, x, y):
    """``(k, s, p, d)`` per axis of a window layer that turned ``x`` into ``y``, or ``None``."""
    from .nn import AdaptiveAvgPool2d, AvgPool2d, Conv2d, MaxPool2d
    from .functional.sizes import pair

    if isinstance(module, AdaptiveAvgPool2d):
        axes = []
        for size_in, size_out in zip(x.shape[2:], y.shape[2:]):
            k = size_in // size_out if size_in % size_out == 0 else size_in
            axes.append((k, k, 0, 1))
        return axes
    if not isinstance(module, (Conv2d, MaxPool2d, AvgPool2d)):
        return None
    k = pair(module.kernel_size)
    s = pair(module.stride or module.kernel_size)
    d = pair(getattr(module, "dilation", 1))
    if module.padding == "same":
        p = (d[0] * (k[0] - 1) // 2, d[1] * (k[1] - 1) // 2)
    else:
        p = (0, 0) if module.padding == "valid" else pair(module.padding)
    return list(zip(k, s, p, d))


def _slice_window(t):
    """``(axes, x)`` when ``t`` is a strided slice ``x[:, :, a::s, b::s]`` of a map (ResNet's option-A
    shortcut), a window of 1 with stride ``s`` that starts ``a`` rows in: ``axes`` holds ``(k, s, p,
    d) = (1, s, -a, 1)`` per axis. ``None`` for any other tensor."""
    from .autograd import _parents
    from .functional.shape import GetItem

    if t._node is None or t._node.function is not GetItem or t.ndim != 4:
        return None
    x, index = _parents(t._node)[0], t._node.ctx.saved_tensors[2]
    if not isinstance(index, tuple) or len(index) < 4 or not all(isinstance(i, slice) for i in index[:4]):
        return None
    axes = []
    for i, size in zip(index[2:4], x.shape[2:]):
        start, _, step = i.indices(size)
        axes.append((1, step, -start, 1))
    return axes, x


def _union(fields):
    """The smallest field holding every one of ``fields`` (they share the jump of a merge)."""
    axes = []
    for axis in range(2):
        start = min(f.offset[axis] for f in fields)
        end = max(f.offset[axis] + f.size[axis] for f in fields)
        axes.append((end - start, max(f.jump[axis] for f in fields), start))
    return ReceptiveField(*(tuple(a[i] for a in axes) for i in range(3)))


def _graph_field(model, layer, input_shape):
    from .autograd import _parents
    from .nn import AdaptiveAvgPool2d, Conv2d

    if layer is not None:
        named_layer(model, layer, op="receptive_field")
    if input_shape is None:
        first = next((m for m in model.modules() if isinstance(m, Conv2d)), None)
        input_shape = (first.in_channels if first is not None else 1, 32, 32)
    windows, outputs, handles = {}, {}, []

    def hook(module, inputs, output, name):
        out = _first_tensor(output)
        if out is None:
            return
        geometry = _window(module, inputs[0], out) if inputs and isinstance(inputs[0], Tensor) else None
        if geometry is not None:
            # The output rides along so that no later tensor can be given its id.
            windows[id(out)] = (geometry, inputs[0], out)
            if not isinstance(module, AdaptiveAvgPool2d):
                outputs[None] = out
        outputs[name] = out

    for name, module in model.named_modules():
        if name:
            handles.append(module.register_forward_hook(lambda m, i, o, name=name: hook(m, i, o, name)))
    x = _run_hooked(model, input_shape, handles, record_graph=True)
    if layer is None and None not in outputs:
        raise ValueError(f"receptive_field: {type(model).__name__} has no convolution or pooling layer")
    target = outputs.get(layer)
    if target is None:
        raise ValueError(f"receptive_field: layer {layer!r} did not run in the forward pass of "
                         f"{type(model).__name__} on input {tuple(input_shape)}")
    if target.ndim != 4:
        raise ValueError(f"receptive_field: layer {layer!r} outputs shape {target.shape}, which has no spatial "
                         "positions; expected feature maps (N, C, h, w)")
    whole = ReceptiveField(tuple(input_shape[1:]), tuple(input_shape[1:]), (0, 0))
    fields = {id(x): ReceptiveField((1, 1), (1, 1), (0, 0))}
    # Iterative post-order walk from the target back to x: a tensor's field once its inputs' are known.
    stack = [target]
    while stack:
        t = stack[-1]
        if id(t) in fields:
            stack.pop()
            continue
        window = windows.get(id(t)) or _slice_window(t)
        if window is not None:
            inputs = [window[1]]
        elif t._node is not None:
            inputs = [p for p in _parents(t._node) if p is not None and p.requires_grad]
        else:
            inputs = []  # a parameter or a constant: it depends on no pixel
        pending = [p for p in inputs if id(p) not in fields]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        if window is not None:
            field = fields[id(inputs[0])]
            if field is not None:
                axes = [(r + (k - 1) * d * j, j * s, o - p * j) for (k, s, p, d), r, j, o in zip(window[0], *field)]
                field = ReceptiveField(*(tuple(a[i] for a in axes) for i in range(3)))
            fields[id(t)] = field
            continue
        known = [(p, fields[id(p)]) for p in inputs if fields[id(p)] is not None]
        if t.ndim != 4:
            fields[id(t)] = whole if known else None
            continue
        moving = [f for p, f in known if not (p.ndim == 4 and tuple(p.shape[2:]) == (1, 1) != tuple(t.shape[2:]))]
        fields[id(t)] = _union(moving or [f for _, f in known]) if known else None
    field = fields[id(target)]
    if field is None:
        raise ValueError(f"receptive_field: the output of layer {layer!r} does not depend on the input")
    return field
