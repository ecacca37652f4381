"""Scratch chunk stores: where finished chunks live until the target file is built.

Two kinds, same small interface (``has``, ``put``, ``count_done``, ``root``):

* :class:`NpyChunkStore` (every format but .zarr): a directory ``PATH.partial/`` with
  ``manifest.json`` and one ``chunks/<row>_<col>.npy`` per finished chunk. Each chunk is written
  to a temporary name and renamed, so a chunk file exists only when it is complete: the directory
  listing *is* the record of finished chunks, and a kill -9 loses only chunks in flight.
* :class:`ZarrChunkStore` (.zarr): the zarr store itself, created under ``PATH.partial`` and
  renamed to ``PATH`` at close. zarr writes every chunk file through a temporary name as well,
  and empty (all-zero) chunks are written too, so a chunk file exists iff its chunk is done.

Both are created in a temporary sibling directory and renamed into place, so several processes
may race to create the same store: exactly one rename wins, the others attach to it.
"""

from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from infinitygan._files import atomic_write, atomic_write_json, temp_name
from infinitygan.imageio import downsample2x
from infinitygan.writers._common import CanvasGeometry, remove_path

logger = logging.getLogger(__name__)

SCRATCH_KIND = "infinitygan-canvas"
SCRATCH_VERSION = 1


def scratch_path(target: Path) -> Path:
    """The scratch location beside ``target``: ``PATH.partial``."""
    return target.with_name(target.name + ".partial")


def _create_by_rename(root: Path, build: Callable[[Path], None]) -> bool:
    """Build a directory under a temporary name and rename it to ``root``.

    Returns:
        True if this call created ``root``; False if another process had created it first (the
        temporary directory is then discarded).
    """
    tmp = temp_name(root, "creating")
    try:
        build(tmp)
        try:
            os.rename(tmp, root)
        except OSError:
            if root.exists():
                return False
            raise
        return True
    finally:
        if tmp.exists():
            remove_path(tmp)


def _describe(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _flatten(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key.replace('_', ' ')}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, name + " "))
        else:
            flat[name] = value
    return flat


def settings_differences(found: dict[str, Any] | None, wanted: dict[str, Any]) -> list[str]:
    """The settings that differ, each as ``"NAME OLD, not NEW"`` (field by field, sorted).

    Nested dicts are compared key by key (``"region top -32, not -16"``).

    Args:
        found: Settings recorded when the write started (None: none were recorded).
        wanted: Settings of the run that attaches now.
    """
    old_flat, new_flat = _flatten(found or {}), _flatten(wanted)
    diffs = []
    for key in sorted(set(old_flat) | set(new_flat)):
        if old_flat.get(key) != new_flat.get(key):
            old = _describe(old_flat[key]) if key in old_flat else "(not recorded)"
            new = _describe(new_flat[key]) if key in new_flat else "(not given)"
            diffs.append(f"{key} {old}, not {new}")
    return diffs


class ResumeMismatchError(ValueError):
    """A resume whose settings differ from those the unfinished write was started with.

    Attributes:
        differences: One ``"NAME OLD, not NEW"`` string per differing setting.
    """

    def __init__(self, target: Path, scratch: Path, differences: list[str]) -> None:
        self.differences = differences
        super().__init__(
            f"cannot resume {target.name}: it was started with {'; '.join(differences)}. "
            f"Rerun with the same settings, or delete {str(scratch)!r} to start over"
        )


def check_settings(root: Path, target: Path, found: Any, wanted: dict[str, Any] | None) -> None:
    """Refuse to attach to a store whose recorded settings differ from ``wanted``.

    Raises:
        ResumeMismatchError: naming every differing setting.
    """
    if wanted is None:
        return
    diffs = settings_differences(found if isinstance(found, dict) else None, wanted)
    if diffs:
        raise ResumeMismatchError(target, root, diffs)


def _geometry_mismatch(root: Path, found: dict[str, Any], wanted: dict[str, Any]) -> ValueError:
    diffs = ", ".join(
        f"{k}={found.get(k)!r} (now {wanted[k]!r})" for k in wanted if found.get(k) != wanted[k]
    )
    return ValueError(
        f"cannot resume {str(root)!r}: it was started with different settings: {diffs}. "
        "Resume with the same size, chunk and options, or delete it to start over"
    )


