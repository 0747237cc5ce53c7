"""Reverse-mode automatic differentiation.

Every op is a :class:`Function` with ``forward(ctx, *arrays)`` and ``backward(ctx, grad)``
written next to each other. ``Function.apply`` runs the forward on raw backend arrays and, when
any input requires a gradient, records a graph node on the output tensor. ``Tensor.backward``
walks those nodes in reverse topological order and calls each ``backward`` once.

The chain rule, for an output ``y = f(x1, ..., xk)`` and a scalar loss ``L``::

    dL/dxi = backward(ctx, dL/dy)[i]
"""

from __future__ import annotations

import contextlib
import weakref

from .backend import array_namespace, owns_memory, quiet_float_errors

_grad_state = {"enabled": True}
#: Functions to call once the backward pass in progress has finished; ``None`` outside a backward.
_queued = {"callbacks": None}

#: Function class -> the ``rule(ctx, grad)`` that replaces its backward (see :func:`backward_rule`).
_backward_rules = {}


def is_grad_enabled() -> bool:
    return _grad_state["enabled"]


@contextlib.contextmanager
def no_grad():
    """Context manager that records no graph (evaluation, optimiser updates)."""
    previous = _grad_state["enabled"]
    _grad_state["enabled"] = False
    try:
        yield
    finally:
        _grad_state["enabled"] = previous


@contextlib.contextmanager
def enable_grad():
    """Context manager that turns graph recording back on inside :func:`no_grad`."""
    previous = _grad_state["enabled"]
    _grad_state["enabled"] = True
    try:
        yield
    finally:
        _grad_state["enabled"] = previous


def inference_mode(mode=True):
    """PyTorch's ``torch.inference_mode()`` for evaluation: :func:`no_grad` here (PyTorch's also
    marks the tensors it makes as never needing a graph); ``mode=False`` records as usual."""
    return no_grad() if mode else contextlib.nullcontext()


@contextlib.contextmanager
def backward_rule(function, rule):
    """Inside the block, every backward pass calls ``rule(ctx, grad)`` instead of
    ``function.backward(ctx, grad)`` for the nodes of Function class ``function``.

    The forward is unchanged, and so is the rest of the chain rule: this swaps one op's local
    derivative for another backward signal. Visualisations need exactly that (``visualize.py``):
    the deconvnet of Zeiler & Fergus (2014) sends ``max(grad, 0)`` back through a ReLU whatever
    its input was, and guided backpropagation (Springenberg et al. 2015) keeps only
    ``grad * (x > 0) * (grad > 0)``::

        with autograd.backward_rule(functional.activation.ReLU, lambda ctx, grad: xp.maximum(grad, 0.0)):
            y.backward(seed)

    ``rule`` returns what ``backward`` would: a gradient, or a tuple of them, per positional input.
    Blocks nest; the innermost rule for a class wins, and the previous one is back on exit.
    """
    if not (isinstance(function, type) and issubclass(function, Function)):
        raise TypeError(f"backward_rule: expected a Function class (e.g. functional.activation.ReLU), got {function!r}")
    if not callable(rule):
        raise TypeError(f"backward_rule: expected rule to be a callable rule(ctx, grad), got {type(rule).__name__}")
    missing = object()
    previous = _backward_rules.get(function, missing)
    _backward_rules[function] = rule
    try:
        yield
    finally:
        if previous is missing:
            del _backward_rules[function]
        else:
            _backward_rules[function] = previous


class Context:
    """What a forward pass leaves for its backward pass.

    ``needs_input_grad[i]`` says whether positional input ``i`` wants a gradient, so a backward
    can skip work (a conv whose input is an image needs no ``dx``).
    """

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self._saved = ()
        self._freed_by = None

    def save_for_backward(self, *arrays):
        self._saved = arrays

    @property
    def saved_tensors(self):
        if self._freed_by is not None:
            raise RuntimeError(
                f"{self._freed_by}.backward: this graph was already back-propagated and its saved "
                f"tensors freed, as in PyTorch; to backward through it again, call "
                f".backward(retain_graph=True) the first time"
            )
        return self._saved

    def free_saved(self, function):
        """Drop what the forward saved (a backward through this graph has used it): the arrays go
        now, not when the graph does -- a training loop's last ``loss`` outlives its step."""
        if self._saved:
            self._saved, self._freed_by = (), function.__name__


