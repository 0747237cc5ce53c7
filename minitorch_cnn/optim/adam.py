"""Adam (Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, Algorithm 1) and
AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019, Algorithm 2)."""

from __future__ import annotations

from .optimizer import Optimizer


class Adam(Optimizer):
    """Per-parameter step sizes from running moments of the gradient ``g``; at step ``t``::

        g     = g + weight_decay * p                      # L2 penalty (not AdamW's decoupled decay)
        m     = beta1 * m + (1 - beta1) * g               # first moment (momentum)
        v     = beta2 * v + (1 - beta2) * g**2            # second moment
        m_hat = m / (1 - beta1**t)                        # bias correction: m and v start at 0,
        v_hat = v / (1 - beta2**t)                        # so early averages are too small
        p     = p - lr * m_hat / (sqrt(v_hat) + eps)

    Args:
        params: iterable of Parameters, or of parameter-group dicts.
        lr: learning rate (1e-3). betas: ``(beta1, beta2)`` = (0.9, 0.999).
        eps: keeps the denominator away from 0 (1e-8). weight_decay: L2 coefficient (0).
    """

    #: AdamW's decay of ``p`` itself instead of Adam's L2 term in ``g``.
    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        name = type(self).__name__
        if lr < 0:
            raise ValueError(f"{name}: expected lr >= 0, got {lr}")
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"{name}: expected betas = (beta1, beta2) in [0, 1), got {betas!r}")
        if eps < 0 or weight_decay < 0:
            raise ValueError(f"{name}: expected eps >= 0 and weight_decay >= 0, got eps={eps}, weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def step(self):
        for group in self.param_groups:
            lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in self._trainable(group):
                xp = p.xp
                g = p.grad.array
                if wd != 0 and self.decoupled_weight_decay:
                    self._update(p, (lr * wd) * p.array)          # AdamW: p = p - lr * wd * p
                elif wd != 0:
                    g = g + wd * p.array
                state = self.state.setdefault(p, {})
                if not state:
                    state.update(step=0, exp_avg=xp.zeros_like(p.array), exp_avg_sq=xp.zeros_like(p.array))
                state["step"] += 1
                t = state["step"]
                # In place, as PyTorch's exp_avg.lerp_(g) and exp_avg_sq.mul_(beta2).addcmul_(g, g), and
                # the step built in one array: at most two arrays of p's size are made at a time (three
                # with weight_decay, as in PyTorch). Out of place, the formulas made seven at once: 2.7 GiB
                # for VGG-16's first fully connected layer.
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m *= beta1                                        # m = beta1 * m + (1 - beta1) * g
                m += (1 - beta1) * g
                v *= beta2                                        # v = beta2 * v + (1 - beta2) * g**2
                v += (1 - beta2) * g * g
                denom = xp.sqrt(v / (1 - beta2**t))               # sqrt(v_hat) + eps
                denom += eps
                delta = m / (1 - beta1**t)                        # lr * m_hat / (sqrt(v_hat) + eps)
                delta *= lr
                delta /= denom
                self._update(p, delta)                            # p = p - delta


class AdamW(Adam):
    """Adam with the weight decay taken out of the gradient: ``p = p - lr * wd * p``, then Adam's
    step on ``g`` alone (the ``weight_decay`` line of :class:`Adam` is skipped). With Adam's L2
    term, the decay of a weight is divided by ``sqrt(v_hat)`` like its gradient, so weights with
    large gradients are hardly decayed; decoupled, every weight decays at the same rate
    (Loshchilov & Hutter 2019). As PyTorch's ``optim.AdamW``, whose ``weight_decay`` defaults to
    0.01.
    """

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

