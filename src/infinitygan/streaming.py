"""Stream a canvas region to a writer chunk by chunk, in bounded memory, shardable over ranks."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import torch
from torch import Tensor

from infinitygan.canvas import generate_region
from infinitygan.imageio import to_uint8
from infinitygan.models import Generator
from infinitygan.tiling import plan_tiles

logger = logging.getLogger(__name__)

RegionRenderer = Callable[[int, int, int, int], Tensor]


def plain_renderer(G: Generator, seed: int, **kwargs) -> RegionRenderer:
    """A renderer of ``seed``'s canvas: ``(top, left, height, width) -> [3, H, W]``."""

    def render(top: int, left: int, height: int, width: int) -> Tensor:
        return generate_region(G, seed, top, left, height, width, **kwargs)

    return render


def render_to_writer(
    render: RegionRenderer,
    writer,
    top: int,
    left: int,
    height: int,
    width: int,
    *,
    chunk: int,
    rank: int = 0,
    world_size: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Render the region chunk by chunk into ``writer`` (``done(y, x)``/``write(y, x, tile)``).

    Chunks already done (resume) are skipped; rank ``r`` of ``world_size`` renders chunks
    ``i % world_size == r``. ``progress(done, total)`` is called after each chunk.

    Returns:
        statistics: chunks rendered/skipped, seconds, megapixels per second.
    """
    chunks = plan_tiles(height, width, chunk)
    mine = [c for i, c in enumerate(chunks) if i % world_size == rank]
    rendered = skipped = 0
    pixels = 0
    start = time.perf_counter()
    for i, c in enumerate(mine):
        if writer.done(c.y, c.x):
            skipped += 1
        else:
            image = render(top + c.y, left + c.x, c.h, c.w)
            writer.write(c.y, c.x, to_uint8(image))
            rendered += 1
            pixels += c.h * c.w
        if progress is not None:
            progress(i + 1, len(mine))
    seconds = time.perf_counter() - start
    return {
        "chunks_total": len(chunks),
        "chunks_rendered": rendered,
        "chunks_skipped": skipped,
        "seconds": seconds,
        "megapixels_per_second": pixels / 1e6 / seconds if seconds > 0 else 0.0,
    }


def estimate_seconds(render: RegionRenderer, chunk: int, total_pixels: int) -> float:
    """Time one small chunk and extrapolate linearly to ``total_pixels`` (for --dry-run)."""
    side = min(chunk, 128)
    with torch.no_grad():
        render(0, 0, side, side)  # warm-up
        t0 = time.perf_counter()
        render(0, 0, side, side)
        t = time.perf_counter() - t0
    return t * total_pixels / (side * side)
