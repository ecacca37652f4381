"""Seam metrics for patch-wise generation.

InfinityGAN claims exact seamlessness: a canvas generated tile by tile equals the canvas generated
in one pass. :func:`tile_consistency` measures that directly. :func:`seam_energy_ratio` needs no
reference: it compares the gradient energy across tile borders with that inside tiles, so it also
scores methods (or bugs) that blend or misalign tiles.
"""

from __future__ import annotations

import logging
import math

import torch

from infinitygan.metrics.images import to_float_images

logger = logging.getLogger(__name__)


def _as_batch(image: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(image, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(image).__name__}")
    if image.ndim == 3:
        image = image[None]
    return to_float_images(image).to(torch.float64)


def tile_consistency(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference between a tiled and a one-shot canvas.

    Args:
        a: canvas ``[3, H, W]`` or ``[N, 3, H, W]`` (uint8 or float in ``[-1, 1]``).
        b: the other canvas, same shape.

    Returns:
        ``max |a - b|`` in the ``[-1, 1]`` scale (0 for identical canvases; one 8-bit level is
        ``2 / 255``).

    Raises:
        ValueError: if the shapes differ.
    """
    if a.shape != b.shape:
        raise ValueError(
            f"canvases must have equal shapes, got {list(a.shape)} and {list(b.shape)}"
        )
    return float((_as_batch(a, "a") - _as_batch(b, "b")).abs().max())


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of two images in the ``[-1, 1]`` scale (peak 2).

    Returns:
        ``inf`` for identical images.
    """
    if a.shape != b.shape:
        raise ValueError(f"images must have equal shapes, got {list(a.shape)} and {list(b.shape)}")
    mse = float(((_as_batch(a, "a") - _as_batch(b, "b")) ** 2).mean())
    return math.inf if mse == 0.0 else 10.0 * math.log10(4.0 / mse)


def _border_mask(length: int, tile: int, offset: int, device: torch.device) -> torch.Tensor:
    """``mask[i]`` is True when the pixel pair ``(i, i + 1)`` straddles a tile border."""
    nxt = torch.arange(1, length, device=device)
    return (nxt - offset) % tile == 0


def seam_energy_ratio(
    image: torch.Tensor,
    tile_size: int | tuple[int, int],
    offset: tuple[int, int] = (0, 0),
) -> float:
    """Mean gradient energy on tile-border pixel pairs divided by the mean in tile interiors.

    A pixel pair is two horizontally or vertically adjacent pixels; its energy is the squared
    difference summed over channels. Border pairs straddle a tile border (tiles of ``tile_size``
    whose grid passes through ``offset``); all other pairs are interior pairs. For a canvas with
    invisible seams the ratio is about 1; a visible seam (a step or a texture break at tile
    borders) makes it larger.

    Args:
        image: ``[3, H, W]`` or ``[N, 3, H, W]`` (uint8 or float in ``[-1, 1]``).
        tile_size: tile side or ``(height, width)``.
        offset: ``(y, x)`` of one tile corner; borders lie at ``y + k * tile_h`` and
            ``x + k * tile_w``.

    Returns:
        The ratio (1.0 for a constant image, ``inf`` if only the borders carry any gradient).

    Raises:
        ValueError: for non-positive tile sizes or when no tile border crosses the image.
    """
    th, tw = (tile_size, tile_size) if isinstance(tile_size, int) else tile_size
    if th <= 0 or tw <= 0:
        raise ValueError(f"tile_size must be positive, got {tile_size}")
    x = _as_batch(image, "image")
    height, width = x.shape[-2:]
    energy_x = ((x[..., :, 1:] - x[..., :, :-1]) ** 2).sum(dim=1)  # [N, H, W - 1]
    energy_y = ((x[..., 1:, :] - x[..., :-1, :]) ** 2).sum(dim=1)  # [N, H - 1, W]
    border_x = _border_mask(width, tw, offset[1], x.device)
    border_y = _border_mask(height, th, offset[0], x.device)
    if not bool(border_x.any()) and not bool(border_y.any()):
        raise ValueError(
            f"no tile border of a {th}x{tw} grid at offset {offset} crosses the {height}x{width} "
            "image; use a smaller tile_size or another offset"
        )
    border = torch.cat([energy_x[..., border_x].flatten(), energy_y[..., border_y, :].flatten()])
    interior = torch.cat(
        [energy_x[..., ~border_x].flatten(), energy_y[..., ~border_y, :].flatten()]
    )
    if interior.numel() == 0:
        raise ValueError("every pixel pair lies on a tile border; use a larger tile_size")
    border_mean, interior_mean = float(border.mean()), float(interior.mean())
    if interior_mean == 0.0:
        return 1.0 if border_mean == 0.0 else math.inf
    return border_mean / interior_mean
