#!/usr/bin/env bash
# Render the README gallery from the bundled "landscapes" model with the commands the README
# prints under each image (run from the repository root after `make install`).
#
# Usage:  scripts/render_readme_gallery.sh [MODEL]        (default MODEL: landscapes)
#
# Writes docs/images/gallery-*.{png,jpg}; the PNG outputs of the commands are kept in out/gallery/.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-.venv/bin}"
MODEL="${1:-landscapes}"
OUT=out/gallery
rm -rf "$OUT"  # the commands below refuse to overwrite their outputs
mkdir -p "$OUT" docs/images
run() { echo "+ $*"; "$@"; }

# 1. A wide panorama (the demo's first image, 4096x1024) and a 360-degree wrap panorama.
run "$BIN/infinitygan" generate "$MODEL" --size 4096x1024 --seed 1 --out "$OUT/panorama.png"
run "$BIN/infinitygan" generate "$MODEL" --size 2224x512 --seed 2 --wrap --out "$OUT/panorama-360.png"

# 2. Spatial style fusion: three global latents blended along a strip, beside seed 3 alone.
run "$BIN/infinitygan" generate "$MODEL" --size 2048x384 --seed 3 --out "$OUT/fuse-plain.png"
run "$BIN/infinitygan" fuse "$MODEL" --seeds 3,8,21 --size 2048x384 --layout horizontal \
    --out "$OUT/fuse.png"

# 3. Outpainting a bundled photo (resized so that its short side is the model's 101-px view).
"$BIN/python" - "$OUT/photo.png" <<'PY'
import sys

from PIL import Image

from infinitygan.data.bundled import LANDSCAPES_DIR

with Image.open(LANDSCAPES_DIR / "aitzgorri.jpg") as photo:
    photo.convert("RGB").resize((161, 101), Image.Resampling.LANCZOS).save(sys.argv[1])
PY
run "$BIN/infinitygan" outpaint "$MODEL" "$OUT/photo.png" --extend left:320,right:320 \
    --seeds 0-1 --out "$OUT/outpaint.png"

# The README shows downscaled JPEG copies (the originals stay in out/gallery/).
"$BIN/python" - "$OUT" <<'PY'
import sys
from pathlib import Path

from PIL import Image, ImageDraw

out = Path(sys.argv[1])
images = Path("docs/images")


def save(image: Image.Image, name: str, width: int | None = None) -> None:
    if width is not None and image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    image.convert("RGB").save(images / name, quality=90, optimize=True)
    print("wrote", images / name)


def stack(tiles: list[Image.Image], gap: int = 4) -> Image.Image:
    """The images one above the other on white, ``gap`` px apart."""
    width = max(t.width for t in tiles)
    sheet = Image.new("RGB", (width, sum(t.height for t in tiles) + gap * (len(tiles) - 1)), "white")
    y = 0
    for tile in tiles:
        sheet.paste(tile, (0, y))
        y += tile.height + gap
    return sheet


save(Image.open(out / "panorama.png"), "gallery-panorama.jpg", 2048)
wrap = Image.open(out / "panorama-360.png").convert("RGB")
joined = Image.new("RGB", (wrap.width + 4 + 512, wrap.height), "white")
joined.paste(wrap, (0, 0))
joined.paste(wrap.crop((0, 0, 512, wrap.height)), (wrap.width + 4, 0))
save(joined, "gallery-360.jpg", 2048)
fused = [Image.open(out / name).convert("RGB") for name in ("fuse-plain.png", "fuse.png")]
save(stack(fused), "gallery-fuse.jpg", 2048)

# Outpainting: the input photo centred on a black strip, then each seed's result with the
# photo's footprint outlined in white; magnified 2x (nearest) so that the small images read.
photo = Image.open(out / "photo.png").convert("RGB")
frames = []
for seed in (0, 1):
    frame = Image.open(out / f"outpaint-seed{seed:04d}.png").convert("RGB")
    left = (frame.width - photo.width) // 2
    ImageDraw.Draw(frame).rectangle(
        (left - 1, -1, left + photo.width, frame.height), outline="white"
    )
    frames.append(frame)
strip = Image.new("RGB", frames[0].size, "black")
strip.paste(photo, ((strip.width - photo.width) // 2, (strip.height - photo.height) // 2))
sheet = stack([strip, *frames])
save(sheet.resize((sheet.width * 2, sheet.height * 2), Image.NEAREST), "gallery-outpaint.jpg")
PY
