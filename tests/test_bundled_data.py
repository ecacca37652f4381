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
    HELD_OUT,
    LANDSCAPE_ZOOMS,
    LANDSCAPES_DIR,
    OPEN_SKY_MAX_TEXTURE,
    PhotoView,
    PhotoWindowsDataset,
    bundled_landscape_files,
    has_open_sky,
    is_loop,
    loop_windows,
    square_windows,
    top_band_texture,
)
from infinitygan.data.pipeline import (
    draw_patch,
    label_per_px,
    make_loader,
    vertical_label,
    zoomed_label_band,
    zoomed_vertical_label,
)
from infinitygan.data.sources import DataError

LICENCE_URLS = {
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-2.0": "https://creativecommons.org/licenses/by/2.0/",
    "LGPL-3.0": "https://www.gnu.org/licenses/lgpl-3.0.html",
    "GPL-2.0-or-later": "https://www.gnu.org/licenses/old-licenses/gpl-2.0.html",
    "CC-BY-SA-3.0": "https://creativecommons.org/licenses/by-sa/3.0/",
    "BSD-2-Clause": "https://opensource.org/license/bsd-2-clause",
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
}
ASSETS_DIR = LANDSCAPES_DIR.parent


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
    loops = [p for p in files if is_loop(p)]
    assert len(loops) == 4
    for path in files:
        with Image.open(path) as image:
            assert image.format == "JPEG" and image.mode == "RGB", path.name
            if is_loop(path):  # 360 x 90 degrees around the horizon at the original resolution
                assert image.size == (1024, 256), path.name
                continue
            assert min(image.size) == 384, path.name
            assert max(image.size) <= 2 * min(image.size), path.name


def test_package_assets_stay_under_10_mb() -> None:
    total = sum(p.stat().st_size for p in ASSETS_DIR.rglob("*") if p.is_file())
    assert total < 10_000_000, f"package assets take {total / 1e6:.1f} MB"


