"""Inbetweening: two inverted images joined by a generated panorama with fused styles.

Each image is inverted where it will sit (the two ends of a strip), so its latents fit that
position exactly; each placement is a fusion anchor at its image centre, and the default blend
is the gap width, so the style changes over the whole generated part.
"""

from __future__ import annotations

from dataclasses import dataclass

from infinitygan.applications.description import CanvasDescription, ModelRef, Placement
from infinitygan.applications.outpaint import default_position


@dataclass(frozen=True)
class InbetweenLayout:
    """Where the two images of an inbetweening sit on the canvas.

    Attributes:
        top, left, height, width: the output region.
        left_pos, right_pos: canvas (top, left) of the left and right images.
        gap: generated pixels between the images.
    """

    top: int
    left: int
    height: int
    width: int
    left_pos: tuple[int, int]
    right_pos: tuple[int, int]
    gap: int


def inbetween_layout(
    left_size: tuple[int, int], right_size: tuple[int, int], width: int
) -> InbetweenLayout:
    """Place two images (``(height, width)`` each) at the ends of a ``width``-px strip.

    The strip is as tall as the taller image and centred on the horizon; a shorter image is
    centred vertically (the space above and below it is generated).

    Raises:
        ValueError: if ``width`` leaves no gap between the images.
    """
    (hl, wl), (hr, wr) = left_size, right_size
    if width <= wl + wr:
        raise ValueError(
            f"--width {width} leaves no room between the images ({wl} + {wr} px wide); "
            f"give a width larger than {wl + wr}, e.g. {wl + wr + max(wl, wr)}"
        )
    height = max(hl, hr)
    top, left = default_position(height, width)
    return InbetweenLayout(
        top=top,
        left=left,
        height=height,
        width=width,
        left_pos=(top + (height - hl) // 2, left),
        right_pos=(top + (height - hr) // 2, left + width - wr),
        gap=width - wl - wr,
    )


def inbetween_sides(layout: InbetweenLayout, size: tuple[int, int], which: str) -> str:
    """Feathered sides of one image of an inbetweening: towards the gap, and above / below when
    the image is shorter than the strip."""
    h, _ = size
    pos = layout.left_pos if which == "left" else layout.right_pos
    sides = "r" if which == "left" else "l"
    if pos[0] > layout.top:
        sides += "t"
    if pos[0] + h < layout.top + layout.height:
        sides += "b"
    return sides


def inbetween_description(
    left: Placement,
    right: Placement,
    seed: int,
    *,
    blend: int,
    blend_kernel: str = "box",
    model: ModelRef | None = None,
) -> CanvasDescription:
    """The canvas of an inbetweening: two placements whose styles are fused."""
    return CanvasDescription(
        seed=seed, model=model, placements=(left, right), blend=blend, blend_kernel=blend_kernel
    )
