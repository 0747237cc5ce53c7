"""``Module``: a layer that owns its parameters, buffers and sub-layers.

Assigning a :class:`Parameter` or a :class:`Module` to an attribute registers it, so a model is
written as plain Python::

    class LeNet(Module):
        def __init__(self):
            super().__init__()
            self.conv1 = Conv2d(1, 6, 5)       # registered as child "conv1"
            self.fc = Linear(120, 10)          # its weight becomes "fc.weight"

Registered objects are also stored as ordinary attributes, so reading ``model.conv1`` is a plain
attribute lookup and a misspelled name raises ``AttributeError`` like any Python object.
"""

from __future__ import annotations

import collections

from .. import backend
from ..tensor import Tensor, to_arguments

IncompatibleKeys = collections.namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Parameter(Tensor):
    """A Tensor that a :class:`Module` registers as trainable (``requires_grad=True``)."""

    def __init__(self, data, requires_grad=True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class _Uninitialized:
    """What a lazy layer's parameters and buffers are before its first call: a placeholder with no
    shape yet, whose empty array still carries the dtype and device (``Module.to`` converts it).

    ``materialize(shape)`` gives it a zero array of that shape and turns the object itself into a
    ``Parameter`` (or plain buffer ``Tensor``), so whoever holds it, an optimiser built before the
    first call included, holds the real parameter afterwards.
    """

    cls_to_become = None

    def materialize(self, shape):
        xp = self.xp
        self.array = xp.zeros(tuple(shape), dtype=self.dtype, device=getattr(self.array, "device", None))
        self.__class__ = self.cls_to_become

    def __repr__(self):
        return f"<{type(self).__name__}>"


class UninitializedParameter(_Uninitialized, Parameter):
    """A lazy layer's parameter before the first call (PyTorch's ``nn.UninitializedParameter``)."""

    cls_to_become = Parameter

    def __init__(self, requires_grad=True, dtype=backend.DEFAULT_DTYPE):
        super().__init__(new_array((0,), dtype=dtype), requires_grad=requires_grad)


class UninitializedBuffer(_Uninitialized, Tensor):
    """A lazy layer's buffer (batch norm's running statistics) before the first call."""

    cls_to_become = Tensor

    def __init__(self, dtype=backend.DEFAULT_DTYPE):
        super().__init__(new_array((0,), dtype=dtype))


def is_uninitialized(t):
    """Whether ``t`` is a lazy layer's parameter or buffer whose shape is not known yet."""
    return isinstance(t, _Uninitialized)


class RemovableHandle:
    """Returned by :meth:`Module.register_forward_hook`; ``handle.remove()`` unhooks."""

    def __init__(self, hooks, key):
        self._hooks = hooks
        self._key = key

    def remove(self):
        self._hooks.pop(self._key, None)


class Module:
    """Base class of every layer and model.

    Subclasses call ``super().__init__()`` first, assign parameters and sub-modules as
    attributes, and define ``forward``. Calling the module runs ``forward`` and then the
    forward hooks.

    Attributes:
        training: ``True`` after :meth:`train`, ``False`` after :meth:`eval`; dropout and batch
            norm read it.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_forward_hooks", {})
        object.__setattr__(self, "_next_hook_id", 0)
        self.training = True

    # ------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() before assigning attribute {name!r}"
            )
        if isinstance(value, Parameter):
            registry = self._parameters
        elif isinstance(value, Module):
            registry = self._modules
        elif name in self._buffers and (value is None or isinstance(value, Tensor)):
            registry = self._buffers
        elif name in self._parameters and value is not None:
            raise TypeError(
                f"{type(self).__name__}: cannot assign {type(value).__name__} to parameter {name!r}: "
                f"expected nn.Parameter or None"
            )
        else:
            registry = None
        for other in (self._parameters, self._buffers, self._modules):
            if other is not registry:
                other.pop(name, None)
        if registry is not None:
            registry[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name, tensor):
        """Register a Tensor that is state but not trained (batch norm's running statistics).

        Buffers are saved by :meth:`state_dict` and moved by :meth:`to`, but the optimiser never
        sees them.
        """
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"register_buffer: expected a non-empty name without '.', got {name!r}")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: expected a Tensor or None for {name!r}, got {type(tensor).__name__}")
        if name in self.__dict__ and name not in self._buffers:
            raise ValueError(f"register_buffer: expected a new name, got {name!r}, which is already an attribute")
        self._buffers[name] = tensor
        object.__setattr__(self, name, tensor)

    def add_module(self, name, module):
        """Register ``module`` as the child ``name``, as ``setattr(self, name, module)`` would.

        For names that are not identifiers, such as the ``"0"``, ``"1"`` of a Sequential built in
        a loop (PyTorch's ``add_module``; ``register_module`` is the same method).
        """
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"add_module: expected a non-empty name without '.', got {name!r}")
        _check_module(module, "add_module")
        if name in self.__dict__ and name not in self._modules:
            raise ValueError(f"add_module: expected a new name, got {name!r}, which is already an attribute")
        setattr(self, name, module)

    register_module = add_module

    def apply(self, fn):
        """Call ``fn(module)`` on every child (recursively, children first) and then on ``self``;
        returns ``self``. The usual way to re-initialise a model (d2l's ``net.apply(init_cnn)``)::

            def init_cnn(m):
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.xavier_uniform_(m.weight)
        """
        for child in self._modules.values():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------ traversal
    def _walk(self, prefix=""):
        """``(name, module)`` for this module and every descendant, depth first; a module
        registered under two names (weight tying) appears under both, as in PyTorch's state dict."""
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            yield name, module
            children = [(f"{name}.{key}" if name else key, child) for key, child in module._modules.items()]
            stack.extend(reversed(children))

    def named_modules(self, prefix=""):
        """``(name, module)`` for this module and every descendant, depth first, each module once."""
        seen = set()
        for name, module in self._walk(prefix):
            if id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        yield from self._modules.items()

    def children(self):
        yield from self._modules.values()

    def _named_members(self, registry_name, recurse=True):
        seen = set()
        for prefix, module in self.named_modules() if recurse else [("", self)]:
            for key, value in getattr(module, registry_name).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{prefix}.{key}" if prefix else key), value

    def named_parameters(self, recurse=True):
        """``("features.0.weight", Parameter)`` pairs in registration order; shared ones once.
        ``recurse=False``: only the parameters this module registered itself."""
        return self._named_members("_parameters", recurse)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse):
            yield p

    def named_buffers(self, recurse=True):
        return self._named_members("_buffers", recurse)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse):
            yield b

    # ------------------------------------------------------------ saving and loading
    def _state_tensors(self):
        """Ordered ``name -> Tensor`` of every parameter and buffer, as PyTorch orders them:
        per module (depth first) its parameters, then its buffers."""
        state = collections.OrderedDict()
        for prefix, module in self._walk():
            for registry in (module._parameters, module._buffers):
                for key, value in registry.items():
                    if value is not None:
                        state[f"{prefix}.{key}" if prefix else key] = value
        return state

    def state_dict(self):
        """An ordered dict ``name -> NumPy array`` (host copies) of all parameters and buffers.

        Keys follow PyTorch: ``"features.0.weight"``, ``"bn.running_mean"``,
        ``"bn.num_batches_tracked"``. A lazy layer not yet called holds no array: its entries are
        the :class:`UninitializedParameter` objects themselves, as in PyTorch.
        """
        return collections.OrderedDict((name, t if is_uninitialized(t) else t.detach().numpy())
                                       for name, t in self._state_tensors().items())

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays from ``state_dict`` into this module's parameters and buffers, in place.

        Values may be NumPy arrays, backend arrays or Tensors; each is converted to the target's
        device and dtype, and every Parameter keeps its identity (an optimiser built on it keeps
        working).

        With ``strict=True`` any missing or unexpected key is an error; a shape mismatch is
        always an error. The ValueError lists every problem by name at once, and nothing is
        copied unless everything fits. Returns ``IncompatibleKeys(missing_keys,
        unexpected_keys)``.

        A lazy layer not yet called takes its shapes from the state dict, as in PyTorch: its
        parameters are materialised with the checkpoint's arrays and the layer becomes the eager
        one (``LazyConv2d`` -> ``Conv2d``, ``in_channels`` read from the weight). An uninitialised
        entry in ``state_dict`` (from another lazy model) leaves its target as it is.
        """
        own = self._state_tensors()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched = []
        hosts = {}
        for name, target in own.items():
            if name not in state_dict:
                continue
            if is_uninitialized(state_dict[name]):
                if not is_uninitialized(target):
                    mismatched.append(f"{name}: checkpoint uninitialised, model {target.shape}")
                continue
            host = _to_host(state_dict[name])
            if tuple(host.shape) != target.shape and not is_uninitialized(target):
                mismatched.append(f"{name}: checkpoint {tuple(host.shape)}, model {target.shape}")
            hosts[name] = host
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if mismatched:
            problems.append("shape mismatches: " + "; ".join(mismatched))
        if problems:
            raise ValueError(
                f"load_state_dict: the state dict does not fit {type(self).__name__}:\n  " + "\n  ".join(problems)
            )
        # Imported here: lazy.py builds on this module.
        from .lazy import LazyModuleMixin

        waiting = [m for _, m in self.named_modules()
                   if isinstance(m, LazyModuleMixin) and m.has_uninitialized_params()]
        for name, host in hosts.items():
            target = own[name]
            fresh = is_uninitialized(target)
            if fresh:
                target.materialize(host.shape)
            xp = backend.array_namespace(target.array)
            value = xp.astype(backend.from_numpy(host, target.array), target.dtype)
            if fresh:
                target.array = value
            else:
                # into the existing memory, as PyTorch's copy_: `p.data` views taken earlier follow
                target.array[...] = value
        for module in waiting:
            if not module.has_uninitialized_params():
                module._become_eager(fresh=False)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------ modes, devices, gradients
    def train(self, mode=True):
        """Set ``training`` on this module and every descendant; returns ``self``."""
        for _, module in self.named_modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        """``train(False)``: dropout becomes the identity, batch norm uses its running statistics."""
        return self.train(False)

    def to(self, *args, device=None, dtype=None, non_blocking=False):
        """Move every parameter and buffer to ``device`` and cast floating ones to ``dtype``, in place,
        in PyTorch's forms: ``model.to(device)``, ``model.to(mt.float64)``, ``model.to("cpu", mt.float64)``,
        ``model.to(tensor)``, ``model.to(device=..., dtype=...)``.

        Parameters keep their identity, so an optimiser created earlier still updates them.
        Integer buffers (``num_batches_tracked``) keep their dtype. ``non_blocking`` is accepted and
        ignored. Returns ``self``.
        """
        device, dtype = to_arguments(args, device, dtype)
        for t in list(self.parameters()) + list(self.buffers()):
            t.array = _convert(t.array, device, dtype)
            if t.grad is not None:
                t.grad.array = _convert(t.grad.array, device, dtype)
        return self

    def zero_grad(self, set_to_none=True):
        """Forget every parameter's gradient (``grad = None``), as PyTorch does by default; zeros in
        place with ``set_to_none=False``."""
        for p in self.parameters():
            p.zero_grad(set_to_none)

    def requires_grad_(self, flag=True):
        """Freeze (``False``) or unfreeze every parameter; returns ``self``."""
        for p in self.parameters():
            p.requires_grad = bool(flag)
        return self

    # ------------------------------------------------------------ calling
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def register_forward_hook(self, hook):
        """Call ``hook(module, inputs, output)`` after every forward (to inspect activations).

        A hook that returns something other than ``None`` replaces the output. Returns a handle
        whose ``remove()`` unhooks it.
        """
        key = self._next_hook_id
        object.__setattr__(self, "_next_hook_id", key + 1)
        self._forward_hooks[key] = hook
        return RemovableHandle(self._forward_hooks, key)

    def __call__(self, *args, **kwargs):
        _call_depth[0] += 1
        try:
            output = self.forward(*args, **kwargs)
        except (ValueError, TypeError, IndexError) as exc:
            # The innermost layer that failed names itself (a leaf by its repr, "Conv2d(3, 64, ...)",
            # a container by its class); the outermost call (the model) then names that layer by its
            # path, e.g. "features.0", and the shape it was given.
            if not hasattr(exc, "layer"):
                label = repr(self) if not self._modules else type(self).__name__
                named = type(exc)(f"{label}: {exc}")
                named.layer = self
                named.input_shape = next((tuple(a.shape) for a in args if hasattr(a, "shape")), None)
                raise named from exc
            if _call_depth[0] > 1:
                raise
            path = next((name for name, m in self.named_modules() if m is exc.layer), "?")
            located = type(exc)(f"layer '{path}' of {type(self).__name__} got input of shape {exc.input_shape}: {exc}")
            located.layer, located.input_shape = exc.layer, exc.input_shape
            raise located from exc
        finally:
            _call_depth[0] -= 1
        for hook in list(self._forward_hooks.values()):
            replaced = hook(self, args, output)
            if replaced is not None:
                output = replaced
        return output

    # ------------------------------------------------------------ printing
    def extra_repr(self):
        """The text inside this module's parentheses, e.g. ``"3, 64, kernel_size=(3, 3)"``."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, child in self._modules.items():
            lines.append(f"({name}): " + repr(child).replace("\n", "\n  "))
        if not self._modules:
            return f"{type(self).__name__}({extra})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


_call_depth = [0]


def new_array(shape, fill=0.0, dtype=backend.DEFAULT_DTYPE):
    """A CPU array of ``shape`` filled with ``fill``: the starting point of a new parameter or
    buffer, before an initialiser draws its values and ``Module.to`` moves it."""
    xp = backend.namespace_for_device("cpu")
    dtype = backend.dtype_of(xp, dtype)
    # zeros rather than full(0): the operating system hands out zeroed pages lazily, so a model
    # whose weights are about to be loaded (or only counted) costs no pass over its memory.
    return xp.zeros(tuple(shape), dtype=dtype) if fill == 0 else xp.full(tuple(shape), fill, dtype=dtype)


def _to_host(value):
    if isinstance(value, Tensor):
        return value.detach().numpy()
    if backend.is_array(value):
        return backend.to_numpy(value)
    return backend.to_numpy(backend.asarray(value))


def _convert(array, device, dtype):
    if device is not None:
        array = backend.to_device(array, device)
    if dtype is not None and "float" in backend.dtype_name(array.dtype):
        xp = backend.array_namespace(array)
        array = xp.astype(array, backend.dtype_of(xp, dtype))
    return array


class Sequential(Module):
    """Layers applied one after another: ``Sequential(Conv2d(1, 6, 5), Tanh(), AvgPool2d(2))``.

    Children are named ``"0"``, ``"1"``, ... (or by the keys of an ordered dict), so the first
    conv's weight is ``"0.weight"``. Supports ``len``, iteration, ``seq[i]``, ``seq[a:b]``,
    ``seq[i] = module`` (a new head: ``model.classifier[6] = Linear(4096, 2)``) and ``append``.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            items = modules[0].items()
        else:
            items = ((str(i), m) for i, m in enumerate(modules))
        for name, module in items:
            _check_module(module, "Sequential")
            setattr(self, name, module)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def append(self, module):
        _check_module(module, "Sequential.append")
        setattr(self, str(len(self._modules)), module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(collections.OrderedDict(items[index]))
        return items[_check_index(index, len(items), "Sequential")][1]

    def __setitem__(self, index, module):
        _check_module(module, "Sequential.__setitem__")
        names = list(self._modules)
        setattr(self, names[_check_index(index, len(names), "Sequential")], module)


class ModuleList(Module):
    """A list of sub-modules that are registered (so their parameters are found) but not chained:
    the owner's ``forward`` decides how to use them (ResNet stages, Inception branches)."""

    def __init__(self, modules=()):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module):
        _check_module(module, "ModuleList.append")
        setattr(self, str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        items = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(items[index])
        return items[_check_index(index, len(items), "ModuleList")]

    def __setitem__(self, index, module):
        _check_module(module, "ModuleList.__setitem__")
        setattr(self, str(_check_index(index, len(self._modules), "ModuleList")), module)


class ModuleDict(Module):
    """Sub-modules by name, registered (their parameters are found, and their state-dict keys are
    ``name.weight``) but not chained, as PyTorch's ``nn.ModuleDict``: the owner's ``forward`` picks
    them by key (one head per task, a choice of operation per edge in a searched cell)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def update(self, modules):
        items = modules.items() if hasattr(modules, "items") else modules
        for key, module in items:
            self[key] = module

    def __setitem__(self, key, module):
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(f"ModuleDict: expected a non-empty name without '.', got {key!r}")
        _check_module(module, "ModuleDict.__setitem__")
        setattr(self, key, module)

    def __getitem__(self, key):
        if key not in self._modules:
            raise KeyError(f"ModuleDict: no module named {key!r} (has {', '.join(self._modules) or 'none'})")
        return self._modules[key]

    def __delitem__(self, key):
        self[key]  # the KeyError above for an unknown name
        del self._modules[key]

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()


def _check_module(module, op):
    if not isinstance(module, Module):
        raise TypeError(f"{op}: expected a Module, got {type(module).__name__}")


def _check_index(index, length, op):
    if not -length <= index < length:
        raise IndexError(f"{op}: index {index} is out of range for {length} modules")
    return index % length
