"""Render the example images of docs/bundled-model.md from the bundled "landscapes" model.

Usage::

    python scripts/render_bundled_examples.py [--outdir docs/images] [--data-only]

Writes (all from fixed seeds, so the images can be regenerated exactly; the large ones as JPEG,
quality 92, to keep the repository small):

* ``bundled-panorama.jpg``: a 2048x256 panorama (seed 1);
* ``bundled-360.jpg``: a 360-degree panorama, one horizontal period wide (2224x256, seed 2),
  followed by its first 256 columns again so that the seamless wrap is visible at the join;
* ``bundled-samples-1x.png``: 16 canvases of the training field of view (full_size px);
* ``bundled-samples-8x.jpg``: 2 canvases of 8x the training field of view (8 * full_size px);
* ``bundled-untrained-1x.png``: the same 16 seeds from the untrained model (same preset, init
  seed 0);
* ``bundled-reals.jpg``: the 35 real training views (full_size px) the shipped model was trained
  on: the windows of the first 13 bundled photos (``SHIPPED_MODEL_PHOTOS``), one zoom;
* ``bundled-views.jpg``: the views of the ``landscapes`` source today for three photos (the last
  a 360-degree panorama), three rows per photo: its windows, then its zoom-1.5 and zoom-2 crops.

``--data-only`` writes the last two only (no model needed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from infinitygan.canvas import generate_image, period_pixels
from infinitygan.checkpoint import load_generator
from infinitygan.data import DataConfig, open_dataset
from infinitygan.data.bundled import LANDSCAPE_ZOOMS, LANDSCAPES_DIR, PhotoWindowsDataset
from infinitygan.imageio import make_grid, save_image

SHIPPED_MODEL_PHOTOS = (
    "aitzgorri.jpg",
    "by-the-water.jpg",
    "china.jpg",
    "cold-ripple.jpg",
    "darkest-hour.jpg",
    "dune.jpg",
    "evening-glow.jpg",
    "life.jpg",
    "path.jpg",
    "picosdeeuropa.jpg",
    "storm.jpg",
    "summer-1am.jpg",
    "sunset.jpg",
)
"""The 13 photos the shipped ``landscapes`` model was trained on (windows at zoom 1: 35 views)."""
VIEW_EXAMPLES = ("valendas.jpg", "sheep.jpg", "forest-360.jpg")


def render_data(data: DataConfig, out: Path) -> None:
    """``bundled-reals.jpg`` and ``bundled-views.jpg`` (see the module docstring)."""
    shipped = [LANDSCAPES_DIR / name for name in SHIPPED_MODEL_PHOTOS]
    trained_on = PhotoWindowsDataset(shipped, data, seed=0)
    reals = torch.stack([trained_on.full_image(i) for i in range(len(trained_on))])
    save_image(make_grid(reals, nrow=7), out / "bundled-reals.jpg", quality=92)

    source = open_dataset("landscapes", data, seed=0)
    rows = []
    for name in VIEW_EXAMPLES:
        for zoom in LANDSCAPE_ZOOMS:
            indices = [
                i for i, v in enumerate(source.views) if v.path.name == name and v.zoom == zoom
            ]
            rows.append(torch.stack([source.full_image(i) for i in indices]))
    width = max(len(r) for r in rows)
    blank = torch.full((3, data.full_size, data.full_size), -1.0)
    grid = [torch.cat([r, blank.expand(width - len(r), -1, -1, -1)]) for r in rows]
    save_image(make_grid(torch.cat(grid), nrow=width), out / "bundled-views.jpg", quality=92)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", type=Path, default=Path("docs/images"))
    parser.add_argument("--model", default="landscapes")
    parser.add_argument("--data-only", action="store_true", help="only the real-data images")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    G = load_generator(args.model)
    cfg = G.config
    full = cfg.full_size
    out = args.outdir
    render_data(DataConfig(cfg.patch_size, full, cfg.pre_resize), out)
    if args.data_only:
        return

    save_image(generate_image(G, 1, 256, 2048), out / "bundled-panorama.jpg", quality=92)
    period = period_pixels(G)
    wrap = generate_image(G, 2, 256, period, wrap=True)
    joined = torch.cat([wrap, torch.full((3, 256, 4), 1.0), wrap[:, :, :256]], dim=2)
    save_image(joined, out / "bundled-360.jpg", quality=92)

    seeds = range(16)
    ones = torch.stack([generate_image(G, s, full, full) for s in seeds])
    save_image(make_grid(ones, nrow=8), out / "bundled-samples-1x.png", optimize=True)
    eights = torch.stack([generate_image(G, s, 8 * full, 8 * full) for s in (0, 1)])
    save_image(make_grid(eights, nrow=2), out / "bundled-samples-8x.jpg", quality=92)

    untrained = load_generator(f"random:{cfg.name}:0")
    raw = torch.stack([generate_image(untrained, s, full, full) for s in seeds])
    save_image(make_grid(raw, nrow=8), out / "bundled-untrained-1x.png", optimize=True)


if __name__ == "__main__":
    main()
