"""``Optimizer``: the base class that holds parameter groups and per-parameter state.

A parameter group is a dict ``{"params": [...], "lr": ..., ...}``; every hyper-parameter not
given in a group falls back to the optimiser's defaults. Groups let one model train with
several learning rates, e.g. a pretrained backbone at ``lr/10`` and a new head at ``lr``::

    SGD([{"params": backbone.parameters(), "lr": 1e-3},
         {"params": head.parameters()}], lr=1e-2, momentum=0.9)

Updates are computed with the parameter's own array namespace, so they run unchanged on NumPy
and CuPy, and are written into ``p``'s memory under ``no_grad``, as PyTorch's are: ``p`` (the
object the model holds) and any ``p.data`` taken earlier see the new values.
"""

from __future__ import annotations

from .. import backend
from ..autograd import no_grad
from ..tensor import Tensor


class Optimizer:
    """Base class: subclasses pass their defaults and define :meth:`step`.

    Attributes:
        param_groups: list of dicts, each with ``"params"`` (a list of Tensors) and its
            hyper-parameters.
        state: ``{parameter: {name: array or number}}`` (momentum buffers, Adam's moments).
    """

    def __init__(self, params, defaults):
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(
                f"{name}: expected an iterable of Tensors or of parameter-group dicts, got a single Tensor "
                f"(pass model.parameters() or [tensor])"
            )
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a group ``{"params": [...], **hyper-parameters}``; missing hyper-parameters take
        the defaults. A parameter may belong to one group only."""
        name = type(self).__name__
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{name}.add_param_group: expected a dict with a 'params' entry, got {group!r}")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimise Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: cannot optimise a non-leaf Tensor (the result of an op)")
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or any(id(p) in taken for p in params):
            raise ValueError(f"{name}: some parameters appear more than once (in one group or across groups)")
        full = dict(self.defaults)
        full.update(group)
        full["params"] = params
        self.param_groups.append(full)

    def zero_grad(self, set_to_none=True):
        """Forget every parameter's gradient (``grad = None``; zeros in place with
        ``set_to_none=False``, as PyTorch); call before each backward."""
        for group in self.param_groups:
            for p in group["params"]:
                p.zero_grad(set_to_none)

    def step(self):
        """Update every parameter that has a gradient."""
        raise NotImplementedError(f"{type(self).__name__} must define step()")

    @staticmethod
    def _trainable(group):
        """The parameters of ``group`` to update: frozen ones (``requires_grad=False``) and those
        that received no gradient keep their values, as in PyTorch."""
        return [p for p in group["params"] if p.requires_grad and p.grad is not None]

    @staticmethod
    def _update(p, delta):
        """``p -= delta`` in ``p``'s memory (PyTorch's ``p.add_(delta, alpha=-1)`` under ``no_grad``)."""
        with no_grad():
            p.sub_(delta)

    # ------------------------------------------------------------ saving and loading
    def state_dict(self):
        """``{"state": {index: {name: value}}, "param_groups": [{..., "params": [index, ...]}]}``.

        Parameters are referred to by their position across all groups, as in PyTorch, so the
        dict can be loaded into an optimiser built on a fresh copy of the model. Arrays are host
        NumPy copies.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {
            index[id(p)]: {k: backend.to_numpy(v) if backend.is_array(v) else v for k, v in s.items()}
            for p, s in self.state.items()
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and state saved by :meth:`state_dict`.

        The groups must have the same sizes as this optimiser's; state arrays are moved to each
        parameter's device and dtype.
        """
        name = type(self).__name__
        saved_groups = state_dict["param_groups"]
        saved_sizes = [len(g["params"]) for g in saved_groups]
        own_sizes = [len(g["params"]) for g in self.param_groups]
        if saved_sizes != own_sizes:
            raise ValueError(
                f"{name}.load_state_dict: expected parameter groups of sizes {own_sizes}, got {saved_sizes}"
            )
        by_index = {}
        for saved, own in zip(saved_groups, self.param_groups):
            for i, p in zip(saved["params"], own["params"]):
                by_index[int(i)] = p
        state = {}
        for i, entries in state_dict["state"].items():
            p = by_index[int(i)]
            state[p] = {k: _restore(v, p, k, name) for k, v in entries.items()}
        for saved, own in zip(saved_groups, self.param_groups):
            own.update({k: v for k, v in saved.items() if k != "params"})
        self.state = state


def _restore(value, p, key, name):
    """A saved state entry on ``p``'s backend: arrays shaped like ``p`` get its dtype and device,
    0-d arrays (a step count read back from a file) become Python numbers."""
    if not backend.is_array(value):
        return value
    host = backend.to_numpy(value)
    if host.ndim == 0:
        return host.item()
    if tuple(host.shape) != p.shape:
        raise ValueError(
            f"{name}.load_state_dict: state {key!r} has shape {tuple(host.shape)}, its parameter {p.shape}"
        )
    return p.xp.astype(backend.from_numpy(host, p.array), p.dtype)
