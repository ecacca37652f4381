"""Mapping network z_global -> w (StyleGAN2, used by the texture synthesizer)."""

from __future__ import annotations

from torch import Tensor, nn

from infinitygan.config import MappingConfig
from infinitygan.ops import EqualLinear, PixelNorm


class MappingNetwork(nn.Module):
    """PixelNorm followed by ``num_layers`` equalised-lr linear layers (lr multiplier 0.01).

    Args:
        config: the mapping sub-config.
    """

    def __init__(self, config: MappingConfig) -> None:
        super().__init__()
        self.config = config
        self.norm = PixelNorm()
        dims = [config.z_dim] + [config.w_dim] * config.num_layers
        self.layers = nn.ModuleList(
            EqualLinear(dims[i], dims[i + 1], lr_mul=config.lr_mul, activate=True)
            for i in range(config.num_layers)
        )

    def forward(self, z_global: Tensor) -> Tensor:
        """z_global [N, z_dim] -> w [N, w_dim]."""
        x = self.norm(z_global)
        for layer in self.layers:
            x = layer(x)
        return x
