"""The training loop: data stream, steps, ticks (log + ``stats.jsonl``), snapshots, resume.

``training_loop`` is the library entry point behind ``infinitygan train``. It runs on every rank
of a torchrun job (rank 0 alone writes files) and stops on the first non-finite loss without
writing anything new, so the last snapshot on disk is the last good state.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from infinitygan._files import atomic_write_text
from infinitygan.data.pipeline import PatchDataset, make_loader
from infinitygan.runtime import math_mode
from infinitygan.train import runs, samples, snapshots
from infinitygan.train.config import RunConfig
from infinitygan.train.distributed import (
    DistInfo,
    all_reduce_sum,
    broadcast_module,
    check_in_sync,
)
from infinitygan.train.init import apply_init
from infinitygan.train.phases import NonFiniteLossError, Trainer

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, dict[str, float]], None]


@dataclass
class TrainResult:
    """What a finished (or stopped) call of :func:`training_loop` did.

    Attributes:
        run_dir: the run folder.
        start_step: the step training (re)started from.
        step: the number of completed steps.
        snapshot: the latest complete snapshot, if any.
        last_stats: the last tick's record.
    """

    run_dir: Path
    start_step: int
    step: int
    snapshot: Path | None
    last_stats: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def determinism(enabled: bool, device: torch.device) -> Iterator[None]:
    """Deterministic kernels without cuDNN autotuning, or autotuning on CUDA (restored after).

    The float32 math mode (strict IEEE for fp32 and deterministic runs, TF32 for tf32) is the
    Trainer's, set per phase through :mod:`infinitygan.runtime`; the legacy ``allow_tf32`` flags
    are never read (that raises once the ``fp32_precision`` API was used).
    """
    old = torch.are_deterministic_algorithms_enabled()
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    try:
        with math_mode(device, None, benchmark=not enabled):
            yield
    finally:
        torch.use_deterministic_algorithms(old)


def resolve_training_device(name: str, dist_info: DistInfo) -> torch.device:
    """The device of this rank: "cuda" becomes ``cuda:LOCAL_RANK`` under torchrun."""
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name} was asked for but PyTorch sees no CUDA device")
        if device.index is None:
            device = torch.device("cuda", dist_info.local_rank)
    return device


class _TickAccumulator:
    """Sums of loss terms over the steps of one tick (lazy terms counted when they ran)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, stats: dict[str, float]) -> None:
        for key, value in stats.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
            self.counts[key] = self.counts.get(key, 0) + 1

    def reduce(self, dist_info: DistInfo, device: torch.device) -> dict[str, float]:
        keys = sorted(self.sums)
        if not keys:
            return {}
        values = torch.tensor(
            [self.sums[k] for k in keys] + [float(self.counts[k]) for k in keys],
            dtype=torch.float64,
            device=device,
        )
        values = all_reduce_sum(values, dist_info).cpu()
        n = len(keys)
        return {k: float(values[i] / values[n + i]) for i, k in enumerate(keys)}


def _memory_stats(device: torch.device) -> dict[str, float]:
    import psutil

    out = {"mem/rss_gb": psutil.Process().memory_info().rss / 2**30}
    if device.type == "cuda":
        out["mem/gpu_peak_gb"] = torch.cuda.max_memory_allocated(device) / 2**30
        torch.cuda.reset_peak_memory_stats(device)
    return out


def _format_tick(record: dict[str, Any]) -> str:
    parts = [
        f"step {record['step']}",
        f"kimg {record['kimg']:.3f}",
        f"sec/kimg {record['sec_per_kimg']:.1f}",
    ]
    for key in sorted(record):
        if key.startswith(("D/", "G/")):
            parts.append(f"{key} {record[key]:.4g}")
    parts.append(f"rss {record['mem/rss_gb']:.2f}GB")
    if "mem/gpu_peak_gb" in record:
        parts.append(f"gpu {record['mem/gpu_peak_gb']:.2f}GB")
    return "  ".join(parts)