class NpyChunkStore:
    """Finished chunks as ``.npy`` files in a scratch directory (see the module docstring).

    Args:
        root: The scratch directory ``PATH.partial``.
        geometry: Canvas geometry.
    """

    def __init__(self, root: Path, geometry: CanvasGeometry) -> None:
        self.root = root
        self.geometry = geometry

    # -- creation ---------------------------------------------------------------------------

    @classmethod
    def open(cls, root: Path, geometry: CanvasGeometry, manifest: dict[str, Any]) -> NpyChunkStore:
        """Create the store, or attach to an existing one after checking its geometry.

        When ``manifest`` has a ``"settings"`` dict (everything that determines the pixels and
        the file), an existing store must have been started with equal settings.

        Raises:
            ValueError: when an existing store has another geometry, or is not a scratch store.
            ResumeMismatchError: when its recorded settings differ.
        """

        def build(tmp: Path) -> None:
            (tmp / "chunks").mkdir(parents=True)
            atomic_write_json(tmp / "manifest.json", manifest)

        if not root.exists() and _create_by_rename(root, build):
            logger.info("created scratch store %s", root)
            return cls(root, geometry)
        found = cls.read_manifest(root)
        wanted = geometry.as_dict()
        if any(found.get(k) != v for k, v in wanted.items()):
            raise _geometry_mismatch(root, found, wanted)
        if "settings" in manifest:
            target = root.with_name(manifest.get("target", root.name))
            check_settings(root, target, found.get("settings"), manifest["settings"])
        logger.info("attached to scratch store %s", root)
        return cls(root, geometry)

    @classmethod
    def peek(cls, root: Path, geometry: CanvasGeometry) -> NpyChunkStore:
        """Attach to an existing store without checking its geometry (to count chunks).

        Raises:
            ValueError: if ``root`` is not a scratch store.
        """
        found = cls.read_manifest(root)
        if any(found.get(k) != v for k, v in geometry.as_dict().items()):
            raise _geometry_mismatch(root, found, geometry.as_dict())
        return cls(root, geometry)

    @staticmethod
    def read_manifest(root: Path) -> dict[str, Any]:
        """Read ``manifest.json`` of a scratch store.

        Raises:
            ValueError: if it is missing or not one of ours.
        """
        try:
            manifest = json.loads((root / "manifest.json").read_text())
        except (OSError, ValueError) as err:
            raise ValueError(
                f"{str(root)!r} exists but is not a readable infinitygan scratch store "
                f"({err}); delete it to start over"
            ) from err
        if not isinstance(manifest, dict) or manifest.get("kind") != SCRATCH_KIND:
            raise ValueError(
                f"{str(root)!r} exists but is not an infinitygan scratch store; delete it"
            )
        return manifest

    # -- chunks -----------------------------------------------------------------------------

    def chunk_path(self, cy: int, cx: int, level: int = 0) -> Path:
        """File of chunk (cy, cx); level 0 is the canvas, level k > 0 its 2^k downsample."""
        folder = self.root / "chunks" if level == 0 else self.root / "levels" / str(level)
        return folder / f"{cy}_{cx}.npy"

    def has(self, cy: int, cx: int) -> bool:
        """Whether chunk (cy, cx) of the canvas is finished."""
        return self.chunk_path(cy, cx).exists()

    def count_done(self) -> int:
        """Number of finished canvas chunks."""
        return sum(1 for cy, cx in self.geometry.chunk_indices() if self.has(cy, cx))

    def put(self, cy: int, cx: int, data: np.ndarray, level: int = 0) -> None:
        """Store one chunk atomically (temporary name, then rename).

        Args:
            cy: Chunk row.
            cx: Chunk column.
            data: uint8 [h, w, 3], exactly the chunk's shape.
            level: Pyramid level (0 = canvas).
        """
        atomic_write(self.chunk_path(cy, cx, level), lambda tmp: _save_npy(tmp, data))

    def get(self, cy: int, cx: int, level: int = 0) -> np.ndarray:
        """Load chunk (cy, cx) of ``level`` as uint8 [h, w, 3]."""
        return np.load(self.chunk_path(cy, cx, level), allow_pickle=False)

    def iter_chunks(self, geometry: CanvasGeometry, level: int = 0) -> Iterator[np.ndarray]:
        """Yield the chunks of ``level`` in row-major order, one at a time."""
        for cy, cx in geometry.chunk_indices():
            yield self.get(cy, cx, level)

    # -- pyramid ----------------------------------------------------------------------------

    def build_pyramid(self, levels: list[CanvasGeometry]) -> None:
        """Write levels 1.. of a 2x box-filter pyramid, chunk by chunk (bounded memory).

        Level k chunk (cy, cx) is :func:`downsample2x` of the 2x2 block of level k-1 chunks
        (2cy..2cy+1, 2cx..2cx+1); with an even chunk this equals downsampling the whole level.

        Args:
            levels: Geometries from :func:`pyramid_geometries`; ``levels[0]`` is the canvas.
        """
        remove_path(self.root / "levels")
        for k in range(1, len(levels)):
            (self.root / "levels" / str(k)).mkdir(parents=True)
            src = levels[k - 1]
            for cy, cx in levels[k].chunk_indices():
                rows = [r for r in (2 * cy, 2 * cy + 1) if r < src.rows]
                cols = [c for c in (2 * cx, 2 * cx + 1) if c < src.cols]
                block = np.concatenate(
                    [np.concatenate([self.get(r, c, k - 1) for c in cols], axis=1) for r in rows],
                    axis=0,
                )
                small = downsample2x(block)
                assert small.shape == levels[k].chunk_shape(cy, cx), (small.shape, k, cy, cx)
                self.put(cy, cx, small, level=k)

    def region_reader(
        self, geometry: CanvasGeometry, level: int, cache_chunks: int = 16
    ) -> Callable[[int, int, int, int], np.ndarray]:
        """A function reading pixel regions of one level, with a small LRU cache of chunks.

        Args:
            geometry: Geometry of that level.
            level: Pyramid level.
            cache_chunks: How many decoded chunks to keep (memory stays bounded by this).

        Returns:
            ``read(y0, y1, x0, x1) -> uint8 [y1 - y0, x1 - x0, 3]``.
        """
        cache: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        c = geometry.chunk

        def chunk(cy: int, cx: int) -> np.ndarray:
            key = (cy, cx)
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
            data = self.get(cy, cx, level)
            cache[key] = data
            if len(cache) > cache_chunks:
                cache.popitem(last=False)
            return data

        def read(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
            out = np.empty((y1 - y0, x1 - x0, 3), dtype=np.uint8)
            for cy in range(y0 // c, (y1 - 1) // c + 1):
                for cx in range(x0 // c, (x1 - 1) // c + 1):
                    ay0, ax0 = max(y0, cy * c), max(x0, cx * c)
                    ay1, ax1 = min(y1, (cy + 1) * c), min(x1, (cx + 1) * c)
                    data = chunk(cy, cx)
                    out[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0] = data[
                        ay0 - cy * c : ay1 - cy * c, ax0 - cx * c : ax1 - cx * c
                    ]
            return out

        return read

    def remove(self) -> None:
        """Delete the whole scratch directory."""
        remove_path(self.root)


class ZarrChunkStore:
    """A zarr array [H, W, 3] uint8 chunked (chunk, chunk, 3); the scratch *is* the output.

    Uses the zarr v3 format when zarr>=3 is installed, v2 otherwise. Attributes hold
    ``{"canvas": {...geometry and options...}, "metadata": {...}}``.

    Args:
        root: Store directory.
        geometry: Canvas geometry.
        array: The opened zarr array (writes of all-zero chunks enabled).
    """

    def __init__(self, root: Path, geometry: CanvasGeometry, array: Any) -> None:
        self.root = root
        self.geometry = geometry
        self._array = array

    @staticmethod
    def _zarr() -> Any:
        import zarr

        return zarr

    @classmethod
    def is_v3(cls) -> bool:
        """Whether the installed zarr writes format v3."""
        return int(cls._zarr().__version__.split(".")[0]) >= 3

    @classmethod
    def _create(
        cls, where: Path, geometry: CanvasGeometry, options: dict[str, Any], attrs: dict[str, Any]
    ) -> None:
        zarr = cls._zarr()
        shape = (geometry.height, geometry.width, 3)
        chunks = (geometry.chunk, geometry.chunk, 3)
        if cls.is_v3():
            compressors = (
                [zarr.codecs.ZstdCodec(level=options["level"])]
                if options["compression"] == "zstd"
                else None
            )
            array = zarr.create_array(
                store=str(where),
                shape=shape,
                chunks=chunks,
                dtype="uint8",
                fill_value=0,
                compressors=compressors,
                zarr_format=3,
            )
        else:
            import numcodecs

            compressor = (
                numcodecs.Zstd(level=options["level"]) if options["compression"] == "zstd" else None
            )
            array = zarr.open_array(
                str(where),
                mode="w-",
                shape=shape,
                chunks=chunks,
                dtype="uint8",
                fill_value=0,
                compressor=compressor,
            )
        array.attrs.put(attrs)

    @classmethod
    def _open_array(cls, root: Path) -> Any:
        zarr = cls._zarr()
        if cls.is_v3():
            return zarr.open_array(str(root), mode="r+").with_config({"write_empty_chunks": True})
        return zarr.open_array(str(root), mode="r+", write_empty_chunks=True)

    @classmethod
    def open(
        cls,
        root: Path,
        geometry: CanvasGeometry,
        options: dict[str, Any],
        attrs: dict[str, Any],
    ) -> ZarrChunkStore:
        """Create the store (race-safe), or attach to an existing one after checking it.

        ``attrs["settings"]``, when present, is recorded and compared as in
        :meth:`NpyChunkStore.open`.

        Raises:
            ValueError: when an existing store has another geometry or other options.
            ResumeMismatchError: when its recorded settings differ.
        """
        if not root.exists() and _create_by_rename(
            root, lambda tmp: cls._create(tmp, geometry, options, attrs)
        ):
            logger.info("created zarr store %s", root)
        else:
            existing = cls.read_attrs(root)
            found = existing["canvas"]
            wanted = attrs["canvas"]
            keys = ("height", "width", "chunk", "options")
            if any(found.get(k) != wanted[k] for k in keys):
                raise _geometry_mismatch(root, found, {k: wanted[k] for k in keys})
            if "settings" in attrs:
                target = root.with_name(root.name.removesuffix(".partial"))
                check_settings(root, target, existing.get("settings"), attrs["settings"])
            logger.info("attached to zarr store %s", root)
        return cls(root, geometry, cls._open_array(root))

    @classmethod
    def peek(cls, root: Path, geometry: CanvasGeometry) -> ZarrChunkStore:
        """Open an existing store read-only (to count chunks).

        Raises:
            ValueError: if ``root`` is not a canvas store of this geometry.
        """
        found = cls.read_canvas_attrs(root)
        if any(found.get(k) != v for k, v in geometry.as_dict().items()):
            raise _geometry_mismatch(root, found, geometry.as_dict())
        return cls(root, geometry, cls._zarr().open_array(str(root), mode="r"))

    @classmethod
    def read_canvas_attrs(cls, root: Path) -> dict[str, Any]:
        """The ``canvas`` attribute of an existing store.

        Raises:
            ValueError: if ``root`` is not a zarr array written by these writers.
        """
        return cls.read_attrs(root)["canvas"]

    @classmethod
    def read_attrs(cls, root: Path) -> dict[str, Any]:
        """All attributes of an existing store, whose ``canvas`` attribute is checked.

        Raises:
            ValueError: if ``root`` is not a zarr array written by these writers.
        """
        try:
            array = cls._zarr().open_array(str(root), mode="r")
            attrs = dict(array.attrs)
            canvas = attrs.get("canvas")
        except Exception as err:  # zarr raises several kinds for a broken store
            raise ValueError(
                f"{str(root)!r} exists but is not a readable zarr canvas store ({err}); "
                "delete it to start over"
            ) from err
        if not isinstance(canvas, dict) or canvas.get("kind") != SCRATCH_KIND:
            raise ValueError(
                f"{str(root)!r} is not a zarr canvas written by infinitygan; delete it"
            )
        return attrs

    def _chunk_file(self, cy: int, cx: int) -> Path:
        if self.is_v3():
            key = self._array.metadata.encode_chunk_key((cy, cx, 0))
        else:
            key = f"{cy}.{cx}.0"
        return self.root / key

    def has(self, cy: int, cx: int) -> bool:
        """Whether chunk (cy, cx) has been written (its chunk file exists)."""
        return self._chunk_file(cy, cx).exists()

    def count_done(self) -> int:
        """Number of finished chunks."""
        return sum(1 for cy, cx in self.geometry.chunk_indices() if self.has(cy, cx))

    def put(self, cy: int, cx: int, data: np.ndarray) -> None:
        """Write chunk (cy, cx) (zarr writes it through a temporary file)."""
        y0, y1, x0, x1 = self.geometry.chunk_bounds(cy, cx)
        self._array[y0:y1, x0:x1] = data

    def set_attrs(self, attrs: dict[str, Any]) -> None:
        """Replace the store attributes."""
        self._array.attrs.put(attrs)


def _save_npy(path: Path, data: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, data, allow_pickle=False)
