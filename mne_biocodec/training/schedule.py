"""Learning-rate schedule callback: linear warm-up then cosine decay, resumable."""

import math

from skorch.callbacks import Callback

__all__ = ["WarmupCosine", "warmup_cosine_factor"]


def warmup_cosine_factor(step, total_steps, warmup_steps, final_ratio=0.01,
                         warmup_ratio=5e-4):
    """Multiplier of the base learning rate at ``step``.

    Parameters
    ----------
    step : int
        Optimiser steps already taken.
    total_steps : int
        Length of the whole schedule.
    warmup_steps : int
        Linear warm-up from ``warmup_ratio`` to 1.
    final_ratio : float, default=0.01
        Multiplier reached at ``total_steps`` (the reference decays to 0).
    warmup_ratio : float, default=5e-4
        Multiplier at step 0 (the reference's warm-up start).

    Returns
    -------
    factor : float
    """
    if warmup_steps and step < warmup_steps:
        return warmup_ratio + (1 - warmup_ratio) * step / warmup_steps
    span = max(total_steps - warmup_steps, 1)
    progress = min(max(step - warmup_steps, 0) / span, 1.0)
    return final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


class WarmupCosine(Callback):
    """Set the learning rate before every training batch from a global step count.

    The step count is written to the history (``train_steps``) after every step and read
    back at ``on_train_begin``, so a run resumed from a checkpoint continues the schedule
    where it stopped (skorch's ``LRScheduler`` would restart it).

    Parameters
    ----------
    total_steps : int | None
        Length of the schedule in optimiser steps; None derives it at the first epoch from
        ``net.max_epochs`` and the size of the training split.
    warmup_steps : int | float, default=0
        Linear warm-up steps; a float below 1 is a fraction of ``total_steps``.
    final_ratio : float, default=0.01
        Multiplier of the base learning rate at the end.
    """

    def __init__(self, total_steps=None, warmup_steps=0, final_ratio=0.01):
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.final_ratio = final_ratio

    def on_train_begin(self, net, **kwargs):
        history = net.history
        self.step_ = int(history[-1].get("train_steps", 0)) if len(history) else 0
        self.total_steps_ = self.total_steps

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        if self.total_steps_ is None and dataset_train is not None:
            # the training iterator knows its batches, whatever rule sized them
            self.total_steps_ = net.max_epochs * len(net.get_iterator(dataset_train,
                                                                      training=True))
        warmup = self.warmup_steps
        total = self.total_steps_ or 1
        self.warmup_steps_ = int(round(warmup * total)) if 0 < warmup < 1 else int(warmup)

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if not training:
            return
        factor = warmup_cosine_factor(self.step_, self.total_steps_ or 1, self.warmup_steps_,
                                      self.final_ratio)
        for group in net.optimizer_.param_groups:
            group["lr"] = net.lr * factor

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        # Recorded at every step (not at epoch end) so that a checkpoint written by another
        # epoch-end callback, whatever its order, already holds the count.
        if training:
            self.step_ += 1
            net.history.record("train_steps", self.step_)
            net.history.record("lr", net.optimizer_.param_groups[0]["lr"])
