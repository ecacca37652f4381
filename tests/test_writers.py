"""Tests for infinitygan.writers: round trips, order independence, resume, atomicity, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr
from PIL import Image

from infinitygan.writers import (
    SUPPORTED_SUFFIXES,
    CanvasWriter,
    _formats,
    check_output_path,
    downsample2x,
    open_canvas_writer,
    sidecar_path,
)

H, W, CHUNK = 100, 150, 32  # edges are partial chunks on both axes


def make_canvas(height: int = H, width: int = W, seed: int = 0, noise: int = 20) -> np.ndarray:
    """A smooth colour gradient plus uniform noise in [-noise, noise]: [height, width, 3] uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([yy * 200 / height, xx * 200 / width, (yy + xx) * 100 / (height + width)], -1)
    noise = rng.integers(-noise, noise + 1, size=(height, width, 3))
    return np.clip(base + 30 + noise, 0, 255).astype(np.uint8)


def write_canvas(
    path: Path,
    image: np.ndarray,
    *,
    chunk: int = CHUNK,
    order_seed: int | None = None,
    metadata: dict | None = None,
    options: dict | None = None,
) -> None:
    """Write ``image`` chunk by chunk (row-major, or shuffled with ``order_seed``) and close."""
    with open_canvas_writer(
        path,
        image.shape[0],
        image.shape[1],
        chunk=chunk,
        metadata=metadata if metadata is not None else {"seed": 3},
        options=options,
    ) as writer:
        positions = list(writer.chunk_positions())
        if order_seed is not None:
            np.random.default_rng(order_seed).shuffle(positions)
        for y, x in positions:
            writer.write(y, x, image[y : y + chunk, x : x + chunk])


