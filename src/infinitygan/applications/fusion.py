"""Spatial style fusion (paper §3.4): several global latents anchored over a canvas.

:func:`fusion_description` turns seeds and a layout into a :class:`CanvasDescription` whose anchors
sit at canvas pixels; :func:`description_renderer` gives the region renderer that the streaming
writer loop (:func:`infinitygan.streaming.render_to_writer`) calls chunk by chunk, exactly as for
plain generation. The fusion itself (weights, exact spatial modulation) lives in
:mod:`infinitygan.applications.weights`, :mod:`~infinitygan.applications.fused` and
:mod:`~infinitygan.applications.scene`.

Layouts (positions relative to the output image's top-left pixel):

* ``horizontal``: anchors evenly spaced along the middle row (centres of equal columns);
* ``vertical``: evenly spaced along the middle column;
* ``grid``: a near-square grid of cells, row by row (a short last row is spread evenly);
* ``points:Y,X;Y,X;...``: explicit pixel positions, one per seed (may lie outside the image);
  each point is a bare ``Y,X`` (row first) or the explicit ``x=X,y=Y``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor

from infinitygan.applications.description import (
    Anchor,
    CanvasDescription,
    ModelRef,
)
from infinitygan.applications.scene import render_region
from infinitygan.models import Generator
from infinitygan.spatial import parse_position

LAYOUTS = ("horizontal", "vertical", "grid", "points:Y,X;Y,X;...")


def layout_points(layout: str, count: int, height: int, width: int) -> list[tuple[int, int]]:
    """Anchor positions (y, x) relative to the image's top-left pixel.

    Args:
        layout: "horizontal", "vertical", "grid" or "points:Y,X;Y,X;...".
        count: number of anchors (seeds).
        height, width: output image size.

    Raises:
        ValueError: unknown layout, malformed points, or a number of points that differs from
            ``count``.
    """
    if count < 1:
        raise ValueError("fusion needs at least one seed")
    text = layout.strip()
    if text == "horizontal":
        return [(height // 2, int((i + 0.5) * width / count)) for i in range(count)]
    if text == "vertical":
        return [(int((i + 0.5) * height / count), width // 2) for i in range(count)]
    if text == "grid":
        cols = math.ceil(math.sqrt(count * width / height)) if height > 0 else count
        cols = max(1, min(cols, count))
        rows = math.ceil(count / cols)
        points = []
        for r in range(rows):
            in_row = min(cols, count - r * cols)
            y = int((r + 0.5) * height / rows)
            points.extend((y, int((c + 0.5) * width / in_row)) for c in range(in_row))
        return points
    if text.startswith("points:"):
        body = text[len("points:") :]
        points = []
        for part in body.split(";"):
            part = part.strip()
            if not part:
                continue
            try:
                points.append(parse_position(part))
            except ValueError as err:
                if "off the canvas" in str(err):
                    raise ValueError(f"layout point {err}") from None
                raise ValueError(
                    f"layout point {part!r} is not Y,X (row first) or x=X,y=Y; write e.g. "
                    "points:256,128;256,896 or points:x=128,y=256;x=896,y=256"
                ) from None
        if len(points) != count:
            raise ValueError(
                f"the layout gives {len(points)} point(s) but there are {count} seed(s); "
                "give one Y,X point per seed"
            )
        return points
    raise ValueError(
        f"unknown layout {layout!r}; use horizontal, vertical, grid or points:Y,X;Y,X;..."
    )


def default_blend(points: Sequence[tuple[int, int]]) -> int:
    """Half the distance between the two closest anchors (0 for a single anchor)."""
    best = math.inf
    for i, (y0, x0) in enumerate(points):
        for y1, x1 in points[i + 1 :]:
            best = min(best, math.hypot(y1 - y0, x1 - x0))
    return 0 if math.isinf(best) else max(1, int(best // 2))


def fusion_description(
    seeds: Sequence[int],
    height: int,
    width: int,
    *,
    top: int,
    left: int,
    layout: str = "horizontal",
    blend: int | None = None,
    blend_kernel: str = "box",
    model: ModelRef | None = None,
    wrap: bool = False,
) -> CanvasDescription:
    """The description of a fused canvas: one anchor per seed, local latents from ``seeds[0]``.

    Args:
        seeds: global-latent seeds, one per anchor; the first also gives local latents and noise,
            so ``fusion_description([7], ...)`` renders exactly as plain generation of seed 7.
        height, width: output image size (used to place the anchors).
        top, left: canvas pixel of the image's top-left.
        layout: see :func:`layout_points`.
        blend: blur width in pixels (default :func:`default_blend`).
        blend_kernel: "box" or "gaussian".
        model: reference recorded in the description.
        wrap: horizontally periodic canvas.
    """
    seeds = list(seeds)
    points = layout_points(layout, len(seeds), height, width)
    if blend is None:
        blend = default_blend(points)
    anchors = tuple(Anchor(top + y, left + x, s) for (y, x), s in zip(points, seeds))
    return CanvasDescription(
        seed=seeds[0],
        model=model,
        anchors=anchors,
        blend=blend,
        blend_kernel=blend_kernel,
        wrap=wrap,
    )


def description_renderer(G: Generator, description: CanvasDescription, **kwargs):  # noqa: ANN201
    """A region renderer ``(top, left, height, width) -> Tensor [3, H, W]`` of a description,
    for :func:`infinitygan.streaming.render_to_writer` (keyword arguments go to
    :func:`render_region`)."""

    def render(top: int, left: int, height: int, width: int) -> Tensor:
        return render_region(G, description, top, left, height, width, **kwargs)

    return render
