"""The bundled landscape photos: attribution, the "landscapes" source and its windows."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from infinitygan.data import DATASETS, DataConfig, open_dataset
from infinitygan.data.bundled import (
    LANDSCAPES_DIR,
    PhotoWindowsDataset,
    bundled_landscape_files,
    square_windows,
)
from infinitygan.data.sources import DataError

LICENCE_URLS = {
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-2.0": "https://creativecommons.org/licenses/by/2.0/",
    "LGPL-3.0": "https://www.gnu.org/licenses/lgpl-3.0.html",
    "GPL-2.0-or-later": "https://www.gnu.org/licenses/old-licenses/gpl-2.0.html",
}


def attribution_rows() -> dict[str, list[str]]:
    """Table rows of ATTRIBUTION.md by file name: [file, author, package, original, licence]."""
    text = (LANDSCAPES_DIR / "ATTRIBUTION.md").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and re.fullmatch(r"[\w.-]+\.(jpg|png)", cells[0]):
            rows[cells[0]] = cells
    return rows


def test_every_bundled_photo_is_attributed_with_a_licence() -> None:
    files = bundled_landscape_files()
    rows = attribution_rows()
    assert len(files) >= 10
    assert sorted(p.name for p in files) == sorted(rows)
    for name, (_, author, package, original, licence) in rows.items():
        assert author and package and original, name
        known = [k for k in LICENCE_URLS if licence.startswith(k)]
        assert known, f"{name}: unknown licence {licence!r}"
        assert LICENCE_URLS[known[0]] in licence, f"{name}: licence URL missing"


def test_bundled_photos_are_small_downscaled_rgb_jpegs() -> None:
    files = bundled_landscape_files()
    assert sum(p.stat().st_size for p in files) < 4 << 20
    for path in files:
        with Image.open(path) as image:
            assert image.format == "JPEG" and image.mode == "RGB", path.name
            assert min(image.size) == 384, path.name
            assert max(image.size) <= 2 * min(image.size), path.name


def test_bundled_photos_are_package_data() -> None:
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '"assets/**/*"' in pyproject
    assert LANDSCAPES_DIR.parts[-3:] == ("infinitygan", "assets", "landscapes")


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (384, 384, [(0, 0)]),
        (512, 384, [(0, 0), (128, 0)]),
        (576, 384, [(0, 0), (192, 0)]),
        (614, 384, [(0, 0), (115, 0), (230, 0)]),
        (384, 600, [(0, 0), (0, 108), (0, 216)]),
    ],
)
def test_square_windows_cover_the_long_side(width, height, expected) -> None:
    windows = square_windows(width, height)
    assert windows == expected
    side = min(width, height)
    steps = [b[0] - a[0] + b[1] - a[1] for a, b in zip(windows, windows[1:])]
    assert all(0 < s <= side // 2 for s in steps)


def test_open_dataset_landscapes_yields_patches() -> None:
    assert "landscapes" in DATASETS and "synthetic" in DATASETS
    config = DataConfig(patch_size=53, full_size=101, pre_resize=66)
    dataset = open_dataset("landscapes", config, seed=3)
    assert isinstance(dataset, PhotoWindowsDataset)
    assert len(dataset) == sum(
        len(square_windows(*Image.open(p).size)) for p in bundled_landscape_files()
    )
    patch, label = dataset[(2, 7)]
    assert patch.shape == (3, 53, 53) and patch.dtype == torch.float32
    assert -1.0 <= float(patch.min()) < float(patch.max()) <= 1.0
    assert -1.0 <= float(label) <= 1.0
    again, label_again = dataset[(2, 7)]
    assert torch.equal(patch, again) and float(label) == float(label_again)
    full = dataset.full_image(0)
    assert full.shape == (3, 101, 101)


def test_landscape_windows_follow_the_official_preprocessing() -> None:
    config = DataConfig(patch_size=53, full_size=101, pre_resize=66)
    dataset = open_dataset("landscapes", config, seed=0)
    path, left, top, side = dataset.windows[1]
    with Image.open(path) as image:
        crop = image.convert("RGB").crop((left, top, left + side, top + side))
    expected = crop.resize((66, 66), Image.Resampling.LANCZOS).resize(
        (101, 101), Image.Resampling.LANCZOS
    )
    reference = torch.from_numpy(np.asarray(expected).copy())
    got = ((dataset.full_image(1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0)
    assert torch.equal(got, reference)


def test_landscapes_takes_no_options_and_rejects_small_patches(tmp_path) -> None:
    with pytest.raises(TypeError, match="takes no options"):
        open_dataset("landscapes", DataConfig(), seed=0, cache_bytes=1)
    with pytest.raises(DataError, match="smaller than the 400-px training patch"):
        PhotoWindowsDataset(
            bundled_landscape_files()[:1],
            DataConfig(patch_size=400, full_size=400, pre_resize=None),
            seed=0,
        )
    with pytest.raises(DataError, match="no bundled landscape photos"):
        bundled_landscape_files(tmp_path)


def test_train_command_takes_landscapes_by_name(tmp_path) -> None:
    from click.testing import CliRunner

    from infinitygan.cli import main

    result = CliRunner().invoke(
        main,
        [
            "train",
            "--data",
            "landscapes",
            "--preset",
            "landscapes-cpu",
            "--batch",
            "4",
            "--steps",
            "10",
            "--outdir",
            str(tmp_path),
            "--dry-run",
        ],
    )
    assert result.exit_code == 0, result.output
    assert '"data": "landscapes"' in result.output
    assert '"name": "landscapes-cpu"' in result.output
