"""Outpainting: an inverted image placed on a canvas, the rest generated around it.

Outpainting (and inbetweening, :mod:`~infinitygan.applications.inbetween`) build on inversion
(:mod:`~infinitygan.applications.inversion`) and placements
(:class:`~infinitygan.applications.description.Placement`):

* **outpaint**: the image is inverted where it will sit on the canvas (default: centred on the
  horizon, from column 0, like ``generate``), its latents are placed there, and the larger region
  around it is rendered; the inverted style covers the whole canvas, and every seed gives other
  local latents and noise outside the image, hence a different completion. The known pixels are
  pasted back over the reconstruction with a feathered border on the extended sides.
* **inbetween**: two images are inverted at the two ends of a strip and joined by a generated
  panorama; their styles are fused across the gap (each placement is a fusion anchor at its image
  centre; the default blend is the gap width, so the style changes over the whole gap).

Positions never need to be given as fractions: the layout is computed from the image sizes and
the requested extension or width, and every size is accepted (the canvas is addressable by
pixel, so no image has to fit the model's 16-px grid).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from infinitygan.applications.description import CanvasDescription, ModelRef, Placement
from infinitygan.applications.inverted import InvertedLatents, file_sha256

SIDE_NAMES = {"top": "t", "bottom": "b", "left": "l", "right": "r"}


@dataclass(frozen=True)
class Extension:
    """Pixels to add on each side of an image."""

    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0

    def __post_init__(self) -> None:
        for name in SIDE_NAMES:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"extension {name} must be a non-negative integer, got {value!r}")
        if not any(getattr(self, name) for name in SIDE_NAMES):
            raise ValueError(
                "nothing to outpaint: every extension is 0; give at least one side, "
                "e.g. --extend right:512"
            )

    @property
    def sides(self) -> str:
        """Letters of the sides that are extended ("t", "b", "l", "r")."""
        return "".join(letter for name, letter in SIDE_NAMES.items() if getattr(self, name))


def parse_extend(text: str) -> Extension:
    """Parse ``left:256,right:1024[,top:N,bottom:N]``.

    Raises:
        ValueError: naming the bad part and showing the syntax.
    """
    values: dict[str, int] = {}
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ValueError("--extend is empty; write e.g. left:256,right:1024")
    for part in parts:
        m = re.fullmatch(r"([a-zA-Z]+)\s*[:=]\s*(-?\d+)", part)
        if m is None:
            raise ValueError(
                f"{part!r} is not SIDE:PIXELS; write e.g. left:256,right:1024,top:0,bottom:128"
            )
        side, pixels = m.group(1).lower(), int(m.group(2))
        if side not in SIDE_NAMES:
            raise ValueError(
                f"unknown side {side!r} in --extend; sides are top, bottom, left, right"
            )
        if side in values:
            raise ValueError(f"side {side!r} is given twice in --extend")
        if pixels < 0:
            raise ValueError(
                f"extension {side}:{pixels} is negative; to crop, crop the image before outpainting"
            )
        values[side] = pixels
    return Extension(**values)


def default_position(height: int, width: int) -> tuple[int, int]:
    """Canvas (top, left) of an image placed by default: centred on the horizon, from column 0."""
    return -(height // 2), 0


def outpaint_region(
    image_top: int, image_left: int, height: int, width: int, extension: Extension
) -> tuple[int, int, int, int]:
    """Canvas region (top, left, height, width) of the outpainted output."""
    return (
        image_top - extension.top,
        image_left - extension.left,
        height + extension.top + extension.bottom,
        width + extension.left + extension.right,
    )


def placement_for(
    latents_path: str | Path,
    latents: InvertedLatents,
    *,
    paste: bool = True,
    feather: int = 16,
    sides: str = "tblr",
) -> Placement:
    """A placement of a latents file at the position it was inverted at."""
    return Placement(
        latents=str(latents_path),
        sha256=file_sha256(latents_path),
        y=latents.top,
        x=latents.left,
        paste=paste,
        feather=feather,
        feather_sides=sides,
    )


def outpaint_description(
    placement: Placement, seed: int, *, model: ModelRef | None = None
) -> CanvasDescription:
    """The canvas of an outpainting: one placement (its style everywhere), ``seed`` elsewhere."""
    return CanvasDescription(seed=seed, model=model, placements=(placement,))


def relative_placements(description: CanvasDescription, folder: Path) -> CanvasDescription:
    """A copy whose latents paths are relative to ``folder`` where possible (for sidecars)."""
    placements = []
    for p in description.placements:
        path = Path(p.latents)
        try:
            rel = path.resolve().relative_to(folder.resolve())
            placements.append(replace(p, latents=str(rel)))
        except ValueError:
            placements.append(p)
    return replace(description, placements=tuple(placements))
