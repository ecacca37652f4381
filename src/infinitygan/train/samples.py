"""Sample grids written during training: reals, and EMA canvases at 1x, 2x and 4x the patch size.

The canvases come from :func:`infinitygan.canvas.generate_image` (position-keyed latents, the
test-time coordinate grid, centred on the horizon), so the grid of a seed at step N is directly
comparable with ``infinitygan generate`` on the snapshot.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import Tensor

from infinitygan.canvas import generate_image, generate_region
from infinitygan.imageio import make_grid, save_image
from infinitygan.models import Generator

logger = logging.getLogger(__name__)

SAMPLE_DIR = "samples"
SCALES: tuple[int, ...] = (1, 2, 4)


def seeds_for_scale(seeds: tuple[int, ...], scale: int) -> tuple[int, ...]:
    """Fewer seeds for bigger canvases (all at 1x, half at 2x, a quarter at 4x; at least one)."""
    return seeds[: max(1, len(seeds) // scale)]


@torch.no_grad()
def render_canvases(G_ema: Generator, seeds: tuple[int, ...], size: int) -> Tensor:
    """Canvases [len(seeds), 3, size, size] of the EMA generator (float32, CPU).

    The zero-padded StyleGAN2-NCI baseline renders whole images only
    (``baselines.generate_whole_image``: an enlarged input latent, centre-cropped to ``size``,
    as generation and evaluation render it).
    """
    if G_ema.geometry.padded:
        from infinitygan.baselines import generate_whole_image

        return torch.stack([generate_whole_image(G_ema, seed, size, size) for seed in seeds])
    return torch.stack([generate_image(G_ema, seed, size, size) for seed in seeds])


def write_sample_grids(
    G_ema: Generator, run_dir: Path, step: int, seeds: tuple[int, ...]
) -> list[Path]:
    """Write ``samples/fakes-{1,2,4}x-stepNNNNNNNN.png`` and return their paths."""
    patch = G_ema.config.patch_size
    out = []
    for scale in SCALES:
        chosen = seeds_for_scale(seeds, scale)
        images = render_canvases(G_ema, chosen, patch * scale)
        nrow = min(len(chosen), max(1, 8 // scale))
        path = run_dir / SAMPLE_DIR / f"fakes-{scale}x-step{step:08d}.png"
        out.append(save_image(make_grid(images, nrow=nrow), path))
    return out


def write_reals_grid(patches: Tensor, run_dir: Path, max_images: int = 16) -> Path:
    """Write ``samples/reals.png`` from real patches [N, 3, P, P] in [-1, 1]."""
    images = patches[:max_images].detach().float().cpu()
    return save_image(make_grid(images, nrow=8), run_dir / SAMPLE_DIR / "reals.png")


@torch.no_grad()
def generated_patches_at(G_ema: Generator, seeds: tuple[int, ...], position: int) -> Tensor:
    """EMA patches [len(seeds), 3, P, P] at training vertical position ``position`` (0..V-1).

    Uses the same canvas rows as a training window with that position and no jitter: structure
    cells centred on row ``position - V // 2`` (row 0 = horizon).
    """
    cfg = G_ema.config
    v = cfg.coords.vertical_positions
    if not 0 <= position < v:
        raise ValueError(f"position must be in 0..{v - 1}, got {position}")
    p = cfg.patch_size
    top = G_ema.geometry.scale * (position - v // 2) - p // 2
    return torch.stack([generate_region(G_ema, seed, top, 0, p, p) for seed in seeds])


def row_profile(images: Tensor) -> Tensor:
    """Mean colour of every row: images [N, 3, H, W] -> [H, 3]."""
    return images.float().mean(dim=(0, 3)).t().contiguous()
