"""scripts/collect_bundled_landscapes.py: the Eet reader and the HDRI tone mapping."""

from __future__ import annotations

import importlib.util
import io
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "collect_bundled_landscapes.py"


@pytest.fixture(scope="module")
def collect():
    spec = importlib.util.spec_from_file_location("collect_bundled_landscapes", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def jpeg_bytes(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="JPEG", quality=95)
    return out.getvalue()


def eet_file(entries: list[tuple[str, bytes, int]], magic: int = 0x1EE70F42) -> bytes:
    """An "Eet file 2" with the given (name, stored bytes, flags) entries and no dictionary."""
    header = struct.pack(">3I", magic, len(entries), 0)
    directory_end = len(header) + 24 * len(entries)
    names = b"".join(n.encode() + b"\0" for n, _, _ in entries)
    offset = directory_end + len(names)
    name_offset = directory_end
    directory, blobs = b"", b""
    for name, data, flags in entries:
        size = len(name) + 1
        directory += struct.pack(
            ">6I", offset + len(blobs), len(data), len(data), name_offset, size, flags
        )
        name_offset += size
        blobs += data
    return header + directory + names + blobs


def test_edj_reader_takes_the_largest_plain_jpeg_unchanged(collect, tmp_path) -> None:
    small, large = jpeg_bytes((32, 18), (200, 10, 10)), jpeg_bytes((128, 72), (10, 10, 200))
    raw_argb = struct.pack(">I", 0xAC1DFEED) + bytes(4000)  # Eet's own lossless encoding
    compressed = b"\x78\x9c" + bytes(9000)  # flag bit 0: compressed
    path = tmp_path / "bg.edj"
    path.write_bytes(
        eet_file(
            [
                ("edje/images/1", small, 0),
                ("edje/file", b"CHKd" + bytes(20), 0),
                ("edje/images/0", large, 0),
                ("edje/images/2", raw_argb, 0),
                ("edje/images/3", compressed, 0x1 | (1 << 3)),
            ]
        )
    )
    assert collect.edj_largest_jpeg(path) == large
    entries = collect.eet_directory(path.read_bytes())
    assert [e.name for e in entries] == [
        "edje/images/1",
        "edje/file",
        "edje/images/0",
        "edje/images/2",
        "edje/images/3",
    ]
    assert [e.stored_plain for e in entries] == [True, True, True, True, False]


def test_edj_reader_rejects_other_files(collect, tmp_path) -> None:
    path = tmp_path / "old.edj"
    path.write_bytes(eet_file([("edje/images/0", jpeg_bytes((8, 8), (0, 0, 0)), 0)], 0x1EE7FF00))
    with pytest.raises(ValueError, match="not an Eet file 2"):
        collect.edj_largest_jpeg(path)
    path.write_bytes(eet_file([("edje/images/0", bytes(100), 0)]))
    with pytest.raises(ValueError, match="no image entry is stored as plain JPEG"):
        collect.edj_largest_jpeg(path)
    broken = bytearray(eet_file([("edje/images/0", jpeg_bytes((8, 8), (0, 0, 0)), 0)]))
    struct.pack_into(">I", broken, 12, 1 << 30)  # the entry's offset points past the end
    path.write_bytes(bytes(broken))
    with pytest.raises(ValueError, match="points outside the file"):
        collect.edj_largest_jpeg(path)


def test_hdri_band_is_the_horizon_and_keeps_the_loop(collect) -> None:
    # A 64 x 32 equirectangular "sky over ground": rows above the horizon bright, below dark,
    # one horizontal ramp that wraps, and a sun (a 1e4 pixel ringed by zeros, as lossy DWA
    # compression leaves it).
    height, width = 32, 64
    rgb = np.full((height, width, 3), 0.05, dtype=np.float32)
    rgb[: height // 2] = 1.0
    rgb *= (1.5 + np.cos(np.linspace(0, 2 * np.pi, width, endpoint=False)))[None, :, None]
    rgb[12:15, 30:33] = 0.0
    rgb[13, 31] = 1e4
    band = np.asarray(collect.tone_map_band(rgb), dtype=np.int64)
    assert band.shape == (height // 2, width, 3)  # 45 degrees either side of the horizon
    assert band[: height // 4].mean() > band[height // 4 :].mean() + 50  # sky over ground
    seam = np.abs(band[:, -1] - band[:, 0]).max()
    assert seam <= np.abs(np.diff(band, axis=1)).max()  # the columns still wrap smoothly
    sun = band[12 - 8 : 15 - 8, 30:33]
    assert sun.min() == 255  # the ring round the sun is filled, not dark specks


def test_srgb_encoding_matches_the_standard(collect) -> None:
    values = np.array([0.0, 0.0031308, 0.18, 0.5, 1.0, 2.0])
    got = collect.srgb_encode(values)
    expected = [0.0, 0.04045, 0.4613561, 0.7353570, 1.0, 1.0]
    assert got == pytest.approx(expected, abs=1e-5)
