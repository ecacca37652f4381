"""Caching of real statistics: hits are identical, any change to data or protocol misses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from infinitygan.metrics.cache import (
    cached_real_stats,
    hash_files,
    hash_image_batches,
    load_stats,
    save_stats,
)
from infinitygan.metrics.stats import FeatureStats


class CountingExtractor:
    """Per-channel mean and std features [B, 6]; counts the images it has seen."""

    cache_id = "counting-colour-stats/v1"

    def __init__(self) -> None:
        self.images_seen = 0

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.images_seen += images.shape[0]
        x = images.float()
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


def _images(seed: int, n: int = 24) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 8, 8), generator=gen, dtype=torch.uint8)


def test_cache_hit_returns_identical_statistics_without_extracting(tmp_path: Path) -> None:
    images, extractor = _images(0), CountingExtractor()
    first = cached_real_stats(images, extractor, tmp_path, {"res": 8}, batch_size=5)
    assert extractor.images_seen == 24
    assert len(list(tmp_path.glob("real-stats-*.npz"))) == 1
    second = cached_real_stats(images, extractor, tmp_path, {"res": 8}, batch_size=5)
    assert extractor.images_seen == 24  # no extraction on a hit
    np.testing.assert_array_equal(first.mean, second.mean)
    np.testing.assert_array_equal(first.cov, second.cov)
    assert second.count == 24
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files


def test_changed_dataset_or_protocol_misses(tmp_path: Path) -> None:
    images, extractor = _images(1), CountingExtractor()
    cached_real_stats(images, extractor, tmp_path, {"res": 8})
    changed = images.clone()
    changed[3, 1, 2, 2] ^= 1  # one bit of one pixel
    cached_real_stats(changed, extractor, tmp_path, {"res": 8})
    assert extractor.images_seen == 48
    cached_real_stats(images, extractor, tmp_path, {"res": 16})
    assert extractor.images_seen == 72
    cached_real_stats(images, extractor, tmp_path, {"res": 8}, max_items=10)
    assert extractor.images_seen == 82
    assert len(list(tmp_path.glob("real-stats-*.npz"))) == 4


def test_cache_keeps_features_for_kid(tmp_path: Path) -> None:
    images, extractor = _images(2), CountingExtractor()
    without = cached_real_stats(images, extractor, tmp_path, {})
    assert not without.keep_features
    kept = cached_real_stats(images, extractor, tmp_path, {}, keep_features=True)
    assert extractor.images_seen == 48  # the entry without features could not serve KID
    again = cached_real_stats(images, extractor, tmp_path, {}, keep_features=True)
    assert extractor.images_seen == 48
    np.testing.assert_allclose(again.features, kept.features, rtol=1e-6)  # stored as float32


def test_one_shot_iterators_need_an_explicit_hash(tmp_path: Path) -> None:
    images, extractor = _images(3), CountingExtractor()
    with pytest.raises(ValueError, match="one-shot iterator"):
        cached_real_stats(iter([images]), extractor, tmp_path, {})
    stats = cached_real_stats(iter([images]), extractor, tmp_path, {}, dataset_hash="abc")
    assert stats.count == 24
    assert cached_real_stats(lambda: iter([images]), extractor, None, {}).count == 24


def test_image_hash_ignores_batching_but_sees_content() -> None:
    images = _images(4)
    digest = hash_image_batches(images)
    assert hash_image_batches([images[:7], images[7:]]) == digest
    assert hash_image_batches(lambda: iter([images[:1], images[1:]])) == digest
    assert hash_image_batches(images.float() / 127.5 - 1) != digest
    assert hash_image_batches(images[:-1]) != digest


def test_file_hash_sees_content_and_names(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"one")
    (tmp_path / "b.png").write_bytes(b"two")
    files = sorted(tmp_path.iterdir())
    digest = hash_files(files, root=tmp_path)
    assert hash_files(list(reversed(files)), root=tmp_path) == digest
    (tmp_path / "b.png").write_bytes(b"tw0")
    assert hash_files(files, root=tmp_path) != digest


def test_save_load_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    stats = FeatureStats.from_features(rng.normal(size=(30, 4)))
    save_stats(tmp_path / "s.npz", stats, {"note": "x"})
    loaded, meta = load_stats(tmp_path / "s.npz")
    np.testing.assert_array_equal(loaded.mean, stats.mean)
    np.testing.assert_allclose(loaded.cov, stats.cov, rtol=1e-15)
    assert (loaded.count, meta) == (30, {"note": "x"})
