"""The canvas writer: tiles in (any order, any process), one finished file out.

Life of a write (``PATH`` is the target):

1. ``open_canvas_writer`` checks the path (:func:`check_output_path`) and creates the scratch
   store ``PATH.partial`` beside the target, or attaches to it with ``resume=True``.
2. ``write(y, x, tile)`` stores every chunk of the tile atomically in the scratch store; ``done``
   tells which chunks are already there (after a resume, or written by another process).
3. ``close()`` checks that every chunk is there, builds the target from the scratch store under a
   temporary name, renames it to ``PATH``, writes the sidecar ``PATH.json`` the same way and only
   then deletes the scratch store. A crash at any point of this is recovered by opening again
   with ``resume=True`` and closing.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from infinitygan._files import atomic_write_json
from infinitygan.writers._common import (
    CanvasGeometry,
    check_tile,
    replace_path,
    validate_geometry,
)
from infinitygan.writers._finalize import write_dzi, write_pillow, write_tiff
from infinitygan.writers._formats import (
    IN_MEMORY_FORMATS,
    check_output_path,
    format_of,
    normalize_options,
)
from infinitygan.writers._store import (
    SCRATCH_KIND,
    SCRATCH_VERSION,
    NpyChunkStore,
    ZarrChunkStore,
    check_settings,
    scratch_path,
)

logger = logging.getLogger(__name__)


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """The JSON sidecar of an output: ``PATH + ".json"``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


