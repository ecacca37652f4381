"""Position-keyed randomness: global latents, local latents and noise for any canvas region.

Every random value of the canvas is a pure function of ``(seed, stream, channel, row, column)``:
a Philox-4x32-10 counter-based generator (Salmon et al., SC'11, as in Random123) written in
integer tensor operations, so it runs on the device that renders. Each value is keyed by its own
position (there are no chunks of keys); a field is computed in one pass over all its positions
(on CPU in cache-sized blocks of positions, see :data:`CPU_BLOCK`; the values never depend on it).

* Key: the seed as 64 bits (two 32-bit words; any int64, negative included).
* Counter: ``(column // 4, row, channel, stream)``, each word taken modulo ``2**32`` (negative
  positions are valid; positions repeat after ``2**32`` rows or ``2**34`` columns). One Philox
  call gives four 32-bit words, turned by Box-Muller into the normals of columns
  ``4g .. 4g + 3``. With a horizontal ``period``, columns are reduced modulo the period first.
* Streams: :data:`STREAM_GLOBAL` (the global latent: row ``index``, column = dimension),
  :data:`STREAM_LOCAL` (local latents on the structure-cell grid) and ``STREAM_NOISE + i``
  (the noise of texture conv ``i`` on that conv's own grid, see :mod:`infinitygan.spatial`).

A region therefore gets the same values whatever else is generated, in any order, on any device.
The 32-bit words and the uniforms made from them (24-bit, exactly representable in float32) are
bit-identical on every device; the normals go through ``log``, ``sqrt``, ``cos`` and ``sin``,
whose float32 implementations differ by an ulp or so between CPU and CUDA, so normals agree to
float rounding (relative 1e-6), not bit for bit.

The key and counter layout is part of the canvas format: changing it changes every image, and
:data:`RANDOM_VERSION` (recorded in every sidecar and canvas description) must then be bumped.
Version 1 was numpy's Philox keyed by a BLAKE2b hash of 16- and 64-cell chunks.
"""

from __future__ import annotations

import math
import operator

import torch
from torch import Tensor

#: Version of the canvas randomness (which image a seed gives). 1: numpy Philox on chunks
#: (infinitygan up to this change); 2: Philox-4x32-10 in tensor operations, keyed per value.
RANDOM_VERSION = 2
STREAM_GLOBAL = 0
STREAM_LOCAL = 1
STREAM_NOISE = 100  # + conv index
LANES = 4  # columns per Philox call (one 4-word output)

_MASK = 0xFFFFFFFF
_PHILOX_M = (0xD2511F53, 0xCD9E8D57)
_PHILOX_W = (0x9E3779B9, 0xBB67AE85)
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_TWO_PI = 2 * math.pi

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


