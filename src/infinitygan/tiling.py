"""Tile planning and the one tile loop that renders every canvas.

A canvas is any :class:`TileSource`: a seed's canvas (:class:`infinitygan.canvas.SeedCanvas`) or
a described canvas with anchors, placed inverted latents and edits
(:class:`infinitygan.applications.scene.Scene`). :func:`render_tiles` renders a region of one:
the structure latent of every cell the region needs once (in blocks, :func:`structure_blocks`),
then the texture synthesizer over tiles planned to fit a memory budget (:func:`plan_tiling`,
:func:`plan_tiles`), equally shaped tiles of one style batched into one call, in the chosen
precision, optionally compiled. The networks are padding-free, so the tiling never shows in the
pixels (region-containment contract of :func:`infinitygan.canvas.generate_region`).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from infinitygan.models import Generator
from infinitygan.runtime import (
    activation_bytes,
    model_on,
    module_device,
    precision_context,
    resolve_device,
    to_host,
)
from infinitygan.spatial import Window

DEFAULT_MAX_MEMORY = 2 << 30  # bytes of activations per texture tile (batch), CPU
DEFAULT_MAX_MEMORY_CUDA = 8 << 30  # on a GPU (at most a quarter of its memory)

Windows = tuple[Window, Window]  # the (rows, columns) windows of one tile


@dataclass(frozen=True)
class TileWindow:
    """One tile (or output chunk): pixels ``[y, y+h) x [x, x+w)`` relative to the region."""

    y: int
    x: int
    h: int
    w: int


def plan_tiles(height: int, width: int, tile: int) -> list[TileWindow]:
    """Cut a ``height x width`` region into tiles of at most ``tile x tile`` pixels, row-major."""
    if tile <= 0:
        raise ValueError(f"tile must be positive, got {tile}")
    return [
        TileWindow(y, x, min(tile, height - y), min(tile, width - x))
        for y in range(0, height, tile)
        for x in range(0, width, tile)
    ]


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


def check_region(top: int, left: int, height: int, width: int) -> None:
    """Raise TypeError / ValueError unless the region is four ints with a positive size."""
    for name, v in (("top", top), ("left", left), ("height", height), ("width", width)):
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    if height <= 0 or width <= 0:
        raise ValueError(f"region size must be positive, got {height}x{width} (HxW)")


class TileSource(Protocol):
    """A canvas as :func:`render_tiles` sees it: latents, noise and styles of any position."""

    G: Generator

    def structure(
        self, row_start: int, rows: int, col_start: int, cols: int, device: torch.device
    ) -> Tensor:
        """Structure latent [1, C, rows, cols] of cells ``[row_start, +rows) x [col_start,
        +cols)`` (see :func:`structure_blocks`)."""
        ...

    def batch_key(self, windows: Windows) -> Hashable | None:
        """Tiles of equal shape and equal key share one style and may run as one batch; None:
        the tile runs alone."""
        ...

    def texture(
        self, structure: Tensor, windows: list[Windows], device: torch.device, compile: bool
    ) -> Tensor:
        """Texture output [N, 3, H, W] of equally shaped tiles with one batch key (structure
        [N, C, S_y, S_x])."""
        ...

    def finish(self, image: Tensor, top: int, left: int) -> None:
        """Last touches to the finished region [3, H, W] on the host, in place."""
        ...


def structure_blocks(
    G: Generator,
    row_start: int,
    rows: int,
    col_start: int,
    cols: int,
    device: torch.device,
    block_structure: Callable[[int, int, int, int], Tensor],
    block: int = 64,
) -> Tensor:
    """Structure latent [1, C, rows, cols] of cells ``[row_start, +rows) x [col_start, +cols)``,
    computed in blocks of at most ``block`` cells per side (exact: the synthesizer is
    padding-free).

    ``block_structure(r0, nr, c0, nc)`` returns the structure of one block from its input cells
    ``[r0, r0 + nr) x [c0, c0 + nc)`` (the block grown by the synthesizer's margin).
    """
    m = G.geometry.margin
    out = torch.empty(1, G.config.structure.channels, rows, cols, device=device)
    for by in range(0, rows, block):
        bh = min(block, rows - by)
        for bx in range(0, cols, block):
            bw = min(block, cols - bx)
            s = block_structure(row_start + by - m, bh + 2 * m, col_start + bx - m, bw + 2 * m)
            out[:, :, by : by + bh, bx : bx + bw] = s.float()
    return out


def window_noise(
    G: Generator, windows: Windows, draw: Callable[[int, int, int, int, int], Tensor]
) -> list[Tensor]:
    """One noise map per texture conv for a tile: ``draw(conv, row, rows, col, cols)`` returns
    conv ``conv``'s map [1, 1, rows, cols] at those indices of its own grid."""
    wy, wx = windows
    geo = G.geometry
    sizes_y = geo.texture_conv_sizes(wy.cells)
    sizes_x = geo.texture_conv_sizes(wx.cells)
    maps = []
    for i in range(G.num_convs):
        s = geo.layer_scale(i)
        maps.append(draw(i, s * wy.cell_start, sizes_y[i], s * wx.cell_start, sizes_x[i]))
    return maps


def batch_noise(noises: list[list[Tensor]]) -> list[Tensor]:
    """The noise maps of several tiles stacked per conv (one tile's maps as they are)."""
    return [torch.cat(maps) for maps in zip(*noises)] if len(noises) > 1 else noises[0]


@torch.no_grad()
def render_tiles(
    make_source: Callable[[Generator, torch.device], TileSource],
    G: Generator,
    top: int,
    left: int,
    height: int,
    width: int,
    *,
    device: str | torch.device | None = None,
    precision: str = "fp32",
    max_memory: int | None = None,
    tile: int | None = None,
    channels_last: bool = True,
    tile_batch: int = 1,
    compile: bool = False,
) -> Tensor:
    """Render canvas pixels ``[top, top+height) x [left, left+width)`` of a tile source.

    The region and the precision are checked by the caller. ``make_source(G, device)`` builds the
    source with the model placed on the compute device (``G`` itself is never moved, see
    :func:`infinitygan.runtime.model_on`). The other arguments are those of
    :func:`infinitygan.canvas.generate_region`.

    Returns:
        Tensor [3, height, width], float32, about [-1, 1], on CPU.
    """
    device = resolve_device(device, module_device(G))
    G = model_on(G, device)
    source = make_source(G, device)
    budget = max_memory if max_memory is not None else default_max_memory(device)
    tile, tile_batch = plan_tiling(G, budget, precision, tile, tile_batch)
    tiles = plan_tiles(height, width, tile)
    geo = G.geometry

    # Structure cells needed by all tiles together.
    wins = [(geo.window(top + t.y, t.h), geo.window(left + t.x, t.w)) for t in tiles]
    cy0 = min(wy.cell_start for wy, _ in wins)
    cy1 = max(wy.cell_start + wy.cells for wy, _ in wins)
    cx0 = min(wx.cell_start for _, wx in wins)
    cx1 = max(wx.cell_start + wx.cells for _, wx in wins)

    out = torch.empty(3, height, width, device=device)  # stays on the device until done
    with precision_context(device, precision, benchmark=True):
        structure = source.structure(cy0, cy1 - cy0, cx0, cx1 - cx0, device)
        for group in _batches(source, tiles, wins, tile_batch):
            crops = [
                structure[
                    :,
                    :,
                    wy.cell_start - cy0 : wy.cell_start - cy0 + wy.cells,
                    wx.cell_start - cx0 : wx.cell_start - cx0 + wx.cells,
                ]
                for _, (wy, wx) in group
            ]
            s = torch.cat(crops) if len(crops) > 1 else crops[0]
            if channels_last:
                s = s.contiguous(memory_format=torch.channels_last)
            images = source.texture(s, [w for _, w in group], device, compile)
            for image, (t, (wy, wx)) in zip(images, group):
                out[:, t.y : t.y + t.h, t.x : t.x + t.w] = image[
                    :, wy.crop : wy.crop + t.h, wx.crop : wx.crop + t.w
                ]
    out = to_host(out)
    source.finish(out, top, left)
    return out


def _batches(
    source: TileSource, tiles: list[TileWindow], wins: list[Windows], size: int
) -> Iterator[list[tuple[TileWindow, Windows]]]:
    """Group tiles of equal structure window shape and equal batch key into batches of at most
    ``size`` (a tile whose key is None alone)."""
    groups: dict[Hashable, list[tuple[TileWindow, Windows]]] = {}
    for i, (t, w) in enumerate(zip(tiles, wins)):
        key = source.batch_key(w)
        group = (w[0].cells, w[1].cells, key) if key is not None else ("alone", i)
        groups.setdefault(group, []).append((t, w))
    for members in groups.values():
        for i in range(0, len(members), size):
            yield members[i : i + size]


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def compiled_texture(G: Generator):
    """``torch.compile`` of ``G.texture`` (dynamic shapes), cached per model."""
    if G not in _COMPILED:
        _COMPILED[G] = torch.compile(G.texture_synthesizer, dynamic=True)
    return _COMPILED[G]


def texture_function(G: Generator, compile: bool) -> Callable[..., Tensor]:
    """``G.texture``, or its compiled version (:func:`compiled_texture`) when ``compile``."""
    return compiled_texture(G) if compile else G.texture
