"""The addressable infinite canvas: render any region of a seed's canvas exactly.

Canvas pixels are indexed ``(y, x)`` with any integers. Row 0 is the horizon (structure cell row 0
is centred on pixel row 0) and the horizontal axis is periodic with the model's coordinate period
(``period_pixels``). All randomness is keyed to canvas position (:mod:`infinitygan.latents`), and
the networks are padding-free, so a region rendered alone equals the same crop of any larger
region, whatever tiling is used inside.
"""

from __future__ import annotations

import logging
import math

import torch
from torch import Tensor

from infinitygan.coords import coord_grid
from infinitygan.latents import global_latent, local_latent, noise_map
from infinitygan.models import Generator
from infinitygan.models.generator import check_truncation
from infinitygan.runtime import check_precision, strict_fp32
from infinitygan.tiling import (
    Windows,
    batch_noise,
    check_region,
    render_tiles,
    structure_blocks,
    texture_function,
    window_noise,
)

logger = logging.getLogger(__name__)


def period_pixels(G: Generator) -> int:
    """Horizontal period of the canvas in pixels (2224 for paper-101)."""
    return G.config.coords.horizontal_period * G.geometry.scale


def structure_region(
    G: Generator,
    seed: int,
    z_global: Tensor,
    row_start: int,
    rows: int,
    col_start: int,
    cols: int,
    *,
    wrap: bool = False,
    block: int = 64,
) -> Tensor:
    """Structure latent [1, C, rows, cols] of cells ``[row_start, +rows) x [col_start, +cols)``.

    Computed in blocks of at most ``block`` cells per side (exact: the synthesizer is padding-free).
    """
    device = z_global.device

    def block_structure(r0: int, nr: int, c0: int, nc: int) -> Tensor:
        return G.structure(z_global, *_structure_input(G, seed, r0, nr, c0, nc, wrap, device))

    return structure_blocks(G, row_start, rows, col_start, cols, device, block_structure, block)


def _structure_input(
    G: Generator, seed: int, r0: int, nr: int, c0: int, nc: int, wrap: bool, device: torch.device
) -> tuple[Tensor, Tensor]:
    """Local latents [1, local_dim, nr, nc] and coordinates [1, 3, nr, nc] of ``seed``'s
    structure input cells ``[r0, r0 + nr) x [c0, c0 + nc)``, on ``device``."""
    cfg = G.config
    period = cfg.coords.horizontal_period if wrap else None
    z_local = local_latent(
        seed, cfg.structure.local_dim, r0, nr, c0, nc, period=period, device=device
    )
    coords = coord_grid(range(r0, r0 + nr), range(c0, c0 + nc), cfg.coords)
    return z_local[None].to(device), coords[None].to(device)


def seed_noise(
    G: Generator, seed: int, windows: Windows, wrap: bool, device: torch.device
) -> list[Tensor]:
    """Noise maps [1, 1, h_i, w_i] of ``seed``'s canvas for one tile, one per texture conv."""
    geo = G.geometry
    period = G.config.coords.horizontal_period if wrap else None

    def draw(conv: int, row: int, rows: int, col: int, cols: int) -> Tensor:
        s = geo.layer_scale(conv)
        n = noise_map(
            seed, conv, row, rows, col, cols, period=period * s if period else None, device=device
        )
        return n[None]

    return window_noise(G, windows, draw)


class SeedCanvas:
    """The canvas of one seed as a :class:`infinitygan.tiling.TileSource`: local latents and
    noise keyed to canvas position, one global style everywhere (so every tile batches).

    Args:
        G: the generator, on ``device``.
        seed: the canvas seed.
        wrap: horizontally periodic canvas.
        psi: truncation, already checked (:func:`check_truncation`).
        device: where to compute.
    """

    def __init__(
        self, G: Generator, seed: int, *, wrap: bool, psi: float, device: torch.device
    ) -> None:
        self.G = G
        self.seed = seed
        self.wrap = wrap
        self.psi = psi
        self.z_global = global_latent(seed, G.config.mapping.z_dim, device=device)[None]
        self._w: Tensor | None = None

    def structure(
        self, row_start: int, rows: int, col_start: int, cols: int, device: torch.device
    ) -> Tensor:
        z = self.G.truncate_global(self.z_global, self.psi)
        return structure_region(
            self.G, self.seed, z, row_start, rows, col_start, cols, wrap=self.wrap
        )

    def batch_key(self, windows: Windows) -> int:
        return 0  # one style for the whole canvas

    def texture(
        self, structure: Tensor, windows: list[Windows], device: torch.device, compile: bool
    ) -> Tensor:
        if self._w is None:
            self._w = self.G.truncate_w(self.G.mapping(self.z_global), self.psi)
        noise = batch_noise([seed_noise(self.G, self.seed, w, self.wrap, device) for w in windows])
        # One style for the batch: plain convolutions.
        return texture_function(self.G, compile)(structure, self._w, noise)

    def finish(self, image: Tensor, top: int, left: int) -> None:
        pass