class Node:
    """A recorded application of a Function: its class, its context, its inputs (a leaf tensor
    itself, an intermediate one as a :class:`GraphRef`) and the version each input had then (see
    :func:`_parents`)."""

    __slots__ = ("function", "ctx", "inputs", "versions")

    def __init__(self, function, ctx, inputs):
        self.function = function
        self.ctx = ctx
        self.inputs = [_graph_input(t) for t in inputs]
        self.versions = [None if t is None else t._version for t in inputs]


class GraphRef:
    """What the graph keeps of an intermediate tensor (the output of a recorded op) that a later op
    read: the node that made it, its shape and dtype, and a weak reference to the tensor.

    Not its array. An activation that no backward saved (batch norm's output, which only the ReLU
    after it reads, and ReLU saves its own output) is freed as soon as the forward drops it, not
    kept until the graph goes: PyTorch's graph holds ``grad_fn`` nodes rather than tensors for the
    same reason. While the tensor lives, :func:`_parents` hands out the tensor itself.
    """

    __slots__ = ("_node", "shape", "ndim", "dtype", "requires_grad", "_version", "tensor")
    _retain_grad = False  # whoever asked for .grad holds the tensor, which is then used instead

    def __init__(self, tensor):
        self._node, self.shape, self.dtype = tensor._node, tensor.shape, tensor.dtype
        self.ndim, self.requires_grad, self._version = len(tensor.shape), tensor.requires_grad, tensor._version
        self.tensor = weakref.ref(tensor)


def _graph_input(t):
    """A node's record of input ``t``: ``None``, a leaf itself (its ``.grad`` gets filled), or one
    :class:`GraphRef` per intermediate tensor and version, shared by every op that read it."""
    if t is None or t._node is None:
        return t
    ref = t._graph_ref
    if ref is None or ref._version != t._version:
        ref = t._graph_ref = GraphRef(t)
    return ref


