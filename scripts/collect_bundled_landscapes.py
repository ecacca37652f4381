"""Rebuild src/infinitygan/assets/landscapes/ from the system's wallpaper packages.

The bundled photos are downscaled copies (short side 384 px, JPEG quality 90) of the real
landscape photographs found in these Debian packages and in scikit-learn's wheel::

    apt-get install -y --no-install-recommends lomiri-wallpapers-16.04 \
        plasma-workspace-wallpapers mate-backgrounds
    pip download --no-deps scikit-learn -d /tmp/sk && unzip -o /tmp/sk/*.whl \
        'sklearn/datasets/images/china.jpg' -d /tmp/sk

Usage::

    python scripts/collect_bundled_landscapes.py \
        --sklearn-china /tmp/sk/sklearn/datasets/images/china.jpg

Only needed to regenerate the assets; nothing at run time depends on these packages. Licences and
authors are listed in src/infinitygan/assets/landscapes/ATTRIBUTION.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from PIL import Image

SHORT_SIDE = 384
QUALITY = 90
OUT_DIR = Path(__file__).resolve().parents[1] / "src" / "infinitygan" / "assets" / "landscapes"

# bundled name -> original path (relative to /usr/share unless absolute)
SOURCES: dict[str, str] = {
    "aitzgorri.jpg": "backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg",
    "picosdeeuropa.jpg": "backgrounds/picosdeeuropa_by_Aitzol_Berasategi.jpg",
    "sunset.jpg": "backgrounds/sunset_by_Aitzol_Berasategi.jpg",
    "life.jpg": "backgrounds/life_by_Aitzol_Berasategi.jpg",
    "by-the-water.jpg": "wallpapers/BytheWater/contents/images/2560x1600.jpg",
    "cold-ripple.jpg": "wallpapers/ColdRipple/contents/images/2560x1600.jpg",
    "darkest-hour.jpg": "wallpapers/DarkestHour/contents/images/2560x1600.jpg",
    "evening-glow.jpg": "wallpapers/EveningGlow/contents/images/2560x1600.jpg",
    "path.jpg": "wallpapers/Path/contents/images/2560x1600.jpg",
    "summer-1am.jpg": "wallpapers/summer_1am/contents/images/2560x1600.jpg",
    "storm.jpg": "backgrounds/mate/nature/Storm.jpg",
    "dune.jpg": "backgrounds/mate/nature/Dune.jpg",
    "china.jpg": "SKLEARN_CHINA",
}


def downscale(src: Path, dst: Path) -> tuple[int, int]:
    """Write a LANCZOS copy of ``src`` with short side ``SHORT_SIDE`` to ``dst`` (atomically)."""
    image = Image.open(src).convert("RGB")
    w, h = image.size
    factor = SHORT_SIDE / min(w, h)
    size = (round(w * factor), round(h * factor)) if factor < 1 else (w, h)
    small = image.resize(size, Image.Resampling.LANCZOS)
    fd, tmp = tempfile.mkstemp(suffix=".jpg", dir=dst.parent)
    os.close(fd)
    small.save(tmp, quality=QUALITY, optimize=True, progressive=False)
    os.chmod(tmp, 0o644)
    os.replace(tmp, dst)
    return small.size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--share", default="/usr/share", help="system share folder")
    parser.add_argument("--sklearn-china", required=True, help="path of sklearn's china.jpg")
    args = parser.parse_args()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, rel in SOURCES.items():
        src = Path(args.sklearn_china) if rel == "SKLEARN_CHINA" else Path(args.share) / rel
        size = downscale(src, OUT_DIR / name)
        print(f"{name}: {src} -> {size[0]}x{size[1]}")


if __name__ == "__main__":
    main()
