"""Tiles of the endless canvas: pixel conversion, the zoom pyramid and the tile caches.

Level 0 tile ``(row, col)`` is the 256 x 256 region of canvas pixels starting at
``(row * 256, col * 256)``; rows and columns may be negative. Level ``k`` tile ``(row, col)``
covers ``2**k`` times the side, ``[row * 256 * 2**k, ...)``, and is the 2x2 box filter (rounding
half up, on uint8) of the four level ``k - 1`` tiles it covers. Level 0 tiles are rendered one
by one, or four at a time as one 512-pixel block when a level 1 tile is made from nothing (see
:class:`TileStore`), and deeper levels are composed from cached finer tiles, so every level is a
pure function of the level 0 tiles.

A tile may also be asked for at a smaller size ``256 >> shrink``: tile ``(row, col)`` of level
``k`` and size ``s`` covers ``s * 2**k`` canvas pixels per side and is the level ``k - shrink``
tile ``(row, col)`` box-filtered ``shrink`` more times, i.e. exactly that part of the 256-pixel
level ``k`` tile. Deep levels shown in small tiles need fewer level 0 tiles outside the view.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from torch import Tensor

from infinitygan._files import atomic_write_bytes
from infinitygan.applications.description import CanvasDescription
from infinitygan.imageio import downsample2x, to_uint8
from infinitygan.web.description import COORD_LIMIT, extras_id

logger = logging.getLogger(__name__)

TILE_SIZE = 256
#: Deepest zoom-out level the explorer can serve (level k tiles cover (256 * 2**k)^2 pixels).
LEVEL_LIMIT = 8
#: Most halvings of a tile's size (smallest tile: 256 >> MAX_SHRINK pixels).
MAX_SHRINK = 3
#: Deepest level whose tiles' missing level 0 tiles are counted one by one (4**5 lookups);
#: deeper tiles count as all missing.
COUNT_LEVEL_LIMIT = 5

#: ``render(description, top, left, height, width) -> Tensor [3, height, width]`` in about [-1, 1].
RenderFn = Callable[[CanvasDescription, int, int, int, int], Tensor]


def encode_png(pixels: np.ndarray, compress_level: int = 1) -> bytes:
    """PNG bytes of a uint8 array [H, W, 3] (fast compression by default)."""
    buf = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """uint8 array [H, W, 3] of PNG bytes."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB")).copy()


def tile_index_limit(level: int, shrink: int = 0) -> int:
    """Tiles of ``level`` and size ``256 >> shrink`` have row and column indices in
    ``[-limit, limit)``."""
    return COORD_LIMIT // ((TILE_SIZE >> shrink) << level)


def tile_span(level: int) -> int:
    """Canvas pixels along one side of a tile of ``level``."""
    return TILE_SIZE << level


@dataclass(frozen=True)
class TileKey:
    """Identifies one tile: the canvas (``extras`` digest of anchors/edits, seed) and position."""

    extras: str
    seed: int
    level: int
    row: int
    col: int

    def children(self) -> list[TileKey]:
        """The four tiles of the next finer level that this tile is made from, row-major."""
        if self.level == 0:
            raise ValueError("level 0 tiles have no children")
        return [
            TileKey(self.extras, self.seed, self.level - 1, 2 * self.row + dy, 2 * self.col + dx)
            for dy in (0, 1)
            for dx in (0, 1)
        ]


