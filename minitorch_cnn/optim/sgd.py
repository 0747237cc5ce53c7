"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay."""

from __future__ import annotations

from .optimizer import Optimizer


class SGD(Optimizer):
    """``p <- p - lr * v`` with PyTorch's update rule, per parameter with gradient ``g``::

        g   = g + weight_decay * p                        # L2 penalty (weight_decay/2) * |p|**2
        buf = g                                           # first step
        buf = momentum * buf + (1 - dampening) * g        # later steps
        v   = g + momentum * buf   if nesterov   else   buf
        p   = p - lr * v

    Without momentum, ``v = g``. This velocity form scales the step by ``lr`` after
    accumulating (Sutskever, Martens, Dahl & Hinton, "On the importance of initialization and
    momentum in deep learning", ICML 2013, give the classical and Nesterov forms).

    Args:
        params: iterable of Parameters, or of parameter-group dicts.
        lr: learning rate. momentum: ``mu`` (0 = plain SGD; 0.9 is the usual choice).
        dampening: scales the new gradient in the buffer (0). nesterov: look-ahead momentum
            (needs ``momentum > 0`` and ``dampening = 0``). weight_decay: L2 coefficient (0;
            AlexNet used 5e-4).
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        if lr < 0:
            raise ValueError(f"SGD: expected lr >= 0, got {lr}")
        if momentum < 0:
            raise ValueError(f"SGD: expected momentum >= 0, got {momentum}")
        if weight_decay < 0:
            raise ValueError(f"SGD: expected weight_decay >= 0, got {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                f"SGD: nesterov needs momentum > 0 and dampening = 0, got momentum={momentum}, dampening={dampening}"
            )
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def step(self):
        for group in self.param_groups:
            lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in self._trainable(group):
                g = p.grad.array
                if wd != 0:
                    g = g + wd * p.array
                if mu != 0:
                    state = self.state.setdefault(p, {})
                    if "momentum_buffer" in state:
                        # In place, as PyTorch's buf.mul_(mu).add_(g): out of place, VGG-16's first
                        # fully connected layer would add two or three 392 MiB temporaries to the step.
                        buf = state["momentum_buffer"]
                        buf *= mu
                        buf += g if group["dampening"] == 0 else (1 - group["dampening"]) * g
                    else:
                        # a copy: ``p.grad.zero_()`` or ``p.grad *= c`` must not reach the buffer
                        buf = state["momentum_buffer"] = p.xp.asarray(g, copy=True)
                    g = g + mu * buf if group["nesterov"] else buf
                self._update(p, lr * g)
