"""Streaming, resumable, atomic writers for canvases of any size.

``open_canvas_writer(path, height, width, chunk=..., metadata=..., resume=..., options=...)``
returns a :class:`CanvasWriter`; tiles go in with ``write(y, x, tile)`` in any order, and
``close()`` produces the file named by ``path`` (PNG, JPEG, WebP, tiled pyramidal BigTIFF, zarr
or Deep Zoom) atomically. See ``docs/output-formats.md``.
"""

from __future__ import annotations

from infinitygan.imageio import downsample2x
from infinitygan.writers._formats import SUPPORTED_SUFFIXES, check_output_path
from infinitygan.writers._lock import OutputBusyError, lock_output, lock_path
from infinitygan.writers._store import ResumeMismatchError, scratch_path, settings_differences
from infinitygan.writers.writer import CanvasWriter, is_finished, open_canvas_writer, sidecar_path

__all__ = [
    "SUPPORTED_SUFFIXES",
    "CanvasWriter",
    "OutputBusyError",
    "ResumeMismatchError",
    "check_output_path",
    "downsample2x",
    "is_finished",
    "lock_output",
    "lock_path",
    "open_canvas_writer",
    "scratch_path",
    "settings_differences",
    "sidecar_path",
]
