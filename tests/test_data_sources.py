"""Image collections: folder/zip/tar equivalence, colour-mode conversion, scan reasons, errors."""

from __future__ import annotations

import io
import json
import logging
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from infinitygan.data import (
    DataConfig,
    DataError,
    ImageCollectionDataset,
    decode_image,
    draw_patch,
    open_dataset,
    open_source,
    scan_images,
)
from infinitygan.data.sources import NOT_AN_IMAGE, TOO_SMALL, TRUNCATED, UNREADABLE

SMALL = DataConfig(patch_size=24, full_size=40, pre_resize=32)


def _smooth_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random but smooth RGB image (compresses well, survives JPEG sensibly)."""
    coarse = rng.integers(0, 256, size=(4, 5, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC))


def _write_collection(root: Path) -> list[str]:
    """Six images of different formats, sizes and aspects, two in a sub-folder."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    (root / "sub").mkdir(exist_ok=True)
    specs = [
        ("a.png", 60, 90, "PNG"),
        ("b.jpg", 80, 50, "JPEG"),
        ("c.webp", 45, 45, "WEBP"),
        ("sub/d.png", 120, 70, "PNG"),
        ("sub/e.JPEG", 33, 100, "JPEG"),
        ("f.png", 40, 41, "PNG"),
    ]
    for name, h, w, fmt in specs:
        Image.fromarray(_smooth_image(rng, h, w)).save(root / name, format=fmt)
    return sorted(name for name, *_ in specs)


