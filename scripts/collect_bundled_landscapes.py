"""Rebuild src/infinitygan/assets/landscapes/ from Debian packages and scikit-learn's wheel.

The bundled photos are downscaled copies (short side at most 384 px, JPEG quality 90) of the real
landscape photographs found in these Debian 12 (bookworm) packages and in scikit-learn's wheel.
Unpack the packages into one folder (no installation needed)::

    cd /tmp && apt-get download lomiri-wallpapers-16.04 plasma-workspace-wallpapers \
        mate-backgrounds lxqt-themes tuxpaint-data enlightenment-data blender-data
    for deb in /tmp/*.deb; do dpkg-deb -x "$deb" /tmp/pkgroot; done
    pip download --no-deps scikit-learn -d /tmp/sk && unzip -o /tmp/sk/*.whl \
        'sklearn/datasets/images/china.jpg' -d /tmp/sk
    pip install OpenEXR    # reads blender-data's HDRIs; not a dependency of infinitygan

Usage::

    python scripts/collect_bundled_landscapes.py --share /tmp/pkgroot/usr/share \
        --sklearn-china /tmp/sk/sklearn/datasets/images/china.jpg

(``--share /usr/share`` when the packages are installed instead.) Three kinds of source:

* ordinary JPEG/PNG photos, downscaled with LANCZOS;
* Enlightenment backgrounds (``.edj``): Eet containers whose image entries hold the photo at
  several sizes. The Eet directory is parsed here (format "Eet file 2": big-endian header
  ``magic 0x1ee70f42, #entries, #dictionary entries``, then per entry ``offset, size, data_size,
  name_offset, name_size, flags``); the largest entry stored uncompressed as plain JPEG bytes is
  decoded as is (no re-encoding before the downscale). Entries in Eet's own image encoding or
  compressed are never taken;
* Blender's studio-light world HDRIs (``.exr``, 360 x 180-degree equirectangular, linear light):
  read with the ``OpenEXR`` package; each light source's 3 x 3 neighbourhood filled with its
  brightest value (the files' lossy compression rings round the sun and lamps); tone-mapped
  (Reinhard ``L / (1 + L)`` per channel after an exposure that brings the log-average luminance
  of the horizon band to 0.18, plus a per-image correction in stops); sRGB-encoded; cropped to
  the band from 45 degrees above to 45 degrees below the horizon. They keep their full
  360-degree width, so their left and right edges meet: the files are named ``*-360.jpg`` and
  the ``landscapes`` source wraps views round them.

Only needed to regenerate the assets; nothing at run time depends on these packages. Licences and
authors are listed in src/infinitygan/assets/landscapes/ATTRIBUTION.md.
"""

from __future__ import annotations

import argparse
import io
import os
import struct
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

SHORT_SIDE = 384
QUALITY = 90
OUT_DIR = Path(__file__).resolve().parents[1] / "src" / "infinitygan" / "assets" / "landscapes"

HDRI_BAND_DEGREES = 45.0
"""Half-height of the horizon band kept from an equirectangular HDRI, in degrees of elevation."""
HDRI_KEY = 0.18
"""Reinhard key: target log-average luminance of the band after exposure."""
HDRI_HOT = 100.0
"""Pixels brighter than this many log-averages are light sources (sun, lamps)."""

EET_MAGIC_FILE2 = 0x1EE70F42
EET_FLAG_COMPRESSED, EET_FLAG_CIPHERED, EET_FLAG_ALIAS = 0x1, 0x2, 0x4


@dataclass(frozen=True)
class Source:
    """One bundled photo's origin.

    Attributes:
        path: original file, relative to the share folder (``SKLEARN_CHINA``: sklearn's photo).
        kind: ``"image"`` (JPEG/PNG), ``"edj"`` (Enlightenment background) or ``"hdri"``.
        exposure: HDRIs only: stops added to the automatic exposure (chosen by eye).
    """

    path: str
    kind: str = "image"
    exposure: float = 0.0


