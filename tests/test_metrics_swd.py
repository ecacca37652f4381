"""Sliced Wasserstein distance on Laplacian pyramids (ProGAN)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from infinitygan.metrics.swd import (
    _pyr_up,
    laplacian_pyramid,
    pyramid_levels,
    sliced_wasserstein,
    sliced_wasserstein_distance,
)


def _textures(n: int, size: int, seed: int) -> torch.Tensor:
    """Smooth random textures [n, 3, size, size] in about [-1, 1]."""
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, 3, size + 4, size + 4, generator=gen)
    smooth = F.avg_pool2d(noise, 5, 1)
    return (smooth / smooth.std() * 0.4).clamp(-1, 1)


def test_pyramid_levels_stop_at_min_res() -> None:
    assert pyramid_levels(128, 128) == 4  # 128, 64, 32, 16
    assert pyramid_levels(101, 101) == 3  # 101, 51, 26
    assert pyramid_levels(64, 200) == 3
    with pytest.raises(ValueError, match="smaller than min_res"):
        pyramid_levels(8, 8)


def test_laplacian_pyramid_reconstructs_the_image() -> None:
    images = torch.rand(2, 3, 45, 64, dtype=torch.float64)
    levels = laplacian_pyramid(images, 3)
    assert [tuple(level.shape[-2:]) for level in levels] == [(45, 64), (23, 32), (12, 16)]
    current = levels[-1]
    for level in reversed(levels[:-1]):
        current = level + _pyr_up(current, tuple(level.shape[-2:]))
    torch.testing.assert_close(current, images, rtol=0, atol=1e-12)


def test_sliced_wasserstein_of_a_shift_in_one_dimension() -> None:
    points = torch.randn(500, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    value = sliced_wasserstein(points, points + 0.3, dir_repeats=2, dirs_per_repeat=4)
    assert value == pytest.approx(0.3, rel=1e-12)


def test_swd_is_zero_for_identical_sets() -> None:
    images = _textures(8, 32, seed=0)
    result = sliced_wasserstein_distance(images, images.clone(), nhoods_per_image=16)
    assert result.per_level == (0.0, 0.0)
    assert result.resolutions == ((32, 32), (16, 16))
    assert result.mean == 0.0


def test_swd_increases_with_a_distribution_shift() -> None:
    real = _textures(12, 32, seed=1)
    gen = torch.Generator().manual_seed(2)
    noise = torch.randn(real.shape, generator=gen)
    values = [
        sliced_wasserstein_distance(real, real + amount * noise, nhoods_per_image=32, seed=0)
        for amount in (0.1, 0.3, 1.0)
    ]
    finest = [v.per_level[0] for v in values]
    assert finest[0] < finest[1] < finest[2]
    assert values[0].mean < values[2].mean
    same_distribution = sliced_wasserstein_distance(
        real, _textures(12, 32, seed=3), nhoods_per_image=32, seed=0
    )
    assert same_distribution.per_level[0] < finest[2]


def test_swd_is_seeded_and_accepts_batches() -> None:
    real, fake = _textures(6, 32, seed=4), _textures(6, 32, seed=5)
    first = sliced_wasserstein_distance(real, fake, nhoods_per_image=16, seed=7)
    batched = sliced_wasserstein_distance(
        [real[:3], real[3:]], lambda: iter([fake]), nhoods_per_image=16, seed=7
    )
    assert first == batched
    assert sliced_wasserstein_distance(real, fake, nhoods_per_image=16, seed=8) != first


def test_swd_rejects_mismatched_sizes() -> None:
    with pytest.raises(ValueError, match="same size"):
        sliced_wasserstein_distance(_textures(2, 32, 0), _textures(2, 64, 0), nhoods_per_image=4)
