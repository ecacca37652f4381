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
import weakref
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from infinitygan.coords import coord_grid
from infinitygan.latents import global_latent, local_latent, noise_map
from infinitygan.models import Generator
from infinitygan.models.generator import check_truncation
from infinitygan.runtime import (
    activation_bytes,
    check_precision,
    model_on,
    module_device,
    precision_context,
    resolve_device,
    strict_fp32,
    to_host,
)
from infinitygan.spatial import Geometry

logger = logging.getLogger(__name__)

DEFAULT_MAX_MEMORY = 2 << 30  # bytes of activations per texture tile (batch), CPU
DEFAULT_MAX_MEMORY_CUDA = 8 << 30  # on a GPU (at most a quarter of its memory)


@dataclass(frozen=True)
class TileWindow:
    """One texture tile: output pixels ``[y, y+h) x [x, x+w)`` relative to the region."""

    y: int
    x: int
    h: int
    w: int


def period_pixels(G: Generator) -> int:
    """Horizontal period of the canvas in pixels (2224 for paper-101)."""
    return G.config.coords.horizontal_period * G.geometry.scale


def texture_tile_bytes(G: Generator, cells: int, dtype_bytes: int = 4) -> int:
    """Rough peak activation bytes of one square texture tile of ``cells`` structure cells."""
    sizes = G.geometry.texture_conv_sizes(cells)
    channels = [c for c in G.config.texture.channels for _ in (0, 1)]
    peak = 0
    for i, (s, c) in enumerate(zip(sizes, channels)):
        if i % 2 == 0:  # upsampling conv: transposed output + crop + blur live together
            peak = max(peak, 3 * (s + 4) ** 2 * c)
        else:
            peak = max(peak, 2 * (s + 2) ** 2 * c + 2 * s * s * c)
    return peak * dtype_bytes


def plan_tile_size(G: Generator, max_memory: int, dtype_bytes: int = 4) -> int:
    """Largest square tile side (output pixels, a multiple of the cell size) within the budget."""
    scale = G.geometry.scale
    cells = 4
    while texture_tile_bytes(G, cells * 2 + 6, dtype_bytes) <= max_memory and cells < 4096:
        cells *= 2
    while cells > 1 and texture_tile_bytes(G, cells + 6, dtype_bytes) > max_memory:
        cells //= 2
    return cells * scale


