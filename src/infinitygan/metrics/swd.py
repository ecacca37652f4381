"""Sliced Wasserstein distance on Laplacian pyramids (ProGAN, Karras et al. 2018, section 5).

For every image a Laplacian pyramid is built (5x5 binomial filter, down to ``min_res`` px), and
from every level ``nhoods_per_image`` random 7x7 neighbourhoods are cut as 147-d descriptors. Each
set's descriptors are normalised per colour channel (mean and std over all its descriptors and
positions, per set, as ProGAN does), projected onto random unit directions, sorted, and the mean
absolute difference of the sorted projections is the sliced 1-D Wasserstein distance. Values are
reported x1e3 per level (finest first) and averaged.

Because each set is normalised by its own statistics, a global brightness or contrast change
is invisible; SWD measures the shape of local texture and colour distributions. It needs no
pretrained network.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from infinitygan.metrics.images import ImageBatches, iter_batches, to_pixel_values

logger = logging.getLogger(__name__)

_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=torch.float64)


def _blur(images: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    kernel = torch.outer(_BINOMIAL, _BINOMIAL) / 256.0 * gain
    channels = images.shape[1]
    weight = kernel.to(images.dtype).to(images.device).expand(channels, 1, 5, 5)
    return F.conv2d(F.pad(images, (2, 2, 2, 2), mode="reflect"), weight, groups=channels)


def _pyr_down(images: torch.Tensor) -> torch.Tensor:
    return _blur(images)[..., ::2, ::2]


def _pyr_up(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    n, c, h, w = images.shape
    up = images.new_zeros(n, c, 2 * h, 2 * w)
    up[..., ::2, ::2] = images
    return _blur(up, gain=4.0)[..., : size[0], : size[1]]


def laplacian_pyramid(images: torch.Tensor, num_levels: int) -> list[torch.Tensor]:
    """Laplacian pyramid, finest level first; the last level is the coarsest Gaussian level.

    Args:
        images: ``[N, C, H, W]`` float.
        num_levels: number of levels (1 returns ``[images]``).

    Returns:
        ``num_levels`` tensors ``[N, C, H_l, W_l]`` with ``H_l = ceil(H / 2^l)``; summing the
        upsampled levels reconstructs ``images`` exactly.
    """
    levels = []
    current = images
    for _ in range(num_levels - 1):
        smaller = _pyr_down(current)
        levels.append(current - _pyr_up(smaller, tuple(current.shape[-2:])))
        current = smaller
    levels.append(current)
    return levels


def pyramid_levels(height: int, width: int, min_res: int = 16) -> int:
    """Number of pyramid levels: halve while the smaller side stays at least ``min_res``."""
    side = min(height, width)
    if side < min_res:
        raise ValueError(f"images of {height}x{width} are smaller than min_res={min_res}")
    levels = 1
    while (side + 1) // 2 >= min_res:
        side = (side + 1) // 2
        levels += 1
    return levels


def _descriptors(level: torch.Tensor, nhood_size: int, positions: torch.Tensor) -> torch.Tensor:
    """Cut ``[N * count, C, k, k]`` neighbourhoods at relative ``positions`` ``[N, count, 2]``."""
    n, c, h, w = level.shape
    if h < nhood_size or w < nhood_size:
        raise ValueError(f"pyramid level {h}x{w} is smaller than the {nhood_size}px neighbourhood")
    count = positions.shape[1]
    tops = (positions[..., 0] * (h - nhood_size + 1)).long()
    lefts = (positions[..., 1] * (w - nhood_size + 1)).long()
    offsets = torch.arange(nhood_size)
    rows = (tops[..., None] + offsets).view(n, count, nhood_size, 1)
    cols = (lefts[..., None] + offsets).view(n, count, 1, nhood_size)
    flat = (rows * w + cols).view(n, 1, -1).expand(n, c, -1)
    patches = torch.gather(level.reshape(n, c, h * w), 2, flat)
    # [n, c, count * k * k] -> [n * count, c, k, k]
    patches = patches.view(n, c, count, nhood_size, nhood_size).permute(0, 2, 1, 3, 4)
    return patches.reshape(n * count, c, nhood_size, nhood_size)


def _image_positions(seed: int, index: int, num_levels: int, count: int) -> torch.Tensor:
    """Positions ``[num_levels, count, 2]`` in ``[0, 1)`` for image ``index``; batch-independent."""
    gen = torch.Generator().manual_seed((seed * 1_000_003 + index) % (1 << 63))
    return torch.rand(num_levels, count, 2, generator=gen, dtype=torch.float64)


def collect_descriptors(
    source: ImageBatches,
    *,
    nhood_size: int = 7,
    nhoods_per_image: int = 128,
    min_res: int = 16,
    seed: int = 0,
    batch_size: int = 64,
) -> tuple[list[torch.Tensor], list[tuple[int, int]]]:
    """Random neighbourhood descriptors from every pyramid level of every image.

    Args:
        source: images ``[N, 3, H, W]`` (uint8 or float in ``[-1, 1]``), all the same size.
        nhood_size: side of a neighbourhood (7 in ProGAN).
        nhoods_per_image: neighbourhoods per image and level (128 in ProGAN).
        min_res: coarsest pyramid resolution (16 in ProGAN).
        seed: seed of the neighbourhood positions, drawn per image index, so two identical image
            sets with the same seed give identical descriptors however they are batched.
        batch_size: images processed at once.

    Returns:
        Per level (finest first) the un-normalised descriptors ``[N * nhoods_per_image, 3, k, k]``
        (float64), and the level resolutions ``(height, width)``.
    """
    per_level: list[list[torch.Tensor]] = []
    resolutions: list[tuple[int, int]] = []
    size: tuple[int, int] | None = None
    seen = 0
    for batch in iter_batches(source, batch_size):
        pixels = to_pixel_values(batch, quantize=False).to("cpu", torch.float64)
        if size is None:
            size = tuple(pixels.shape[-2:])
            per_level = [[] for _ in range(pyramid_levels(*size, min_res=min_res))]
        elif tuple(pixels.shape[-2:]) != size:
            raise ValueError(f"all images must share one size, got {size} and {pixels.shape[-2:]}")
        levels = laplacian_pyramid(pixels, len(per_level))
        resolutions = [(level.shape[-2], level.shape[-1]) for level in levels]
        positions = torch.stack(
            [
                _image_positions(seed, seen + i, len(levels), nhoods_per_image)
                for i in range(pixels.shape[0])
            ],
            dim=1,
        )  # [levels, N, count, 2]
        seen += pixels.shape[0]
        for index, level in enumerate(levels):
            per_level[index].append(_descriptors(level, nhood_size, positions[index]))
    if size is None:
        raise ValueError("no images given for SWD")
    return [torch.cat(batches) for batches in per_level], resolutions


def normalize_descriptors(descriptors: torch.Tensor) -> torch.Tensor:
    """Normalise per channel (over descriptors and positions) and flatten to ``[M, C * k * k]``."""
    mean = descriptors.mean(dim=(0, 2, 3), keepdim=True)
    std = descriptors.std(dim=(0, 2, 3), keepdim=True, correction=0).clamp_min(1e-12)
    return ((descriptors - mean) / std).reshape(descriptors.shape[0], -1)


def sliced_wasserstein(
    a: torch.Tensor,
    b: torch.Tensor,
    dir_repeats: int = 4,
    dirs_per_repeat: int = 128,
    generator: torch.Generator | None = None,
) -> float:
    """Sliced 1-D Wasserstein-1 distance between equal-size point sets ``[M, D]``.

    Raises:
        ValueError: if the sets differ in shape.
    """
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"point sets must be [M, D] of equal shape, got {a.shape}, {b.shape}")
    results = []
    for _ in range(dir_repeats):
        dirs = torch.randn(a.shape[1], dirs_per_repeat, generator=generator, dtype=torch.float64)
        dirs = dirs / dirs.norm(dim=0, keepdim=True)
        proj_a = torch.sort(a.to(torch.float64) @ dirs, dim=0).values
        proj_b = torch.sort(b.to(torch.float64) @ dirs, dim=0).values
        results.append((proj_a - proj_b).abs().mean())
    return float(torch.stack(results).mean())


@dataclass(frozen=True)
class SWDResult:
    """SWD x1e3 per pyramid level (finest first), their mean, and the level resolutions."""

    per_level: tuple[float, ...]
    resolutions: tuple[tuple[int, int], ...]
    mean: float


def sliced_wasserstein_distance(
    real: ImageBatches,
    fake: ImageBatches,
    *,
    nhood_size: int = 7,
    nhoods_per_image: int = 128,
    min_res: int = 16,
    dir_repeats: int = 4,
    dirs_per_repeat: int = 128,
    seed: int = 0,
) -> SWDResult:
    """ProGAN's multi-scale SWD between two image sets of the same size.

    If the sets hold different numbers of descriptors, the larger is subsampled (seeded) to the
    smaller.

    Args:
        real: reference images ``[N, 3, H, W]`` (uint8 or float in ``[-1, 1]``).
        fake: images to score, same ``H, W``.
        nhood_size: neighbourhood side.
        nhoods_per_image: neighbourhoods per image and level.
        min_res: coarsest pyramid resolution.
        dir_repeats: repeats of the random projections.
        dirs_per_repeat: random directions per repeat.
        seed: seed of positions, subsampling and directions.

    Returns:
        :class:`SWDResult` (values x1e3).
    """
    kwargs = dict(nhood_size=nhood_size, nhoods_per_image=nhoods_per_image, min_res=min_res)
    real_desc, resolutions = collect_descriptors(real, seed=seed, **kwargs)
    fake_desc, fake_resolutions = collect_descriptors(fake, seed=seed, **kwargs)
    if resolutions != fake_resolutions:
        raise ValueError(
            "real and fake images must have the same size for SWD, got pyramids "
            f"{resolutions} and {fake_resolutions}"
        )
    gen = torch.Generator().manual_seed(seed + 1)
    per_level: list[float] = []
    for real_level, fake_level in zip(real_desc, fake_desc):
        r, f = normalize_descriptors(real_level), normalize_descriptors(fake_level)
        count = min(r.shape[0], f.shape[0])
        if r.shape[0] > count:
            r = r[torch.randperm(r.shape[0], generator=gen)[:count]]
        if f.shape[0] > count:
            f = f[torch.randperm(f.shape[0], generator=gen)[:count]]
        value = sliced_wasserstein(r, f, dir_repeats, dirs_per_repeat, gen)
        per_level.append(value * 1e3)
    return SWDResult(tuple(per_level), tuple(resolutions), sum(per_level) / len(per_level))
