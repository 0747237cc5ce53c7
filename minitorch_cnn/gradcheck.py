"""Numerical gradient checking with central differences, in float64.

For each input element ``x_i`` the numeric derivative of the scalar ``L = sum(f(x) * R)`` (``R``
a fixed random weighting, so every output element matters) is::

    dL/dx_i ~= (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)

and it must match the analytic gradient from ``backward`` within ``atol + rtol * |numeric|``.

``mode="full"`` visits every element (the teaching version, cost: 2 forward passes per element).
``mode="directional"`` checks random directions ``v`` instead: the numeric
``(L(x + eps v) - L(x - eps v)) / (2 eps)`` must equal ``<grad, v>``; this is what makes a whole
ResNet checkable.
"""

from __future__ import annotations

import numpy as np

from . import backend
from .autograd import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """A gradient check failed; the message names the worst element and both values."""


def _as_float64_leaf(t):
    xp = backend.array_namespace(t.array)
    data = xp.astype(t.array, xp.float64) if "float" in backend.dtype_name(t.dtype) else t.array
    return Tensor(data, requires_grad=t.requires_grad)


def _outputs(result):
    if isinstance(result, Tensor):
        return [result]
    if isinstance(result, (tuple, list)):
        return [r for r in result if isinstance(r, Tensor)]
    raise TypeError(f"gradcheck: fn must return a Tensor or a tuple of Tensors, got {type(result).__name__}")


def _loss(fn, inputs, weights, seed):
    backend.manual_seed(seed)  # the same dropout mask on every evaluation
    with no_grad():
        outs = _outputs(fn(*inputs))
    return sum(float(np.sum(o.detach().numpy() * w)) for o, w in zip(outs, weights))


def _set(t, host):
    t.array = backend.from_numpy(host, t.array)


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, mode="full", directions=3, seed=0, params=()):
    """Check ``fn``'s analytic gradients against central differences, in float64.

    Args:
        fn: callable taking the tensors in ``inputs`` and returning a Tensor (or tuple of them).
        inputs: Tensors; those with ``requires_grad=True`` are checked. Float inputs are converted
            to float64 (pass float64 ``params`` too: see :func:`gradcheck_module`).
        eps: finite-difference step. atol, rtol: the tolerance ``atol + rtol*|numeric|``.
        mode: ``"full"`` (every element) or ``"directional"`` (``directions`` random directions).
        params: extra leaf tensors that ``fn`` uses internally (a module's parameters).

    Returns True; raises :class:`GradcheckError` naming the worst index, the analytic and numeric
    values and the relative error.
    """
    if mode not in ("full", "directional"):
        raise ValueError(f"gradcheck: mode must be 'full' or 'directional', got {mode!r}")
    inputs = [_as_float64_leaf(t) if isinstance(t, Tensor) else t for t in inputs]
    checked = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad] + list(params)
    if not checked:
        raise ValueError("gradcheck: no input or parameter has requires_grad=True")
    for t in checked:
        if backend.dtype_name(t.dtype) != "float64":
            raise TypeError(f"gradcheck: checked tensors must be float64, got {backend.dtype_name(t.dtype)}")
        t.grad = None

    rng = np.random.default_rng(seed)
    backend.manual_seed(seed)
    outs = _outputs(fn(*inputs))
    weights = [rng.standard_normal(o.shape) for o in outs]
    total = None
    for o, w in zip(outs, weights):
        term = (o * Tensor(backend.from_numpy(w, o.array))).sum()
        total = term if total is None else total + term
    total.backward()
    analytic = [np.zeros(t.shape) if t.grad is None else backend.to_numpy(t.grad.array) for t in checked]

    for k, (t, grad) in enumerate(zip(checked, analytic)):
        base = t.detach().numpy()
        name = f"input {k}" if k < len(checked) - len(params) else f"parameter {k - (len(checked) - len(params))}"
        if mode == "full":
            numeric = np.zeros_like(base)
            for i in np.ndindex(base.shape):
                plus, minus = base.copy(), base.copy()
                plus[i] += eps
                minus[i] -= eps
                _set(t, plus)
                lp = _loss(fn, inputs, weights, seed)
                _set(t, minus)
                lm = _loss(fn, inputs, weights, seed)
                numeric[i] = (lp - lm) / (2 * eps)
            _set(t, base)
            _compare(name, t.shape, grad, numeric, atol, rtol)
        else:
            for d in range(directions):
                v = rng.standard_normal(base.shape)
                _set(t, base + eps * v)
                lp = _loss(fn, inputs, weights, seed)
                _set(t, base - eps * v)
                lm = _loss(fn, inputs, weights, seed)
                _set(t, base)
                numeric = np.array([(lp - lm) / (2 * eps)])
                exact = np.array([float(np.sum(grad * v))])
                _compare(f"{name} (direction {d})", t.shape, exact, numeric, atol, rtol)
    return True


def _compare(name, shape, analytic, numeric, atol, rtol):
    error = np.abs(analytic - numeric)
    bound = atol + rtol * np.abs(numeric)
    if np.all(error <= bound):
        return
    worst = np.unravel_index(np.argmax(error - bound), error.shape)
    a, n = float(analytic[worst]), float(numeric[worst])
    rel = abs(a - n) / max(abs(a), abs(n), 1e-12)
    where = f"index {tuple(int(i) for i in worst)}" if error.size > 1 else "the checked direction"
    raise GradcheckError(
        f"gradcheck failed for {name} of shape {tuple(shape)} at {where}: "
        f"analytic {a:.8g}, numeric {n:.8g}, relative error {rel:.3g} "
        f"({int(np.sum(error > bound))} of {error.size} values out of tolerance)"
    )


def gradcheck_module(module, input, eps=1e-6, atol=1e-5, rtol=1e-3, mode="directional", directions=3, seed=0):
    """Gradient-check a module with respect to ``input`` and all its trainable parameters.

    The module is moved to float64 first (its parameters are checked in place).
    """
    module.to(dtype="float64")
    x = _as_float64_leaf(input if isinstance(input, Tensor) else Tensor(input))
    if not x.requires_grad:
        x.requires_grad = True
    params = [p for p in module.parameters() if p.requires_grad]
    return gradcheck(module, [x], eps=eps, atol=atol, rtol=rtol, mode=mode, directions=directions,
                     seed=seed, params=params)


def gradcheck_model(model, input, mode="train", eps=1e-8, directions=1, seed=0):
    """End-to-end directional float64 gradient check of a whole network, in one mode.

    ``mode="train"``: batch norm on batch statistics (so the input needs ``N > 1``), dropout with
    a fixed mask. ``mode="eval"``: one training forward first, so batch norm normalises with real
    running statistics: with the initial mean 0, variance 1 and shift 0 a ReLU's exact zeros land
    exactly on the next ReLU's kink, where the central difference sees half a slope and backward
    none. ``eps=1e-8``: a smaller step crosses fewer ReLU kinks (each crossing biases the
    difference).
    """
    if mode not in ("train", "eval"):
        raise ValueError(f"gradcheck_model: mode must be 'train' or 'eval', got {mode!r}")
    model.to(dtype="float64")
    x = _as_float64_leaf(input if isinstance(input, Tensor) else Tensor(input))
    model.train()
    if mode == "eval":
        with no_grad():
            model(x)
        model.eval()
    return gradcheck_module(model, x, eps=eps, directions=directions, seed=seed)