class MemoryCache:
    """Thread-safe LRU cache bounded by the total size of its values in bytes.

    Values are numpy arrays (size ``nbytes``) or ``bytes``.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, np.ndarray | bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _size(value: np.ndarray | bytes) -> int:
        return value.nbytes if isinstance(value, np.ndarray) else len(value)

    def get(self, key: Hashable) -> np.ndarray | bytes | None:
        """The value of ``key`` (now most recently used), or None."""
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def put(self, key: Hashable, value: np.ndarray | bytes) -> None:
        """Store ``value``; evict least recently used values until the budget holds.

        A value larger than the whole budget is not stored.
        """
        size = self._size(value)
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= self._size(old)
            if size > self.max_bytes:
                return
            self._items[key] = value
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= self._size(evicted)

    @property
    def nbytes(self) -> int:
        """Total bytes held."""
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


class DiskCache:
    """PNG tiles under ``root/<model id>/<extras digest>/s<seed>/l<level>/<row>_<col>.png``.

    Paths are built only from validated integers and hex digests, never from URL text. Files are
    written atomically (:func:`infinitygan._files.atomic_write`). The cache is not size-bounded:
    delete the directory to reclaim the space.
    """

    def __init__(self, root: str | Path, model_id: str) -> None:
        if not model_id.isalnum():
            raise ValueError(f"model_id must be alphanumeric, got {model_id!r}")
        self.root = Path(root)
        self.base = self.root / model_id
        self.base.mkdir(parents=True, exist_ok=True)

    def path(self, key: TileKey) -> Path:
        """File of ``key``."""
        if not key.extras.isalnum():
            raise ValueError(f"bad extras digest {key.extras!r}")
        return (
            self.base
            / key.extras
            / f"s{int(key.seed)}"
            / f"l{int(key.level)}"
            / f"{int(key.row)}_{int(key.col)}.png"
        )

    def get(self, key: TileKey) -> bytes | None:
        """PNG bytes of ``key`` or None."""
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            logger.warning("cannot read cached tile %s: %s", self.path(key), err)
            return None

    def __contains__(self, key: TileKey) -> bool:
        return self.path(key).is_file()

    def put(self, key: TileKey, data: bytes) -> None:
        """Write ``data`` for ``key`` atomically; errors are logged, not raised."""
        path = self.path(key)
        try:
            atomic_write_bytes(path, data)
        except OSError as err:
            logger.warning("cannot write cached tile %s: %s", path, err)


class Cancelled(Exception):
    """Raised inside a tile job when nobody waits for its result any more."""


StopCheck = Callable[[], bool]


def _never() -> bool:
    return False


class TileStore:
    """Makes tiles and image regions of any level, from caches when possible.

    A level 0 tile is rendered alone (one ``render`` call of 256 x 256 pixels, so its pixels are
    exactly those of ``generate_region`` for that tile); a tile of level ``k > 0`` is composed from
    its four level ``k - 1`` tiles, each taken from a cache or made the same way.

    With ``block_render``, a level 1 tile none of whose four level 0 tiles is cached renders them
    in one ``render`` call of 512 x 512 pixels instead, and caches the four quarters as the level
    0 tiles. On CPU that costs less per pixel (the context margin around a block is rendered once,
    not four times), and the pixels agree with four separate renders within float rounding, as
    any two renders of the same canvas pixels do (at most 1/255, and rarely).

    Args:
        render: the rendering function (see :data:`RenderFn`).
        memory: in-memory cache of tile pixels and PNG bytes.
        disk: optional on-disk PNG cache.
        block_render: render level 1 tiles from nothing as one block (see above).
    """

    def __init__(
        self,
        render: RenderFn,
        memory: MemoryCache,
        disk: DiskCache | None = None,
        *,
        block_render: bool = False,
    ) -> None:
        self._render = render
        self.memory = memory
        self.disk = disk
        self.block_render = block_render
        self._lock = threading.Lock()
        self.rendered_pixels = 0  # canvas pixels drawn by the model
        self.tiles_made = 0  # tiles of any level produced (not read from a cache)
        self._recent: deque[tuple[float, int]] = deque()  # (time, pixels) for a rate
        self._durations: deque[float] = deque(maxlen=8)  # recent render seconds per level 0 tile
        self._block_durations: deque[float] = deque(maxlen=8)  # the same, of block renders

    # ----------------------------------------------------------------------------------------
    def cached_png(self, key: TileKey) -> bytes | None:
        """PNG bytes of ``key`` from memory or disk, or None (no rendering)."""
        data = self.memory.get(("png", key))
        if data is not None:
            return data  # type: ignore[return-value]
        if self.disk is not None:
            data = self.disk.get(key)
            if data is not None:
                self.memory.put(("png", key), data)
                return data
        return None

    def png(
        self, description: CanvasDescription, key: TileKey, should_stop: StopCheck = _never
    ) -> bytes:
        """PNG bytes of tile ``key`` of ``description`` (made if not cached)."""
        data = self.cached_png(key)
        if data is not None:
            return data
        pixels = self.pixels(description, key, should_stop)
        data = self.memory.get(("png", key))  # written with the pixels when a disk cache is on
        if data is None:
            data = encode_png(pixels)
            self.memory.put(("png", key), data)
        return data  # type: ignore[return-value]

    def _cached_pixels(self, key: TileKey) -> np.ndarray | None:
        pixels = self.memory.get(("px", key))
        if pixels is not None:
            return pixels  # type: ignore[return-value]
        data = self.cached_png(key)
        if data is None:
            return None
        pixels = decode_png(data)
        self.memory.put(("px", key), pixels)
        return pixels

    def shrunk_png(
        self,
        description: CanvasDescription,
        key: TileKey,
        shrink: int,
        should_stop: StopCheck = _never,
    ) -> bytes:
        """PNG bytes of tile ``key`` box-filtered ``shrink`` more times: the tile of level
        ``key.level + shrink`` and size ``256 >> shrink`` at ``(key.row, key.col)``."""
        if shrink == 0:
            return self.png(description, key, should_stop)
        data = self.memory.get(("png", key, shrink))
        if data is None:
            pixels = self.pixels(description, key, should_stop)
            for _ in range(shrink):
                pixels = downsample2x(pixels)
            data = encode_png(pixels)
            self.memory.put(("png", key, shrink), data)
        return data  # type: ignore[return-value]

    def renders_needed(self, key: TileKey) -> int:
        """Level 0 tiles that making ``key`` would render: those under it not in the memory
        cache (all ``4**level`` of them past :data:`COUNT_LEVEL_LIMIT`; 0 when ``key`` itself
        is cached)."""
        if ("px", key) in self.memory or ("png", key) in self.memory:
            return 0
        if key.level == 0:
            return 1
        if key.level > COUNT_LEVEL_LIMIT:
            return 4**key.level
        return sum(self.renders_needed(child) for child in key.children())

    def seconds_per_tile(self) -> float | None:
        """Median render time per level 0 tile of the recent renders (None before the first)."""
        with self._lock:
            times = sorted(self._durations)
        return times[len(times) // 2] if times else None

    def seconds_per_zoom_tile(self) -> float | None:
        """Median render time per level 0 tile of what zooming out renders: the recent block
        renders with ``block_render`` (after the first), else :meth:`seconds_per_tile`."""
        with self._lock:
            times = sorted(self._block_durations) if self.block_render else []
        return times[len(times) // 2] if times else self.seconds_per_tile()

    def measure(self, description: CanvasDescription) -> float:
        """Time the rendering of ``description`` near the origin (nothing is cached or counted
        as made) and return :meth:`seconds_per_tile`: what zooming out renders (a 512-pixel
        block with ``block_render``, else a 256-pixel tile) twice, timing the second (the first
        pays the one-off costs of that size)."""
        side = 2 * TILE_SIZE if self.block_render else TILE_SIZE
        self._render(description, 0, 0, side, side)
        t0 = time.perf_counter()
        self._render(description, 0, 0, side, side)
        self._record(time.perf_counter() - t0, (side // TILE_SIZE) ** 2)
        return self.seconds_per_tile()  # type: ignore[return-value]

    def _record(self, seconds: float, tiles: int) -> None:
        """Note a render of ``tiles`` level 0 tiles that took ``seconds``."""
        with self._lock:
            self._durations.extend([seconds / tiles] * tiles)
            if tiles > 1:
                self._block_durations.extend([seconds / tiles] * tiles)

    def pixels(
        self, description: CanvasDescription, key: TileKey, should_stop: StopCheck = _never
    ) -> np.ndarray:
        """uint8 pixels [256, 256, 3] of tile ``key`` of ``description``.

        Args:
            should_stop: polled before every model call; when it returns True the work stops
                with :class:`Cancelled` (tiles finished so far stay cached).
        """
        cached = self._cached_pixels(key)
        if cached is not None:
            return cached
        if should_stop():
            raise Cancelled(f"tile {key} is no longer wanted")
        if key.level == 0:
            top, left = key.row * TILE_SIZE, key.col * TILE_SIZE
            t0 = time.perf_counter()
            out = to_uint8(self._render(description, top, left, TILE_SIZE, TILE_SIZE))
            seconds = time.perf_counter() - t0
            logger.debug("rendered tile %s in %.3f s", key, seconds)
            self._record(seconds, 1)
            self._count(TILE_SIZE * TILE_SIZE)
        else:
            children = key.children()
            if key.level == 1 and self.block_render and self.renders_needed(key) == 4:
                self._render_block(description, key, should_stop)
            parts = [self.pixels(description, c, should_stop) for c in children]
            mosaic = np.concatenate(
                [np.concatenate(parts[0:2], axis=1), np.concatenate(parts[2:4], axis=1)], axis=0
            )
            out = downsample2x(mosaic)
            self._count(0)
        self._keep(key, out)
        return out

    def _render_block(
        self, description: CanvasDescription, key: TileKey, should_stop: StopCheck
    ) -> None:
        """Render the four level 0 tiles of level 1 tile ``key`` in one call and cache them."""
        if should_stop():
            raise Cancelled(f"tile {key} is no longer wanted")
        side = 2 * TILE_SIZE
        t0 = time.perf_counter()
        block = to_uint8(self._render(description, key.row * side, key.col * side, side, side))
        self._record(time.perf_counter() - t0, 4)
        for i, child in enumerate(key.children()):
            y, x = (i // 2) * TILE_SIZE, (i % 2) * TILE_SIZE
            self._keep(child, block[y : y + TILE_SIZE, x : x + TILE_SIZE].copy())
            self._count(TILE_SIZE * TILE_SIZE)

    def _keep(self, key: TileKey, pixels: np.ndarray) -> None:
        """Cache the pixels of a tile just made (and its PNG on disk when there is a disk)."""
        self.memory.put(("px", key), pixels)
        if self.disk is not None:  # every tile made, so a restart reuses the finer levels too
            data = encode_png(pixels)
            self.disk.put(key, data)
            self.memory.put(("png", key), data)

    def _count(self, pixels: int) -> None:
        now = time.monotonic()
        with self._lock:
            self.tiles_made += 1
            self.rendered_pixels += pixels
            if pixels:
                self._recent.append((now, pixels))
            while self._recent and self._recent[0][0] < now - 60.0:
                self._recent.popleft()

    def recent_rate(self, window: float = 10.0) -> float:
        """Level 0 tiles (equivalents) rendered per second over the last ``window`` seconds."""
        now = time.monotonic()
        with self._lock:
            pixels = sum(p for t, p in self._recent if t >= now - window)
        return pixels / (TILE_SIZE * TILE_SIZE) / window

    # ----------------------------------------------------------------------------------------
    def region(
        self,
        description: CanvasDescription,
        level: int,
        top: int,
        left: int,
        height: int,
        width: int,
        should_stop: StopCheck = _never,
    ) -> np.ndarray:
        """uint8 pixels [height, width, 3] of a region in level-``level`` pixel coordinates.

        Level 0 is rendered in one call (the canvas pixels); deeper levels are cut from that
        level's tiles, so a download shows exactly what the explorer shows.
        """
        if level == 0:
            if should_stop():
                raise Cancelled("the region is no longer wanted")
            image = to_uint8(self._render(description, top, left, height, width))
            with self._lock:
                self.rendered_pixels += height * width
            return image
        out = np.empty((height, width, 3), dtype=np.uint8)
        r0, r1 = top // TILE_SIZE, (top + height - 1) // TILE_SIZE
        c0, c1 = left // TILE_SIZE, (left + width - 1) // TILE_SIZE
        for row in range(r0, r1 + 1):
            for col in range(c0, c1 + 1):
                key = TileKey(extras_id(description), description.seed, level, row, col)
                tile = self.pixels(description, key, should_stop)
                y0, x0 = row * TILE_SIZE, col * TILE_SIZE
                ya, yb = max(top, y0), min(top + height, y0 + TILE_SIZE)
                xa, xb = max(left, x0), min(left + width, x0 + TILE_SIZE)
                out[ya - top : yb - top, xa - left : xb - left] = tile[
                    ya - y0 : yb - y0, xa - x0 : xb - x0
                ]
        return out
