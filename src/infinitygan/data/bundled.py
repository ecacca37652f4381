"""The landscape photos bundled with the package (``open_dataset("landscapes", ...)``).

23 real landscape photographs (mountains, hills, lakes, a forest, coasts, a storm, fog) and 4
real 360-degree outdoor panoramas, redistributable under CC-BY / CC-BY-SA / CC0 / BSD / LGPL /
GPL, stored as JPEGs in ``infinitygan/assets/landscapes/`` (photos at a short side of 384 px;
panoramas as the 1024 x 256 band 45 degrees either side of the horizon, named ``*-360.jpg``);
authors and licences are in ``ATTRIBUTION.md`` there.

Views. The official preprocessing keeps only the centre square of each photo, which would throw
away a third of these wide photos. This source instead cuts every photo into square *windows* of
side ``min(width, height)`` along its long side, spaced at most half a side apart (a 16:10 photo
gives 3 windows: left, centre, right); a panorama's windows go all the way round and wrap over its
left/right seam (1024 x 256 gives 8). Each window is the *frame* of further views at higher zoom:
for each zoom ``z > 1`` of ``zooms`` it gives one square crop of side ``side / z`` at a position
drawn (once, from the dataset seed and the photo's name) inside the window. Every view then goes
through the official pipeline (optional pre-resize, resize to ``full_size``, random flip and
patch crop; see :mod:`infinitygan.data.pipeline`).

Vertical labels follow the crop: the label of a patch of a zoomed view is the label the patch at
the same height of its frame would get (``zoomed_vertical_label``), so labels keep measuring the
height in the photo (sky near -1, ground near +1) at every zoom. Zoomed crops are placed only where
that label stays within [-1, 1] (``zoomed_label_band``: the middle of the window's free height).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from infinitygan.data.pipeline import (
    DataConfig,
    PatchDataset,
    label_per_px,
    to_full_image,
    zoomed_label_band,
    zoomed_vertical_label,
)
from infinitygan.data.sources import DataError

LANDSCAPES_DIR = Path(__file__).resolve().parents[1] / "assets" / "landscapes"
"""Folder of the bundled photos (and their ATTRIBUTION.md)."""

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
LOOP_SUFFIX = "-360"
"""File-name stem ending of 360-degree panoramas, whose left and right edges meet."""
LANDSCAPE_ZOOMS = (1.0, 1.5, 2.0)
"""Zooms of the ``landscapes`` source: each window, plus one crop at 1.5x and one at 2x."""

HELD_OUT = ("cliff.jpg", "fog.jpg", "green-hills.jpg", "sheep.jpg", "valendas.jpg")
"""Five ordinary photos that ``landscapes-train`` leaves out (``landscapes-holdout`` is them).
The stage-1 ``landscapes`` (13 photos) never saw them, so fine-tuning it on them measured
adaptation to new photos (docs/training.md). The stage-2 model shipped now was trained on all 27,
these included: a held-out test of it needs photos outside the package."""

OPEN_SKY_BAND = 1 / 8
"""Top fraction of a view that ``landscapes-sky`` requires to be open sky."""
OPEN_SKY_MAX_TEXTURE = 0.04
"""Largest ``top_band_texture`` of a ``landscapes-sky`` view. On the 279 views most sky, cloud
and haze bands score below 0.035 and most canopy, foliage, rock and roof bands 0.045-0.28; the
few near the threshold go either way (4 views of the forest path pass)."""
TEXTURE_SIDE = 128
"""Side, in px, at which ``top_band_texture`` measures a view (so every zoom is measured alike)."""

_VIEW_TAG = 0x56494557  # "VIEW": keeps the view placement apart from other random streams


def bundled_landscape_files(folder: Path = LANDSCAPES_DIR) -> list[Path]:
    """The bundled photo files, sorted by name.

    Raises:
        DataError: the folder holds no photo (a broken installation).
    """
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in PHOTO_SUFFIXES)
    if not files:
        raise DataError(
            f"no bundled landscape photos in {folder}; the infinitygan installation is "
            "incomplete (reinstall the package, which ships them as package data)"
        )
    return files


def is_loop(path: Path) -> bool:
    """True for a 360-degree panorama (stem ends with ``-360``): its edges meet."""
    return path.stem.endswith(LOOP_SUFFIX)


def square_windows(width: int, height: int, max_step: float = 0.5) -> list[tuple[int, int]]:
    """Top-left corners of the square windows cut from a ``width`` x ``height`` photo.

    Windows have side ``min(width, height)`` and are spread evenly along the long side, the first
    at 0 and the last touching the far edge, with neighbours at most ``max_step`` sides apart.

    Returns:
        ``[(left, top), ...]`` (one entry for a square photo).
    """
    side = min(width, height)
    slack = max(width, height) - side
    count = 1 + math.ceil(slack / (max_step * side)) if slack > 0 else 1
    offsets = [round(i * slack / (count - 1)) for i in range(count)] if count > 1 else [0]
    if width >= height:
        return [(o, 0) for o in offsets]
    return [(0, o) for o in offsets]


def loop_windows(width: int, height: int, max_step: float = 0.5) -> list[tuple[int, int]]:
    """Top-left corners of the square windows around a 360-degree panorama.

    Windows have side ``height`` and are spread evenly all the way round, neighbours at most
    ``max_step`` sides apart; those past the right edge continue at the left edge.

    Raises:
        DataError: the panorama is taller than wide (it cannot be a horizontal loop).
    """
    if height > width:
        raise DataError(
            f"a {width}x{height} px image cannot be a 360-degree panorama (taller than wide); "
            f"remove '{LOOP_SUFFIX}' from its name"
        )
    count = math.ceil(width / (max_step * height))
    return [(round(i * width / count), 0) for i in range(count)]


@dataclass(frozen=True)
class PhotoView:
    """One square view of a photo: a window (zoom 1) or a zoomed crop inside a window.

    Attributes:
        path: the photo.
        left, top, side: the square in stored-photo pixels (``left + side`` may pass the right
            edge of a 360-degree panorama; the view then continues at its left edge).
        zoom: the window's side over ``side`` (1 for a window).
        frame_top, frame_side: rows of the window whose labels this view's labels refer to.
        wrap: the photo is a 360-degree panorama.
    """

    path: Path
    left: int
    top: int
    side: int
    zoom: float
    frame_top: int
    frame_side: int
    wrap: bool = False

    def crop(self, image: Image.Image) -> Image.Image:
        """The view cut from the photo (RGB), wrapping round a panorama's seam."""
        width = image.size[0]
        box = (self.left, self.top, self.left + self.side, self.top + self.side)
        if self.left + self.side <= width:
            return image.crop(box)
        if not self.wrap:
            raise ValueError(f"view {box} passes the right edge of {self.path.name}")
        first = width - self.left
        view = Image.new(image.mode, (self.side, self.side))
        view.paste(image.crop((self.left, self.top, width, self.top + self.side)), (0, 0))
        view.paste(image.crop((0, self.top, self.side - first, self.top + self.side)), (first, 0))
        return view

    def image(self) -> Image.Image:
        """The view read from its photo file (RGB, at the stored resolution)."""
        with Image.open(self.path) as image:
            return self.crop(image.convert("RGB"))

    def label(self, y: int, config: DataConfig) -> float:
        """Vertical label of the patch at row offset ``y`` of this view's full image."""
        top = (self.top - self.frame_top) / self.frame_side
        return zoomed_vertical_label(y, config, top=top, scale=self.side / self.frame_side)


