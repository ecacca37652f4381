"""The landscape photos bundled with the package (``open_dataset("landscapes", ...)``).

13 real landscape photographs (mountains, lakes, a forest, a coast, a storm), redistributable
under CC-BY / CC-BY-SA / LGPL / GPL, stored as downscaled JPEGs (short side 384 px) in
``infinitygan/assets/landscapes/``; authors and licences are in ``ATTRIBUTION.md`` there.

The official preprocessing keeps only the centre square of each photo, which would throw away a
third of these wide photos. This source instead cuts every photo into square windows of side
``min(width, height)`` along its long side, spaced at most half a side apart (a 16:10 photo gives
3 windows: left, centre, right). Each window then goes through the official pipeline (optional
pre-resize, resize to ``full_size``, random flip and patch crop; see
:mod:`infinitygan.data.pipeline`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from infinitygan.data.pipeline import DataConfig, PatchDataset, to_full_image
from infinitygan.data.sources import DataError

LANDSCAPES_DIR = Path(__file__).resolve().parents[1] / "assets" / "landscapes"
"""Folder of the bundled photos (and their ATTRIBUTION.md)."""

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


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


class PhotoWindowsDataset(PatchDataset):
    """Training patches from square windows of a few photos (see the module docstring).

    Args:
        files: the photos (any aspect).
        config: the sizes.
        seed: seeds flips and offsets.
        max_step: largest spacing of neighbouring windows, in window sides.

    Attributes:
        windows: ``(file, left, top, side)`` of every full image, in index order.
    """

    def __init__(
        self,
        files: list[Path],
        config: DataConfig,
        *,
        seed: int,
        max_step: float = 0.5,
    ) -> None:
        super().__init__(config, seed=seed)
        windows: list[tuple[Path, int, int, int]] = []
        for path in files:
            with Image.open(path) as image:
                width, height = image.size
            side = min(width, height)
            if side < config.patch_size:
                raise DataError(
                    f"{path}: {width}x{height} px is smaller than the {config.patch_size}-px "
                    "training patch"
                )
            windows.extend((path, x, y, side) for x, y in square_windows(width, height, max_step))
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def window_image(self, index: int) -> Image.Image:
        """The square window ``index`` at the stored resolution (RGB Pillow image)."""
        path, left, top, side = self.windows[index]
        with Image.open(path) as image:
            return image.convert("RGB").crop((left, top, left + side, top + side))

    def load_full(self, index: int) -> np.ndarray:
        return to_full_image(self.window_image(index), self.config)


def open_bundled_landscapes(config: DataConfig, *, seed: int) -> PhotoWindowsDataset:
    """The ``"landscapes"`` source: square windows of the bundled photos."""
    return PhotoWindowsDataset(bundled_landscape_files(), config, seed=seed)
