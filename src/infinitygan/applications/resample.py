"""Regional resampling: redraw local latents, noise or style inside a box of the canvas.

:func:`resample_region` only appends an :class:`~infinitygan.applications.description.Edit` to a
description, so the edited canvas stays exact and reproducible from the description alone.
:func:`affected_box` says which canvas pixels an edit can change: the box grown by the receptive
field of what was redrawn (:func:`receptive_margin`); tiles outside it render exactly as before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from infinitygan.applications.description import EDIT_KINDS, CanvasDescription, Edit
from infinitygan.applications.scene import lattice_constants
from infinitygan.models import Generator

Box = tuple[int, int, int, int]  # (top, left, height, width) in canvas pixels


def receptive_margin(G: Generator, what: str) -> int:
    """How far (canvas pixels) a change of ``what`` at one position can reach in the image.

    * ``"local"`` / ``"style"``: the structure synthesizer's margin (``margin`` cells, 192 px for
      the paper geometry) plus the texture synthesizer's reach from the structure grid (45 px);
    * ``"noise"``: the texture synthesizer's reach after the first conv (29 px).

    Every unpadded 3x3 conv (and each upsampling conv with its blur) spreads a change by one step
    of its input grid, so the reach is the sum of the input spacings of the convs that follow.
    """
    if what not in EDIT_KINDS:
        raise ValueError(f"what must be one of {EDIT_KINDS}, got {what!r}")
    spacing, _ = lattice_constants(G)
    convs = spacing[: G.num_convs]  # conv i reads grid i
    if what == "noise":
        return sum(convs[1:])
    return G.geometry.margin * G.geometry.scale + sum(convs)


def _check_box(box: Sequence[int]) -> Box:
    try:
        top, left, height, width = (int(v) for v in box)
    except (TypeError, ValueError):
        raise ValueError(
            f"box must be (top, left, height, width) in canvas pixels, got {box!r}"
        ) from None
    if height <= 0 or width <= 0:
        raise ValueError(f"box height and width must be positive, got {height}x{width}")
    return top, left, height, width


def affected_box(G: Generator, edit: Edit) -> Box:
    """Canvas pixels ``(top, left, height, width)`` that ``edit`` may change."""
    m = receptive_margin(G, edit.what)
    return (edit.top - m, edit.left - m, edit.height + 2 * m, edit.width + 2 * m)


def derived_seed(description: CanvasDescription, box: Box, what: str) -> int:
    """A seed determined by the description, box and kind (used when no seed is given)."""
    text = f"{description.to_json(indent=None)}|{box}|{what}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:6], "little")


def resample_region(
    description: CanvasDescription,
    box: Sequence[int],
    what: str = "local",
    seed: int | None = None,
) -> CanvasDescription:
    """A description equal to ``description`` except that ``what`` is redrawn inside ``box``.

    Args:
        description: the canvas to edit.
        box: ``(top, left, height, width)`` in canvas pixels.
        what: "local" (local latents of the cells centred in the box), "noise" (all texture
            noise in the box) or "style" (global style in the box, blended in inside its border).
        seed: seed of the new values; None derives one from the description, box and kind (so
            the same call gives the same result).

    Returns:
        The new description (the old one is unchanged).

    Raises:
        ValueError: bad box or kind.
    """
    if what not in EDIT_KINDS:
        raise ValueError(f"what must be one of {EDIT_KINDS}, got {what!r}")
    top, left, height, width = _check_box(box)
    if seed is None:
        seed = derived_seed(description, (top, left, height, width), what)
    return description.with_edit(Edit(top, left, height, width, what, int(seed)))