def philox4x32_10(
    c0: Tensor, c1: Tensor, c2: Tensor, c3: Tensor, k0: Tensor, k1: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Philox-4x32-10 of counters ``(c0, c1, c2, c3)`` under key ``(k0, k1)``.

    All arguments are int64 tensors holding unsigned 32-bit values (broadcastable shapes); the
    four output words are int64 tensors of the broadcast shape with values in ``[0, 2**32)``.
    Matches the Random123 known-answer vectors.
    """
    m0, m1 = _PHILOX_M
    for r in range(10):
        if r:
            k0 = (k0 + _PHILOX_W[0]) & _MASK
            k1 = (k1 + _PHILOX_W[1]) & _MASK
        # Only the low 32 bits of each word are kept exact between rounds: the bits above may
        # hold leftovers (the high half of a lo product, the sign of an arithmetic shift), which
        # xor never moves down, and a word is masked just before it is multiplied. The
        # 32 x 32 -> 64-bit products wrap modulo 2**64 in int64, as integer products do on CPU
        # and CUDA, so the low 32 bits of hi (p >> 32) and lo (p) are exact.
        p0 = (c0 & _MASK) * m0
        p1 = (c2 & _MASK) * m1
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1, (p0 >> 32) ^ c3 ^ k1, p0
    return c0 & _MASK, c1 & _MASK, c2 & _MASK, c3 & _MASK


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool):
        raise TypeError("seed must be an int, got bool")
    seed = operator.index(seed)
    if not _INT64_MIN <= seed <= _INT64_MAX:
        raise ValueError(f"seed must fit in 64 bits (-2**63 <= seed < 2**63), got {seed}")
    return seed


def _uniform(word: Tensor) -> Tensor:
    """24 bits of a word as a uniform in ``(0, 1]``: exact in float32, never 0 (log is finite)."""
    return ((word & 0xFFFFFF) + 1).to(torch.float32) * (1.0 / (1 << 24))


def _box_muller(u0: Tensor, u1: Tensor, out0: Tensor, out1: Tensor) -> None:
    """Two standard normals per pair of uniforms, ``sqrt(-2 log u0) * cos(2 pi u1)`` and
    ``... * sin(...)``, written into ``out0`` and ``out1``."""
    r = torch.log(u0).mul_(-2.0).sqrt_()
    theta = u1.mul_(_TWO_PI)
    torch.mul(r, torch.cos(theta), out=out0)
    torch.mul(r, theta.sin_(), out=out1)


class _Counters:
    """Key and counters of a field: value ``(c, r, 4g + j)`` is word ``j`` of Philox at counter
    ``(g, r, c, stream)`` under the seed's key. Rows are flattened with channels (``c * R + r``)."""

    def __init__(self, seed: int, stream: int, channels: int, rows: Tensor, groups: Tensor) -> None:
        seed = _check_seed(seed)
        device = rows.device
        self.key = torch.tensor(
            [seed & _MASK, (seed >> 32) & _MASK], dtype=torch.int64, device=device
        )
        self.stream = torch.tensor(stream & _MASK, dtype=torch.int64, device=device)
        self.groups = (groups & _MASK)[None, :]
        self.rows = (rows & _MASK).repeat(channels)[:, None]
        self.channels = torch.arange(channels, dtype=torch.int64, device=device)
        self.channels = self.channels.repeat_interleave(rows.numel())[:, None]

    def words(self, start: int, stop: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The four words [stop - start, groups] of flattened rows ``[start, stop)``."""
        return philox4x32_10(
            self.groups,
            self.rows[start:stop],
            self.channels[start:stop],
            self.stream,
            self.key[0],
            self.key[1],
        )


#: On CPU a field is computed in blocks of fewer than this many Philox calls (of rows of
#: positions), so that the ~120 elementwise passes run in cache (about 2x faster than whole-field
#: passes on the 2-vCPU EPYC) and the integer passes stay below torch's parallel grain (32768
#: elements): on a loaded machine a parallel region per pass costs more than the pass (``log``
#: and ``sin`` still go parallel with several threads). Every value is keyed by its own position,
#: so the values do not depend on the block size (a test checks).
CPU_BLOCK = 1 << 15
#: On other devices: blocks only bound the memory of the int64 temporaries (128 MiB each).
DEVICE_BLOCK = 1 << 24


def _fill(
    seed: int,
    stream: int,
    channels: int,
    rows: Tensor,
    groups: Tensor,
    block: int | None,
    normals: bool,
) -> Tensor:
    """Uniforms or normals [channels * rows, groups, 4], block by block (see :data:`CPU_BLOCK`)."""
    counters = _Counters(seed, stream, channels, rows, groups)
    n, g = channels * rows.numel(), groups.numel()
    out = torch.empty(n, g, LANES, dtype=torch.float32, device=rows.device)
    if block is None:
        block = CPU_BLOCK - 1 if rows.device.type == "cpu" else DEVICE_BLOCK
    step = max(1, block // max(g, 1))
    for start in range(0, n, step):
        u = [_uniform(w) for w in counters.words(start, start + step)]
        o = out[start : start + step]
        if normals:
            _box_muller(u[0], u[1], o[..., 0], o[..., 1])
            _box_muller(u[2], u[3], o[..., 2], o[..., 3])
        else:
            for lane in range(LANES):
                o[..., lane] = u[lane]
    return out


def uniforms(seed: int, stream: int, channels: int, rows: Tensor, groups: Tensor) -> Tensor:
    """The uniforms [channels, rows, groups, 4] in ``(0, 1]`` behind the normals, on the device of
    ``rows`` (int64 rows and column groups of four).

    24-bit, exactly representable in float32, hence bit-identical on every device.
    """
    u = _fill(seed, stream, channels, rows, groups, None, normals=False)
    return u.view(channels, rows.numel(), groups.numel(), LANES)


def _normal_groups(
    seed: int,
    stream: int,
    channels: int,
    rows: Tensor,
    groups: Tensor,
    block: int | None = None,
) -> Tensor:
    """Normals [channels, rows, 4 * groups]: the four columns ``4g .. 4g + 3`` of each group."""
    z = _fill(seed, stream, channels, rows, groups, block, normals=True)
    return z.view(channels, rows.numel(), groups.numel() * LANES)


def _device(device: str | torch.device | None) -> torch.device:
    return torch.device(device) if device is not None else torch.device("cpu")


def normal_field(
    seed: int,
    stream: int,
    channels: int,
    row_start: int,
    rows: int,
    col_start: int,
    cols: int,
    *,
    period: int | None = None,
    device: str | torch.device | None = None,
) -> Tensor:
    """Standard normals [channels, rows, cols] of stream ``stream`` at rows ``[row_start, +rows)``
    and columns ``[col_start, +cols)`` (columns modulo ``period`` when given), on ``device``."""
    row_start, rows, col_start, cols = map(operator.index, (row_start, rows, col_start, cols))
    if rows < 0 or cols < 0 or channels < 0:
        raise ValueError(f"field size must be non-negative, got {channels}x{rows}x{cols}")
    if period is not None and period <= 0:
        raise ValueError(f"period must be positive, got {period}")
    device = _device(device)
    row_idx = torch.arange(row_start, row_start + rows, dtype=torch.int64, device=device)
    if period is not None:
        col_start %= period
    if period is None or col_start + cols <= period:  # contiguous columns: compute and slice
        g0 = col_start // LANES
        g1 = -(-(col_start + cols) // LANES)
        groups = torch.arange(g0, g1, dtype=torch.int64, device=device)
        out = _normal_groups(seed, stream, channels, row_idx, groups)
        off = col_start - LANES * g0
        return out[:, :, off : off + cols].contiguous()
    # wrapped columns: compute each group of the period once, gather the columns
    col_idx = torch.arange(col_start, col_start + cols, dtype=torch.int64, device=device) % period
    groups, inverse = torch.unique(col_idx // LANES, return_inverse=True)
    out = _normal_groups(seed, stream, channels, row_idx, groups)
    return out.index_select(2, inverse * LANES + col_idx % LANES)


def global_latent(
    seed: int, dim: int, index: int = 0, *, device: str | torch.device | None = None
) -> Tensor:
    """The global latent [dim] of ``seed`` (``index`` selects further independent draws)."""
    return normal_field(seed, STREAM_GLOBAL, 1, index, 1, 0, dim, device=device)[0, 0]


def global_latents(
    seed: int, dim: int, start: int, count: int, *, device: str | torch.device | None = None
) -> Tensor:
    """``global_latent(seed, dim, index)`` for ``index`` in ``[start, start + count)``, stacked
    [count, dim] (one batched draw)."""
    return normal_field(seed, STREAM_GLOBAL, 1, start, count, 0, dim, device=device)[0]


def local_latent(
    seed: int,
    channels: int,
    row_start: int,
    rows: int,
    col_start: int,
    cols: int,
    *,
    period: int | None = None,
    device: str | torch.device | None = None,
) -> Tensor:
    """Local latent [channels, rows, cols] of cells ``[row_start, +rows) x [col_start, +cols)``.

    ``period`` wraps columns (360-degree panoramas); the tensor is made on ``device`` (CPU).
    """
    return normal_field(
        seed,
        STREAM_LOCAL,
        channels,
        row_start,
        rows,
        col_start,
        cols,
        period=period,
        device=device,
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
    device: str | torch.device | None = None,
) -> Tensor:
    """Noise [1, rows, cols] of texture conv ``conv_index`` on that conv's grid, on ``device``."""
    return normal_field(
        seed,
        STREAM_NOISE + conv_index,
        1,
        row_start,
        rows,
        col_start,
        cols,
        period=period,
        device=device,
    )
