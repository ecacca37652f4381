"""Benchmark the canvas randomness: every random value of a 2048x2048 ``paper-101`` region.

The values are those one render of the region draws (as :func:`infinitygan.canvas.one_shot_region`
does): the local latent of the structure window with its margin (256 channels) and the noise map
of every texture conv on that conv's grid. Two generators draw them, interleaved round by round so
that load swings on a shared machine hit both alike:

* ``values_per_s``: :mod:`infinitygan.latents` (Philox-4x32-10 in tensor operations, randomness
  version 2) on ``--device``;
* ``numpy_philox_values_per_s``: the generator it replaced (randomness version 1, kept here
  verbatim for comparison): numpy's Philox keyed by a BLAKE2b hash of 16- and 64-cell chunks,
  gathered by Python loops and fancy indexing, on the host (its chunk cache is cleared each round).

Prints one JSON object. Run: ``.venv/bin/python benchmarks/bench_random.py [--rounds 3]
[--size 2048] [--device cpu] [--threads N]``. On a loaded shared CPU, torch with 2 threads needs
``OMP_WAIT_POLICY=PASSIVE`` (spinning OpenMP workers otherwise steal the cores, 10x slower).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import struct
import sys
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peak import machine  # noqa: E402

from infinitygan.latents import local_latent, noise_map  # noqa: E402
from infinitygan.presets import get_preset  # noqa: E402
from infinitygan.spatial import Geometry  # noqa: E402

# -- randomness version 1 (infinitygan's generator before version 2), for comparison only ------
_LOCAL_CHUNK, _NOISE_CHUNK, _STREAM_LOCAL, _STREAM_NOISE = 16, 64, 1, 100


def _v1_key(seed: int, stream: int, a: int, b: int) -> int:
    data = struct.pack("<qqqq", int(seed), int(stream), int(a), int(b))
    return int.from_bytes(hashlib.blake2b(data, digest_size=16).digest(), "little")


@lru_cache(maxsize=512)
def _v1_chunk(seed: int, stream: int, cy: int, cx: int, channels: int, size: int) -> np.ndarray:
    rng = np.random.Generator(np.random.Philox(key=_v1_key(seed, stream, cy, cx)))
    out = rng.standard_normal((channels, size, size), dtype=np.float32)
    out.setflags(write=False)
    return out


def _v1_field(seed, stream, channels, chunk, r0, rows, c0, cols) -> torch.Tensor:
    rows_i = np.arange(r0, r0 + rows, dtype=np.int64)
    cols_i = np.arange(c0, c0 + cols, dtype=np.int64)
    out = np.empty((channels, rows, cols), dtype=np.float32)
    rchunk, rin = np.divmod(rows_i, chunk)
    cchunk, cin = np.divmod(cols_i, chunk)
    for cy in np.unique(rchunk):
        rsel = np.nonzero(rchunk == cy)[0]
        for cx in np.unique(cchunk):
            csel = np.nonzero(cchunk == cx)[0]
            block = _v1_chunk(seed, stream, int(cy), int(cx), channels, chunk)
            out[:, rsel[:, None], csel[None, :]] = block[:, rin[rsel][:, None], cin[csel][None, :]]
    return torch.from_numpy(out)


# -----------------------------------------------------------------------------------------------
def region_fields(size: int) -> list[tuple[str, int, int, int, int, int, int]]:
    """(kind, index, channels, row_start, rows, col_start, cols) of every random field."""
    cfg = get_preset("paper-101")
    geo = Geometry(cfg)
    wy, wx = geo.window(-(size // 2), size), geo.window(0, size)
    m = geo.margin
    fields = [
        ("local", 0, cfg.structure.local_dim, wy.cell_start - m, wy.cells + 2 * m)
        + (wx.cell_start - m, wx.cells + 2 * m)
    ]
    sizes_y, sizes_x = geo.texture_conv_sizes(wy.cells), geo.texture_conv_sizes(wx.cells)
    for i in range(geo.num_convs):
        s = geo.layer_scale(i)
        fields.append(("noise", i, 1, s * wy.cell_start, sizes_y[i], s * wx.cell_start, sizes_x[i]))
    return fields


def draw_new(fields, seed: int, device: torch.device) -> None:
    for kind, i, ch, r0, rows, c0, cols in fields:
        if kind == "local":
            local_latent(seed, ch, r0, rows, c0, cols, device=device)
        else:
            noise_map(seed, i, r0, rows, c0, cols, device=device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def draw_numpy(fields, seed: int) -> None:
    _v1_chunk.cache_clear()
    for kind, i, ch, r0, rows, c0, cols in fields:
        if kind == "local":
            _v1_field(seed, _STREAM_LOCAL, ch, _LOCAL_CHUNK, r0, rows, c0, cols)
        else:
            _v1_field(seed, _STREAM_NOISE + i, 1, _NOISE_CHUNK, r0, rows, c0, cols)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048, help="region side in pixels")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    fields = region_fields(args.size)
    values = sum(f[2] * f[4] * f[6] for f in fields)
    draw_new(fields, 0, device)  # warm-up (allocator, CUDA context)
    seconds: dict[str, list[float]] = {"new": [], "numpy": []}
    for r in range(args.rounds):  # interleaved; a new seed per round
        start = time.perf_counter()
        draw_new(fields, r + 1, device)
        seconds["new"].append(time.perf_counter() - start)
        start = time.perf_counter()
        draw_numpy(fields, r + 1)
        seconds["numpy"].append(time.perf_counter() - start)
    median = {k: statistics.median(v) for k, v in seconds.items()}
    print(
        json.dumps(
            {
                "benchmark": "random",
                "machine": machine(),
                "region": f"{args.size}x{args.size} paper-101",
                "values": values,
                "rounds": args.rounds,
                "median_seconds": {k: round(v, 3) for k, v in median.items()},
                "values_per_s": round(values / median["new"]),
                "numpy_philox_values_per_s": round(values / median["numpy"]),
                "speedup": round(median["numpy"] / median["new"], 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
