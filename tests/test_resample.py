"""Regional resampling: only the box plus the receptive-field margin changes, reproducibly."""

from __future__ import annotations

import pytest
import torch

from infinitygan.applications import (
    CanvasDescription,
    affected_box,
    receptive_margin,
    render_region,
    resample_region,
)

BOX = (-30, -20, 40, 70)
BASE = CanvasDescription(seed=3, blend=15)


pytestmark = pytest.mark.usefixtures("single_thread")


def _strips(box: tuple[int, int, int, int], width: int = 12) -> list[tuple[int, int, int, int]]:
    """Four strips just outside ``box`` (top, bottom, left, right), corners included."""
    top, left, height, w = box
    return [
        (top - width, left - width, width, w + 2 * width),
        (top + height, left - width, width, w + 2 * width),
        (top, left - width, height, width),
        (top, left + w, height, width),
    ]


def test_receptive_margins_follow_the_geometry(tiny_generator):
    # structure: 12 cells of 16 px; texture: 16+8+8+4+4+2+2+1 px; noise: the same minus conv 0
    assert receptive_margin(tiny_generator, "local") == 12 * 16 + 45
    assert receptive_margin(tiny_generator, "style") == 12 * 16 + 45
    assert receptive_margin(tiny_generator, "noise") == 29
    with pytest.raises(ValueError, match="what must be one of"):
        receptive_margin(tiny_generator, "colour")


@pytest.mark.parametrize("what", ["local", "noise", "style"])
def test_resampling_changes_only_box_plus_margin(tiny_generator, what):
    G = tiny_generator
    edited = resample_region(BASE, BOX, what, seed=11)
    assert BASE.edits == () and len(edited.edits) == 1
    grown = affected_box(G, edited.edits[0])
    m = receptive_margin(G, what)
    assert grown == (BOX[0] - m, BOX[1] - m, BOX[2] + 2 * m, BOX[3] + 2 * m)
    # just outside the affected box nothing changes (float rounding at most) ...
    for strip in _strips(grown):
        before = render_region(G, BASE, *strip)
        after = render_region(G, edited, *strip)
        assert (after - before).abs().max() < 1e-4, strip
    # ... while the box itself is redrawn
    before = render_region(G, BASE, *BOX)
    after = render_region(G, edited, *BOX)
    assert (after - before).abs().mean() > 1e-2
    # exact and reproducible from the description alone
    again = render_region(G, CanvasDescription.from_json(edited.to_json()), *BOX)
    assert torch.equal(again, after)


def test_margin_is_needed(tiny_generator):
    # pixels between the box and the affected-box border do change for a local edit
    G = tiny_generator
    edited = resample_region(BASE, BOX, "local", seed=11)
    ring = (BOX[0] - 100, BOX[1], 40, BOX[3])
    assert (render_region(G, edited, *ring) - render_region(G, BASE, *ring)).abs().max() > 1e-3


def test_edits_obey_containment_and_order(tiny_generator):
    G = tiny_generator
    d = resample_region(CanvasDescription(seed=1, blend=9), (-20, 0, 30, 40), "local", seed=4)
    d = resample_region(d, (-10, 10, 30, 40), "noise", seed=5)
    d = resample_region(d, (-25, -5, 40, 30), "style", seed=6)
    big = render_region(G, d, -40, -30, 80, 100, tile=48)
    small = render_region(G, d, -40 + 17, -30 + 29, 33, 41, tile=32)
    assert (small - big[:, 17:50, 29:70]).abs().max() < 1e-4


def test_resample_seed_and_box_handling():
    base = CanvasDescription(seed=3)
    a = resample_region(base, (0, 0, 10, 10), "noise")
    b = resample_region(base, (0, 0, 10, 10), "noise")
    assert a == b  # a derived seed is deterministic
    assert resample_region(base, (0, 0, 10, 10), "local").edits[0].seed != a.edits[0].seed
    with pytest.raises(ValueError, match="positive"):
        resample_region(base, (0, 0, 0, 10), "local", seed=1)
    with pytest.raises(ValueError, match="top, left, height, width"):
        resample_region(base, (0, 0, 10), "local", seed=1)
    with pytest.raises(ValueError, match="what must be one of"):
        resample_region(base, (0, 0, 10, 10), "colour", seed=1)
