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

_METHODS = {}  # op -> {name: implementation}, in registration order (lesson first)
_LESSON = {}  # op -> the lesson's method name
_AUTO = {}  # op -> rule(x, **geometry) -> method name
_state = {"reference": False}


def register(op, name, implementation, lesson=False):
    """Add method ``name`` of ``op``; ``lesson=True`` makes it what ``"auto"`` runs in reference mode."""
    _METHODS.setdefault(op, {})[name] = implementation
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
        method = _LESSON[op] if _state["reference"] or rule is None else rule(x, **geometry)
    table = _METHODS[op]
    if method not in table:
        known = ", ".join(repr(name) for name in names(op))
        raise ValueError(f"{op}: expected method to be one of {known}, got {method!r}")
    return table[method]


def is_reference_mode() -> bool:
    return _state["reference"]


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
    previous = _state["reference"]
    _state["reference"] = bool(enabled)
    try:
        yield
    finally:
        _state["reference"] = previous
