"""Coordinate encoding of the canvas (InfinityGAN §3.1, reference-spec §2).

Structure-cell row ``r`` (row 0 is the horizon) has vertical coordinate ``tanh(step * r)``;
column ``c`` has horizontal phase ``h = 2 * c / period - 1`` encoded as ``(cos(pi h), sin(pi h))``,
so the horizontal axis repeats every ``period`` cells (139 cells = 2224 px for paper-101).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor

from infinitygan.config import CoordConfig


def _as_tensor(values: Iterable[float] | Tensor) -> Tensor:
    if isinstance(values, Tensor):
        return values.to(torch.float64)
    return torch.as_tensor(list(values), dtype=torch.float64)


def coord_grid(
    rows: Iterable[float] | Tensor, cols: Iterable[float] | Tensor, config: CoordConfig
) -> Tensor:
    """Coordinates [3, len(rows), len(cols)] (float32) for the given cell rows and columns.

    Rows and columns may be fractional (training jitter) and any integers (canvas positions).
    """
    r = _as_tensor(rows)
    c = _as_tensor(cols)
    vertical = torch.tanh(config.vertical_step * r)
    phase = math.pi * (2.0 * c / config.horizontal_period - 1.0)
    grid = torch.empty(3, r.numel(), c.numel(), dtype=torch.float64)
    grid[0] = vertical[:, None]
    grid[1] = torch.cos(phase)[None, :]
    grid[2] = torch.sin(phase)[None, :]
    return grid.to(torch.float32)


def sample_training_coords(
    batch: int,
    cells: int,
    config: CoordConfig,
    generator: torch.Generator,
    *,
    jitter: bool = True,
) -> tuple[Tensor, Tensor]:
    """Random training windows of ``cells x cells`` local-latent cells (reference-spec §2.3).

    Each sample's window centre row is ``k - V // 2`` for ``k ~ U{0..V-1}`` (V =
    ``vertical_positions``) and its first column is uniform over the horizontal period. With
    ``jitter`` one continuous offset of up to half a cell is added per sample and axis (the same for
    the cos and the sin channel, unlike the official code).

    Returns:
        coords [N, 3, cells, cells] and the vertical label [N] in about [-1, 1]:
        ``2 * (k + row_jitter) / (V - 1) - 1``, i.e. the position actually used.
    """
    v = config.vertical_positions
    k = torch.randint(0, v, (batch,), generator=generator).to(torch.float64)
    col0 = torch.randint(0, config.horizontal_period, (batch,), generator=generator)
    if jitter:
        dr = torch.rand(batch, generator=generator, dtype=torch.float64) - 0.5
        dc = torch.rand(batch, generator=generator, dtype=torch.float64) - 0.5
    else:
        dr = torch.zeros(batch, dtype=torch.float64)
        dc = torch.zeros(batch, dtype=torch.float64)
    offsets = torch.arange(cells, dtype=torch.float64) - (cells - 1) / 2
    coords = torch.stack(
        [
            coord_grid(
                offsets + (k[i] - v // 2) + dr[i],
                offsets + (cells - 1) / 2 + col0[i] + dc[i],
                config,
            )
            for i in range(batch)
        ]
    )
    labels = 2.0 * (k + dr) / max(v - 1, 1) - 1.0
    return coords, labels.to(torch.float32)
