"""Procedural landscapes: determinism, landscape statistics, stationarity, source, files."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from infinitygan.data import (
    DataConfig,
    SyntheticLandscapeDataset,
    make_loader,
    open_dataset,
    prepare_synthetic,
    render_landscape,
    to_full_image,
)


def _luma(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def test_same_seed_and_index_give_the_same_image() -> None:
    a = render_landscape(3, 5, 48, 80)
    assert a.shape == (48, 80, 3) and a.dtype == np.uint8
    assert np.array_equal(a, render_landscape(3, 5, 48, 80))
    assert not np.array_equal(a, render_landscape(3, 6, 48, 80))
    assert not np.array_equal(a, render_landscape(4, 5, 48, 80))
    # a stored fingerprint guards against accidental changes of the renderer (the tolerance
    # allows last-bit differences of exp/sin between CPUs, which can flip a rounding)
    assert a.reshape(-1, 3).mean(axis=0) == pytest.approx([109.65, 125.96, 117.45], abs=0.05)
    assert (
        np.abs(
            a[0, ::20].astype(int)
            - [[196, 199, 215], [124, 138, 168], [203, 205, 219], [197, 200, 214]]
        ).max()
        <= 1
    )


def test_renders_any_aspect_and_rejects_bad_sizes() -> None:
    assert render_landscape(0, 0, 8, 8).shape == (8, 8, 3)
    assert render_landscape(0, 0, 30, 250).shape == (30, 250, 3)
    assert render_landscape(0, 0, 120, 17).shape == (120, 17, 3)
    with pytest.raises(ValueError, match="at least 8x8"):
        render_landscape(0, 0, 7, 100)
    with pytest.raises(ValueError, match="pixels"):
        render_landscape(0, 0, 10_000, 10_000)
    with pytest.raises(ValueError, match="seed"):
        render_landscape(-1, 0, 32, 32)


def test_sky_is_brighter_than_the_ground() -> None:
    images = [render_landscape(1, i, 64, 96) for i in range(24)]
    top = np.array([_luma(im[:21]).mean() for im in images])
    bottom = np.array([_luma(im[-21:]).mean() for im in images])
    assert top.mean() > bottom.mean() + 40
    assert (top > bottom).mean() >= 0.9
    # colourful sky: on average bluer than red at the top (day palettes dominate)
    assert np.mean([im[:10, :, 2].mean() - im[:10, :, 0].mean() for im in images]) > 0


def test_content_is_horizontally_stationary() -> None:
    images = np.stack([_luma(render_landscape(2, i, 48, 96)) for i in range(32)])
    mean = images.mean(axis=0)  # [H, W] average over images
    row_var = mean.mean(axis=1).var()
    col_var = mean.mean(axis=0).var()
    assert col_var < 0.05 * row_var
    # no column is special either within single images: left and right halves look alike
    left, right = images[:, :, :48].mean(), images[:, :, 48:].mean()
    assert abs(left - right) < 0.05 * images.mean()


def test_images_vary_in_horizon_and_palette() -> None:
    images = [render_landscape(0, i, 64, 64) for i in range(16)]
    sky_colours = np.array([im[:8].reshape(-1, 3).mean(axis=0) for im in images])
    assert sky_colours.std(axis=0).mean() > 15
    # vertical profile: where the brightness drops (horizon) differs between images
    drops = [int(np.argmin(np.diff(_luma(im).mean(axis=1)))) for im in images]
    assert len(set(drops)) >= 4


@pytest.mark.slow  # timed: run alone on a quiet machine (make test-slow)
def test_render_speed() -> None:
    render_landscape(0, 0, 256, 256)
    times = []
    for i in range(3):
        start = time.perf_counter()
        render_landscape(0, i, 256, 256)
        times.append(time.perf_counter() - start)
    assert min(times) < 0.25  # ~0.03 s on a quiet core; generous for a shared machine


@pytest.mark.slow
def test_render_speed_wide() -> None:
    times = []
    for i in range(3):
        start = time.perf_counter()
        render_landscape(0, i, 512, 1024)
        times.append(time.perf_counter() - start)
    assert min(times) < 1.0


def test_synthetic_training_source_follows_the_contract() -> None:
    config = DataConfig(patch_size=24, full_size=40, pre_resize=32)
    dataset = open_dataset("synthetic", config, seed=7)
    assert isinstance(dataset, SyntheticLandscapeDataset)
    assert dataset.render_size == (32, 32)
    patch, label = dataset[(1, 12)]
    assert patch.shape == (3, 24, 24) and patch.dtype == torch.float32
    assert -1 <= float(label) <= 1 and patch.min() >= -1 and patch.max() <= 1
    again = SyntheticLandscapeDataset(config, seed=7)
    assert torch.equal(again[(1, 12)][0], patch)
    # same pipeline as a folder image: render, then centre square / resizes
    expected = to_full_image(Image.fromarray(render_landscape(7, 12, 32, 32)), config)
    assert torch.equal(
        dataset.full_image(12), torch.from_numpy(expected.copy()).permute(2, 0, 1) / 127.5 - 1
    )
    patches, labels, _ = next(make_loader(dataset, 4, seed=0))
    assert patches.shape == (4, 3, 24, 24) and labels.shape == (4,)
    wide = SyntheticLandscapeDataset(config, seed=7, render_size=(30, 60), num_images=10)
    assert len(wide) == 10 and wide.full_image(0).shape == (3, 40, 40)
    with pytest.raises(TypeError, match="no options"):
        open_dataset("synthetic", config, seed=0, cache_bytes=0)


def test_prepare_synthetic_writes_pngs(tmp_path: Path) -> None:
    paths = prepare_synthetic(tmp_path / "out", 3, 24, 40, seed=5)
    assert [p.name for p in paths] == ["000000.png", "000001.png", "000002.png"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [p.name for p in paths]
    for i, path in enumerate(paths):
        with Image.open(path) as image:
            assert image.size == (40, 24) and image.mode == "RGB"
            assert np.array_equal(np.asarray(image), render_landscape(5, i, 24, 40))
    with pytest.raises(ValueError, match="count"):
        prepare_synthetic(tmp_path / "x", 0, 24, 40)
    # the written folder is a valid training collection
    dataset = open_dataset(str(tmp_path / "out"), DataConfig(16, 20, None), seed=0)
    assert len(dataset) == 3