class _TensorBoard:
    """Optional TensorBoard scalars (needs the `tensorboard` package: the `tb` extra)."""

    def __init__(self, run_dir: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise ValueError(
                "--tensorboard needs the tensorboard package: pip install 'infinitygan[tb]'"
            ) from err
        self.writer = SummaryWriter(str(run_dir / "tensorboard"))

    def write(self, record: dict[str, Any]) -> None:
        step = int(record["step"])
        for key, value in record.items():
            if isinstance(value, (int, float)) and key != "step":
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def training_loop(
    run: RunConfig,
    run_dir: str | Path,
    dataset: PatchDataset,
    *,
    dist_info: DistInfo = DistInfo(),
    resume: bool = False,
    progress: ProgressFn | None = None,
) -> TrainResult:
    """Train until ``run.total_steps``, writing logs, stats, samples and snapshots to ``run_dir``.

    Args:
        run: the resolved run configuration (rank 0 writes it to ``training_options.json``).
        run_dir: the run folder (created by :func:`infinitygan.train.runs.allocate_run_dir`).
        dataset: real patches with vertical labels (:mod:`infinitygan.data`).
        dist_info: this process's rank (see :mod:`infinitygan.train.distributed`).
        resume: continue from the run's latest complete snapshot (when it has none, from
            ``run.init``'s weights or from scratch, as a new run).
        progress: called after every step with ``(step, total_steps, step_stats)``.

    Returns:
        A TrainResult.

    Raises:
        NonFiniteLossError: a loss term became NaN/inf (nothing was written for that step).
        ValueError: inconsistent settings (batch not divisible by the ranks, ...).
    """
    run_dir = Path(run_dir)
    main = dist_info.is_main
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_training_device(run.device, dist_info)
    torch.manual_seed(run.train.seed + dist_info.rank)  # only for stray draws; steps are keyed
    with determinism(run.deterministic, device), runs.log_to_file(run_dir, enabled=main):
        return _train(run, run_dir, dataset, dist_info, device, resume, progress)


def _train(
    run: RunConfig,
    run_dir: Path,
    dataset: PatchDataset,
    dist_info: DistInfo,
    device: torch.device,
    resume: bool,
    progress: ProgressFn | None,
) -> TrainResult:
    main = dist_info.is_main
    trainer = Trainer(run, device, dist_info)
    start_step = 0
    snapshot = None
    if resume:
        if main:
            for p in snapshots.remove_partial_snapshots(run_dir):
                logger.info("removed the partial snapshot %s", p)
        candidates = snapshots.resume_candidates(run_dir)
        for candidate in candidates:
            try:
                _load_snapshot(trainer, candidate, device)
            except snapshots.CheckpointError as err:
                logger.warning("skipping the unreadable snapshot %s: %s", candidate.path, err)
                continue
            snapshot = candidate
            break
        if candidates and snapshot is None:
            raise snapshots.CheckpointError(
                f"{run_dir}: none of its {len(candidates)} snapshot(s) can be read (see the "
                "warnings above); restore one from a backup or start a new run"
            )
        if snapshot is not None:
            start_step = trainer.step
            logger.info("resuming %s from %s (step %d)", run_dir, snapshot.path.name, start_step)
        else:
            logger.info("resuming %s: no snapshot yet, starting from step 0", run_dir)
    if snapshot is None:
        if run.init is not None:  # fine-tuning: a new run, or one resumed before its 1st snapshot
            apply_init(run.init, trainer.G, trainer.G_ema, trainer.D)
        for module in (trainer.G, trainer.G_ema, trainer.D):
            broadcast_module(module, dist_info)

    stats_path = run_dir / runs.STATS_FILE
    writer = tb = None
    if main:
        atomic_write_text(run_dir / runs.OPTIONS_FILE, run.to_json() + "\n", fsync=True)
        runs.record_environment(
            run_dir / runs.ENVIRONMENT_FILE,
            runs.environment_info(device, dist_info.world_size),
            start_step,
        )
        removed = runs.truncate_stats(stats_path, start_step)
        if removed:
            logger.info("dropped %d stats records written after step %d", removed, start_step)
        writer = runs.StatsWriter(stats_path)
        if run.tensorboard:
            tb = _TensorBoard(run_dir)
    logger.info(
        "training %s: %d steps at global batch %d (%d process(es) x %d, rounds of %d), "
        "%s, %s, device %s",
        run.model.name,
        run.total_steps,
        run.train.batch,
        dist_info.world_size,
        trainer.batch_rank,
        trainer.batch_gpu,
        run.precision,
        "deterministic" if run.deterministic else "non-deterministic",
        device,
    )

    if trainer.in_d_warmup:
        logger.info(
            "discriminator warm-up: G and G_ema stay frozen until kimg %g (train.d_warmup_kimg)",
            run.train.d_warmup_kimg,
        )
    stream = make_loader(
        dataset,
        trainer.batch_rank,
        seed=run.train.seed,
        start_step=start_step,
        num_workers=run.workers,
        rank=dist_info.rank,
        world_size=dist_info.world_size,
        pin_memory=device.type == "cuda",
    )
    result = TrainResult(run_dir, start_step, start_step, snapshot.path if snapshot else None)
    tick = _TickAccumulator()
    tick_start_time = time.perf_counter()
    cpu_mark = time.process_time()
    tick_start_images = trainer.images_seen
    tick_start_step = start_step
    try:
        if start_step >= run.total_steps:
            logger.info("nothing to do: the run is at step %d of %d", start_step, run.total_steps)
            return result
        for step in range(start_step, run.total_steps):
            batch = next(stream)
            if main and step == 0:
                samples.write_reals_grid(batch.patches, run_dir)
            step_stats = trainer.train_step(batch)
            tick.add(step_stats)
            done = step + 1
            last = done == run.total_steps
            now_cpu = time.process_time()
            trainer.cpu_seconds += now_cpu - cpu_mark
            cpu_mark = now_cpu
            if done % run.tick_every == 0 or last:
                elapsed = time.perf_counter() - tick_start_time
                kimg_tick = (trainer.images_seen - tick_start_images) / 1000
                record: dict[str, Any] = {
                    "step": done,
                    "kimg": trainer.images_seen / 1000,
                    "sec_per_kimg": elapsed / max(kimg_tick, 1e-9),
                    "sec_per_step": elapsed / max(done - tick_start_step, 1),
                    "lr/G": trainer.lr_G,
                    "lr/D": trainer.lr_D,
                    "G/pl_mean": float(trainer.pl_mean),
                    "cpu_hours": trainer.cpu_seconds / 3600,
                    "time": time.time(),
                    **tick.reduce(dist_info, device),
                    **_memory_stats(device),
                }
                if main:
                    assert writer is not None
                    writer.write(record)
                    if tb is not None:
                        tb.write(record)
                    logger.info(_format_tick(record))
                result.last_stats = record
                tick = _TickAccumulator()
                tick_start_time = time.perf_counter()
                tick_start_images = trainer.images_seen
                tick_start_step = done
            if (run.snapshot_every and done % run.snapshot_every == 0) or last:
                t0 = time.perf_counter()
                result.snapshot = _snapshot(trainer, run, run_dir, dist_info, device)
                tick_start_time += time.perf_counter() - t0  # keep sec/kimg about training
            result.step = done
            if progress is not None:
                progress(done, run.total_steps, step_stats)
    except NonFiniteLossError as err:
        latest = snapshots.latest_snapshot(run_dir)
        logger.error(
            "%s; stopping. The last good checkpoint is %s",
            err,
            latest.path if latest else "none (no snapshot was written yet)",
        )
        raise
    finally:
        stream.close()
        if writer is not None:
            writer.close()
        if tb is not None:
            tb.close()
    return result


def _snapshot(
    trainer: Trainer,
    run: RunConfig,
    run_dir: Path,
    dist_info: DistInfo,
    device: torch.device,
) -> Path | None:
    deviation = check_in_sync([trainer.G, trainer.D, trainer.G_ema], dist_info, device)
    if dist_info.enabled:
        logger.info(
            "step %d: parameters identical on all %d ranks (max checksum deviation %g)",
            trainer.step,
            dist_info.world_size,
            deviation,
        )
    if not dist_info.is_main:
        return None
    state = trainer.state_dict()
    state["run_config"] = run.to_json()
    state["data"] = {"start_step": trainer.step, "seed": run.train.seed}
    snap = snapshots.write_snapshot(
        run_dir,
        trainer.step,
        G=trainer.G,
        G_ema=trainer.G_ema,
        D=trainer.D,
        state=state,
        extra={
            "kimg": trainer.images_seen / 1000,
            "images_seen": trainer.images_seen,
            "cpu_hours": trainer.cpu_seconds / 3600,
        },
    )
    for p in snapshots.prune_snapshots(run_dir, run.keep_snapshots):
        logger.info("pruned snapshot %s", p.name)
    paths = []
    if run.sample_seeds:
        paths = samples.write_sample_grids(trainer.G_ema, run_dir, trainer.step, run.sample_seeds)
    logger.info(
        "snapshot %s written; samples: %s", snap.path, ", ".join(p.name for p in paths) or "none"
    )
    return snap.path


def _load_snapshot(trainer: Trainer, snapshot: snapshots.Snapshot, device: torch.device) -> None:
    snapshots.load_module_weights(trainer.G, snapshot.path / snapshots.G_FILE)
    snapshots.load_module_weights(trainer.G_ema, snapshot.path / snapshots.G_EMA_FILE)
    snapshots.load_module_weights(trainer.D, snapshot.path / snapshots.D_FILE)
    state = snapshots.read_state(snapshot, map_location="cpu")
    trainer.load_state_dict(state)
    if trainer.step != snapshot.step:
        raise snapshots.CheckpointError(
            f"{snapshot.path}: the training state is at step {trainer.step}, the folder name "
            f"says {snapshot.step}"
        )
