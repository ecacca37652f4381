"""Networks: generator (mapping, structure and texture synthesizers) and discriminators."""

from __future__ import annotations

from torch import nn

from infinitygan.config import DiscriminatorConfig
from infinitygan.models.discriminator import Discriminator
from infinitygan.models.generator import Generator


def build_discriminator(config: DiscriminatorConfig, patch_size: int) -> nn.Module:
    """The discriminator of ``config.kind``: the paper's StyleGAN2 residual :class:`Discriminator`
    or the :class:`~infinitygan.models.projected.ProjectedDiscriminator` (which loads the frozen
    EfficientNet-Lite0 from the ``projected`` extra). Both map ``[N, 3, P, P]`` patches to
    ``(logit [N, 1], coordinates [N, coord_dim])``."""
    if config.kind == "projected":
        from infinitygan.models.projected import ProjectedDiscriminator

        return ProjectedDiscriminator(config, patch_size)
    return Discriminator(config, patch_size)


__all__ = ["Discriminator", "Generator", "build_discriminator"]