def generate_region(
    G: Generator,
    seed: int,
    top: int,
    left: int,
    height: int,
    width: int,
    *,
    device: str | torch.device | None = None,
    wrap: bool = False,
    precision: str = "fp32",
    max_memory: int | None = None,
    tile: int | None = None,
    channels_last: bool = True,
    tile_batch: int = 1,
    compile: bool = False,
    truncation: float = 1.0,
) -> Tensor:
    """Render canvas pixels ``[top, top+height) x [left, left+width)`` of ``seed``'s canvas.

    Args:
        G: the generator (its parameters' device is used unless ``device`` is given).
        seed: the canvas seed (global latent, local latents and noise all derive from it).
        top, left: canvas position of the region's first pixel; any integers.
        height, width: region size in pixels (positive).
        device: where to compute (default: where ``G`` lives; ``"cuda"`` means ``G``'s own GPU
            when it is on one). ``G`` itself is never moved: on another device a cached copy
            computes (see :func:`infinitygan.runtime.model_on`).
        wrap: make the canvas horizontally periodic with ``period_pixels(G)`` (local latents and
            noise wrap too), for 360-degree panoramas.
        precision: "fp32" (strict IEEE, also on CUDA), "tf32" (TF32 tensor cores on CUDA),
            "bf16" or "fp16" (autocast); see :mod:`infinitygan.runtime`.
        max_memory: activation budget per batched texture call in bytes (sets the tile size;
            default :func:`infinitygan.tiling.default_max_memory` of the device: 2 GiB on CPU,
            8 GiB on CUDA).
        tile: explicit tile side in pixels (overrides ``max_memory`` for the side).
        channels_last: run the texture synthesizer in channels-last memory format (faster on
            CPU and GPU; results equal to float rounding).
        tile_batch: render up to this many equally shaped tiles in one batched call (pays on
            GPUs; the batch shares one style, so every convolution stays a plain one). The
            batch stays inside ``max_memory``: the planned tile shrinks, or an explicit tile's
            batch is cut to what fits.
        compile: run the texture synthesizer through ``torch.compile`` (compiled once per model
            and reused; the first call pays the compilation).
        truncation: psi in [0, 2]: the style moves to ``w_avg + psi (w - w_avg)`` and the
            structure synthesizer's global latent to ``psi * z_global`` (1: none, bit-identical
            to no truncation; 0: the average style). See docs/generation.md.

    Returns:
        Tensor [3, height, width], float32, about [-1, 1], on CPU.
    """
    check_region(top, left, height, width)
    check_precision(precision)
    psi = check_truncation(truncation)
    return render_tiles(
        lambda G, device: SeedCanvas(G, seed, wrap=wrap, psi=psi, device=device),
        G,
        top,
        left,
        height,
        width,
        device=device,
        precision=precision,
        max_memory=max_memory,
        tile=tile,
        channels_last=channels_last,
        tile_batch=tile_batch,
        compile=compile,
    )


def image_framing(height: int, width: int) -> tuple[int, int]:
    """(top, left) of :func:`generate_image`: centred vertically on the horizon, from column 0."""
    return -(height // 2), 0


def generate_image(G: Generator, seed: int, height: int, width: int, **kwargs) -> Tensor:
    """The ``height x width`` region centred vertically on the horizon and starting at column 0
    (the framing of the official generation). Keyword arguments go to :func:`generate_region`."""
    top, left = image_framing(height, width)
    return generate_region(G, seed, top, left, height, width, **kwargs)


def one_shot_region(
    G: Generator,
    seed: int,
    top: int,
    left: int,
    height: int,
    width: int,
    *,
    wrap: bool = False,
    truncation: float = 1.0,
) -> Tensor:
    """The same region as :func:`generate_region` in one forward pass of ``G`` (no tiling).

    For tests and seam metrics; memory grows with the region.
    """
    geo = G.geometry
    wy, wx = geo.window(top, height), geo.window(left, width)
    m = geo.margin
    device = next(G.parameters()).device
    z_global = global_latent(seed, G.config.mapping.z_dim, device=device)[None]
    r0, c0 = wy.cell_start - m, wx.cell_start - m
    z_local, coords = _structure_input(
        G, seed, r0, wy.cells + 2 * m, c0, wx.cells + 2 * m, wrap, device
    )
    noise = seed_noise(G, seed, (wy, wx), wrap, device)
    with torch.no_grad(), strict_fp32(device):
        image = G(z_global, z_local, coords, noise, truncation=check_truncation(truncation))
    return image[0, :, wy.crop : wy.crop + height, wx.crop : wx.crop + width].float().cpu()


def cells_for_pixels(G: Generator, pixels: int) -> int:
    """Structure cells spanned by ``pixels`` output pixels (for planners)."""
    return math.ceil(pixels / G.geometry.scale)
