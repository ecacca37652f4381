"""Structure synthesizer (InfinityGAN §3.1): an implicit function of z_global, z_local, coords."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from infinitygan.config import StructureConfig
from infinitygan.ops import ModulatedConv2d, bias_lrelu


def center_crop(x: Tensor, height: int, width: int) -> Tensor:
    """Crop the centre ``height x width`` of x [..., H, W] (H - height must be even)."""
    dy = (x.shape[-2] - height) // 2
    dx = (x.shape[-1] - width) // 2
    return x[..., dy : dy + height, dx : dx + width]


class StructureLayer(nn.Module):
    """Concatenate coords, unpadded modulated k x k conv (style = raw z_global), bias + lrelu."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, style_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, kernel_size, style_dim)
        self.bias = nn.Parameter(torch.zeros(out_ch))

    def forward(self, x: Tensor, z_global: Tensor) -> Tensor:
        return bias_lrelu(self.conv(x, z_global), self.bias.to(x.dtype))


class StructureSynthesizer(nn.Module):
    """``num_layers`` layers, each removing ``kernel_size - 1`` cells (35 -> 11 in the paper model).

    The coordinates are concatenated before every layer, centre-cropped to the feature size, so a
    structure cell only ever sees the coordinates of its own canvas position.
    """

    def __init__(self, config: StructureConfig, z_dim: int) -> None:
        super().__init__()
        self.config = config
        c = config
        self.layers = nn.ModuleList(
            StructureLayer(
                (c.local_dim if i == 0 else c.channels) + c.coord_dim,
                c.channels,
                c.kernel_size,
                z_dim,
            )
            for i in range(c.num_layers)
        )

    def forward(self, z_global: Tensor, z_local: Tensor, coords: Tensor) -> Tensor:
        """z_global [N, z_dim], z_local [N, local_dim, h, w], coords [N or 1, 3, h, w]
        -> structure [N, channels, h - 2m, w - 2m]."""
        if coords.shape[-2:] != z_local.shape[-2:]:
            raise ValueError(
                f"coords {tuple(coords.shape[-2:])} and z_local {tuple(z_local.shape[-2:])} "
                "must cover the same cells"
            )
        x = z_local
        if not self.layers:  # baseline without a structure synthesizer: z_local is the structure
            return x
        coords = coords.to(x.dtype)
        if coords.shape[0] != x.shape[0]:
            coords = coords.expand(x.shape[0], -1, -1, -1)
        for layer in self.layers:
            c = center_crop(coords, x.shape[-2], x.shape[-1])
            x = layer(torch.cat([x, c], dim=1), z_global)
        return x
