"""Generation for the paper's baselines that are not spatially independent (StyleGAN2-NCI).

The padding-free baseline (``stylegan2-nci-fcg``) renders through :mod:`infinitygan.canvas` like
InfinityGAN itself. The zero-padded one (``stylegan2-nci``) can only render whole images: a larger
image comes from a larger input latent, as the paper does for its comparison.
"""

from __future__ import annotations

import torch
from torch import Tensor

from infinitygan.coords import coord_grid
from infinitygan.latents import global_latent, local_latent, noise_map
from infinitygan.models import Generator
from infinitygan.models.generator import check_truncation


@torch.no_grad()
def generate_enlarged(
    G: Generator, seed: int, cells_h: int, cells_w: int, *, truncation: float = 1.0
) -> Tensor:
    """One forward pass on a ``cells_h x cells_w`` structure-sized input (4x4 -> 128 px for NCI).

    Works for every model (InfinityGAN models get their margin and centred coordinates); for the
    zero-padded baseline it is the only way to render.

    Returns:
        Tensor [3, H, W] float32 on CPU.
    """
    truncation = check_truncation(truncation)
    if cells_h <= 0 or cells_w <= 0:
        raise ValueError(f"latent size must be positive, got {cells_h}x{cells_w}")
    geo = G.geometry
    cfg = G.config
    device = next(G.parameters()).device
    m = geo.margin
    zg = global_latent(seed, cfg.mapping.z_dim, device=device)[None]
    top = -(cells_h // 2) - m
    zl = local_latent(
        seed, cfg.structure.local_dim, top, cells_h + 2 * m, -m, cells_w + 2 * m, device=device
    )
    coords = coord_grid(range(top, top + cells_h + 2 * m), range(-m, cells_w + m), cfg.coords)
    sizes_h, sizes_w = geo.texture_conv_sizes(cells_h), geo.texture_conv_sizes(cells_w)
    noise = [
        noise_map(seed, i, 0, sizes_h[i], 0, sizes_w[i], device=device)[None]
        for i in range(G.num_convs)
    ]
    image = G(zg, zl[None], coords[None].to(device), noise, truncation=truncation)
    return image[0].float().cpu()


def whole_image_bytes(G: Generator, height: int, width: int, bytes_per_value: int = 4) -> int:
    """Rough peak activation memory of :func:`generate_whole_image` for ``height x width``:
    the largest texture layer's input, output and one temporary, plus the RGB skip image."""
    geo = G.geometry
    cells_h, cells_w = geo.texture_in(height), geo.texture_in(width)
    sizes_h, sizes_w = geo.texture_conv_sizes(cells_h), geo.texture_conv_sizes(cells_w)
    channels = G.config.texture.channels
    widths: list[int] = []
    for c in channels:
        widths += [c, c]
    largest = max(3 * sizes_h[i] * sizes_w[i] * widths[i] for i in range(len(widths)))
    return (largest + 3 * sizes_h[-1] * sizes_w[-1]) * bytes_per_value


def generate_whole_image(
    G: Generator, seed: int, height: int, width: int, *, truncation: float = 1.0
) -> Tensor:
    """A ``height x width`` image of the zero-padded baseline in one pass: the smallest enlarged
    input latent whose output covers the size (``ceil(size / 32)`` cells for NCI), centre-cropped.

    The same seed and a different size give a different image (the input latent is a different
    size, and zero padding makes every pixel depend on the image border): this baseline has no
    canvas.

    Returns:
        Tensor [3, height, width] float32 on CPU.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    geo = G.geometry
    image = generate_enlarged(
        G, seed, geo.texture_in(height), geo.texture_in(width), truncation=truncation
    )
    top = (image.shape[1] - height) // 2
    left = (image.shape[2] - width) // 2
    return image[:, top : top + height, left : left + width].contiguous()
