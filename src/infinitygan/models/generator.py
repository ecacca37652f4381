"""The InfinityGAN generator: mapping network, structure synthesizer and texture synthesizer."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from infinitygan.config import ModelConfig
from infinitygan.latents import global_latents
from infinitygan.models.mapping import MappingNetwork
from infinitygan.models.structure import StructureSynthesizer
from infinitygan.models.texture import TextureSynthesizer
from infinitygan.runtime import strict_fp32
from infinitygan.spatial import Geometry

# The average style of files that do not carry one is estimated from this many global latents of
# a fixed seed (infinitygan.latents.global_latent(W_AVG_SEED, z_dim, index) for index < count).
W_AVG_SAMPLES = 10_000
W_AVG_SEED = 0
W_AVG_BETA = 0.995  # training tracks w_avg as StyleGAN2 does: EMA of the batch mean w


def check_truncation(psi: float) -> float:
    """``psi`` as a float if it is a usable truncation (finite, 0 <= psi <= 2), else ValueError."""
    if isinstance(psi, bool) or not isinstance(psi, (int, float)):
        raise TypeError(f"truncation must be a number, got {type(psi).__name__}")
    psi = float(psi)
    if not math.isfinite(psi) or not 0.0 <= psi <= 2.0:
        raise ValueError(
            f"truncation psi must be a finite number in [0, 2] (1: no truncation, 0: the average "
            f"style), got {psi}"
        )
    return psi


class Generator(nn.Module):
    """InfinityGAN generator (paper §3). No zero padding anywhere, so every output pixel depends
    on a fixed window of the inputs.

    Sub-modules are exposed as methods on explicit inputs:

    * ``G.mapping(z_global [N, z_dim]) -> w [N, w_dim]``
    * ``G.structure(z_global, z_local [N, Dl, h, w], coords [N, 3, h, w]) -> [N, C, h-2m, w-2m]``
    * ``G.texture(structure, w, noise) -> image [N, 3, 16*S-75, ...]`` (paper-101 geometry)
    * ``G(z_global, z_local, coords, noise) -> image``

    ``w_avg`` (a persistent buffer, saved in generator files) is the average style, the centre of
    truncation (:meth:`truncate_w`). NaN means "not known yet" (a new model, or a file written
    before it existed): :meth:`average_w` then estimates it deterministically.
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
        self.register_buffer("w_avg", torch.full((config.mapping.w_dim,), math.nan))

    @property
    def num_styles(self) -> int:
        return self.texture_synthesizer.num_styles

    @property
    def num_convs(self) -> int:
        return len(self.texture_synthesizer.convs)

    def mapping(self, z_global: Tensor) -> Tensor:
        """z_global [N, z_dim] -> w [N, w_dim]."""
        return self.mapping_network(z_global)

    @torch.no_grad()
    def average_w(self) -> Tensor:
        """The average style [w_dim]: the stored ``w_avg``, or (when unknown) the mean of
        ``mapping(z)`` over :data:`W_AVG_SAMPLES` global latents of seed :data:`W_AVG_SEED`,
        computed in float64 accumulation and stored in ``w_avg``. Deterministic."""
        if not bool(torch.isnan(self.w_avg).any()):
            return self.w_avg
        device = self.w_avg.device
        z_dim = self.config.mapping.z_dim
        total = torch.zeros(self.config.mapping.w_dim, dtype=torch.float64, device=device)
        batch = 1000
        # Strict float32 whatever the caller's precision (autocast off): one value per device.
        with strict_fp32(device), torch.autocast(device.type, enabled=False):
            for start in range(0, W_AVG_SAMPLES, batch):
                n = min(batch, W_AVG_SAMPLES - start)
                z = global_latents(W_AVG_SEED, z_dim, start, n, device=device)
                total += self.mapping(z).double().sum(0)
        self.w_avg.copy_((total / W_AVG_SAMPLES).to(self.w_avg.dtype))
        return self.w_avg

    @torch.no_grad()
    def track_w_avg(self, w: Tensor, beta: float = W_AVG_BETA) -> None:
        """Training: move ``w_avg`` towards the batch mean of ``w`` [..., w_dim] (StyleGAN2)."""
        mean = w.detach().reshape(-1, w.shape[-1]).float().mean(0)
        tracked = self.w_avg.lerp(mean, 1.0 - beta)
        self.w_avg.copy_(torch.where(torch.isnan(self.w_avg), mean, tracked))  # no host sync

    def truncate_w(self, w: Tensor, psi: float) -> Tensor:
        """``w_avg + psi (w - w_avg)``; ``w`` itself (bit-identical) for psi = 1."""
        if psi == 1.0:
            return w
        avg = self.average_w().to(w.dtype)
        return avg.lerp(w, psi) if psi != 0.0 else avg.expand_as(w).clone()

    @staticmethod
    def truncate_global(z_global: Tensor, psi: float) -> Tensor:
        """The structure synthesizer's side of truncation: ``psi * z_global``. Its layers are
        modulated by an affine map of the raw z_global, whose average over z ~ N(0, I) is its
        value at z = 0, so scaling z moves every modulation toward its average by exactly psi
        (the same rule as for w). ``z_global`` itself for psi = 1."""
        return z_global if psi == 1.0 else z_global * psi

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
        truncation: float = 1.0,
    ) -> Tensor:
        structure = self.structure(self.truncate_global(z_global, truncation), z_local, coords)
        return self.texture(structure, self.truncate_w(self.mapping(z_global), truncation), noise)
