"""Run folders: numbered allocation, options/environment dumps, ``log.txt`` and ``stats.jsonl``.

A run folder looks like::

    runs/00003-tiny-synthetic-b4/
        training_options.json    # the resolved RunConfig (read back by --resume)
        environment.json         # torch / python / device / git sha / world size
        log.txt                  # the training log (rank 0)
        stats.jsonl              # one JSON record per tick
        samples/                 # PNG grids: reals, 1x / 2x / 4x canvases per snapshot
        checkpoints/step00000100/{generator_ema,generator,discriminator}.safetensors,
                    training_state.pt
        checkpoints/latest.txt   # name of the newest complete snapshot
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from infinitygan._files import atomic_write_json, atomic_write_text

logger = logging.getLogger(__name__)

OPTIONS_FILE = "training_options.json"
ENVIRONMENT_FILE = "environment.json"
LOG_FILE = "log.txt"
STATS_FILE = "stats.jsonl"
_RUN_RE = re.compile(r"^(\d{5})-")


def data_label(data: str) -> str:
    """Short name of a data spec for run-folder names ("synthetic", or the file/folder stem)."""
    if data == "synthetic" or data.startswith("synthetic"):
        return re.sub(r"[^A-Za-z0-9._-]+", "_", data)
    name = Path(data.rstrip("/")).name
    for suffix in (".tar.gz", ".tgz", ".tar", ".zip"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "data"


def allocate_run_dir(outdir: str | Path, description: str) -> Path:
    """Create ``outdir/NNNNN-description`` with the next free number (race-safe via mkdir)."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    while True:
        numbers = [int(m.group(1)) for p in outdir.iterdir() if (m := _RUN_RE.match(p.name))]
        run_dir = outdir / f"{max(numbers, default=-1) + 1:05d}-{description}"
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        return run_dir


def git_sha() -> str | None:
    """The git commit of the installed source tree, when it is a git checkout."""
    root = Path(__file__).resolve().parents[3]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha or None


def environment_info(device: torch.device, world_size: int) -> dict[str, Any]:
    """Versions and hardware of this run (written to ``environment.json``)."""
    from infinitygan import __version__

    info: dict[str, Any] = {
        "infinitygan": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "world_size": world_size,
        "git_sha": git_sha(),
        "argv": sys.argv,
    }
    if device.type == "cuda":
        info["cuda"] = torch.version.cuda
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def record_environment(path: Path, info: dict[str, Any], start_step: int) -> Path:
    """Write ``environment.json`` for a session starting at ``start_step``, keeping earlier ones.

    The top-level fields describe the current session; a resumed run keeps the sessions before it
    (their command line, versions and machine) under ``"earlier_sessions"``, oldest first, so the
    command that started the run is never lost.
    """
    earlier: list[dict[str, Any]] = []
    if path.exists():
        try:
            previous = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            previous = None
        if isinstance(previous, dict):
            earlier = list(previous.pop("earlier_sessions", []))
            earlier.append(previous)
    record = dict(info, start_step=start_step)
    if earlier:
        record["earlier_sessions"] = earlier
    return atomic_write_json(path, record, fsync=True)


class StatsWriter:
    """Appends one JSON record per tick to ``stats.jsonl`` (flushed and fsynced each time)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, sort_keys=True) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def read_stats(path: str | Path) -> list[dict[str, Any]]:
    """All complete records of a ``stats.jsonl`` (a torn last line from a crash is skipped)."""
    path = Path(path)
    if path.is_dir():
        path = path / STATS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {STATS_FILE} at {path}; is this a training run folder?")
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def truncate_stats(path: Path, last_step: int) -> int:
    """Drop records with ``step > last_step`` (written after the snapshot a resume starts from).

    Returns:
        The number of records removed.
    """
    if not path.is_file():
        return 0
    records = read_stats(path)
    kept = [r for r in records if int(r.get("step", 0)) <= last_step]
    removed = len(records) - len(kept)
    if removed or len(path.read_text(encoding="utf-8").splitlines()) != len(records):
        atomic_write_text(
            path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept), fsync=True
        )
    return removed


@contextmanager
def log_to_file(run_dir: Path, enabled: bool = True) -> Iterator[None]:
    """Copy every ``infinitygan`` log record of level INFO and up into ``run_dir/log.txt``."""
    if not enabled:
        yield
        return
    handler = logging.FileHandler(run_dir / LOG_FILE, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("infinitygan")
    old_level = root.level
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
