"""Named model presets. Each is a function returning a :class:`ModelConfig`."""

from __future__ import annotations

from collections.abc import Callable

from infinitygan.config import (
    CoordConfig,
    DiscriminatorConfig,
    MappingConfig,
    ModelConfig,
    StructureConfig,
    TextureConfig,
)


def paper_101() -> ModelConfig:
    """The official main model (configs/model/InfinityGAN.yaml): 101-px patches of 197-px images."""
    return ModelConfig(name="paper-101")


def tiny() -> ModelConfig:
    """The paper architecture with few channels: for tests and fast CPU work."""
    return ModelConfig(
        name="tiny",
        mapping=MappingConfig(z_dim=64, w_dim=64, num_layers=4, lr_mul=0.01),
        structure=StructureConfig(local_dim=16, channels=32),
        texture=TextureConfig(channels=(48, 32, 32, 16)),
        coords=CoordConfig(),
        discriminator=DiscriminatorConfig(channel_base=4096, channel_max=64, stddev_group=4),
    )


PRESETS: dict[str, Callable[[], ModelConfig]] = {
    "paper-101": paper_101,
    "tiny": tiny,
}


def get_preset(name: str) -> ModelConfig:
    """Return the config of the preset ``name``.

    Raises:
        ValueError: for an unknown name (the message lists the known ones).
    """
    try:
        factory = PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown preset {name!r}; choose one of: {', '.join(sorted(PRESETS))}"
        ) from None
    return factory()