def read_pixels(path: Path) -> np.ndarray:
    """Decode any written format back to [H, W, 3] uint8 (full resolution)."""
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        return tifffile.imread(path)
    if suffix == ".zarr":
        return zarr.open_array(str(path), mode="r")[:]
    if suffix == ".dzi":
        return read_dzi_level(path, None)
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def read_dzi_level(path: Path, level: int | None) -> np.ndarray:
    """Stitch one Deep Zoom level (default: the full-resolution one) from its tiles."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(path.read_text())
    ts, ov, fmt = int(root.get("TileSize")), int(root.get("Overlap")), root.get("Format")
    size = root[0]
    height, width = int(size.get("Height")), int(size.get("Width"))
    max_level = int(np.ceil(np.log2(max(height, width))))
    level = max_level if level is None else level
    scale = 2 ** (max_level - level)
    lh, lw = -(-height // scale), -(-width // scale)
    out = np.zeros((lh, lw, 3), np.uint8)
    files = path.with_name(path.stem + "_files") / str(level)
    rows, cols = -(-lh // ts), -(-lw // ts)
    assert len(os.listdir(files)) == rows * cols
    for row in range(rows):
        for col in range(cols):
            y0, x0 = max(0, row * ts - ov), max(0, col * ts - ov)
            y1, x1 = min(lh, (row + 1) * ts + ov), min(lw, (col + 1) * ts + ov)
            with Image.open(files / f"{col}_{row}.{fmt}") as im:
                tile = np.asarray(im.convert("RGB"))
            assert tile.shape == (y1 - y0, x1 - x0, 3)
            out[y0:y1, x0:x1] = tile
    return out


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Relative path -> content of every file under ``root``."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


EXACT_CASES = [
    ("a.png", None),
    ("a.webp", {"lossless": True}),
    ("a.tif", None),
    ("a.tiff", {"compression": "none", "pyramid": False}),
    ("a.tif", {"compression": "lzma"}),
    ("a.zarr", None),
    ("a.zarr", {"compression": "none"}),
    ("a.dzi", {"tile_format": "png", "tile_size": 64}),
]


# ------------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize(("name", "options"), EXACT_CASES)
def test_lossless_round_trip_and_sidecar(tmp_path: Path, name: str, options: dict | None) -> None:
    image = make_canvas()
    target = tmp_path / name
    write_canvas(target, image, options=options, metadata={"seed": 3, "ckpt": "abc"})
    np.testing.assert_array_equal(read_pixels(target), image)
    sidecar = json.loads(sidecar_path(target).read_text())
    assert sidecar["metadata"] == {"seed": 3, "ckpt": "abc"}
    assert sidecar["canvas"]["height"] == H and sidecar["canvas"]["width"] == W
    assert sidecar["canvas"]["chunk"] == CHUNK
    for key, value in (options or {}).items():
        assert sidecar["canvas"]["options"][key] == value
    # Nothing else is left beside the output: no scratch, no temporary files.
    expected = {target.name, sidecar_path(target).name}
    if target.suffix == ".dzi":
        expected.add(target.stem + "_files")
    assert set(os.listdir(tmp_path)) == expected


@pytest.mark.parametrize(
    ("name", "options", "max_mean_abs"),
    [
        ("a.jpg", None, 3.0),
        ("a.jpeg", {"quality": 80, "subsampling": "4:4:4"}, 5.0),
        ("a.webp", {"quality": 90}, 5.0),
        ("a.dzi", None, 3.0),
    ],
)
def test_lossy_round_trip(tmp_path: Path, name: str, options: dict | None, max_mean_abs: float):
    image = make_canvas(noise=2)
    target = tmp_path / name
    write_canvas(target, image, options=options)
    decoded = read_pixels(target)
    assert decoded.shape == image.shape
    err = np.abs(decoded.astype(int) - image.astype(int))
    assert err.mean() < max_mean_abs
    assert err.mean() > 0  # really lossy: the comparison can fail


def test_tiff_jpeg_compression_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("imagecodecs")
    image = make_canvas(noise=2)
    target = tmp_path / "a.tif"
    write_canvas(target, image, options={"compression": "jpeg", "quality": 95})
    decoded = read_pixels(target)
    assert decoded.shape == image.shape
    assert np.abs(decoded.astype(int) - image.astype(int)).mean() < 3.0
    with tifffile.TiffFile(target) as tif:
        assert tif.pages[0].compression == tifffile.COMPRESSION.JPEG


def test_tiff_is_tiled_bigtiff_with_2x_pyramid(tmp_path: Path) -> None:
    image = make_canvas(300, 170)
    target = tmp_path / "p.tif"
    write_canvas(target, image, metadata={"seed": 9})
    with tifffile.TiffFile(target) as tif:
        assert tif.is_bigtiff
        page = tif.pages[0]
        assert page.is_tiled and (page.tilelength, page.tilewidth) == (CHUNK, CHUNK)
        assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        levels = [level.asarray() for level in tif.series[0].levels]
        description = json.loads(page.description)
    assert description["infinitygan"]["metadata"] == {"seed": 9}
    # 300x170 -> 150x85 -> 75x43 -> 38x22 -> 19x11 (stops once the level fits one tile)
    assert [lv.shape[:2] for lv in levels] == [(300, 170), (150, 85), (75, 43), (38, 22), (19, 11)]
    np.testing.assert_array_equal(levels[0], image)
    for big, small in zip(levels[:-1], levels[1:]):
        np.testing.assert_array_equal(small, downsample2x(big))


def test_downsample2x_exact_values() -> None:
    a = np.array([[0, 1, 10], [2, 4, 20], [100, 200, 255]], np.uint8)[..., None].repeat(3, -1)
    out = downsample2x(a)[..., 0]
    # (0+1+2+4+2)>>2 = 2, (10+10+20+20+2)>>2 = 15, (100+200+100+200+2)>>2 = 150, 255 replicated
    np.testing.assert_array_equal(out, [[2, 15], [150, 255]])
    assert downsample2x(np.zeros((1, 1, 3), np.uint8)).shape == (1, 1, 3)


def test_dzi_levels_and_descriptor(tmp_path: Path) -> None:
    image = make_canvas()
    target = tmp_path / "v.dzi"
    write_canvas(target, image, options={"tile_format": "png", "tile_size": 64, "overlap": 2})
    text = target.read_text()
    assert 'TileSize="64"' in text and 'Overlap="2"' in text and 'Format="png"' in text
    assert '<Size Width="150" Height="100"/>' in text
    files = tmp_path / "v_files"
    # ceil(log2(150)) = 8: levels 0 (1x1) .. 8 (full size)
    assert sorted(int(p.name) for p in files.iterdir()) == list(range(9))
    np.testing.assert_array_equal(read_dzi_level(target, 8), image)
    np.testing.assert_array_equal(read_dzi_level(target, 7), downsample2x(image))
    assert read_dzi_level(target, 0).shape == (1, 1, 3)


# ------------------------------------------------------------------------------------------------
# Order independence, multi-chunk tiles, atomicity


@pytest.mark.parametrize("name", ["a.tif", "a.png", "a.zarr"])
def test_random_tile_order_gives_identical_output(tmp_path: Path, name: str) -> None:
    image = make_canvas()
    (tmp_path / "rowmajor").mkdir()
    (tmp_path / "shuffled").mkdir()
    write_canvas(tmp_path / "rowmajor" / name, image)
    write_canvas(tmp_path / "shuffled" / name, image, order_seed=5)
    a, b = tmp_path / "rowmajor" / name, tmp_path / "shuffled" / name
    if a.is_dir():
        assert tree_bytes(a) == tree_bytes(b)
    else:
        assert a.read_bytes() == b.read_bytes()
    assert sidecar_path(a).read_bytes() == sidecar_path(b).read_bytes()


def test_tiles_spanning_several_chunks(tmp_path: Path) -> None:
    image = make_canvas()
    (tmp_path / "ref").mkdir()
    (tmp_path / "big").mkdir()
    write_canvas(tmp_path / "ref" / "a.tif", image)
    target = tmp_path / "big" / "a.tif"
    with open_canvas_writer(target, H, W, chunk=CHUNK, metadata={"seed": 3}) as w:
        w.write(0, 0, image[:64, :64])  # 2x2 chunks
        w.write(0, 64, image[:64, 64:])  # 2 rows x 3 chunks, ends at the right edge
        w.write(64, 0, image[64:, :])  # the bottom band, ends at both edges
    assert target.read_bytes() == (tmp_path / "ref" / "a.tif").read_bytes()


@pytest.mark.parametrize("name", ["a.tif", "a.zarr", "a.png", "a.dzi"])
def test_nothing_under_final_name_before_close(tmp_path: Path, name: str) -> None:
    image = make_canvas()
    target = tmp_path / name
    writer = open_canvas_writer(target, H, W, chunk=CHUNK, metadata={})
    for y, x in writer.chunk_positions():
        writer.write(y, x, image[y : y + CHUNK, x : x + CHUNK])
        assert not os.path.lexists(target)
        assert not sidecar_path(target).exists()
        assert not target.with_name(target.stem + "_files").exists()
    assert all(writer.done(y, x) for y, x in writer.chunk_positions())
    writer.close()
    assert target.exists() and sidecar_path(target).exists()
    assert not writer.scratch.exists()
    with pytest.raises(ValueError, match="closed"):
        writer.write(0, 0, image[:CHUNK, :CHUNK])


def test_context_manager_keeps_partial_on_exception(tmp_path: Path) -> None:
    image = make_canvas()
    target = tmp_path / "a.tif"
    with pytest.raises(RuntimeError, match="boom"):
        with open_canvas_writer(target, H, W, chunk=CHUNK, metadata={}) as writer:
            writer.write(0, 0, image[:CHUNK, :CHUNK])
            raise RuntimeError("boom")
    assert not target.exists()
    assert Path(str(target) + ".partial").is_dir()
    resumed = open_canvas_writer(target, H, W, chunk=CHUNK, metadata={}, resume=True)
    assert resumed.done(0, 0) and not resumed.done(0, CHUNK)


# ------------------------------------------------------------------------------------------------
# Resume


@pytest.mark.parametrize(
    ("name", "options"),
    [("a.tif", None), ("a.png", None), ("a.zarr", None), ("a.dzi", {"tile_format": "png"})],
)
def test_resume_after_dropped_writer_matches_uninterrupted(
    tmp_path: Path, name: str, options: dict | None
) -> None:
    image = make_canvas()
    (tmp_path / "ref").mkdir()
    (tmp_path / "run").mkdir()
    reference = tmp_path / "ref" / name
    write_canvas(reference, image, options=options)

    target = tmp_path / "run" / name
    writer = open_canvas_writer(target, H, W, chunk=CHUNK, metadata={"seed": 3}, options=options)
    positions = list(writer.chunk_positions())
    first = positions[::2]
    for y, x in first:
        writer.write(y, x, image[y : y + CHUNK, x : x + CHUNK])
    del writer  # dropped without close: a crash as far as the files are concerned
    assert not os.path.lexists(target)

    with pytest.raises(ValueError, match=rf"resume.*\b{len(first)} of {len(positions)} chunks"):
        open_canvas_writer(target, H, W, chunk=CHUNK, metadata={"seed": 3}, options=options)

    writer = open_canvas_writer(
        target, H, W, chunk=CHUNK, metadata={"seed": 3}, options=options, resume=True
    )
    assert [p for p in positions if writer.done(*p)] == first
    assert writer.missing_chunks() == positions[1::2]
    for y, x in writer.missing_chunks():
        writer.write(y, x, image[y : y + CHUNK, x : x + CHUNK])
    writer.close()

    np.testing.assert_array_equal(read_pixels(target), read_pixels(reference))
    if target.is_dir():
        assert tree_bytes(target) == tree_bytes(reference)
    else:
        assert target.read_bytes() == reference.read_bytes()
    assert sidecar_path(target).read_bytes() == sidecar_path(reference).read_bytes()


def test_crash_during_close_is_recovered_by_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infinitygan.writers._store import NpyChunkStore

    image = make_canvas()
    (tmp_path / "ref").mkdir()
    write_canvas(tmp_path / "ref" / "a.tif", image)
    target = tmp_path / "a.tif"

    def crash(self: NpyChunkStore) -> None:
        raise OSError("killed while deleting the scratch store")

    with monkeypatch.context() as m:
        m.setattr(NpyChunkStore, "remove", crash)
        with pytest.raises(OSError, match="killed"):
            write_canvas(target, image)
    assert Path(str(target) + ".partial").is_dir()
    writer = open_canvas_writer(target, H, W, chunk=CHUNK, metadata={"seed": 3}, resume=True)
    assert writer.missing_chunks() == []
    writer.close()
    assert target.read_bytes() == (tmp_path / "ref" / "a.tif").read_bytes()
    assert not Path(str(target) + ".partial").exists()


# Writes the first half of the chunks, then keeps rewriting them (never closing), printing a
# line per chunk: the SIGKILL lands during a chunk write whatever the timing, and the finished
# chunks are always a prefix of the first half.
_KILL_CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from infinitygan.writers import open_canvas_writer
    path, h, w, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    image = np.random.default_rng(11).integers(0, 256, (h, w, 3), dtype=np.uint8)
    writer = open_canvas_writer(path, h, w, chunk=chunk, metadata={"run": 1})
    half = list(writer.chunk_positions())[: writer.num_chunks // 2]
    i = 0
    while True:
        y, x = half[i % len(half)]
        writer.write(y, x, image[y : y + chunk, x : x + chunk])
        print(i, flush=True)
        i += 1
    """
)


