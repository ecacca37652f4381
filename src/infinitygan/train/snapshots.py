"""Atomic training snapshots: weights as safetensors, the rest as a weights-only torch file.

A snapshot is a folder ``checkpoints/stepNNNNNNNN/`` holding

* ``generator_ema.safetensors``: the EMA generator, written by
  :func:`infinitygan.checkpoint.save_generator` (``infinitygan generate`` reads it directly);
* ``generator.safetensors``: the trained generator (same format);
* ``discriminator.safetensors``: D's weights with its config in the header;
* ``training_state.pt``: optimisers, grad scalers, path-length mean, RNG states, step, images
  seen, the run config; loadable with ``torch.load(weights_only=True)``.

The folder is written under a temporary name and renamed when complete; only then is
``checkpoints/latest.txt`` replaced (atomically) by the new name. A crash at any moment leaves
either the previous snapshot as latest or the new one, never a partial one. Old snapshots are
pruned from the list of complete snapshots (never by globbing arbitrary files).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from infinitygan import __version__
from infinitygan._files import atomic_write, atomic_write_text
from infinitygan.checkpoint import CheckpointError, check_finite, save_generator, with_w_avg
from infinitygan.config import DiscriminatorConfig
from infinitygan.models import Generator, build_discriminator

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
LATEST_FILE = "latest.txt"
STATE_FILE = "training_state.pt"
G_EMA_FILE = "generator_ema.safetensors"
G_FILE = "generator.safetensors"
D_FILE = "discriminator.safetensors"
STATE_FORMAT = "infinitygan-training-state"
STATE_VERSION = 1
D_FORMAT = "infinitygan-discriminator"
_SNAPSHOT_RE = re.compile(r"^step(\d{8})$")
_TMP_PREFIX = ".tmp-"
SNAPSHOT_FILES = (G_EMA_FILE, G_FILE, D_FILE, STATE_FILE)


def snapshot_name(step: int) -> str:
    return f"step{step:08d}"


@dataclass(frozen=True)
class Snapshot:
    """A complete snapshot folder and its step."""

    path: Path
    step: int


def save_discriminator(
    D: nn.Module, path: str | Path, *, half: bool = False, extra: dict[str, Any] | None = None
) -> Path:
    """Write D's weights with its config (``DiscriminatorConfig`` + patch size) in the header,
    atomically.

    Args:
        half: store the floating-point weights as float16 (a file to ship beside a generator,
            see :func:`infinitygan.train.init.discriminator_file_for`); loading casts them back
            to float32.
        extra: more JSON-serialisable metadata (e.g. the run and step it comes from).
    """
    from safetensors.torch import save_file

    state = {
        k: v.detach()
        .to("cpu", torch.float16 if half and v.is_floating_point() else torch.float32)
        .contiguous()
        for k, v in D.state_dict().items()
    }
    config = {"discriminator": D.config.__dict__, "patch_size": D.patch_size}
    metadata = {
        "format": D_FORMAT,
        "format_version": "1",
        "config": json.dumps(config, sort_keys=True),
        "software": f"infinitygan {__version__}",
        "extra": json.dumps(extra or {}),
    }
    return atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata=metadata))


def read_discriminator_config(path: str | Path) -> tuple[DiscriminatorConfig, int]:
    """The config and patch size in the header of a file written by :func:`save_discriminator`
    (the weights are not read)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no discriminator file at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as err:  # safetensors raises several error types
        raise CheckpointError(f"{path} is not a readable safetensors file ({err})") from None
    if meta.get("format") != D_FORMAT:
        raise CheckpointError(f"{path} is not an infinitygan discriminator file")
    try:
        config = json.loads(meta["config"])
        return DiscriminatorConfig(**config["discriminator"]), int(config["patch_size"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(
            f"{path}: the embedded discriminator config is invalid: {err}"
        ) from None


def load_discriminator(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a discriminator written by :func:`save_discriminator` (float32 weights, also
    from a half-precision file)."""
    config, patch_size = read_discriminator_config(path)
    D = build_discriminator(config, patch_size)
    load_module_weights(D, Path(path))
    return D.to(device)


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, checked to be finite."""
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as err:
        raise CheckpointError(f"{path}: cannot read the weights ({err})") from None
    check_finite(state, path)
    return state


def weights_mismatch(
    module: nn.Module, state: dict[str, torch.Tensor], optional: tuple[str, ...] = ()
) -> str | None:
    """How ``state`` fails to fit ``module`` (missing, unexpected or differently shaped tensors),
    in one line; None when it fits. ``module`` may live on the meta device. Tensors named in
    ``optional`` may be absent from ``state``."""
    needed = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    given = {k: tuple(v.shape) for k, v in state.items()}
    problems = []
    wrong = [k for k in needed if k in given and needed[k] != given[k]]
    if wrong:
        k = wrong[0]
        problems.append(
            f"tensor {k!r} is {list(given[k])} in the file but the model needs {list(needed[k])}"
            + (f" ({len(wrong) - 1} more shapes differ)" if len(wrong) > 1 else "")
        )
    missing = [k for k in needed if k not in given and k not in optional]
    if missing:
        problems.append(f"{len(missing)} tensor(s) missing, e.g. {missing[0]!r}")
    unexpected = [k for k in given if k not in needed]
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensor(s), e.g. {unexpected[0]!r}")
    return "; ".join(problems) or None


def load_module_weights(module: nn.Module, path: Path) -> None:
    """Load a safetensors state dict into ``module`` in place (strict; values copied exactly,
    half-precision files cast to the module's float32)."""
    state = read_weights(path)
    state = with_w_avg(state, module)  # snapshots written before w_avg existed
    problem = weights_mismatch(module, state)
    if problem is not None:
        raise CheckpointError(f"{path}: weights do not match the model: {problem}")
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not match the model: {err}") from None


def list_snapshots(run_dir: Path) -> list[Snapshot]:
    """Complete snapshot folders of a run (all files present), oldest first."""
    root = run_dir / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = _SNAPSHOT_RE.match(p.name)
        if m and p.is_dir() and all((p / f).is_file() for f in SNAPSHOT_FILES):
            found.append(Snapshot(p, int(m.group(1))))
    return sorted(found, key=lambda s: s.step)


def latest_snapshot(run_dir: Path) -> Snapshot | None:
    """The snapshot named by ``latest.txt``, or None when the run has none yet.

    If the pointer names a folder that is not a complete snapshot (it can only happen when a crash
    hit the replacement of a snapshot of the same step), the newest complete snapshot is used
    instead and a warning is logged.
    """
    pointer = run_dir / CHECKPOINT_DIR / LATEST_FILE
    snapshots = list_snapshots(run_dir)
    if not pointer.is_file():
        return snapshots[-1] if snapshots else None
    name = pointer.read_text(encoding="utf-8").strip()
    for snap in snapshots:
        if snap.path.name == name:
            return snap
    if not snapshots:
        return None
    logger.warning(
        "%s names %r, which is not a complete snapshot; using %s", pointer, name, snapshots[-1].path
    )
    return snapshots[-1]


def resume_candidates(run_dir: Path) -> list[Snapshot]:
    """The snapshots to try when resuming, best first: the latest (see :func:`latest_snapshot`),
    then the other complete snapshots, newest first (used when a newer one is unreadable)."""
    latest = latest_snapshot(run_dir)
    if latest is None:
        return []
    older = [s for s in reversed(list_snapshots(run_dir)) if s.path != latest.path]
    return [latest, *older]


def snapshot_bytes(modules: list[nn.Module], state: dict[str, Any]) -> int:
    """Bytes a snapshot of ``modules`` (stored as float32) and ``state`` takes, headers aside."""
    total = sum(4 * t.numel() for m in modules for t in m.state_dict().values())

    def walk(value: Any) -> int:
        if isinstance(value, torch.Tensor):
            return value.numel() * value.element_size()
        if isinstance(value, dict):
            return sum(walk(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return sum(walk(v) for v in value)
        return 0

    return total + walk(state)


def check_free_space(directory: Path, needed: int) -> None:
    """Raise OSError(ENOSPC) naming ``directory`` when it has less than ``needed`` bytes free
    (with a 10% + 1 MiB margin)."""
    free = shutil.disk_usage(directory).free
    want = int(needed * 1.1) + (1 << 20)
    if free < want:
        raise OSError(
            errno.ENOSPC,
            f"a snapshot needs about {want / 2**20:.0f} MiB but only {free / 2**20:.0f} MiB "
            "are free",
            str(directory),
        )


def remove_partial_snapshots(run_dir: Path) -> list[Path]:
    """Delete temporary snapshot folders left by a crash during a write."""
    root = run_dir / CHECKPOINT_DIR
    removed = []
    if root.is_dir():
        for p in root.iterdir():
            if p.name.startswith(_TMP_PREFIX) and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    return removed


def write_snapshot(
    run_dir: Path,
    step: int,
    *,
    G: Generator,
    G_ema: Generator,
    D: nn.Module,
    state: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> Snapshot:
    """Write a complete snapshot atomically and point ``latest.txt`` at it.

    Args:
        run_dir: the run folder.
        step: the number of completed optimisation steps.
        G, G_ema, D: the networks.
        state: the training state (tensors, numbers, strings, lists, dicts only).
        extra: metadata for the generator headers (e.g. kimg).
    """
    root = run_dir / CHECKPOINT_DIR
    root.mkdir(parents=True, exist_ok=True)
    final = root / snapshot_name(step)
    tmp = root / f"{_TMP_PREFIX}{final.name}"
    if tmp.exists():
        shutil.rmtree(tmp)
    check_free_space(root, snapshot_bytes([G_ema, G, D], state))
    tmp.mkdir()
    try:
        meta = {"step": step, **(extra or {})}
        save_generator(G_ema, tmp / G_EMA_FILE, extra=meta)
        save_generator(G, tmp / G_FILE, extra=meta)
        save_discriminator(D, tmp / D_FILE)
        payload = {"format": STATE_FORMAT, "format_version": STATE_VERSION, **state}
        torch.save(payload, tmp / STATE_FILE)
        for name in SNAPSHOT_FILES:
            with open(tmp / name, "rb") as f:
                os.fsync(f.fileno())
    except BaseException:  # a full disk, a kill: leave no temporary folder behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if final.exists():  # the same step written again (after a resume): swap, then delete
        old = root / f"{_TMP_PREFIX}old-{final.name}"
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(root)
    atomic_write_text(root / LATEST_FILE, final.name + "\n", fsync=True)
    return Snapshot(final, step)


def read_state(snapshot: Snapshot, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load ``training_state.pt`` with ``weights_only=True`` and check its format."""
    path = snapshot.path / STATE_FILE
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path}: cannot read the training state ({err})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path} is not an infinitygan training state")
    if int(state.get("format_version", 0)) > STATE_VERSION:
        raise CheckpointError(f"{path} was written by a newer infinitygan; upgrade to resume it")
    return state


def prune_snapshots(run_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` complete snapshots (never the one ``latest.txt`` names).

    Returns:
        The removed folders.
    """
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}")
    snapshots = list_snapshots(run_dir)
    latest = latest_snapshot(run_dir)
    removed = []
    for snap in snapshots[: max(len(snapshots) - keep, 0)]:
        if latest is not None and snap.path == latest.path:
            continue
        shutil.rmtree(snap.path, ignore_errors=True)
        removed.append(snap.path)
    return removed


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
