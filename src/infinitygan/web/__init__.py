"""Browser explorer of the endless canvas (``infinitygan serve``).

The server (:mod:`infinitygan.web.app`) needs the optional ``web`` extra (FastAPI, uvicorn); the
tile and description logic here does not.
"""

from __future__ import annotations

from infinitygan.web.description import (
    Anchor,
    BoxEdit,
    CanvasSpec,
    DescriptionError,
    UnsupportedDescription,
    encode_extras,
    parse_description,
    render,
)
from infinitygan.web.tiles import TILE_SIZE, TileKey, TileStore, downsample2x

__all__ = [
    "TILE_SIZE",
    "Anchor",
    "BoxEdit",
    "CanvasSpec",
    "DescriptionError",
    "TileKey",
    "TileStore",
    "UnsupportedDescription",
    "downsample2x",
    "encode_extras",
    "parse_description",
    "render",
]