def photo_views(
    path: Path,
    width: int,
    height: int,
    config: DataConfig,
    *,
    seed: int,
    zooms: tuple[float, ...] = (1.0,),
    max_step: float = 0.5,
) -> list[PhotoView]:
    """The views of one photo, in order: every window at every zoom of ``zooms``.

    A zoom-``z`` crop of window ``k`` has side ``round(side / z)``; its left edge is uniform over
    the window, its top uniform over the window's rows for which labels stay in [-1, 1]
    (``zoomed_label_band``), both drawn from ``numpy.random.default_rng([tag, seed,
    crc32(file name), k, round(1000 z)])``: the views of a photo depend only on the seed, the
    photo and the sizes, not on the other photos.
    """
    wrap = is_loop(path)
    if wrap:
        windows = loop_windows(width, height, max_step)
    else:
        windows = square_windows(width, height, max_step)
    side = min(width, height)
    key = zlib.crc32(path.name.encode("utf-8"))
    views = []
    for zoom in zooms:
        for k, (x, y) in enumerate(windows):
            if zoom == 1.0:
                views.append(PhotoView(path, x, y, side, 1.0, y, side, wrap))
                continue
            crop = max(1, round(side / zoom))
            lo, hi = zoomed_label_band(crop / side, config)
            top_lo, top_hi = math.ceil(lo * side), math.floor(hi * side)
            if top_lo > top_hi:  # the band is narrower than a pixel: centre the crop
                top_lo = top_hi = (side - crop) // 2
            rng = np.random.default_rng([_VIEW_TAG, seed, key, k, round(1000 * zoom)])
            left = x + int(rng.integers(0, side - crop + 1))
            top = y + int(rng.integers(top_lo, top_hi + 1))
            views.append(PhotoView(path, left % width, top, crop, zoom, y, side, wrap))
    return views


