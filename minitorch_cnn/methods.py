"""The table of methods: every way of computing an op, by name, and what ``"auto"`` picks.

Two ops can be computed more than one way: ``conv2d`` and ``max_pool2d``. Both rooms of the
framework add their ways to ONE table:

* the lesson (``minitorch_cnn/functional``) registers the methods of the slides -- for conv the
  seven loops (``"naive"``) and the textbook ``"im2col"``, for max pooling ``"slices"`` -- and
  names the one :func:`reference_mode` runs;
* the engine room (``minitorch_cnn/engine``) registers the faster methods (``"gemm"``,
  ``"direct"``, ``"numba"``) and the measured rule ``"auto"`` follows.

The lesson never imports the engine room; without it, ``"auto"`` simply means the lesson's method.
An explicit ``method=`` always wins; :func:`reference_mode` only changes what ``"auto"`` means.
"""

from __future__ import annotations

import contextlib
import contextvars

_METHODS = {}  # op -> {name: implementation}, in registration order (lesson first)
_LESSON = {}  # op -> the lesson's method name
_AUTO = {}  # op -> rule(x, **geometry) -> method name
# A context variable, not a global flag: a thread or task started elsewhere keeps its own mode.
_reference = contextvars.ContextVar("minitorch_cnn_reference_mode", default=False)


def register(op, name, implementation, lesson=False):
    """Add method ``name`` of ``op``; ``lesson=True`` makes it what ``"auto"`` runs in reference mode.

    A name is registered once: a second ``"im2col"`` (or a second lesson method) would silently
    change what every caller and :func:`reference_mode` run, so it is an error.
    """
    table = _METHODS.setdefault(op, {})
    if name in table:
        raise ValueError(f"methods.register: {op} already has a method {name!r}")
    if lesson and op in _LESSON:
        raise ValueError(f"methods.register: {op}'s lesson method is {_LESSON[op]!r} already, got {name!r}")
    table[name] = implementation
    if lesson:
        _LESSON[op] = name


def register_auto(op, rule):
    """Let ``rule(x, **geometry)`` (a raw array and the op's geometry) name ``op``'s ``"auto"`` method."""
    _AUTO[op] = rule


def names(op):
    """Every method name ``op`` accepts, ``"auto"`` first."""
    return ["auto", *_METHODS[op]]


def choose(op, method, x=None, **geometry):
    """The implementation that computes ``op(..., method=method)`` on raw array ``x``: the one place
    where a method name turns into code to run."""
    if method == "auto":
        rule = _AUTO.get(op)
        method = _LESSON[op] if _reference.get() or rule is None else rule(x, **geometry)
    table = _METHODS[op]
    if method not in table:
        known = ", ".join(repr(name) for name in names(op))
        raise ValueError(f"{op}: expected method to be one of {known}, got {method!r}")
    return table[method]


def is_reference_mode() -> bool:
    return _reference.get()


@contextlib.contextmanager
def reference_mode(enabled=True):
    """Run every op on the lesson's own method: a context manager, or a decorator.

    Inside it, ``"auto"`` means ``"im2col"`` (the textbook ``w.reshape(F, -1) @ im2col(x)``, fast
    enough for whole networks) for ``conv2d`` and ``"slices"`` for ``max_pool2d``, so pdb steps
    from any layer into plain Python, and no compiled code runs. The numbers are the defaults'
    up to float rounding. An explicit ``method=`` still wins (``method="naive"`` gives the seven
    loops, for tiny inputs)::

        with mt.reference_mode():
            loss = criterion(model(x), y)
            loss.backward()

        @mt.reference_mode()
        def step(x, y): ...
    """
    token = _reference.set(bool(enabled))
    try:
        yield
    finally:
        _reference.reset(token)
