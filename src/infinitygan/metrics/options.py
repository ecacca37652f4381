"""Settings of one evaluation (:class:`EvalOptions`) and the default real-statistics cache."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SCALEINV_MODES: tuple[str, ...] = ("paper", "clean")
"""ScaleInv preprocessing modes (:mod:`infinitygan.metrics.scaleinv`)."""


@dataclass(frozen=True)
class EvalOptions:
    """Settings of one evaluation.

    Attributes:
        num: generated images per metric (N): patches for patch FID, frames per distance bin
            for infinite FID.
        num_reals: real images (default: ``num``); capped by the dataset size.
        modes: ScaleInv preprocessing modes (``paper`` and/or ``clean``).
        batch: images per feature-extractor call.
        seed: fakes use canvas seeds ``seed, seed + 1, ...``; also seeds patch draws and KID/SWD.
        data_seed: content seed of procedural datasets (the training seed).
        cache_dir: real-statistics cache (``None``: no cache).
        label: free text stored in every record (e.g. a benchmark series name).
    """

    num: int = 500
    num_reals: int | None = None
    modes: tuple[str, ...] = ("paper",)
    batch: int = 16
    seed: int = 0
    data_seed: int = 0
    cache_dir: Path | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        if self.num < 2:
            raise ValueError(f"the number of generated images must be at least 2, got {self.num}")
        if self.num_reals is not None and self.num_reals < 2:
            raise ValueError(f"the number of real images must be at least 2, got {self.num_reals}")
        if self.batch < 1:
            raise ValueError(f"batch must be positive, got {self.batch}")
        if not self.modes or any(m not in SCALEINV_MODES for m in self.modes):
            raise ValueError(f"modes must be from {SCALEINV_MODES}, got {self.modes}")


def default_cache_dir() -> Path:
    """``$INFINITYGAN_CACHE/fid-stats``, else ``$XDG_CACHE_HOME/infinitygan/fid-stats`` (or
    ``~/.cache/infinitygan/fid-stats``)."""
    root = os.environ.get("INFINITYGAN_CACHE")
    if root:
        return Path(root).expanduser() / "fid-stats"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(xdg).expanduser() / "infinitygan" / "fid-stats"