# bundled name -> origin
SOURCES: dict[str, Source] = {
    "aitzgorri.jpg": Source("backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg"),
    "picosdeeuropa.jpg": Source("backgrounds/picosdeeuropa_by_Aitzol_Berasategi.jpg"),
    "sunset.jpg": Source("backgrounds/sunset_by_Aitzol_Berasategi.jpg"),
    "life.jpg": Source("backgrounds/life_by_Aitzol_Berasategi.jpg"),
    "by-the-water.jpg": Source("wallpapers/BytheWater/contents/images/2560x1600.jpg"),
    "cold-ripple.jpg": Source("wallpapers/ColdRipple/contents/images/2560x1600.jpg"),
    "darkest-hour.jpg": Source("wallpapers/DarkestHour/contents/images/2560x1600.jpg"),
    "evening-glow.jpg": Source("wallpapers/EveningGlow/contents/images/2560x1600.jpg"),
    "path.jpg": Source("wallpapers/Path/contents/images/2560x1600.jpg"),
    "summer-1am.jpg": Source("wallpapers/summer_1am/contents/images/2560x1600.jpg"),
    "storm.jpg": Source("backgrounds/mate/nature/Storm.jpg"),
    "dune.jpg": Source("backgrounds/mate/nature/Dune.jpg"),
    "china.jpg": Source("SKLEARN_CHINA"),
    # lxqt-themes 1.2.0-1
    "fog.jpg": Source("lxqt/wallpapers/fog.jpg"),
    "after-the-rain.jpg": Source("lxqt/wallpapers/after-the-rain.jpg"),
    "green-hills.jpg": Source("lxqt/wallpapers/this-is-not-windows.jpg"),
    "beam.jpg": Source("lxqt/wallpapers/beam.png"),
    "valendas.jpg": Source("lxqt/wallpapers/Valendas.png"),
    # tuxpaint-data 1:0.9.28-sdl2-1
    "cliff.jpg": Source("tuxpaint/templates/cliff.jpg"),
    "sheep.jpg": Source("tuxpaint/templates/sheep.jpg"),
    "ocean-waves.jpg": Source("tuxpaint/templates/ocean_waves.jpg"),
    # enlightenment-data 0.25.4-2
    "mountain.jpg": Source("enlightenment/data/backgrounds/Mountain.edj", "edj"),
    "peaks.jpg": Source("enlightenment/data/backgrounds/Peaks.edj", "edj"),
    # blender-data 3.4.1+dfsg-2
    "forest-360.jpg": Source("blender/datafiles/studiolights/world/forest.exr", "hdri"),
    "night-360.jpg": Source("blender/datafiles/studiolights/world/night.exr", "hdri", -1.0),
    "sunrise-360.jpg": Source("blender/datafiles/studiolights/world/sunrise.exr", "hdri"),
    "sunset-360.jpg": Source("blender/datafiles/studiolights/world/sunset.exr", "hdri"),
}


# ---------------------------------------------------------------------------------------------
# Eet (.edj)


@dataclass(frozen=True)
class EetEntry:
    """One directory entry of an Eet file (offsets and sizes in bytes)."""

    name: str
    offset: int
    size: int
    data_size: int
    flags: int

    @property
    def stored_plain(self) -> bool:
        """Stored as is: not compressed, not ciphered, not an alias of another entry."""
        return not self.flags & (EET_FLAG_COMPRESSED | EET_FLAG_CIPHERED | EET_FLAG_ALIAS)


def eet_directory(data: bytes) -> list[EetEntry]:
    """The directory of an Eet file ("Eet file 2" layout, big-endian).

    Raises:
        ValueError: not an Eet file 2, or a directory entry points outside the file.
    """
    if len(data) < 12:
        raise ValueError("too short for an Eet header")
    magic, count, _dictionary = struct.unpack_from(">3I", data, 0)
    if magic != EET_MAGIC_FILE2:
        raise ValueError(f"not an Eet file 2 (magic {magic:#010x}, expected {EET_MAGIC_FILE2:#x})")
    if 12 + 24 * count > len(data):
        raise ValueError(f"directory of {count} entries runs past the end of the file")
    entries = []
    for i in range(count):
        offset, size, data_size, name_offset, name_size, flags = struct.unpack_from(
            ">6I", data, 12 + 24 * i
        )
        if offset + size > len(data) or name_offset + name_size > len(data) or name_size < 1:
            raise ValueError(f"directory entry {i} points outside the file")
        name = data[name_offset : name_offset + name_size]
        if name[-1:] != b"\0":
            raise ValueError(f"directory entry {i}: name is not NUL-terminated")
        entries.append(EetEntry(name[:-1].decode("utf-8"), offset, size, data_size, flags))
    return entries


def edj_largest_jpeg(path: Path) -> bytes:
    """The JPEG bytes of the largest image an Edje file stores as plain JPEG.

    Raises:
        ValueError: no image entry is a plain JPEG.
    """
    data = path.read_bytes()
    jpegs = [
        data[e.offset : e.offset + e.size]
        for e in eet_directory(data)
        if e.name.startswith("edje/images/") and e.stored_plain
    ]
    jpegs = [j for j in jpegs if j[:3] == b"\xff\xd8\xff" and j[-2:] == b"\xff\xd9"]
    if not jpegs:
        raise ValueError(f"{path}: no image entry is stored as plain JPEG")
    return max(jpegs, key=len)


# ---------------------------------------------------------------------------------------------
# HDRI (.exr)


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """Linear [0, 1] -> sRGB-encoded [0, 1] (IEC 61966-2-1 transfer curve)."""
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055)


