"""Stream a described canvas into any output format: :func:`infinitygan.output.write_canvas`."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from infinitygan.applications.description import CanvasDescription
from infinitygan.models import Generator


def write_description(
    G: Generator,
    description: CanvasDescription,
    path: str | os.PathLike[str],
    top: int,
    left: int,
    height: int,
    width: int,
    *,
    chunk: int = 1024,
    metadata: dict[str, Any] | None = None,
    resume: bool = False,
    options: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
    precision: str = "fp32",
    truncation: float = 1.0,
    **render_kwargs: Any,
) -> dict[str, Any]:
    """Render canvas region ``[top, +height) x [left, +width)`` of ``description`` to ``path``.

    :func:`infinitygan.output.write_canvas` of the description: the format follows the
    extension, chunks are rendered one at a time (bounded memory for any size), an interrupted
    write continues with ``resume=True``, and the sidecar holds the one sidecar schema
    (``metadata`` keys are added to it). ``render_kwargs`` are ``max_memory`` and ``tile_batch``.

    Returns:
        The statistics of :func:`infinitygan.streaming.render_to_writer`.
    """
    from infinitygan.output import OutputSpec, write_canvas

    spec = OutputSpec(
        description,
        (top, left, height, width),
        precision=precision,
        truncation=truncation,
        command=str((metadata or {}).get("command", "library")),
    )
    return write_canvas(
        G,
        path,
        spec,
        chunk=chunk,
        options=options,
        resume=resume,
        progress=progress,
        metadata=metadata,
        settings=settings,
        **render_kwargs,
    )