def _zip_folder(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    return target


def _tar_folder(folder: Path, target: Path, mode: str) -> Path:
    with tarfile.open(target, mode) as tf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                tf.add(path, arcname="./" + path.relative_to(folder).as_posix())
    return target


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("collection")
    folder = base / "images"
    _write_collection(folder)
    return {
        "folder": folder,
        "zip": _zip_folder(folder, base / "images.zip"),
        "tar": _tar_folder(folder, base / "images.tar", "w"),
        "tgz": _tar_folder(folder, base / "images.tar.gz", "w:gz"),
    }


def test_folder_zip_tar_give_identical_samples(collection: dict[str, Path]) -> None:
    datasets = {k: open_dataset(str(p), SMALL, seed=3) for k, p in collection.items()}
    names = {k: d.names for k, d in datasets.items()}
    assert names["folder"] == names["zip"] == names["tar"] == names["tgz"]
    assert names["folder"] == ("a.png", "b.jpg", "c.webp", "f.png", "sub/d.png", "sub/e.JPEG")
    for key in [(0, 0), (0, 4), (1, 4), (5, 2), (2, 5)]:
        ref_patch, ref_label = datasets["folder"][key]
        for kind in ("zip", "tar", "tgz"):
            patch, label = datasets[kind][key]
            assert torch.equal(patch, ref_patch), kind
            assert torch.equal(label, ref_label), kind
        ref_full = datasets["folder"].full_image(key[1])
        assert torch.equal(datasets["tgz"].full_image(key[1]), ref_full)


def test_scan_json_lists_found_used_skipped(collection: dict[str, Path], tmp_path: Path) -> None:
    report = scan_images(collection["zip"], 41)
    # f.png is 41x40 and e.JPEG 100x33: both shorter than 41
    assert [s.name for s in report.skipped] == ["f.png", "sub/e.JPEG"]
    assert {s.reason for s in report.skipped} == {TOO_SMALL}
    path = report.write(tmp_path / "run")
    data = json.loads(path.read_text())
    assert path.name == "dataset-scan.json"
    assert data["found"] == 6 and data["num_used"] == 4 and data["num_skipped"] == 2
    assert data["skipped_by_reason"] == {TOO_SMALL: 2}
    assert data["used"][0] == {"name": "a.png", "height": 60, "width": 90}
    assert data["skipped"][0]["reason"] == TOO_SMALL
    assert "40" in data["skipped"][0]["detail"]
    assert not list((tmp_path / "run").glob("*.tmp"))


# ------------------------------------------------------------------------------------------
# colour modes


def _encode(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _png_rgb16(values: np.ndarray) -> bytes:
    """A 16-bit RGB PNG written by hand (Pillow cannot write one)."""
    height, width, _ = values.shape
    raw = b"".join(b"\x00" + values[y].astype(">u2").tobytes() for y in range(height))

    def chunk(tag: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + tag
            + body
            + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_greyscale_and_palette_load_as_rgb() -> None:
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    out = np.asarray(decode_image(_encode(Image.fromarray(grey, "L"), "PNG")))
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    assert np.array_equal(out, np.repeat(grey[..., None], 3, axis=2))

    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[:, :4] = (200, 10, 30)
    rgb[:, 4:] = (5, 120, 250)
    palette = Image.fromarray(rgb).quantize(colors=2)
    assert palette.mode == "P"
    assert np.array_equal(np.asarray(decode_image(_encode(palette, "PNG"))), rgb)


def test_16bit_grey_and_rgb_scale_to_8bit() -> None:
    grey8 = np.array([[0, 1, 100, 255]], dtype=np.uint16)
    img16 = Image.fromarray((grey8 * 257).astype(np.uint16))
    assert img16.mode.startswith("I")
    out = np.asarray(decode_image(_encode(img16, "PNG")))
    assert np.array_equal(out[..., 0], grey8.astype(np.uint8))
    assert np.array_equal(out[..., 2], grey8.astype(np.uint8))

    rgb8 = np.array([[[0, 128, 255], [7, 8, 9]]], dtype=np.uint16)
    out = np.asarray(decode_image(_png_rgb16(rgb8 * 257)))
    assert np.array_equal(out, rgb8.astype(np.uint8))


def test_alpha_is_composited_on_white() -> None:
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (10, 20, 30, 255)  # opaque: kept
    rgba[0, 1] = (10, 20, 30, 0)  # transparent: white
    rgba[1, 0] = (0, 0, 0, 128)  # half: mid grey
    rgba[1, 1] = (255, 0, 0, 255)
    out = np.asarray(decode_image(_encode(Image.fromarray(rgba, "RGBA"), "PNG"))).astype(int)
    assert out[0, 0].tolist() == [10, 20, 30]
    assert out[0, 1].tolist() == [255, 255, 255]
    assert np.all(np.abs(out[1, 0] - 127) <= 1)
    assert out[1, 1].tolist() == [255, 0, 0]

    la = Image.fromarray(np.array([[[50, 0], [50, 255]]], np.uint8), "LA")
    assert np.asarray(decode_image(_encode(la, "PNG"))).tolist() == [[[255] * 3, [50] * 3]]

    pal = Image.fromarray(np.array([[0, 1]], np.uint8), "P")
    pal.putpalette([10, 20, 30, 40, 50, 60] + [0] * 762)
    pal.info["transparency"] = 0
    out = np.asarray(decode_image(_encode(pal, "PNG", transparency=0)))
    assert out.tolist() == [[[255, 255, 255], [40, 50, 60]]]


def test_cmyk_jpeg_loads_as_rgb() -> None:
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red
    out = np.asarray(decode_image(_encode(cmyk, "JPEG", quality=100))).astype(int)
    assert out.shape == (16, 16, 3)
    assert np.all(np.abs(out - np.array([255, 0, 0])) <= 3)


def test_exif_orientation_is_applied() -> None:
    image = Image.fromarray(np.zeros((20, 40, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90
    out = decode_image(_encode(image, "JPEG", exif=exif))
    assert out.size == (20, 40)  # (width, height) swapped


# ------------------------------------------------------------------------------------------
# bad files


def _bad_folder(root: Path, *, keep_good: bool) -> None:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    good = Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8))
    jpeg = _encode(good, "JPEG", quality=95)
    png = _encode(good, "PNG")
    if keep_good:
        (root / "good.png").write_bytes(png)
    (root / "notes.txt").write_text("not an image")
    (root / "fake.jpg").write_bytes(b"this is plain text, not a JPEG at all")
    (root / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (root / "cut.png").write_bytes(png[: len(png) // 2])
    (root / "cut.webp").write_bytes(_encode(good, "WEBP")[:200])
    (root / "empty.png").write_bytes(b"")
    (root / "tiny.png").write_bytes(_encode(good.resize((30, 20)), "PNG"))


def test_bad_files_are_skipped_with_the_right_reason(tmp_path: Path) -> None:
    _bad_folder(tmp_path / "mixed", keep_good=True)
    report = scan_images(tmp_path / "mixed", 24)
    reasons = {s.name: s.reason for s in report.skipped}
    assert [e.name for e in report.used] == ["good.png"]
    assert reasons == {
        "notes.txt": NOT_AN_IMAGE,
        "fake.jpg": NOT_AN_IMAGE,
        "cut.jpg": TRUNCATED,
        "cut.png": TRUNCATED,
        "cut.webp": TRUNCATED,
        "empty.png": UNREADABLE,
        "tiny.png": TOO_SMALL,
    }
    # the exact decode (no DCT scaling) classifies the same way
    exact = scan_images(tmp_path / "mixed", 24, fast=False)
    assert {s.name: s.reason for s in exact.skipped} == reasons


def test_header_only_scan_defers_truncation_to_training(tmp_path: Path) -> None:
    _bad_folder(tmp_path / "mixed", keep_good=True)
    report = scan_images(tmp_path / "mixed", 24, full_check=False)
    reasons = {s.name: s.reason for s in report.skipped}
    # header-level problems are still found; the truncated JPEG/PNG pass the header check
    assert reasons["tiny.png"] == TOO_SMALL and reasons["fake.jpg"] == NOT_AN_IMAGE
    assert {"cut.jpg", "cut.png", "good.png"} <= {e.name for e in report.used}
    dataset = open_dataset(str(tmp_path / "mixed"), SMALL, seed=0, full_check=False)
    for index in range(len(dataset)):
        patch, _ = dataset[(0, index)]  # truncated files are substituted, never raised
        assert patch.shape == (3, 24, 24)


def test_all_bad_folder_raises_a_useful_error(tmp_path: Path) -> None:
    _bad_folder(tmp_path / "bad", keep_good=False)
    with pytest.raises(DataError) as info:
        open_dataset(str(tmp_path / "bad"), SMALL, seed=0)
    message = str(info.value)
    assert str(tmp_path / "bad") in message
    assert "7 files scanned, all skipped" in message
    assert "3 truncated" in message and "2 not an image" in message
    assert "1 smaller than the patch" in message and "1 unreadable" in message
    assert "at least 24 px" in message
    assert info.value.report is not None and info.value.report.found == 7


def test_empty_missing_and_unsupported_paths(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="contains no files"):
        scan_images(tmp_path / "empty", 24)
    with pytest.raises(FileNotFoundError, match="neither a known name"):
        open_dataset(str(tmp_path / "nowhere"), SMALL, seed=0)
    (tmp_path / "list.csv").write_text("a,b")
    with pytest.raises(DataError, match="neither a folder nor an archive"):
        open_source(tmp_path / "list.csv")
    (tmp_path / "broken.zip").write_bytes(b"PK nonsense")
    with pytest.raises(DataError, match="not a readable zip"):
        open_source(tmp_path / "broken.zip")


def test_file_broken_after_scan_is_substituted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "imgs"
    names = _write_collection(folder)
    dataset = open_dataset(str(folder), SMALL, seed=5, cache_bytes=0)
    assert isinstance(dataset, ImageCollectionDataset) and not dataset.use_cache
    expected_patch, expected_label = dataset[(2, 1)]
    # image 0 ("a.png") goes bad during training: index 0 now yields image 1's content
    (folder / names[0]).write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING, logger="infinitygan.data"):
        patch, label = dataset[(2, 0)]
        dataset[(3, 0)]
    assert patch.shape == (3, 24, 24)
    warnings = [r for r in caplog.records if "a.png" in r.getMessage()]
    assert len(warnings) == 1  # logged once per file
    # the substitute uses image 1 with the draw of (epoch 2, index 0)
    draw = draw_patch(5, 2, 0, SMALL)
    assert float(label) == pytest.approx(2 * draw.y / SMALL.max_offset - 1)
    assert expected_label.shape == label.shape
    full1 = dataset.load_full(1)
    crop = full1[:, ::-1] if draw.flip else full1
    crop = crop[draw.y : draw.y + 24, draw.x : draw.x + 24]
    assert torch.equal(patch, torch.from_numpy(crop.transpose(2, 0, 1).copy()) / 127.5 - 1)
    assert expected_patch.shape == patch.shape


def test_datasets_pickle_for_spawned_workers(collection: dict[str, Path]) -> None:
    import pickle

    for kind in ("zip", "tgz"):
        dataset = open_dataset(str(collection[kind]), SMALL, seed=2)
        dataset[(0, 1)]  # opens the archive handle and fills the cache
        clone = pickle.loads(pickle.dumps(dataset))
        assert clone._cache == {}  # cached images are not shipped
        for key in [(0, 1), (3, 5)]:
            assert torch.equal(clone[key][0], dataset[key][0])


def test_compressed_tar_temp_file_is_removed(collection: dict[str, Path]) -> None:
    import gc

    dataset = open_dataset(str(collection["tgz"]), SMALL, seed=0)
    temp = Path(dataset.source._tar_path)
    assert temp.exists() and temp != collection["tgz"]
    del dataset
    gc.collect()
    assert not temp.exists()
