"""Plots of metric records (matplotlib, Agg canvas; no pyplot, so no global backend change)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from infinitygan._files import atomic_write

logger = logging.getLogger(__name__)


def plot_scaleinv(
    records: Iterable[Mapping[str, Any]],
    out_png: str | os.PathLike[str],
    title: str = "ScaleInv FID",
) -> Path:
    """Draw ScaleInv FID against scale, one line per series, and write a PNG atomically.

    Args:
        records: dicts with ``"scale"`` and ``"fid"`` (e.g. ``scaleinv_fid`` records read back from
            ``metric-scaleinv_fid.jsonl``); the series is ``record["label"]`` if present, else
            ``record["mode"]``, else ``"fid"``. Records with a missing or null FID are skipped.
        out_png: output path.
        title: plot title.

    Returns:
        The written path.

    Raises:
        ValueError: if no record has both a scale and a FID.
    """
    # Imported here: matplotlib costs ~0.3 s and only this function needs it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullLocator

    series: dict[str, list[tuple[float, float]]] = {}
    for record in records:
        scale, fid = record.get("scale"), record.get("fid")
        if scale is None or fid is None:
            continue
        label = str(record.get("label", record.get("mode", "fid")))
        series.setdefault(label, []).append((float(scale), float(fid)))
    if not series:
        raise ValueError("no records with both 'scale' and 'fid' to plot")
    fig = Figure(figsize=(5.0, 3.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    scales: set[float] = set()
    for label, points in sorted(series.items()):
        points.sort()
        xs, ys = zip(*points)
        scales.update(xs)
        ax.plot(xs, ys, marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(sorted(scales))
    ax.set_xticklabels([f"{s:g}x" for s in sorted(scales)])
    ax.set_xlabel("scale (field of view multiple)")
    ax.set_ylabel("FID (lower is better)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return atomic_write(out_png, lambda tmp: fig.savefig(tmp, format="png"))
