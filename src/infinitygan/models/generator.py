"""The InfinityGAN generator: mapping network, structure synthesizer and texture synthesizer."""

from __future__ import annotations

from torch import Tensor, nn

from infinitygan.config import ModelConfig
from infinitygan.models.mapping import MappingNetwork
from infinitygan.models.structure import StructureSynthesizer
from infinitygan.models.texture import TextureSynthesizer
from infinitygan.spatial import Geometry


class Generator(nn.Module):
    """InfinityGAN generator (paper §3). No zero padding anywhere, so every output pixel depends
    on a fixed window of the inputs.

    Sub-modules are exposed as methods on explicit inputs:

    * ``G.mapping(z_global [N, z_dim]) -> w [N, w_dim]``
    * ``G.structure(z_global, z_local [N, Dl, h, w], coords [N, 3, h, w]) -> [N, C, h-2m, w-2m]``
    * ``G.texture(structure, w, noise) -> image [N, 3, 16*S-75, ...]`` (paper-101 geometry)
    * ``G(z_global, z_local, coords, noise) -> image``
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.geometry = Geometry(config)
        self.mapping_network = MappingNetwork(config.mapping)
        self.structure_synthesizer = StructureSynthesizer(config.structure, config.mapping.z_dim)
        self.texture_synthesizer = TextureSynthesizer(
            config.texture, config.structure.channels, config.mapping.w_dim
        )

    @property
    def num_styles(self) -> int:
        return self.texture_synthesizer.num_styles

    @property
    def num_convs(self) -> int:
        return len(self.texture_synthesizer.convs)

    def mapping(self, z_global: Tensor) -> Tensor:
        """z_global [N, z_dim] -> w [N, w_dim]."""
        return self.mapping_network(z_global)

    def structure(self, z_global: Tensor, z_local: Tensor, coords: Tensor) -> Tensor:
        """Structure latent from the raw global latent, local latent and coordinates."""
        return self.structure_synthesizer(z_global, z_local, coords)

    def texture(
        self, structure: Tensor, w: Tensor, noise: list[Tensor | None] | None = None
    ) -> Tensor:
        """Image from the structure latent, styles ([N, w_dim] or [N, num_styles, w_dim]) and one
        noise map per texture conv (None: no noise)."""
        return self.texture_synthesizer(structure, w, noise)

    def forward(
        self,
        z_global: Tensor,
        z_local: Tensor,
        coords: Tensor,
        noise: list[Tensor | None] | None = None,
    ) -> Tensor:
        structure = self.structure(z_global, z_local, coords)
        return self.texture(structure, self.mapping(z_global), noise)