def top_band_texture(view: Image.Image, band: float = OPEN_SKY_BAND) -> float:
    """How textured the top ``band`` of a view is: the mean absolute 4-neighbour Laplacian of its
    luminance (in [0, 1] units) over the top rows of the view resized to ``TEXTURE_SIDE`` px.

    Open sky and soft cloud score near 0; leaves, branches, rock and masonry far higher.
    """
    gray = view.convert("L").resize((TEXTURE_SIDE, TEXTURE_SIDE), Image.Resampling.BILINEAR)
    rows = max(3, round(band * TEXTURE_SIDE))
    a = np.asarray(gray, dtype=np.float32)[:rows] / 255.0
    laplacian = 4 * a[1:-1, 1:-1] - a[:-2, 1:-1] - a[2:, 1:-1] - a[1:-1, :-2] - a[1:-1, 2:]
    return float(np.abs(laplacian).mean())


def has_open_sky(view: Image.Image) -> bool:
    """The view's top ``OPEN_SKY_BAND`` is open sky (``top_band_texture`` below the threshold)."""
    return top_band_texture(view) < OPEN_SKY_MAX_TEXTURE


class PhotoWindowsDataset(PatchDataset):
    """Training patches from square views of a few photos (see the module docstring).

    Args:
        files: the photos (any aspect; ``*-360.*`` files are 360-degree panoramas).
        config: the sizes.
        seed: seeds flips and offsets, and the placement of zoomed views.
        max_step: largest spacing of neighbouring windows, in window sides.
        zooms: zoom factors (each >= 1, distinct); every window gives one view per zoom (zoom 1:
            the window itself).
        keep: if given, only the views for which ``keep(view image)`` is true are used.

    Attributes:
        views: every full image's ``PhotoView``, in index order (photo by photo; within a
            photo, zoom by zoom, window by window).
    """

    def __init__(
        self,
        files: list[Path],
        config: DataConfig,
        *,
        seed: int,
        max_step: float = 0.5,
        zooms: tuple[float, ...] = (1.0,),
        keep: Callable[[Image.Image], bool] | None = None,
    ) -> None:
        super().__init__(config, seed=seed)
        if not zooms or len(set(zooms)) != len(zooms) or min(zooms) < 1.0:
            raise ValueError(f"zooms must be distinct factors >= 1, got {zooms}")
        views: list[PhotoView] = []
        for path in files:
            with Image.open(path) as image:
                width, height = image.size
            if min(width, height) < config.patch_size:
                raise DataError(
                    f"{path}: {width}x{height} px is smaller than the {config.patch_size}-px "
                    "training patch"
                )
            views.extend(
                photo_views(path, width, height, config, seed=seed, zooms=zooms, max_step=max_step)
            )
        if keep is not None:
            views = [view for view in views if keep(view.image())]
            if not views:
                raise DataError("no view of these photos passes the view filter; loosen it")
        self.views = views

    def __len__(self) -> int:
        return len(self.views)

    def window_image(self, index: int) -> Image.Image:
        """View ``index`` at the stored resolution (RGB Pillow image)."""
        return self.views[index].image()

    def load_full(self, index: int) -> np.ndarray:
        return to_full_image(self.window_image(index), self.config)

    def patch_label(self, index: int, y: int) -> float:
        return self.views[index].label(y, self.config)

    def label_slope(self, index: int) -> float:
        view = self.views[index]
        return label_per_px(self.config, scale=view.side / view.frame_side)


def open_bundled_landscapes(config: DataConfig, *, seed: int) -> PhotoWindowsDataset:
    """The ``"landscapes"`` source: views of the bundled photos at ``LANDSCAPE_ZOOMS``."""
    return PhotoWindowsDataset(bundled_landscape_files(), config, seed=seed, zooms=LANDSCAPE_ZOOMS)


def open_landscapes_train(config: DataConfig, *, seed: int) -> PhotoWindowsDataset:
    """``"landscapes-train"``: the bundled photos but ``HELD_OUT`` (for fine-tuning experiments)."""
    files = [p for p in bundled_landscape_files() if p.name not in HELD_OUT]
    return PhotoWindowsDataset(files, config, seed=seed, zooms=LANDSCAPE_ZOOMS)


def open_landscapes_holdout(config: DataConfig, *, seed: int) -> PhotoWindowsDataset:
    """``"landscapes-holdout"``: only the ``HELD_OUT`` photos (for fine-tuning experiments)."""
    files = [p for p in bundled_landscape_files() if p.name in HELD_OUT]
    if len(files) != len(HELD_OUT):
        raise DataError(f"the bundled photos {', '.join(HELD_OUT)} are not all installed")
    return PhotoWindowsDataset(files, config, seed=seed, zooms=LANDSCAPE_ZOOMS)


def open_landscapes_sky(config: DataConfig, *, seed: int) -> PhotoWindowsDataset:
    """``"landscapes-sky"``: the views of ``landscapes`` whose top eighth is open sky
    (``has_open_sky``), so that the top rows of every training view are sky and not canopy,
    rock or roofs (docs/bundled-model.md, "Open-sky A/B")."""
    return PhotoWindowsDataset(
        bundled_landscape_files(), config, seed=seed, zooms=LANDSCAPE_ZOOMS, keep=has_open_sky
    )
