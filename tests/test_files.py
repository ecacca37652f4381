"""The one atomic-write helper: umask permissions everywhere, no temporary file ever left behind."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from infinitygan._files import (
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    temp_name,
)


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it afterwards."""
    saved = os.umask(0o022)
    os.umask(saved)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(saved)


def mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


def leftovers(folder: Path) -> list[str]:
    """Names in ``folder`` (recursively) that look like temporary files."""
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith("."))


@pytest.mark.parametrize(
    ("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664), (0o277, 0o400)]
)
def test_files_get_the_umask_permissions(tmp_path, umask, mask, expected):
    umask(mask)
    written = [
        atomic_write_bytes(tmp_path / "a.bin", b"x"),
        atomic_write_text(tmp_path / "b.txt", "x"),
        atomic_write_json(tmp_path / "c.json", {"a": 1}),
        atomic_write(tmp_path / "d.npy", lambda tmp: _save_npy(tmp, np.zeros(2))),
        atomic_write(tmp_path / "e.bin", lambda tmp: tmp.write_bytes(b"x"), fsync=True),
    ]
    assert [mode(p) for p in written] == [expected] * len(written)
    assert written[1].read_text() == "x" and json.loads(written[2].read_text()) == {"a": 1}
    assert np.array_equal(np.load(written[3]), np.zeros(2))
    assert leftovers(tmp_path) == []


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:  # by name, np.save would append ".npy" to the ".tmp" name
        np.save(handle, array)


def test_replacing_a_private_file_gives_umask_permissions(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "f.txt"
    path.write_text("old")
    path.chmod(0o600)
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and mode(path) == 0o644


def test_a_library_that_replaces_the_temporary_file_still_gives_umask_permissions(tmp_path, umask):
    umask(0o022)

    def write_like_safetensors(tmp: Path) -> None:  # its own private file, renamed over ours
        private = tmp.with_name("private")
        private.write_bytes(b"x")
        private.chmod(0o600)
        os.replace(private, tmp)

    assert mode(atomic_write(tmp_path / "m.safetensors", write_like_safetensors)) == 0o644


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_a_failed_write_leaves_no_temporary_file_and_the_old_file_intact(tmp_path, error):
    path = tmp_path / "out" / "f.json"
    atomic_write_json(path, {"v": 1})

    def write_half_then_fail(tmp: Path) -> None:
        tmp.write_text('{"v": ')
        raise error

    with pytest.raises(type(error)):
        atomic_write(path, write_half_then_fail)
    assert json.loads(path.read_text()) == {"v": 1}
    assert os.listdir(path.parent) == ["f.json"]


def test_a_failed_first_write_creates_no_file(tmp_path):
    def fail(tmp: Path) -> None:
        raise OSError("no space left on device")

    with pytest.raises(OSError, match="no space"):
        atomic_write(tmp_path / "new" / "f.bin", fail)
    assert os.listdir(tmp_path / "new") == []


def test_write_gets_an_empty_hidden_temporary_sibling(tmp_path):
    seen: list[Path] = []

    def write(tmp: Path) -> None:
        assert tmp.parent == tmp_path and tmp.stat().st_size == 0
        seen.append(tmp)
        tmp.write_bytes(b"data")

    assert atomic_write(str(tmp_path / "x.png"), write) == tmp_path / "x.png"
    (tmp,) = seen
    # hidden, ends in .tmp (never the target's extension), and gone after the rename
    assert tmp.name.startswith(".x.png.") and tmp.name.endswith(".tmp") and not tmp.exists()
    assert (tmp_path / "x.png").read_bytes() == b"data"
    assert temp_name(tmp_path / "x") != temp_name(tmp_path / "x")


def test_json_is_sorted_indented_and_newline_terminated(tmp_path):
    path = atomic_write_json(tmp_path / "c.json", {"b": 1, "a": [1]}, indent=1)
    assert path.read_text() == '{\n "a": [\n  1\n ],\n "b": 1\n}\n'


# ------------------------------------------------------- every writer of the project uses it
def _plot_scaleinv(folder: Path) -> Path:
    from infinitygan.metrics.plots import plot_scaleinv

    return plot_scaleinv([{"scale": 1, "fid": 3.0}, {"scale": 2, "fid": 4.0}], folder / "p.png")


def _plot_stats(folder: Path) -> Path:
    from infinitygan.train.plot import plot_stats

    records = [{"kimg": 0.1, "D/adv": 1.0}, {"kimg": 0.2, "D/adv": 0.5}]
    (folder / "stats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return plot_stats(folder)


def _fid_cache(folder: Path) -> Path:
    from infinitygan.metrics.cache import save_stats
    from infinitygan.metrics.stats import FeatureStats

    path = folder / "stats.npz"
    save_stats(path, FeatureStats.from_features(np.eye(3)), {"k": 1})
    return path


def _synthetic(folder: Path) -> Path:
    from infinitygan.data.synthetic import prepare_synthetic

    return prepare_synthetic(folder / "data", 1, 8, 8)[0]


def _scan_report(folder: Path) -> Path:
    from infinitygan.data.sources import ScanReport

    return ScanReport(source="x", kind="folder", min_size=8, used=()).write(folder)


def _tile_cache(folder: Path) -> Path:
    from infinitygan.web.tiles import DiskCache, TileKey

    cache = DiskCache(folder / "tiles", "m0")
    key = TileKey("plain", 1, 0, 0, 0)
    cache.put(key, b"png")
    return cache.path(key)


def _image(folder: Path) -> Path:
    from infinitygan.imageio import save_image

    return save_image(torch.zeros(3, 4, 4), folder / "i.jpg")


def _run_json(folder: Path) -> Path:
    from infinitygan.train.runs import record_environment

    return record_environment(folder / "environment.json", {"torch": "x"}, start_step=0)


WRITERS: dict[str, Callable[[Path], Path]] = {
    "plot_scaleinv": _plot_scaleinv,
    "plot_stats": _plot_stats,
    "fid_cache": _fid_cache,
    "synthetic": _synthetic,
    "scan_report": _scan_report,
    "tile_cache": _tile_cache,
    "image": _image,
    "run_json": _run_json,
}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_every_writer_leaves_umask_permissions_and_no_temporary_file(tmp_path, umask, name):
    umask(0o022)
    path = WRITERS[name](tmp_path)
    assert path.is_file() and path.stat().st_size > 0
    assert mode(path) == 0o644, f"{name} wrote {path.name} with mode {mode(path):o}"
    assert leftovers(tmp_path) == []


def test_plot_stats_never_changes_the_matplotlib_backend(tmp_path, monkeypatch):
    import matplotlib

    from infinitygan.train.plot import plot_stats

    def refuse(*args, **kwargs):
        raise AssertionError("a library must not call matplotlib.use")

    monkeypatch.setattr(matplotlib, "use", refuse)
    (tmp_path / "stats.jsonl").write_text('{"kimg": 0.1, "G/adv": 1.0}\n')
    out = plot_stats(tmp_path, tmp_path / "curves.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_save_image_names_an_unknown_extension(tmp_path):
    from infinitygan.imageio import save_image

    with pytest.raises(ValueError, match=r"image format of .*\.xyz.*use \.png"):
        save_image(torch.zeros(3, 4, 4), tmp_path / "i.xyz")
    assert os.listdir(tmp_path) == []