def test_bundled_panoramas_are_seamless_loops() -> None:
    # The right edge of a 360-degree panorama continues at its left edge: the step across the
    # seam is no larger than the steps between neighbouring columns inside (below their 99th
    # percentile; 22 of the 23 ordinary photos fail this).
    for path in filter(is_loop, bundled_landscape_files()):
        pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
        seam = np.abs(pixels[:, -1] - pixels[:, 0]).mean()
        steps = np.abs(np.diff(pixels, axis=1)).mean(axis=(0, 2))
        assert seam < np.percentile(steps, 99), (path.name, seam)


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


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (1024, 256, [0, 128, 256, 384, 512, 640, 768, 896]),
        (1000, 256, [0, 125, 250, 375, 500, 625, 750, 875]),
        (300, 300, [0, 150]),
    ],
)
def test_loop_windows_go_all_the_way_round(width, height, expected) -> None:
    windows = loop_windows(width, height)
    assert windows == [(x, 0) for x in expected]
    # neighbours, including the last and the first across the seam, at most half a side apart
    steps = np.diff([x for x, _ in windows] + [width])
    assert all(0 < s <= height // 2 for s in steps)


def test_loop_windows_reject_a_tall_panorama() -> None:
    with pytest.raises(DataError, match="cannot be a 360-degree panorama"):
        loop_windows(100, 200)


def test_open_dataset_landscapes_yields_patches() -> None:
    assert "landscapes" in DATASETS and "synthetic" in DATASETS
    config = DataConfig(patch_size=53, full_size=101, pre_resize=66)
    dataset = open_dataset("landscapes", config, seed=3)
    assert isinstance(dataset, PhotoWindowsDataset)

    def windows(path: Path) -> int:
        size = Image.open(path).size
        return len(loop_windows(*size) if is_loop(path) else square_windows(*size))

    files = bundled_landscape_files()
    assert len(dataset) == len(LANDSCAPE_ZOOMS) * sum(windows(p) for p in files)
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
    view = dataset.views[1]
    assert view.zoom == 1.0 and not view.wrap
    with Image.open(view.path) as image:
        crop = image.convert("RGB").crop(
            (view.left, view.top, view.left + view.side, view.top + view.side)
        )
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


# --------------------------------------------------------------------------------------------
# Views at several zooms and their vertical labels

PAPER = DataConfig(patch_size=101, full_size=197, pre_resize=128)


def test_zoom_one_labels_are_the_plain_labels() -> None:
    for config in (PAPER, DataConfig(patch_size=53, full_size=101, pre_resize=66)):
        for y in range(config.max_offset + 1):
            got = zoomed_vertical_label(y, config, top=0.0, scale=1.0)
            assert got == vertical_label(y, config)


def test_label_of_a_zoomed_patch_is_the_frame_label_at_the_same_photo_row() -> None:
    # A zoom-2 crop of a 384-px window: the label, mapped back to a photo row through the
    # frame's own label formula, is the photo row of the patch centre.
    config, side = PAPER, 384
    f, p = config.full_size, config.patch_size
    view = PhotoView(Path("a.jpg"), 10, 130, 192, 2.0, 0, side)

    def frame_row(label: float) -> float:  # centre row of the frame patch with this label
        offset = (label + 1) / 2 * config.max_offset
        return (offset + p / 2) * side / f

    for y in (0, 17, 48, config.max_offset):
        centre = view.top + (y + p / 2) * view.side / f
        assert frame_row(view.label(y, config)) == pytest.approx(centre, abs=1e-9)


def test_a_crop_shifted_down_k_px_has_labels_shifted_accordingly() -> None:
    config, side = PAPER, 384
    per_px = 2 * config.full_size / (side * config.max_offset)
    for k in (1, 5, 40):
        upper = PhotoView(Path("a.jpg"), 0, 60, 256, 1.5, 0, side)
        lower = PhotoView(Path("a.jpg"), 0, 60 + k, 256, 1.5, 0, side)
        for y in (0, 33, config.max_offset):
            shift = lower.label(y, config) - upper.label(y, config)
            assert shift == pytest.approx(k * per_px, rel=1e-12)
    # within one crop, one full-image row is 1/zoom of a frame row
    view = PhotoView(Path("a.jpg"), 0, 60, 256, 1.5, 0, side)
    step = view.label(1, config) - view.label(0, config)
    assert step == pytest.approx(2 / config.max_offset / 1.5, rel=1e-12)


def test_zoomed_label_band_keeps_labels_in_range() -> None:
    config, side = PAPER, 384
    for zoom in (1.5, 2.0, 3.0):
        crop = round(side / zoom)
        lo, hi = zoomed_label_band(crop / side, config)
        for top, inside in ((lo, True), (hi, True), (lo - 0.01, False), (hi + 0.01, False)):
            labels = [
                zoomed_vertical_label(y, config, top=top, scale=crop / side)
                for y in (0, config.max_offset)
            ]
            in_range = -1 - 1e-12 <= labels[0] and labels[1] <= 1 + 1e-12
            assert in_range == inside, (zoom, top, labels)


def test_zoomed_label_rejects_bad_geometry() -> None:
    with pytest.raises(ValueError, match="outside 0..96"):
        zoomed_vertical_label(97, PAPER, top=0.0, scale=0.5)
    with pytest.raises(ValueError, match="not inside the frame"):
        zoomed_vertical_label(0, PAPER, top=0.6, scale=0.5)
    with pytest.raises(ValueError, match="distinct factors >= 1"):
        PhotoWindowsDataset(bundled_landscape_files()[:1], PAPER, seed=0, zooms=(0.5, 1.0))


@pytest.fixture(scope="module")
def landscapes_paper() -> PhotoWindowsDataset:
    return open_dataset("landscapes", PAPER, seed=7)


def test_landscapes_views_are_distinct_zoomed_crops_inside_their_windows(
    landscapes_paper,
) -> None:
    views = landscapes_paper.views
    assert len({(v.path, v.left, v.top, v.side) for v in views}) == len(views)
    assert len(views) >= 3 * 35 * 2  # the 13-photo, one-zoom source had 35 views
    for zoom in LANDSCAPE_ZOOMS:
        assert sum(v.zoom == zoom for v in views) == len(views) // len(LANDSCAPE_ZOOMS)
    for v in views:
        assert v.side == round(v.frame_side / v.zoom)
        assert v.frame_top <= v.top and v.top + v.side <= v.frame_top + v.frame_side
        width, height = Image.open(v.path).size
        assert v.top + v.side <= height
        assert 0 <= v.left < width and (v.wrap or v.left + v.side <= width)
        labels = [v.label(y, PAPER) for y in (0, PAPER.max_offset)]
        assert -1.0 <= labels[0] < labels[1] <= 1.0
        if v.zoom == 1.0:
            assert labels == [-1.0, 1.0]


def test_landscapes_views_are_deterministic_given_the_seed(landscapes_paper) -> None:
    again = open_dataset("landscapes", PAPER, seed=7)
    other = open_dataset("landscapes", PAPER, seed=8)
    assert again.views == landscapes_paper.views
    moved = [a != b for a, b in zip(landscapes_paper.views, other.views)]
    zoomed = [v.zoom > 1 for v in other.views]
    assert not any(m and not z for m, z in zip(moved, zoomed))  # windows do not move
    assert sum(moved) > 0.8 * sum(zoomed)  # zoomed crops are redrawn
    # a photo's views do not depend on the other photos
    first = bundled_landscape_files()[0]
    alone = PhotoWindowsDataset([first], PAPER, seed=7, zooms=LANDSCAPE_ZOOMS)
    assert alone.views == [v for v in landscapes_paper.views if v.path == first]


def test_training_samples_carry_the_label_of_their_view(landscapes_paper) -> None:
    dataset = landscapes_paper
    for index in (0, len(dataset) // 2, len(dataset) - 1, 140, 200):
        for epoch in (0, 3):
            _, label = dataset[(epoch, index)]
            draw = draw_patch(dataset.seed, epoch, index, PAPER)
            expected = dataset.views[index].label(draw.y, PAPER)
            assert float(label) == pytest.approx(expected, abs=1e-6)


def test_a_view_across_a_panorama_seam_wraps_round(tmp_path) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(40, 160, 3), dtype=np.uint8)
    path = tmp_path / "ring-360.png"
    Image.fromarray(pixels).save(path)
    config = DataConfig(patch_size=8, full_size=16, pre_resize=None)
    dataset = PhotoWindowsDataset([path], config, seed=1, zooms=(1.0, 2.0))
    windows = [v for v in dataset.views if v.zoom == 1.0]
    assert [v.left for v in windows] == [0, 20, 40, 60, 80, 100, 120, 140]
    for index, view in enumerate(dataset.views):
        rolled = np.roll(pixels, -view.left, axis=1)
        expected = rolled[view.top : view.top + view.side, : view.side]
        assert np.array_equal(np.asarray(dataset.window_image(index)), expected), view
    assert sum(v.left + v.side > 160 for v in dataset.views) >= 2
    plain = tmp_path / "ring.png"
    Image.fromarray(pixels).save(plain)
    flat = PhotoWindowsDataset([plain], config, seed=1)
    assert [v.left for v in flat.views] == [0, 20, 40, 60, 80, 100, 120]
    assert not any(v.wrap for v in flat.views)


def test_a_substituted_sample_carries_the_label_of_the_view_it_shows(tmp_path, caplog) -> None:
    rng = np.random.default_rng(1)
    paths = [tmp_path / "a.png", tmp_path / "b.png"]
    for path in paths:
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(path)
    config = DataConfig(patch_size=8, full_size=24, pre_resize=None)
    dataset = PhotoWindowsDataset(paths, config, seed=0, zooms=(1.0, 2.0))
    assert [(v.path.name, v.zoom) for v in dataset.views] == [
        ("a.png", 1.0),
        ("a.png", 2.0),
        ("b.png", 1.0),
        ("b.png", 2.0),
    ]
    paths[0].write_bytes(b"not an image any more")
    for epoch in range(4):
        _, label = dataset[(epoch, 1)]  # a's zoom-2 view fails: b's window stands in
        y = draw_patch(0, epoch, 1, config).y
        assert float(label) == pytest.approx(dataset.views[2].label(y, config), abs=1e-6)
        assert float(label) == pytest.approx(vertical_label(y, config), abs=1e-6)
    assert "substituting the next image" in caplog.text
    for epoch in range(2):  # the stand-in's slope too: b's window is at zoom 1
        _, _, slope = dataset.sloped_sample(1, epoch)
        assert float(slope) == pytest.approx(label_per_px(config), rel=1e-6)


def test_label_slope_is_the_label_change_per_row_of_each_view(landscapes_paper) -> None:
    """DiffAugment's translation moves a real label by dy * slope: the slope must be the label
    change per pixel of *that* view (a zoom-z view's labels change z times slower)."""
    dataset = landscapes_paper
    seen = set()
    for index, view in enumerate(dataset.views):
        slope = dataset.label_slope(index)
        step = view.label(1, PAPER) - view.label(0, PAPER)
        assert slope == pytest.approx(step, rel=1e-9)
        assert slope == pytest.approx(2 / (PAPER.max_offset * view.zoom), rel=0.02)
        seen.add(view.zoom)
    assert seen == set(LANDSCAPE_ZOOMS)
    batch = next(make_loader(dataset, 16, seed=3))
    keys = make_loader(dataset, 16, seed=3).loader.batch_sampler.keys_for_step(0)
    expected = torch.tensor([dataset.label_slope(i) for _, i in keys])
    torch.testing.assert_close(batch.label_slopes, expected)


def test_train_and_holdout_split_the_bundled_photos() -> None:
    """``landscapes-train`` + ``landscapes-holdout`` are ``landscapes``, photo for photo, with
    the same views; the held-out photos are ordinary photos (no panoramas)."""
    config = DataConfig(patch_size=53, full_size=101, pre_resize=66)
    names = ("landscapes", "landscapes-train", "landscapes-holdout")
    sets = {n: open_dataset(n, config, seed=0) for n in names}
    photos = {n: {v.path.name for v in d.views} for n, d in sets.items()}
    assert photos["landscapes-holdout"] == set(HELD_OUT) and len(HELD_OUT) == 5
    assert not photos["landscapes-train"] & photos["landscapes-holdout"]
    assert photos["landscapes-train"] | photos["landscapes-holdout"] == photos["landscapes"]
    assert not any(is_loop(Path(name)) for name in HELD_OUT)
    views = set(sets["landscapes"].views)
    assert set(sets["landscapes-train"].views) | set(sets["landscapes-holdout"].views) == views


def test_landscapes_names_are_the_registered_photo_sources() -> None:
    assert {n for n in DATASETS if n.startswith("landscapes")} == {
        "landscapes",
        "landscapes-train",
        "landscapes-holdout",
        "landscapes-sky",
    }


def test_top_band_texture_tells_sky_from_foliage() -> None:
    """A smooth gradient sky over noisy ground passes; the same image upside down (texture at
    the top) fails; only the top eighth counts."""
    rng = np.random.default_rng(0)
    image = np.zeros((256, 256, 3), np.uint8)
    image[:128] = np.linspace(120, 230, 128, dtype=np.uint8)[:, None, None]  # sky gradient
    image[128:] = rng.integers(0, 256, (128, 256, 3), dtype=np.uint8)  # leaves, say
    sky_up = Image.fromarray(image)
    assert top_band_texture(sky_up) < 0.005 and has_open_sky(sky_up)
    flipped = sky_up.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    assert top_band_texture(flipped) > 3 * OPEN_SKY_MAX_TEXTURE and not has_open_sky(flipped)
    # Noise just below the top eighth does not count.
    image[40:] = rng.integers(0, 256, (216, 256, 3), dtype=np.uint8)
    assert has_open_sky(Image.fromarray(image))


def test_landscapes_sky_keeps_exactly_the_open_sky_views() -> None:
    """``landscapes-sky`` is ``landscapes`` less the views whose top is textured: the same view
    objects (so the same labels), in the same order, each kept view passing the test and each
    dropped one failing it; the forest panorama, all canopy at the top, is left out entirely."""
    config = DataConfig(patch_size=53, full_size=101, pre_resize=66)
    full = open_dataset("landscapes", config, seed=2)
    sky = open_dataset("landscapes-sky", config, seed=2)
    kept = set(sky.views)
    assert kept < set(full.views)
    assert sky.views == [v for v in full.views if v in kept]
    verdicts = [has_open_sky(full.window_image(i)) for i in range(len(full))]
    assert [v for v, ok in zip(full.views, verdicts, strict=True) if ok] == sky.views
    assert 0.6 * len(full) < len(sky) < 0.9 * len(full)
    assert "forest-360.jpg" not in {v.path.name for v in sky.views}
    assert sky.patch_label(0, 0) == full.patch_label(full.views.index(sky.views[0]), 0)


def test_a_filter_that_keeps_nothing_is_one_clear_error() -> None:
    config = DataConfig(patch_size=53, full_size=101, pre_resize=66)
    with pytest.raises(DataError, match="no view of these photos passes"):
        PhotoWindowsDataset(bundled_landscape_files()[:1], config, seed=0, keep=lambda _: False)
