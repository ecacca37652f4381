"""Browser explorer of the endless canvas (``infinitygan serve``).

The server (:mod:`infinitygan.web.app`) needs the optional ``web`` extra (FastAPI, uvicorn); the
tile and description logic here does not.
"""

from __future__ import annotations

from infinitygan.web.description import (
    DescriptionError,
    encode_extras,
    extras_id,
    parse_description,
)
from infinitygan.web.tiles import TILE_SIZE, TileKey, TileStore, downsample2x

__all__ = [
    "TILE_SIZE",
    "DescriptionError",
    "TileKey",
    "TileStore",
    "downsample2x",
    "encode_extras",
    "extras_id",
    "parse_description",
]
