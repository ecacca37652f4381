"""Training InfinityGAN: losses, the step logic, the loop, snapshots and run folders.

Public API:

* :class:`TrainConfig`, :class:`RunConfig` (frozen configs, strict JSON);
* :func:`training_loop` (the library side of ``infinitygan train``) and :class:`TrainResult`;
* :class:`Trainer` (networks, optimisers, one step) and :class:`NonFiniteLossError`;
* :mod:`infinitygan.train.losses` (pure loss functions);
* :func:`plot_stats` (loss curves from ``stats.jsonl``).
"""

from __future__ import annotations

from infinitygan.train.config import RunConfig, TrainConfig
from infinitygan.train.loop import TrainResult, training_loop
from infinitygan.train.phases import NonFiniteLossError, Trainer
from infinitygan.train.plot import plot_stats

__all__ = [
    "NonFiniteLossError",
    "RunConfig",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "plot_stats",
    "training_loop",
]