def max_filter3(values: np.ndarray) -> np.ndarray:
    """3 x 3 maximum over the first two axes (edges padded by repetition)."""
    padded = np.pad(values, [(1, 1), (1, 1)] + [(0, 0)] * (values.ndim - 2), mode="edge")
    h, w = values.shape[:2]
    out = padded[1 : h + 1, 1 : w + 1].copy()
    for dy in range(3):
        for dx in range(3):
            np.maximum(out, padded[dy : dy + h, dx : dx + w], out=out)
    return out


def tone_map_band(rgb: np.ndarray, exposure: float = 0.0) -> Image.Image:
    """Horizon band of a linear equirectangular image, Reinhard tone-mapped to 8-bit sRGB.

    Args:
        rgb: float [H, W, 3] linear light, H = W / 2 (180 degrees of elevation).
        exposure: stops added to the automatic exposure.

    Returns:
        The rows within ``HDRI_BAND_DEGREES`` of the horizon, full width, as an RGB image.
    """
    height = rgb.shape[0]
    half = round(height * HDRI_BAND_DEGREES / 180.0)
    band = np.clip(rgb[height // 2 - half : height // 2 + half].astype(np.float64), 0.0, None)
    luminance = band @ np.array([0.2126, 0.7152, 0.0722])
    log_average = float(np.exp(np.mean(np.log(luminance + 1e-4))))
    # The files' lossy DWA compression rings around the light sources (values next to a 30000
    # sun pixel drop to 0 or below), which would tone-map to dark specks: fill each light
    # source's 3 x 3 neighbourhood with its brightest value.
    near_light = max_filter3(luminance > HDRI_HOT * log_average)
    band = np.where(near_light[..., None], max_filter3(band), band)
    scaled = band * (HDRI_KEY / log_average) * 2.0**exposure
    encoded = srgb_encode(scaled / (1.0 + scaled))
    return Image.fromarray(np.round(encoded * 255.0).astype(np.uint8), "RGB")


def read_exr_rgb(path: Path) -> np.ndarray:
    """The RGB channels of an OpenEXR file as float32 [H, W, 3]."""
    try:
        import OpenEXR
    except ImportError:
        sys.exit("reading the HDRIs needs the OpenEXR package: pip install OpenEXR")
    with OpenEXR.File(str(path)) as exr:
        channels = exr.channels()
        if "RGB" in channels:
            return np.asarray(channels["RGB"].pixels, dtype=np.float32)
        return np.stack([channels[c].pixels for c in "RGB"], axis=-1).astype(np.float32)


# ---------------------------------------------------------------------------------------------


def load(source: Source, share: Path, sklearn_china: Path | None) -> Image.Image:
    """The full-resolution RGB photo of ``source``."""
    if source.path == "SKLEARN_CHINA" and sklearn_china is None:
        sys.exit("china.jpg needs --sklearn-china PATH (or leave it out with --only)")
    path = sklearn_china if source.path == "SKLEARN_CHINA" else share / source.path
    if source.kind == "edj":
        return Image.open(io.BytesIO(edj_largest_jpeg(path))).convert("RGB")
    if source.kind == "hdri":
        return tone_map_band(read_exr_rgb(path), source.exposure)
    return Image.open(path).convert("RGB")


def downscale(image: Image.Image, dst: Path) -> tuple[int, int]:
    """Write a LANCZOS copy of ``image`` with short side ``SHORT_SIDE`` to ``dst`` (atomically).

    Images whose short side is already at most ``SHORT_SIDE`` are written at their size.
    """
    w, h = image.size
    factor = SHORT_SIDE / min(w, h)
    size = (round(w * factor), round(h * factor)) if factor < 1 else (w, h)
    small = image.resize(size, Image.Resampling.LANCZOS) if size != (w, h) else image
    fd, tmp = tempfile.mkstemp(suffix=".jpg", dir=dst.parent)
    os.close(fd)
    small.save(tmp, quality=QUALITY, optimize=True, progressive=False)
    os.chmod(tmp, 0o644)
    os.replace(tmp, dst)
    return small.size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--share", default="/usr/share", help="share folder of the packages")
    parser.add_argument("--sklearn-china", help="path of sklearn's china.jpg")
    parser.add_argument("--only", nargs="*", help="bundled names to rebuild (default: all)")
    args = parser.parse_args()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, source in SOURCES.items():
        if args.only and name not in args.only:
            continue
        china = Path(args.sklearn_china) if args.sklearn_china else None
        image = load(source, Path(args.share), china)
        size = downscale(image, OUT_DIR / name)
        print(f"{name}: {source.path} -> {size[0]}x{size[1]}")


if __name__ == "__main__":
    main()
