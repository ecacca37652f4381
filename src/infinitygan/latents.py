"""Position-keyed randomness: global latents, local latents and noise for any canvas region.

Every random value of the canvas is drawn from a counter-based generator (numpy Philox) keyed by
``(seed, stream, chunk_row, chunk_col)``: the local latent lives on the structure-cell grid, the
noise of texture conv ``i`` on that conv's own grid (see :mod:`infinitygan.spatial`). A region
therefore gets the same values whatever else is generated, in any order, on any machine.
Changing ``CHUNK`` or the key layout changes every image: they are part of the file format.
"""

from __future__ import annotations

import hashlib
import struct
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

LOCAL_CHUNK = 16  # cells per chunk side for local latents
NOISE_CHUNK = 64  # pixels per chunk side for noise maps
STREAM_GLOBAL = 0
STREAM_LOCAL = 1
STREAM_NOISE = 100  # + conv index

SEED_MIN = -(2**63)
SEED_MAX = 2**63 - 1
"""Seeds are packed as signed 64-bit integers into every random key."""


def check_seed(seed: int, what: str = "seed") -> int:
    """Return ``seed`` when it fits the signed 64-bit keys, else raise ValueError naming it."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"{what} must be an integer, got {seed!r}")
    if not SEED_MIN <= seed <= SEED_MAX:
        raise ValueError(
            f"{what} {seed} is out of range; seeds are 64-bit integers from {SEED_MIN} to "
            f"{SEED_MAX}"
        )
    return seed


def _key(seed: int, stream: int, a: int, b: int) -> int:
    data = struct.pack("<qqqq", int(seed), int(stream), int(a), int(b))
    return int.from_bytes(hashlib.blake2b(data, digest_size=16).digest(), "little")


def _normal(seed: int, stream: int, a: int, b: int, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.Generator(np.random.Philox(key=_key(seed, stream, a, b)))
    return rng.standard_normal(shape, dtype=np.float32)


@lru_cache(maxsize=512)
def _chunk(seed: int, stream: int, cy: int, cx: int, channels: int, size: int) -> np.ndarray:
    out = _normal(seed, stream, cy, cx, (channels, size, size))
    out.setflags(write=False)
    return out


def global_latent(seed: int, dim: int, index: int = 0) -> Tensor:
    """The global latent [dim] of ``seed`` (``index`` selects further independent draws)."""
    return torch.from_numpy(_normal(seed, STREAM_GLOBAL, index, dim, (dim,)).copy())


def _field(
    seed: int, stream: int, channels: int, chunk: int, rows: np.ndarray, cols: np.ndarray
) -> Tensor:
    out = np.empty((channels, rows.size, cols.size), dtype=np.float32)
    rchunk, rin = np.divmod(rows, chunk)
    cchunk, cin = np.divmod(cols, chunk)
    for cy in np.unique(rchunk):
        rsel = np.nonzero(rchunk == cy)[0]
        for cx in np.unique(cchunk):
            csel = np.nonzero(cchunk == cx)[0]
            block = _chunk(seed, stream, int(cy), int(cx), channels, chunk)
            out[:, rsel[:, None], csel[None, :]] = block[:, rin[rsel][:, None], cin[csel][None, :]]
    return torch.from_numpy(out)


def _indices(start: int, size: int, period: int | None) -> np.ndarray:
    idx = np.arange(start, start + size, dtype=np.int64)
    return np.mod(idx, period) if period else idx


def local_latent(
    seed: int,
    channels: int,
    row_start: int,
    rows: int,
    col_start: int,
    cols: int,
    *,
    period: int | None = None,
) -> Tensor:
    """Local latent [channels, rows, cols] of cells ``[row_start, +rows) x [col_start, +cols)``.

    ``period`` wraps columns (360-degree panoramas).
    """
    return _field(
        seed,
        STREAM_LOCAL,
        channels,
        LOCAL_CHUNK,
        _indices(row_start, rows, None),
        _indices(col_start, cols, period),
    )


def noise_map(
    seed: int,
    conv_index: int,
    row_start: int,
    rows: int,
    col_start: int,
    cols: int,
    *,
    period: int | None = None,
) -> Tensor:
    """Noise [1, rows, cols] of texture conv ``conv_index`` on that conv's grid."""
    return _field(
        seed,
        STREAM_NOISE + conv_index,
        1,
        NOISE_CHUNK,
        _indices(row_start, rows, None),
        _indices(col_start, cols, period),
    )