def test_resume_after_sigkill_mid_write(tmp_path: Path) -> None:
    h, w, chunk = 512, 640, 32  # 320 chunks
    image = np.random.default_rng(11).integers(0, 256, (h, w, 3), dtype=np.uint8)
    (tmp_path / "ref").mkdir()
    (tmp_path / "run").mkdir()
    reference = tmp_path / "ref" / "k.tif"
    write_canvas(reference, image, chunk=chunk, metadata={"run": 1})

    target = tmp_path / "run" / "k.tif"
    child = subprocess.Popen(
        [sys.executable, "-c", _KILL_CHILD, str(target), str(h), str(w), str(chunk)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        reported = -1
        deadline = time.monotonic() + 60
        while reported < 100 and time.monotonic() < deadline:
            line = child.stdout.readline()
            assert line, "the child process died before writing enough chunks"
            reported = int(line)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert not target.exists()

    writer = open_canvas_writer(target, h, w, chunk=chunk, metadata={"run": 1}, resume=True)
    positions = list(writer.chunk_positions())
    done = [p for p in positions if writer.done(*p)]
    assert reported + 1 <= len(done) <= len(positions) // 2
    assert done == positions[: len(done)]
    for y, x in writer.missing_chunks():
        writer.write(y, x, image[y : y + chunk, x : x + chunk])
    writer.close()
    assert target.read_bytes() == reference.read_bytes()
    np.testing.assert_array_equal(tifffile.imread(target), image)


_ZARR_RANK = textwrap.dedent(
    """
    import sys
    import numpy as np
    from infinitygan.writers import open_canvas_writer
    path, rank, world = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    h, w, chunk = 100, 150, 32
    image = np.random.default_rng(4).integers(0, 256, (h, w, 3), dtype=np.uint8)
    writer = open_canvas_writer(path, h, w, chunk=chunk, metadata={"seed": 4}, resume=True)
    for i, (y, x) in enumerate(writer.chunk_positions()):
        if i % world == rank:
            writer.write(y, x, image[y : y + chunk, x : x + chunk])
    writer.close(finalize=False)
    """
)


def test_two_processes_write_one_zarr_like_one_process(tmp_path: Path) -> None:
    image = np.random.default_rng(4).integers(0, 256, (H, W, 3), dtype=np.uint8)
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    single = tmp_path / "one" / "c.zarr"
    write_canvas(single, image, metadata={"seed": 4})

    target = tmp_path / "two" / "c.zarr"
    # Both ranks start at once and race to create the store: one creates, the other attaches.
    ranks = [
        subprocess.Popen([sys.executable, "-c", _ZARR_RANK, str(target), str(r), "2"])
        for r in range(2)
    ]
    assert [p.wait(timeout=120) for p in ranks] == [0, 0]
    assert not target.exists()
    # The finalising rank (after a barrier): attach, check, close.
    writer = open_canvas_writer(target, H, W, chunk=CHUNK, metadata={"seed": 4}, resume=True)
    assert writer.missing_chunks() == []
    writer.close()
    assert tree_bytes(target) == tree_bytes(single)
    assert sidecar_path(target).read_bytes() == sidecar_path(single).read_bytes()
    assert dict(zarr.open_array(str(target), mode="r").attrs)["metadata"] == {"seed": 4}
    assert set(os.listdir(tmp_path / "two")) == {"c.zarr", "c.zarr.json"}


def test_close_with_missing_chunks_keeps_writer_usable(tmp_path: Path) -> None:
    image = make_canvas()
    target = tmp_path / "a.zarr"
    writer = open_canvas_writer(target, H, W, chunk=CHUNK, metadata={})
    positions = list(writer.chunk_positions())
    for y, x in positions[1:]:
        writer.write(y, x, image[y : y + CHUNK, x : x + CHUNK])
    with pytest.raises(
        ValueError, match=r"1 of 20 chunks were never written \(first at y=0, x=0\)"
    ):
        writer.close()
    assert not target.exists()
    writer.write(0, 0, image[:CHUNK, :CHUNK])
    writer.close()
    np.testing.assert_array_equal(read_pixels(target), image)


def test_resume_with_other_geometry_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "a.tif"
    open_canvas_writer(target, H, W, chunk=CHUNK, metadata={}).close(finalize=False)
    with pytest.raises(ValueError, match=r"different settings: height=100 \(now 200\)"):
        open_canvas_writer(target, 200, W, chunk=CHUNK, metadata={}, resume=True)
    ztarget = tmp_path / "a.zarr"
    open_canvas_writer(ztarget, H, W, chunk=CHUNK, metadata={}).close(finalize=False)
    with pytest.raises(ValueError, match="different settings: options="):
        open_canvas_writer(
            ztarget, H, W, chunk=CHUNK, metadata={}, resume=True, options={"level": 9}
        )


# ------------------------------------------------------------------------------------------------
# Errors found before any work


def test_unknown_extension_lists_supported(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unsupported output extension '\.bmp'.*\.tif.*\.zarr"):
        check_output_path(tmp_path / "a.bmp", 10, 10)
    with pytest.raises(ValueError, match="supported"):
        open_canvas_writer(tmp_path / "noext", 10, 10, metadata={})
    assert set(SUPPORTED_SUFFIXES) >= {".png", ".jpg", ".webp", ".tif", ".tiff", ".zarr", ".dzi"}


def test_missing_and_unwritable_directories(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist; create it first"):
        check_output_path(tmp_path / "nope" / "a.tif", 10, 10)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is not a directory"):
        check_output_path(tmp_path / "file" / "a.tif", 10, 10)
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o500)
    try:
        # root ignores permission bits; /proc refuses new files for everyone
        unwritable = readonly if os.geteuid() != 0 else Path("/proc")
        with pytest.raises(ValueError, match="cannot write in output directory"):
            check_output_path(unwritable / "a.tif", 10, 10)
    finally:
        readonly.chmod(0o700)


def test_format_size_limits(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"too large for JPEG \(at most 65500.*\.tif"):
        check_output_path(tmp_path / "a.jpg", 100, 70000)
    check_output_path(tmp_path / "a.jpg", 100, 65500, check_disk=False)
    with pytest.raises(ValueError, match=r"too large for WebP \(at most 16383.*\.tif or \.zarr"):
        check_output_path(tmp_path / "a.webp", 16384, 10)
    with pytest.raises(ValueError, match=r"too large for PNG.*use \.tif or \.zarr"):
        check_output_path(tmp_path / "a.png", 50000, 50000)
    # The TIFF has neither limit.
    check_output_path(tmp_path / "a.tif", 16384, 70000, check_disk=False)


def test_in_memory_formats_refused_beyond_available_ram(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class FakeMemory:
        available = 100 * 2**20

    monkeypatch.setattr(_formats.psutil, "virtual_memory", lambda: FakeMemory())
    with pytest.raises(ValueError, match=r"needs about .* of RAM.*use \.tif or \.zarr"):
        check_output_path(tmp_path / "a.png", 8000, 8000)
    check_output_path(tmp_path / "a.png", 1000, 1000)
    check_output_path(tmp_path / "a.tif", 8000, 8000)


def test_not_enough_disk_space(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not enough free disk space"):
        check_output_path(tmp_path / "a.tif", 1_000_000, 1_000_000)
    with pytest.raises(ValueError, match="not enough free disk space"):
        open_canvas_writer(tmp_path / "a.zarr", 1_000_000, 1_000_000, metadata={})
    assert os.listdir(tmp_path) == []


def test_stale_partial_without_resume(tmp_path: Path) -> None:
    image = make_canvas()
    target = tmp_path / "a.png"
    writer = open_canvas_writer(target, H, W, chunk=CHUNK, metadata={})
    writer.write(0, 0, image[:CHUNK, :CHUNK])
    writer.close(finalize=False)
    with pytest.raises(ValueError, match=r"a\.png\.partial.*1 of 20 chunks done.*resume=True"):
        open_canvas_writer(target, H, W, chunk=CHUNK, metadata={})
    (tmp_path / "junk.tif.partial").mkdir()
    with pytest.raises(ValueError, match="not a readable infinitygan scratch store"):
        open_canvas_writer(tmp_path / "junk.tif", H, W, chunk=CHUNK, metadata={}, resume=True)


@pytest.mark.parametrize(
    ("y", "x", "tile", "match"),
    [
        (5, 0, np.zeros((32, 32, 3), np.uint8), "not on the 32-pixel chunk grid"),
        (0, 160, np.zeros((32, 32, 3), np.uint8), "outside the 100x150 canvas"),
        (0, 0, np.zeros((32, 31, 3), np.uint8), "tile width 31 at x=0 does not fit"),
        (96, 0, np.zeros((32, 32, 3), np.uint8), "tile height 32 at y=96 does not fit.*is 4"),
        (0, 0, np.zeros((32, 32, 4), np.uint8), r"shape \[h, w, 3\]"),
        (0, 0, np.zeros((32, 32, 3), np.float32), "dtype must be uint8"),
        (0, 0, [[0]], "numpy.ndarray"),
        (0.0, 0, np.zeros((32, 32, 3), np.uint8), "must be an integer"),
    ],
)
def test_bad_tiles_are_refused(tmp_path: Path, y, x, tile, match: str) -> None:
    writer = open_canvas_writer(tmp_path / "a.tif", H, W, chunk=CHUNK, metadata={})
    with pytest.raises(ValueError, match=match):
        writer.write(y, x, tile)
    assert writer.missing_chunks() == list(writer.chunk_positions())


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="multiple of 16"):
        open_canvas_writer(tmp_path / "a.tif", H, W, chunk=40, metadata={})
    with pytest.raises(ValueError, match="height must be a positive integer"):
        open_canvas_writer(tmp_path / "a.tif", 0, W, metadata={})
    with pytest.raises(ValueError, match=r"unknown tiff option\(s\) \['qualty'\].*quality"):
        open_canvas_writer(tmp_path / "a.tif", H, W, metadata={}, options={"qualty": 3})
    with pytest.raises(ValueError, match=r"compression' must be one of \['zlib'"):
        open_canvas_writer(tmp_path / "a.tif", H, W, metadata={}, options={"compression": "x"})
    with pytest.raises(ValueError, match="JSON-serialisable"):
        open_canvas_writer(tmp_path / "a.tif", H, W, metadata={"a": object()})
    writer = open_canvas_writer(tmp_path / "a.tif", H, W, chunk=CHUNK, metadata={})
    with pytest.raises(ValueError, match="not the top-left of a chunk"):
        writer.done(3, 0)
    assert isinstance(writer, CanvasWriter)
    assert os.listdir(tmp_path) == ["a.tif.partial"]


def test_tiff_jpeg_without_imagecodecs_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "imagecodecs", None)  # makes `import imagecodecs` fail
    with pytest.raises(ValueError, match=r"pip install 'infinitygan\[tiff-jpeg\]'"):
        open_canvas_writer(tmp_path / "a.tif", H, W, metadata={}, options={"compression": "jpeg"})
    assert os.listdir(tmp_path) == []