def default_max_memory(device: torch.device) -> int:
    """The activation budget per texture call when none is given: 2 GiB on the CPU, 8 GiB (at
    most a quarter of the GPU's memory) on CUDA, where bigger tiles keep the GPU busy."""
    if device.type != "cuda":
        return DEFAULT_MAX_MEMORY
    total = torch.cuda.get_device_properties(device).total_memory
    return max(DEFAULT_MAX_MEMORY, min(DEFAULT_MAX_MEMORY_CUDA, total // 4))


def plan_tiling(
    G: Generator, max_memory: int, precision: str, tile: int | None, tile_batch: int
) -> tuple[int, int]:
    """(tile side, tiles per batched call) keeping ``tile_batch`` tiles inside ``max_memory``.

    Without an explicit ``tile`` the side is planned for ``max_memory / tile_batch``; with one,
    the batch shrinks until it fits (never below one tile).
    """
    if tile_batch < 1:
        raise ValueError(f"tile_batch must be >= 1, got {tile_batch}")
    nbytes = activation_bytes(precision)
    if tile is None:
        return plan_tile_size(G, max(max_memory // tile_batch, 1), nbytes), tile_batch
    per_tile = texture_tile_bytes(G, math.ceil(tile / G.geometry.scale) + 6, nbytes)
    return tile, max(1, min(tile_batch, max_memory // per_tile))


def plan_tiles(height: int, width: int, tile: int) -> list[TileWindow]:
    """Cut a ``height x width`` region into tiles of at most ``tile x tile`` pixels."""
    tiles = []
    for y in range(0, height, tile):
        for x in range(0, width, tile):
            tiles.append(TileWindow(y, x, min(tile, height - y), min(tile, width - x)))
    return tiles


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
    geo = G.geometry
    m = geo.margin
    cfg = G.config
    period = cfg.coords.horizontal_period if wrap else None
    device = z_global.device
    out = torch.empty(1, cfg.structure.channels, rows, cols, device=device)
    for by in range(0, rows, block):
        bh = min(block, rows - by)
        for bx in range(0, cols, block):
            bw = min(block, cols - bx)
            r0, c0 = row_start + by - m, col_start + bx - m
            z_local = local_latent(
                seed,
                cfg.structure.local_dim,
                r0,
                bh + 2 * m,
                c0,
                bw + 2 * m,
                period=period,
                device=device,
            )
            coords = coord_grid(range(r0, r0 + bh + 2 * m), range(c0, c0 + bw + 2 * m), cfg.coords)
            s = G.structure(z_global, z_local[None], coords[None].to(device))
            out[:, :, by : by + bh, bx : bx + bw] = s.float()
    return out


def _noise_for(
    G: Generator,
    seed: int,
    cell_y: int,
    cells_y: int,
    cell_x: int,
    cells_x: int,
    wrap: bool,
    device: torch.device,
) -> list[Tensor]:
    geo = G.geometry
    period = G.config.coords.horizontal_period if wrap else None
    sizes_y = geo.texture_conv_sizes(cells_y)
    sizes_x = geo.texture_conv_sizes(cells_x)
    maps = []
    for i in range(G.num_convs):
        s = geo.layer_scale(i)
        n = noise_map(
            seed,
            i,
            s * cell_y,
            sizes_y[i],
            s * cell_x,
            sizes_x[i],
            period=period * s if period else None,
            device=device,
        )
        maps.append(n[None])
    return maps


@torch.no_grad()
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
            default :func:`default_max_memory` of the device: 2 GiB on CPU, 8 GiB on CUDA).
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
    for name, v in (("top", top), ("left", left), ("height", height), ("width", width)):
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    if height <= 0 or width <= 0:
        raise ValueError(f"region size must be positive, got {height}x{width} (HxW)")
    check_precision(precision)
    psi = check_truncation(truncation)
    device = resolve_device(device, module_device(G))
    G = model_on(G, device)
    geo: Geometry = G.geometry
    budget = max_memory if max_memory is not None else default_max_memory(device)
    tile, tile_batch = plan_tiling(G, budget, precision, tile, tile_batch)
    tiles = plan_tiles(height, width, tile)

    # Structure cells needed by all tiles together.
    wins = [(geo.window(top + t.y, t.h), geo.window(left + t.x, t.w)) for t in tiles]
    cy0 = min(wy.cell_start for wy, _ in wins)
    cy1 = max(wy.cell_start + wy.cells for wy, _ in wins)
    cx0 = min(wx.cell_start for _, wx in wins)
    cx1 = max(wx.cell_start + wx.cells for _, wx in wins)

    z_global = global_latent(seed, G.config.mapping.z_dim, device=device)[None]
    out = torch.empty(3, height, width, device=device)  # stays on the device until done
    with precision_context(device, precision, benchmark=True):
        w = G.truncate_w(G.mapping(z_global), psi)
        z_structure = G.truncate_global(z_global, psi)
        structure = structure_region(
            G, seed, z_structure, cy0, cy1 - cy0, cx0, cx1 - cx0, wrap=wrap
        )
        for group in _batches(tiles, wins, tile_batch):
            crops, noises = [], []
            for _, (wy, wx) in group:
                crops.append(
                    structure[
                        :,
                        :,
                        wy.cell_start - cy0 : wy.cell_start - cy0 + wy.cells,
                        wx.cell_start - cx0 : wx.cell_start - cx0 + wx.cells,
                    ]
                )
                noises.append(
                    _noise_for(
                        G, seed, wy.cell_start, wy.cells, wx.cell_start, wx.cells, wrap, device
                    )
                )
            s = torch.cat(crops) if len(crops) > 1 else crops[0]
            noise = [torch.cat(maps) for maps in zip(*noises)] if len(noises) > 1 else noises[0]
            if channels_last:
                s = s.contiguous(memory_format=torch.channels_last)
            texture = compiled_texture(G) if compile else G.texture
            images = texture(s, w, noise)  # one style for the batch: plain convolutions
            for image, (t, (wy, wx)) in zip(images, group):
                out[:, t.y : t.y + t.h, t.x : t.x + t.w] = image[
                    :, wy.crop : wy.crop + t.h, wx.crop : wx.crop + t.w
                ]
    return to_host(out)


def _batches(
    tiles: list[TileWindow], wins: list[tuple], size: int
) -> Iterator[list[tuple[TileWindow, tuple]]]:
    """Group tiles whose structure windows have equal shapes into batches of at most ``size``."""
    if size < 1:
        raise ValueError(f"tile_batch must be >= 1, got {size}")
    groups: dict[tuple[int, int], list] = {}
    for t, (wy, wx) in zip(tiles, wins):
        groups.setdefault((wy.cells, wx.cells), []).append((t, (wy, wx)))
    for members in groups.values():
        for i in range(0, len(members), size):
            yield members[i : i + size]


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def compiled_texture(G: Generator):
    """``torch.compile`` of ``G.texture`` (dynamic shapes), cached per model."""
    if G not in _COMPILED:
        _COMPILED[G] = torch.compile(G.texture_synthesizer, dynamic=True)
    return _COMPILED[G]


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
    cfg = G.config
    m = geo.margin
    device = next(G.parameters()).device
    period = cfg.coords.horizontal_period if wrap else None
    z_global = global_latent(seed, cfg.mapping.z_dim, device=device)[None]
    r0, c0 = wy.cell_start - m, wx.cell_start - m
    ry, rx = wy.cells + 2 * m, wx.cells + 2 * m
    z_local = local_latent(
        seed, cfg.structure.local_dim, r0, ry, c0, rx, period=period, device=device
    )
    coords = coord_grid(range(r0, r0 + ry), range(c0, c0 + rx), cfg.coords)
    noise = _noise_for(G, seed, wy.cell_start, wy.cells, wx.cell_start, wx.cells, wrap, device)
    with torch.no_grad(), strict_fp32(device):
        image = G(
            z_global,
            z_local[None].to(device),
            coords[None].to(device),
            noise,
            truncation=check_truncation(truncation),
        )
    return image[0, :, wy.crop : wy.crop + height, wx.crop : wx.crop + width].float().cpu()


def cells_for_pixels(G: Generator, pixels: int) -> int:
    """Structure cells spanned by ``pixels`` output pixels (for planners)."""
    return math.ceil(pixels / G.geometry.scale)
