"""Applications of the infinite canvas (paper §3.4 and §4.3).

* canvas descriptions: :class:`CanvasDescription` (seed, fusion anchors, placed inverted latents,
  regional edits; JSON round trip) and :func:`render_region`, which renders any region of one
  exactly (region-containment contract of :func:`infinitygan.canvas.generate_region`);
* spatial style fusion: :func:`fusion_description` (seeds + layout -> anchors);
* inversion: :func:`invert` -> :class:`InvertedLatents` (position-aware safetensors file);
* outpainting / inbetweening: :mod:`~infinitygan.applications.outpaint`,
  :mod:`~infinitygan.applications.inbetween`;
* regional resampling: :func:`resample_region`, :func:`affected_box`.
"""

from __future__ import annotations

from infinitygan.applications.description import (
    Anchor,
    CanvasDescription,
    Edit,
    ModelRef,
    Placement,
)
from infinitygan.applications.fusion import description_renderer, fusion_description
from infinitygan.applications.inversion import InversionConfig, invert
from infinitygan.applications.inverted import InvertedLatents
from infinitygan.applications.resample import affected_box, receptive_margin, resample_region
from infinitygan.applications.scene import render_region

__all__ = [
    "Anchor",
    "CanvasDescription",
    "Edit",
    "InversionConfig",
    "InvertedLatents",
    "ModelRef",
    "Placement",
    "affected_box",
    "description_renderer",
    "fusion_description",
    "invert",
    "receptive_margin",
    "render_region",
    "resample_region",
]
