"""Seam metrics, diversity and infinite-FID frames by distance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from infinitygan.metrics.diversity import feature_diversity, mean_pairwise_distance
from infinitygan.metrics.infinite import frames_by_distance, infinite_fid_by_distance
from infinitygan.metrics.seams import psnr, seam_energy_ratio, tile_consistency
from infinitygan.metrics.stats import FeatureStats


def _smooth_texture(height: int, width: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(1, 3, height + 6, width + 6, generator=gen, dtype=torch.float64)
    smooth = F.avg_pool2d(noise, 7, 1)[0]
    return (smooth / smooth.abs().max() * 0.8).float()


def test_tile_consistency_is_the_max_abs_difference() -> None:
    canvas = _smooth_texture(40, 60, seed=0)
    assert tile_consistency(canvas, canvas.clone()) == 0.0
    tiled = canvas.clone()
    tiled[1, 17, 33] += 0.25
    tiled[0, 3, 5] -= 0.125
    assert tile_consistency(canvas, tiled) == pytest.approx(0.25, abs=1e-6)
    assert tile_consistency(canvas[None], tiled[None]) == pytest.approx(0.25, abs=1e-6)
    with pytest.raises(ValueError, match="equal shapes"):
        tile_consistency(canvas, canvas[:, :, :-1])


def test_psnr_known_values() -> None:
    a = torch.zeros(1, 3, 8, 8)
    assert psnr(a, a) == math.inf
    assert psnr(a, a + 0.2) == pytest.approx(20.0, abs=1e-5)  # 10 log10(4 / 0.04)


def test_seam_ratio_is_about_one_without_seams() -> None:
    texture = _smooth_texture(128, 128, seed=1)
    assert seam_energy_ratio(texture, 32) == pytest.approx(1.0, abs=0.15)
    noise = torch.rand(3, 96, 96, generator=torch.Generator().manual_seed(2)) * 2 - 1
    assert seam_energy_ratio(noise, 16, offset=(5, 7)) == pytest.approx(1.0, abs=0.05)
    assert seam_energy_ratio(torch.zeros(3, 32, 32), 8) == 1.0


def test_seam_ratio_is_large_with_a_planted_seam() -> None:
    texture = _smooth_texture(128, 128, seed=3)
    seamed = texture.clone()
    # Independent textures in alternating 32-px tiles: a texture break at every tile border.
    other = _smooth_texture(128, 128, seed=4)
    for x in range(32, 128, 64):
        seamed[:, :, x : x + 32] = other[:, :, x : x + 32]
    assert seam_energy_ratio(seamed, (128, 32)) > 5.0
    # A brightness step of about two typical pixel differences on the one border.
    stepped = texture.clone()
    stepped[:, :, 64:] += 0.2
    assert seam_energy_ratio(stepped, (128, 64)) > 4.0


def test_seam_ratio_follows_the_tile_offset() -> None:
    texture = _smooth_texture(96, 96, seed=5)
    texture[:, :, 40:] += 0.3  # seam between columns 39 and 40
    on_grid = seam_energy_ratio(texture, (96, 32), offset=(0, 8))  # borders at x = 8, 40, 72
    off_grid = seam_energy_ratio(texture, (96, 32), offset=(0, 0))  # borders at x = 32, 64
    assert on_grid > 3.0
    assert off_grid == pytest.approx(1.0, abs=0.25)


def test_seam_ratio_rejects_grids_without_borders() -> None:
    with pytest.raises(ValueError, match="no tile border"):
        seam_energy_ratio(torch.zeros(3, 16, 16), 64)


def test_mean_pairwise_distance_known_values() -> None:
    points = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    assert mean_pairwise_distance(points) == pytest.approx((5 + 10 + 5) / 3)
    assert mean_pairwise_distance(np.eye(3), "cosine") == pytest.approx(1.0)
    assert mean_pairwise_distance(np.ones((4, 3)), "cosine") == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="N >= 2"):
        mean_pairwise_distance(np.ones((1, 3)))


def _colour_stats(images: torch.Tensor) -> torch.Tensor:
    """A tiny feature extractor: per-channel mean and std, [B, 6]."""
    x = images.float()
    return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


def test_feature_diversity_grows_with_spread() -> None:
    gen = torch.Generator().manual_seed(6)
    narrow = 0.1 * torch.randn(10, 3, 1, 1, generator=gen).expand(10, 3, 8, 8)
    wide = 0.8 * torch.randn(10, 3, 1, 1, generator=gen).expand(10, 3, 8, 8)
    assert feature_diversity(wide, _colour_stats) > 3 * feature_diversity(narrow, _colour_stats)


def test_frames_by_distance_offsets_bins_and_content() -> None:
    width = 10 * 16 + 5
    canvas = torch.arange(width, dtype=torch.float32).expand(3, 24, width) / 1000
    canvas = canvas + torch.arange(24, dtype=torch.float32)[:, None] / 100
    bins = frames_by_distance(canvas, frame=(16, 16), bins=[0, 48, 96, 1000])
    assert [b.offsets for b in bins] == [(0, 16, 32), (48, 64, 80), (96, 112, 128, 144)]
    frame = bins[1].frames[2]
    torch.testing.assert_close(frame, canvas[:, 4:20, 80:96])  # vertically centred
    equal = frames_by_distance(canvas, frame=16, bins=2, stride=8)
    offsets = [x for b in equal for x in b.offsets]
    assert offsets == list(range(0, width - 16 + 1, 8))
    assert abs(len(equal[0].offsets) - len(equal[1].offsets)) <= 1
    empty = frames_by_distance(canvas, frame=16, bins=[500, 600])
    assert empty[0].frames.shape == (0, 3, 16, 16)


def test_frames_by_distance_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="one image"):
        frames_by_distance(torch.zeros(1, 3, 16, 64), 16, 2)
    with pytest.raises(ValueError, match="does not fit"):
        frames_by_distance(torch.zeros(3, 16, 64), 32, 2)
    with pytest.raises(ValueError, match="strictly increasing"):
        frames_by_distance(torch.zeros(3, 16, 64), 16, [0, 32, 32])


def test_infinite_fid_grows_where_the_canvas_drifts() -> None:
    gen = torch.Generator().manual_seed(7)
    reals = (torch.rand(64, 3, 16, 16, generator=gen) * 2 - 1) * 0.3
    real_stats = FeatureStats.from_features(_colour_stats(reals).double().numpy())
    width = 16 * 24
    canvases = []
    for _ in range(6):
        noise = torch.rand(3, 16, width, generator=gen) * 2 - 1
        amplitude = 0.3 + torch.linspace(0, 0.6, width)  # quality drifts with distance
        canvases.append(noise * amplitude)
    results = infinite_fid_by_distance(
        iter(canvases), _colour_stats, real_stats, frame=16, bins=[0, 128, 256, width]
    )
    assert [r["num_frames"] for r in results] == [48, 48, 48]
    fids = [r["fid"] for r in results]
    assert fids[0] < fids[1] < fids[2]
