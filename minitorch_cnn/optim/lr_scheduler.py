"""Learning-rate schedules: call ``scheduler.step()`` once per epoch, after ``optimizer.step()``.

* :class:`StepLR` and :class:`MultiStepLR`: divide the rate at fixed epochs (ResNet's recipe on
  CIFAR-10: /10 at epochs 82 and 123 of 164; He et al. 2016).
* :class:`ReduceLROnPlateau`: divide it when a validation metric stops improving ("divided by
  10 when the validation error rate stopped improving", Krizhevsky et al. 2012, section 5).
* :class:`CosineAnnealingLR`: half a cosine from the base rate down to ``eta_min``
  (Loshchilov & Hutter, "SGDR", ICLR 2017, without restarts).

The epoch schedules are written in closed form, ``lr = f(epoch, base_lr)``, one per group;
each group's base rate is its ``lr`` when the scheduler was created.
"""

from __future__ import annotations

import bisect
import math


class LRScheduler:
    """Base class of the epoch schedules: subclasses define :meth:`lr_at`.

    Attributes:
        last_epoch: how many times :meth:`step` has run (0 right after construction).
        base_lrs: each group's learning rate at construction.
    """

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.last_epoch = 0
        self._last_lr = list(self.base_lrs)

    def lr_at(self, epoch, base_lr):
        """The learning rate of a group with base rate ``base_lr`` after ``epoch`` steps."""
        raise NotImplementedError(f"{type(self).__name__} must define lr_at()")

    def step(self):
        """Advance one epoch and write the new rate into every parameter group."""
        self.last_epoch += 1
        self._set_lrs([self.lr_at(self.last_epoch, base) for base in self.base_lrs])

    def _set_lrs(self, lrs):
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = list(lrs)

    def get_last_lr(self):
        """The learning rate of each group, as last set by this scheduler."""
        return list(self._last_lr)

    def state_dict(self):
        """Everything but the optimiser (which saves its own state)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """``lr = base_lr * gamma ** (epoch // step_size)``: multiply by ``gamma`` (0.1) every
    ``step_size`` epochs."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"StepLR: expected step_size to be a positive int, got {step_size!r}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer)

    def lr_at(self, epoch, base_lr):
        return base_lr * self.gamma ** (epoch // self.step_size)


class MultiStepLR(LRScheduler):
    """``lr = base_lr * gamma ** (number of milestones <= epoch)``: multiply by ``gamma`` (0.1)
    at each epoch listed in ``milestones``."""

    def __init__(self, optimizer, milestones, gamma=0.1):
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = gamma
        super().__init__(optimizer)

    def lr_at(self, epoch, base_lr):
        return base_lr * self.gamma ** bisect.bisect_right(self.milestones, epoch)


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``: from
    ``base_lr`` at epoch 0 down to ``eta_min`` at epoch ``T_max``."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        if isinstance(T_max, bool) or not isinstance(T_max, int) or T_max < 1:
            raise ValueError(f"CosineAnnealingLR: expected T_max to be a positive int, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer)

    def lr_at(self, epoch, base_lr):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class ReduceLROnPlateau(LRScheduler):
    """Multiply the rate by ``factor`` when ``metric`` has not improved for ``patience`` epochs.

    Call ``scheduler.step(val_loss)`` once per epoch. PyTorch's rule:

    * ``metric`` improves on the best so far when (``mode="min"``, ``threshold_mode="rel"``)
      ``metric < best * (1 - threshold)``; ``"abs"`` uses ``metric < best - threshold``;
      ``mode="max"`` (for accuracies) flips the comparisons.
    * after more than ``patience`` epochs without improvement every group's rate becomes
      ``max(lr * factor, min_lr)`` (unchanged if that moves it by less than ``eps``), and
      counting pauses for ``cooldown`` epochs.

    Args:
        mode: ``"min"`` (a loss or error) or ``"max"``. factor: 0.1, "divide by 10".
        patience: 10. threshold: 1e-4. threshold_mode: ``"rel"`` or ``"abs"``.
        cooldown: 0. min_lr: a floor, one number or one per group (0). eps: 1e-8.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0.0, eps=1e-8):
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: expected mode 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: expected threshold_mode 'rel' or 'abs', got {threshold_mode!r}")
        if not 0.0 <= factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: expected factor in [0, 1), got {factor}")
        groups = len(optimizer.param_groups)
        min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * groups
        if len(min_lrs) != groups:
            raise ValueError(f"ReduceLROnPlateau: expected {groups} min_lr values (one per group), got {len(min_lrs)}")
        super().__init__(optimizer)
        self.mode = mode
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.cooldown = cooldown
        self.min_lrs = min_lrs
        self.eps = eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def is_better(self, metric):
        """Whether ``metric`` beats the best value by more than the threshold."""
        if self.mode == "min":
            bar = self.best * (1 - self.threshold) if self.threshold_mode == "rel" else self.best - self.threshold
            return metric < bar
        bar = self.best * (1 + self.threshold) if self.threshold_mode == "rel" else self.best + self.threshold
        return metric > bar

    def step(self, metric):
        metric = float(metric)
        self.last_epoch += 1
        if self.is_better(metric):
            self.best = metric
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            lrs = []
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                new_lr = max(group["lr"] * self.factor, min_lr)
                lrs.append(new_lr if group["lr"] - new_lr > self.eps else group["lr"])
            self._set_lrs(lrs)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        else:
            self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
