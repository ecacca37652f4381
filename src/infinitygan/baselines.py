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


@torch.no_grad()
def generate_enlarged(G: Generator, seed: int, cells_h: int, cells_w: int) -> Tensor:
    """One forward pass on a ``cells_h x cells_w`` structure-sized input (4x4 -> 128 px for NCI).

    Works for every model (InfinityGAN models get their margin and centred coordinates); for the
    zero-padded baseline it is the only way to render.

    Returns:
        Tensor [3, H, W] float32 on CPU.
    """
    if cells_h <= 0 or cells_w <= 0:
        raise ValueError(f"latent size must be positive, got {cells_h}x{cells_w}")
    geo = G.geometry
    cfg = G.config
    device = next(G.parameters()).device
    m = geo.margin
    zg = global_latent(seed, cfg.mapping.z_dim)[None].to(device)
    top = -(cells_h // 2) - m
    zl = local_latent(seed, cfg.structure.local_dim, top, cells_h + 2 * m, -m, cells_w + 2 * m)
    coords = coord_grid(range(top, top + cells_h + 2 * m), range(-m, cells_w + m), cfg.coords)
    sizes_h, sizes_w = geo.texture_conv_sizes(cells_h), geo.texture_conv_sizes(cells_w)
    noise = [
        noise_map(seed, i, 0, sizes_h[i], 0, sizes_w[i])[None].to(device)
        for i in range(G.num_convs)
    ]
    image = G(zg, zl[None].to(device), coords[None].to(device), noise)
    return image[0].float().cpu()