class CanvasWriter:
    """Writes a ``height`` x ``width`` RGB canvas tile by tile; see :func:`open_canvas_writer`.

    Attributes:
        path: Target path.
        format: "png", "jpeg", "webp", "tiff", "zarr" or "dzi".
        geometry: Canvas size and chunk grid.
        options: Normalised format options.
        metadata: User metadata written to the sidecar (and TIFF description / zarr attributes).
        scratch: The scratch store location ``PATH.partial``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        height: int,
        width: int,
        *,
        chunk: int = 512,
        metadata: dict[str, Any],
        resume: bool = False,
        options: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.path = Path(path)
        self.format = format_of(self.path)
        self.geometry: CanvasGeometry = validate_geometry(height, width, chunk)
        self.options = normalize_options(self.format, options)
        self.metadata = _checked_metadata(metadata)
        self.settings = None if settings is None else _checked_metadata(settings, "settings")
        self.scratch = scratch_path(self.path)
        exists = os.path.lexists(self.scratch)
        # A resumed write needs only the space its missing chunks take (credited in the check).
        check_output_path(self.path, height, width, options=self.options)
        if exists and not resume:
            raise ValueError(self._stale_message())
        self._store: NpyChunkStore | ZarrChunkStore
        if self.format == "zarr":
            self._store = ZarrChunkStore.open(
                self.scratch, self.geometry, self.options, self._zarr_attrs()
            )
        else:
            self._store = NpyChunkStore.open(self.scratch, self.geometry, self._manifest())
        self._closed = False
        if exists:
            logger.info(
                "resuming %s: %d of %d chunks already done",
                self.path,
                self._store.count_done(),
                self.geometry.num_chunks,
            )

    # -- descriptions -----------------------------------------------------------------------

    def _manifest(self) -> dict[str, Any]:
        manifest = {
            "kind": SCRATCH_KIND,
            "version": SCRATCH_VERSION,
            "target": self.path.name,
            **self.geometry.as_dict(),
        }
        if self.settings is not None:
            manifest["settings"] = self._resume_settings()
        return manifest

    def _resume_settings(self) -> dict[str, Any]:
        # What a resume must match besides the geometry: the caller's settings and the format
        # options (a zarr store compares its options separately, as before).
        assert self.settings is not None
        return {**self.settings, "format_options": self.options}

    def _canvas_details(self) -> dict[str, Any]:
        # No file name in here: a renamed output stays byte-identical.
        return {
            "kind": SCRATCH_KIND,
            "version": SCRATCH_VERSION,
            **self.geometry.as_dict(),
            "format": self.format,
            "options": self.options,
        }

    def _zarr_attrs(self) -> dict[str, Any]:
        attrs = {"canvas": self._canvas_details(), "metadata": self.metadata}
        if self.settings is not None:
            attrs["settings"] = self._resume_settings()
        return attrs

    def _stale_message(self) -> str:
        try:
            store: NpyChunkStore | ZarrChunkStore
            if self.format == "zarr":
                store = ZarrChunkStore.peek(self.scratch, self.geometry)
            else:
                store = NpyChunkStore.peek(self.scratch, self.geometry)
            progress = f" ({store.count_done()} of {self.geometry.num_chunks} chunks done)"
        except ValueError:
            progress = ""
        return (
            f"found {str(self.scratch)!r}, an unfinished write of {self.path.name} left by an "
            f"earlier run{progress}; continue it with --resume (resume=True from Python), or "
            "delete it to start over"
        )

    # -- writing ----------------------------------------------------------------------------

    @property
    def num_chunks(self) -> int:
        """Number of chunks in the canvas."""
        return self.geometry.num_chunks

    def chunk_positions(self) -> Iterator[tuple[int, int]]:
        """Yield the top-left (y, x) of every chunk, row-major."""
        c = self.geometry.chunk
        for cy, cx in self.geometry.chunk_indices():
            yield cy * c, cx * c

    def _chunk_index(self, y: Any, x: Any) -> tuple[int, int]:
        g = self.geometry
        for name, value in (("y", y), ("x", x)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"chunk position {name} must be an integer, got {value!r}")
        if not (0 <= y < g.height and 0 <= x < g.width) or y % g.chunk or x % g.chunk:
            raise ValueError(
                f"(y={y}, x={x}) is not the top-left of a chunk: positions are multiples of "
                f"chunk={g.chunk} inside the {g.height}x{g.width} canvas"
            )
        return int(y) // g.chunk, int(x) // g.chunk

    def done(self, y: int, x: int) -> bool:
        """Whether the chunk whose top-left is (y, x) is already written.

        Args:
            y: Row of the chunk's top-left pixel (a multiple of chunk).
            x: Column of the chunk's top-left pixel (a multiple of chunk).
        """
        cy, cx = self._chunk_index(y, x)
        return self._store.has(cy, cx)

    def missing_chunks(self) -> list[tuple[int, int]]:
        """Top-left (y, x) of every chunk not written yet, row-major."""
        c = self.geometry.chunk
        return [
            (cy * c, cx * c)
            for cy, cx in self.geometry.chunk_indices()
            if not self._store.has(cy, cx)
        ]

    def write(self, y: int, x: int, tile: np.ndarray) -> None:
        """Store a tile whose top-left is (y, x).

        The tile covers one chunk or a whole block of chunks: (y, x) is on the chunk grid, and
        each side is a multiple of ``chunk`` or ends at the canvas edge. Every chunk is stored
        atomically, so an interrupted call leaves each chunk either done or not done. Writing a
        chunk again replaces it.

        Args:
            y: Row of the top-left pixel.
            x: Column of the top-left pixel.
            tile: uint8 [h, w, 3].

        Raises:
            ValueError: for a closed writer, a position off the grid, a wrong shape or dtype.
        """
        if self._closed:
            raise ValueError(f"the writer for {self.path} is closed")
        y, x, tile = check_tile(self.geometry, y, x, tile)
        c = self.geometry.chunk
        for ty in range(0, tile.shape[0], c):
            for tx in range(0, tile.shape[1], c):
                self._store.put((y + ty) // c, (x + tx) // c, tile[ty : ty + c, tx : tx + c])

    # -- finishing --------------------------------------------------------------------------

    def close(self, finalize: bool = True) -> None:
        """Finish the write.

        With ``finalize=True`` (the default) every chunk must be written: the target is built
        from the scratch store, renamed into place, the sidecar written, and the scratch deleted.
        With ``finalize=False`` the writer only detaches and keeps the scratch store (used by the
        processes of a distributed write that do not finalise, and on errors).

        Raises:
            ValueError: if chunks are missing; the scratch store is kept and the writer stays
                open, so the missing chunks can still be written.
        """
        if self._closed:
            return
        if not finalize:
            self._closed = True
            logger.info("detached from %s (kept for resume)", self.scratch)
            return
        missing = self.missing_chunks()
        if missing:
            y, x = missing[0]
            raise ValueError(
                f"cannot finalise {self.path}: {len(missing)} of {self.num_chunks} chunks were "
                f"never written (first at y={y}, x={x}). The finished chunks are kept in "
                f"{self.scratch}; write the missing ones (continue with --resume) and close again"
            )
        details = self._canvas_details()
        del details["kind"], details["version"]
        if self.format == "zarr":
            assert isinstance(self._store, ZarrChunkStore)
            self._store.set_attrs({"canvas": self._canvas_details(), "metadata": self.metadata})
            replace_path(self.scratch, self.path)
        else:
            assert isinstance(self._store, NpyChunkStore)
            if self.format in IN_MEMORY_FORMATS:
                details.update(write_pillow(self._store, self.path, self.format, self.options))
            elif self.format == "tiff":
                description = {"infinitygan": {"canvas": details, "metadata": self.metadata}}
                details.update(write_tiff(self._store, self.path, self.options, description))
            else:
                details.update(write_dzi(self._store, self.path, self.options))
        sidecar = {"canvas": details, "metadata": self.metadata}
        if self.settings is not None:
            sidecar["settings"] = self._resume_settings()
        atomic_write_json(sidecar_path(self.path), sidecar)
        if isinstance(self._store, NpyChunkStore):
            self._store.remove()
        self._closed = True
        logger.info("wrote %s (%dx%d)", self.path, self.geometry.width, self.geometry.height)

    def __enter__(self) -> CanvasWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.close(finalize=False)
            logger.warning(
                "write of %s interrupted by %s; finished chunks kept in %s (continue them with "
                "--resume)",
                self.path,
                exc_type.__name__,
                self.scratch,
            )

    def __repr__(self) -> str:
        g = self.geometry
        return (
            f"CanvasWriter({str(self.path)!r}, {g.height}x{g.width}, chunk={g.chunk}, "
            f"format={self.format!r}, closed={self._closed})"
        )


def is_finished(
    path: str | os.PathLike[str],
    settings: dict[str, Any],
    options: dict[str, Any] | None = None,
) -> bool:
    """Whether ``path`` is a finished output of a write with these settings (so a resumed run
    may keep it), or False when it still has to be written (missing, or ``PATH.partial`` left).

    Args:
        path: Target path.
        settings: The settings the write would be opened with (see :func:`open_canvas_writer`).
        options: Its format options (defaults filled in).

    Raises:
        ResumeMismatchError: the finished file was written with other settings.
        ValueError: the file exists but its sidecar records no settings (not written by such a
            run, or by an older version), so it cannot be kept safely.
    """
    path = Path(path)
    if not os.path.lexists(path) or os.path.lexists(scratch_path(path)):
        return False
    wanted = {
        **_checked_metadata(settings, "settings"),
        "format_options": normalize_options(format_of(path), options),
    }
    try:
        found = json.loads(sidecar_path(path).read_text()).get("settings")
    except (OSError, ValueError, AttributeError):
        found = None
    if not isinstance(found, dict):
        raise ValueError(
            f"{path} already exists and its sidecar {sidecar_path(path).name} does not record "
            "the settings it was made with, so a resumed run cannot keep it; move it away, or "
            "overwrite it (CLI: --force)"
        )
    check_settings(path, path, found, wanted)
    return True


def _checked_metadata(metadata: Any, what: str = "metadata") -> dict[str, Any]:
    if not isinstance(metadata, dict):
        raise ValueError(f"{what} must be a dict, got {type(metadata).__name__}")
    try:
        return json.loads(json.dumps(metadata))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what} must be JSON-serialisable: {err}") from err


def open_canvas_writer(
    path: str | os.PathLike[str],
    height: int,
    width: int,
    *,
    chunk: int = 512,
    metadata: dict[str, Any],
    resume: bool = False,
    options: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> CanvasWriter:
    """Open a writer for a ``height`` x ``width`` RGB canvas; the format follows the extension.

    Args:
        path: Target path (.png, .jpg/.jpeg, .webp, .tif/.tiff, .zarr or .dzi).
        height: Canvas height in pixels.
        width: Canvas width in pixels.
        chunk: Chunk grid (a multiple of 16); tiles are aligned to it except at the edges.
        metadata: JSON-serialisable dict for the sidecar ``PATH.json``.
        resume: Continue an interrupted write (finished chunks are kept); also how further
            processes attach to a write another process created.
        options: Format options, see ``docs/output-formats.md``.
        settings: Everything else that determines the pixels (model hash, seeds, region,
            precision, ...), a flat JSON-serialisable dict. It is recorded in the scratch store
            with the format options, and a resume whose settings or options differ is refused
            with a :class:`ResumeMismatchError` naming each difference. None: not checked.

    Returns:
        The writer (also a context manager: a clean exit finalises, an exception keeps the
        scratch store for ``resume=True``).

    Raises:
        ValueError: for any problem found before work starts (see :func:`check_output_path`),
            bad options, or a leftover ``PATH.partial`` without ``resume=True``.
        ResumeMismatchError: (a ValueError) when resuming with other ``settings`` or options.

    Example:
        >>> with open_canvas_writer("out.tif", 4096, 16384, metadata={"seed": 3}) as w:
        ...     for y, x in w.chunk_positions():
        ...         if not w.done(y, x):
        ...             w.write(y, x, make_tile(y, x))
    """
    return CanvasWriter(
        path,
        height,
        width,
        chunk=chunk,
        metadata=metadata,
        resume=resume,
        options=options,
        settings=settings,
    )
