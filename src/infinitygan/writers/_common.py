"""Shared pieces of the canvas writers: geometry, tile checks, path replacement.

Everything here is format-independent. A canvas is an RGB uint8 image of shape [H, W, 3] cut
into a regular grid of ``chunk x chunk`` chunks; the chunks in the last row and column are smaller
when H or W is not a multiple of ``chunk``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from infinitygan._files import temp_name

logger = logging.getLogger(__name__)

#: Chunk sizes must be a multiple of this (TIFF tiles must be multiples of 16 pixels, and the
#: 2x pyramid needs even chunks).
CHUNK_MULTIPLE = 16


@dataclass(frozen=True)
class CanvasGeometry:
    """Size of a canvas and its chunk grid.

    Attributes:
        height: Canvas height H in pixels.
        width: Canvas width W in pixels.
        chunk: Side of a grid chunk in pixels.
    """

    height: int
    width: int
    chunk: int

    @property
    def rows(self) -> int:
        """Number of chunk rows, ceil(H / chunk)."""
        return -(-self.height // self.chunk)

    @property
    def cols(self) -> int:
        """Number of chunk columns, ceil(W / chunk)."""
        return -(-self.width // self.chunk)

    @property
    def num_chunks(self) -> int:
        """Total number of chunks."""
        return self.rows * self.cols

    def chunk_indices(self) -> Iterator[tuple[int, int]]:
        """Yield every chunk index (row, col) in row-major order."""
        for cy in range(self.rows):
            for cx in range(self.cols):
                yield cy, cx

    def chunk_bounds(self, cy: int, cx: int) -> tuple[int, int, int, int]:
        """Pixel bounds (y0, y1, x0, x1) of chunk (cy, cx), clipped to the canvas."""
        y0 = cy * self.chunk
        x0 = cx * self.chunk
        return y0, min(y0 + self.chunk, self.height), x0, min(x0 + self.chunk, self.width)

    def chunk_shape(self, cy: int, cx: int) -> tuple[int, int, int]:
        """Array shape [h, w, 3] of chunk (cy, cx)."""
        y0, y1, x0, x1 = self.chunk_bounds(cy, cx)
        return y1 - y0, x1 - x0, 3

    def half(self) -> CanvasGeometry:
        """Geometry of the next pyramid level: ceil(H / 2) x ceil(W / 2), same chunk."""
        return CanvasGeometry(-(-self.height // 2), -(-self.width // 2), self.chunk)

    def as_dict(self) -> dict[str, int]:
        """JSON form, used in manifests and sidecars."""
        return {"height": self.height, "width": self.width, "chunk": self.chunk}


def validate_geometry(height: Any, width: Any, chunk: Any) -> CanvasGeometry:
    """Check the canvas size and chunk and return the geometry.

    Raises:
        ValueError: when a size is not a positive integer or the chunk is not a positive multiple
            of 16.
    """
    for name, value in (("height", height), ("width", width), ("chunk", chunk)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
            raise ValueError(f"canvas {name} must be a positive integer, got {value!r}")
    if int(chunk) % CHUNK_MULTIPLE:
        raise ValueError(
            f"chunk must be a multiple of {CHUNK_MULTIPLE} pixels (TIFF tiles and the 2x pyramid "
            f"need it), got {chunk}; try {max(CHUNK_MULTIPLE, int(chunk) // 16 * 16)}"
        )
    return CanvasGeometry(int(height), int(width), int(chunk))


def pyramid_geometries(base: CanvasGeometry, *, min_side: int) -> list[CanvasGeometry]:
    """Geometries of a 2x pyramid, from ``base`` down to the first level whose longer side is at
    most ``min_side`` pixels.

    Args:
        base: Full-resolution geometry (level 0).
        min_side: Stop once max(h, w) <= min_side (use 1 for a pyramid down to 1x1).

    Returns:
        [level0, level1, ...]; level k has size ceil(H / 2^k) x ceil(W / 2^k).
    """
    levels = [base]
    while max(levels[-1].height, levels[-1].width) > min_side:
        levels.append(levels[-1].half())
    return levels


def dzi_max_level(height: int, width: int) -> int:
    """Deep Zoom's highest level index, ceil(log2(max(H, W)))."""
    return math.ceil(math.log2(max(height, width))) if max(height, width) > 1 else 0


def check_tile(geometry: CanvasGeometry, y: Any, x: Any, tile: Any) -> tuple[int, int, np.ndarray]:
    """Validate a tile written at (y, x) and return (y, x, tile as a C-contiguous array).

    A tile covers a whole block of chunks: (y, x) lies on the chunk grid and each side is a
    multiple of ``chunk`` or reaches the canvas edge.

    Raises:
        ValueError: for a position off the grid or outside the canvas, a non-array, a wrong dtype
            or a wrong shape; the message says what was expected.
    """
    c = geometry.chunk
    for name, value in (("y", y), ("x", x)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"tile position {name} must be an integer, got {value!r}")
    y, x = int(y), int(x)
    if y < 0 or x < 0 or y >= geometry.height or x >= geometry.width:
        raise ValueError(
            f"tile position (y={y}, x={x}) is outside the {geometry.height}x{geometry.width} "
            "canvas (height x width)"
        )
    if y % c or x % c:
        raise ValueError(
            f"tile position (y={y}, x={x}) is not on the {c}-pixel chunk grid; tiles must start "
            f"at multiples of chunk={c} (nearest: y={y // c * c}, x={x // c * c})"
        )
    if not isinstance(tile, np.ndarray):
        raise ValueError(
            f"tile must be a numpy.ndarray of dtype uint8 and shape [h, w, 3], got "
            f"{type(tile).__name__} (convert torch tensors with .cpu().numpy())"
        )
    if tile.dtype != np.uint8:
        raise ValueError(
            f"tile dtype must be uint8, got {tile.dtype}; convert with "
            "np.clip(np.rint(t), 0, 255).astype(np.uint8)"
        )
    if tile.ndim != 3 or tile.shape[2] != 3:
        raise ValueError(f"tile must have shape [h, w, 3] (RGB), got {list(tile.shape)}")
    h, w = tile.shape[:2]
    for name, size, start, total in (
        ("height", h, y, geometry.height),
        ("width", w, x, geometry.width),
    ):
        end = start + size
        if size == 0 or end > total or (size % c and end != total):
            expected = min(c, total - start)
            raise ValueError(
                f"tile {name} {size} at {'y' if name == 'height' else 'x'}={start} does not fit "
                f"the chunk grid: it must be a multiple of chunk={c} or end exactly at the canvas "
                f"edge ({total}); a single chunk here is {expected} pixels"
            )
    return y, x, np.ascontiguousarray(tile)


def remove_path(path: Path) -> None:
    """Delete a file or a directory tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def replace_path(src: Path, dst: Path) -> None:
    """Move ``src`` (a file or a directory) to ``dst``, replacing whatever is there.

    A file replaces a file atomically. A directory cannot replace a non-empty directory in one
    step, so an existing ``dst`` is first renamed aside and deleted after the move: ``dst`` is
    missing for an instant but never half-written.
    """
    if os.path.lexists(dst) and (src.is_dir() or dst.is_dir()):
        aside = temp_name(dst, "old")
        os.rename(dst, aside)
        os.rename(src, dst)
        remove_path(aside)
    else:
        os.replace(src, dst)