class Function:
    """Base class of every differentiable op.

    Subclasses define two static methods, side by side::

        @staticmethod
        def forward(ctx, *args, **kwargs) -> array
        @staticmethod
        def backward(ctx, grad) -> gradient or tuple of gradients, one per positional arg

    Tensors among the positional args are unwrapped to their backend arrays before ``forward``
    sees them; the backward returns ``None`` for args that need no gradient.
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        from .tensor import Tensor

        enabled = is_grad_enabled()
        needs = tuple(enabled and isinstance(a, Tensor) and a.requires_grad for a in args)
        ctx = Context(needs)
        raw = [a.array if isinstance(a, Tensor) else a for a in args]
        with quiet_float_errors():
            out = cls.forward(ctx, *raw, **kwargs)
        requires_grad = any(needs)
        result = Tensor(out, requires_grad=requires_grad)
        if requires_grad:
            result._node = Node(cls, ctx, [a if isinstance(a, Tensor) else None for a in args])
        return result


def queue_callback(callback):
    """Call ``callback()`` once the backward pass in progress has finished, after every gradient
    has been accumulated (PyTorch's ``Variable._execution_engine.queue_callback``).

    Only a backward may queue one, usually a Function's backward that wants all the gradients:
    :class:`~minitorch_cnn.distributed.DistributedDataParallel` averages them over the processes
    this way. Callbacks run in the order they were queued, and may queue more.
    """
    if _queued["callbacks"] is None:
        raise RuntimeError("queue_callback: can only be called during a backward pass")
    _queued["callbacks"].append(callback)


def backward(root, grad, retain_graph=False):
    """Back-propagate ``grad`` (an array shaped like ``root``) through ``root``'s graph.

    Each op's saved tensors are freed once its backward has run, unless ``retain_graph``: a
    second backward through an op that saved something raises, as PyTorch does.

    The order is found iteratively (no recursion), so a 152-layer ResNet cannot hit Python's
    recursion limit. Gradients of tensors used more than once are summed; leaves that require a
    gradient accumulate into ``.grad`` as in PyTorch. A Function class with a rule set by
    :func:`backward_rule` has that rule called instead of its ``backward``. NumPy's warnings about
    inf and nan are silenced, as PyTorch has none (:func:`backend.quiet_float_errors`). Then the
    callbacks queued during the pass (:func:`queue_callback`) run.
    """
    outer = _queued["callbacks"]
    _queued["callbacks"] = callbacks = []
    try:
        _backward_pass(root, grad, retain_graph)
        while callbacks:
            callbacks.pop(0)()
    finally:
        _queued["callbacks"] = outer


def _backward_pass(root, grad, retain_graph):
    order = _topological_order(root)
    grads = {_key(root): grad}
    # Arrays that something else may hold too: the caller's grad, and a grad an op passed on
    # unchanged or to two inputs (a + b). A .grad made from one of these gets a copy; any other
    # gradient array is new and is kept as the .grad itself (a copy of VGG-16's first fully
    # connected layer's gradient would add 392 MiB to the peak of a training step).
    shared = {id(grad)}
    with quiet_float_errors():
        for tensor in reversed(order):
            g = grads.pop(_key(tensor), None)
            if g is None:
                continue
            node = tensor._node
            if node is None or tensor._retain_grad:
                _accumulate(tensor, g, copy=id(g) in shared or not owns_memory(g))
            if node is None:
                continue
            rule = _backward_rules.get(node.function, node.function.backward)
            input_grads = rule(node.ctx, g)
            if not retain_graph:
                node.ctx.free_saved(node.function)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            if len(input_grads) < len(node.inputs):
                input_grads = input_grads + (None,) * (len(node.inputs) - len(input_grads))
            for parent, parent_grad in zip(_parents(node), input_grads):
                if parent is None or parent_grad is None or not parent.requires_grad:
                    continue
                if parent_grad is g or sum(other is parent_grad for other in input_grads) > 1:
                    shared.add(id(parent_grad))
                if tuple(parent_grad.shape) != tuple(parent.shape):
                    raise RuntimeError(
                        f"{node.function.__name__}.backward returned a gradient of shape "
                        f"{tuple(parent_grad.shape)} for an input of shape {tuple(parent.shape)}"
                    )
                key = _key(parent)
                grads[key] = parent_grad if key not in grads else grads[key] + parent_grad


def _key(tensor):
    """What the backward counts as one tensor: its node when an op made it. An op's output can be
    reached through several objects -- the tensor, or :class:`GraphRef` s taken before and after
    an in-place op rebound it -- and its node's backward must run once, with their gradients
    summed."""
    return id(tensor) if tensor._node is None else id(tensor._node)


def _topological_order(root):
    """Tensors reachable from ``root``, one per :func:`_key`, each after all of its inputs
    (iterative DFS)."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        tensor, expanded = stack.pop()
        if expanded:
            order.append(tensor)
            continue
        if _key(tensor) in visited:
            continue
        visited.add(_key(tensor))
        stack.append((tensor, True))
        if tensor._node is not None:
            for parent in _parents(tensor._node):
                if parent is not None and parent.requires_grad and _key(parent) not in visited:
                    stack.append((parent, False))
    return order


def _accumulate(tensor, g, copy=True):
    """``tensor.grad += g``, out of place. The first gradient is copied when ``copy``: a backward
    may hand the same array to several inputs (``a + b``), and ``a.grad *= 2`` must not change
    ``b.grad``."""
    from .tensor import Tensor

    if tensor.grad is None:
        tensor.grad = Tensor(array_namespace(g).asarray(g, copy=True) if copy else g)
    else:
        tensor.grad = Tensor(tensor.grad.array + g)


def _parents(node):
    """The input tensors of ``node`` as they were when the op ran: an intermediate tensor that is
    gone by now is its :class:`GraphRef` (a node, a shape, no array), which the backward walks as
    it would the tensor.

    An in-place op on a tensor that is part of a graph (``y += 1``, ``Y[i, j] = v``) rebinds the
    tensor to a new node and keeps its previous state in ``_older[version]``; an op that read the
    tensor before gets that previous state back here, so its gradient reaches the right version
    (PyTorch's edges point to the producing node for the same reason). Data overwritten in
    memory (an in-place op under ``no_grad`` or on a tensor without grad) cannot be recovered:
    that raises, as PyTorch does when the overwritten tensor was saved for backward.
    """
    parents = []
    for tensor, version in zip(node.inputs, node.versions):
        if isinstance(tensor, GraphRef):
            # The tensor while it lives (with its ._older versions); else the reference.
            alive = tensor.tensor()
            tensor = tensor if alive is None else alive
        if tensor is not None and tensor._version != version:
            if version not in (tensor._older or {}):
                raise RuntimeError(
                    f"{node.function.__name__}.backward: an input of shape {tensor.shape} was modified by an "
                    f"in-place operation after {node.function.__name__} used it (version {version}, now "
                    f"{tensor._version}); write the update out of place (x = x + y, not x += y)"
                )
            tensor = tensor._older[version]
        parents.append(tensor)
    return parents
