"""Stream a described canvas into any output format with the plain-generation chunk loop."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch

from infinitygan.applications.description import CanvasDescription
from infinitygan.applications.fusion import description_renderer
from infinitygan.models import Generator
from infinitygan.streaming import render_to_writer


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
    **render_kwargs: Any,
) -> dict[str, Any]:
    """Render canvas region ``[top, +height) x [left, +width)`` of ``description`` to ``path``.

    The format follows the extension (PNG, JPEG, WebP, TIFF, zarr, DZI: see
    :func:`infinitygan.writers.open_canvas_writer`); chunks are rendered with
    :func:`~infinitygan.applications.scene.render_region` one at a time, so memory stays bounded
    for any size, and an interrupted write continues with ``resume=True``. The description is
    stored in the sidecar metadata under ``"description"`` (with its ``random_version``, also
    recorded at the top of the metadata). ``settings`` (what determines the pixels) is recorded
    for a resume to be checked against, see :func:`infinitygan.writers.open_canvas_writer`.

    Returns:
        The statistics of :func:`infinitygan.streaming.render_to_writer`.
    """
    from infinitygan.writers import open_canvas_writer

    meta = dict(metadata or {})
    meta.setdefault("random_version", description.random_version)
    meta.setdefault("description", description.to_dict())
    meta.setdefault("region", {"top": top, "left": left, "height": height, "width": width})
    writer = open_canvas_writer(
        path,
        height,
        width,
        chunk=chunk,
        metadata=meta,
        resume=resume,
        options=options,
        settings=settings,
    )
    render = description_renderer(G, description, **render_kwargs)
    with torch.no_grad():
        try:
            stats = render_to_writer(
                render, writer, top, left, height, width, chunk=chunk, progress=progress
            )
        except BaseException:
            writer.close(finalize=False)
            raise
    writer.close()
    return stats
