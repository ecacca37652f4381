"""Building the target file from a finished scratch store, in bounded memory where possible.

Each function writes the target under a temporary name inside the scratch directory (same file
system, so the final ``os.replace`` is atomic) and moves it into place last.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np
from PIL import Image

from infinitygan._files import atomic_write_text
from infinitygan.writers._common import (
    dzi_max_level,
    pyramid_geometries,
    remove_path,
    replace_path,
)
from infinitygan.writers._store import NpyChunkStore

logger = logging.getLogger(__name__)

#: Decoded chunks the TIFF encoder may hold per worker thread.
_TIFF_CHUNKS_PER_WORKER = 4


def _staging(store: NpyChunkStore, target: Path) -> Path:
    """Temporary name for the target inside the scratch directory."""
    staged = store.root / f"staging-{target.name}"
    remove_path(staged)
    return staged


def write_pillow(
    store: NpyChunkStore, target: Path, fmt: str, options: dict[str, Any]
) -> dict[str, Any]:
    """Assemble the canvas in memory and save it as PNG, JPEG or WebP with Pillow.

    The canvas is pasted chunk by chunk into one Pillow image (4 bytes per pixel), so the peak is
    about one Pillow canvas plus one chunk.

    Returns:
        Format details for the sidecar.
    """
    g = store.geometry
    image = Image.new("RGB", (g.width, g.height))
    for cy, cx in g.chunk_indices():
        y0, _, x0, _ = g.chunk_bounds(cy, cx)
        image.paste(Image.fromarray(store.get(cy, cx)), (x0, y0))
    staged = _staging(store, target)
    if fmt == "png":
        image.save(staged, "PNG", compress_level=options["compress_level"])
    elif fmt == "jpeg":
        image.save(staged, "JPEG", quality=options["quality"], subsampling=options["subsampling"])
    else:
        image.save(
            staged,
            "WEBP",
            quality=options["quality"],
            lossless=options["lossless"],
            method=options["method"],
        )
    del image
    os.replace(staged, target)
    return {}


def _tiff_compression(options: dict[str, Any]) -> dict[str, Any]:
    kind = options["compression"]
    if kind == "zlib":
        return {
            "compression": "zlib",
            "compressionargs": {"level": options["level"]},
            "predictor": True,
        }
    if kind == "lzma":
        return {"compression": "lzma", "predictor": True}
    if kind == "jpeg":
        return {"compression": "jpeg", "compressionargs": {"level": options["quality"]}}
    return {"compression": None}


def write_tiff(
    store: NpyChunkStore, target: Path, options: dict[str, Any], description: dict[str, Any]
) -> dict[str, Any]:
    """Write a tiled BigTIFF, with the 2x pyramid as SubIFDs, streaming chunk by chunk.

    Level 0 is the main IFD, levels 1.. (each a 2x box-filter downsample of the previous, down to
    one tile) are its SubIFDs, which tifffile exposes as ``series[0].levels``. Tiles are the
    chunks; at most ``workers * 4`` decoded chunks are in memory at once.

    Args:
        store: Finished scratch store.
        target: Final path.
        options: Normalised TIFF options.
        description: JSON-serialisable dict stored in the ImageDescription tag.

    Returns:
        Format details for the sidecar (levels, compression).
    """
    import tifffile

    g = store.geometry
    levels = pyramid_geometries(g, min_side=g.chunk) if options["pyramid"] else [g]
    store.build_pyramid(levels)
    workers = options["workers"] or min(4, os.cpu_count() or 1)
    chunk_bytes = g.chunk * g.chunk * 3
    common = {
        "dtype": np.uint8,
        "tile": (g.chunk, g.chunk),
        "photometric": "rgb",
        "planarconfig": "contig",
        "metadata": None,
        "software": "infinitygan",
        "maxworkers": workers,
        "buffersize": workers * _TIFF_CHUNKS_PER_WORKER * chunk_bytes,
        **_tiff_compression(options),
    }
    staged = _staging(store, target)
    with tifffile.TiffWriter(staged, bigtiff=True) as tif:
        for k, level in enumerate(levels):
            extra: dict[str, Any]
            if k == 0:
                extra = {
                    "subifds": len(levels) - 1,
                    "description": json.dumps(description, sort_keys=True),
                }
            else:
                extra = {"subfiletype": 1}
            tif.write(
                store.iter_chunks(level, k),
                shape=(level.height, level.width, 3),
                **common,
                **extra,
            )
    os.replace(staged, target)
    return {"levels": [[lv.height, lv.width] for lv in levels], "tile": g.chunk}


def dzi_xml(height: int, width: int, tile_size: int, overlap: int, tile_format: str) -> str:
    """The Deep Zoom descriptor (``NAME.dzi``) for a ``height`` x ``width`` image."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" '
        f'Format={quoteattr(tile_format)} Overlap="{overlap}" TileSize="{tile_size}">\n'
        f'  <Size Width="{width}" Height="{height}"/>\n'
        "</Image>\n"
    )


def write_dzi(store: NpyChunkStore, target: Path, options: dict[str, Any]) -> dict[str, Any]:
    """Write a Deep Zoom pyramid: ``NAME_files/<level>/<col>_<row>.<fmt>`` plus ``NAME.dzi``.

    Deep Zoom level L (0 = 1x1 pixel, max = full size) is our pyramid level max - L. Tiles are
    ``tile_size`` pixels plus ``overlap`` on each inner side, cut from the pyramid chunks through
    a small chunk cache, so memory is bounded. The tile folder is built inside the scratch
    directory and moved into place; the ``.dzi`` descriptor is written last.

    Returns:
        Format details for the sidecar.
    """
    g = store.geometry
    levels = pyramid_geometries(g, min_side=1)
    max_level = dzi_max_level(g.height, g.width)
    assert len(levels) == max_level + 1, (len(levels), max_level)
    store.build_pyramid(levels)
    ts, ov, fmt = options["tile_size"], options["overlap"], options["tile_format"]
    files_dir = target.with_name(target.stem + "_files")
    staged = _staging(store, files_dir)
    num_tiles = 0
    for k, level in enumerate(levels):
        dz_level = max_level - k
        out_dir = staged / str(dz_level)
        out_dir.mkdir(parents=True)
        read = store.region_reader(level, k)
        for row in range(-(-level.height // ts)):
            y0, y1 = max(0, row * ts - ov), min(level.height, (row + 1) * ts + ov)
            for col in range(-(-level.width // ts)):
                x0, x1 = max(0, col * ts - ov), min(level.width, (col + 1) * ts + ov)
                tile = Image.fromarray(read(y0, y1, x0, x1))
                path = out_dir / f"{col}_{row}.{fmt}"
                if fmt == "jpeg":
                    tile.save(path, "JPEG", quality=options["quality"])
                else:
                    tile.save(path, "PNG")
                num_tiles += 1
    replace_path(staged, files_dir)
    xml = dzi_xml(g.height, g.width, ts, ov, fmt)
    atomic_write_text(target, xml)
    return {"files_dir": files_dir.name, "levels": max_level + 1, "tiles": num_tiles}
