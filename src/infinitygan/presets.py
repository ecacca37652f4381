"""Named model presets. Each is a function returning a :class:`ModelConfig`."""

from __future__ import annotations

import dataclasses
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


def paper_hr() -> ModelConfig:
    """The official InfinityGAN-HR (configs/model/InfinityGAN-HR.yaml): 389-px patches of 773-px
    images (no pre-resize); six texture pairs of 512, 512, 512, 512, 256, 128 channels and a
    seven-block discriminator from 64 channels (39,356,586 / 29,509,188 parameters)."""
    return ModelConfig(
        name="paper-hr",
        texture=TextureConfig(channels=(512, 512, 512, 512, 256, 128)),
        patch_size=389,
        full_size=773,
        pre_resize=None,
    )


def paper_hr_197() -> ModelConfig:
    """InfinityGAN-HR at the sizes of the official README's model table (197-px patches of 389-px
    images; the config file says 389 of 773): five texture pairs, the last 256 channels, and a
    six-block discriminator from 128 channels (38,650,917 / 29,390,468 parameters). Detection
    picks it when the HR checkpoint has this shape."""
    return ModelConfig(
        name="paper-hr-197",
        texture=TextureConfig(channels=(512, 512, 512, 512, 256)),
        patch_size=197,
        full_size=389,
        pre_resize=None,
    )


def paper_ur() -> ModelConfig:
    """The official InfinityGAN-UR (configs/model/InfinityGAN-UR.yaml): 773-px patches of
    1024-px images; seven texture pairs (HR's plus 64 channels) and an eight-block
    discriminator from 32 channels (39,598,831 / 29,538,852 parameters)."""
    return ModelConfig(
        name="paper-ur",
        texture=TextureConfig(channels=(512, 512, 512, 512, 256, 128, 64)),
        patch_size=773,
        full_size=1024,
        pre_resize=None,
    )


def paper_iof() -> ModelConfig:
    """The official InfinityGAN-IOF (In&Out Flickr-Scenery, 256-px photos): the paper-101
    architecture with 101-px patches of 197-px images and no pre-resize."""
    return dataclasses.replace(paper_101(), name="paper-iof", pre_resize=None)


def paper_iop() -> ModelConfig:
    """The official InfinityGAN-IOP (In&Out Places365 scenery, 256-px photos): as paper-iof."""
    return dataclasses.replace(paper_101(), name="paper-iop", pre_resize=None)


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


def stylegan2_nci() -> ModelConfig:
    """Baseline StyleGAN2-NCI (configs/model/StyleGAN2_NCI.yaml): zero-padded StyleGAN2 whose
    constant input is replaced by a 4x4x512 random local latent, trained on whole 128-px images
    (no structure synthesizer, no coordinates, no coordinate head); larger images come from a
    larger input latent. As the official model: no 4x4 input conv (conv 0 upsamples 4 -> 8), ten
    512-channel convs, five ToRGBs (29,646,873 / 28,389,121 parameters)."""
    return ModelConfig(
        name="stylegan2-nci",
        structure=StructureConfig(local_dim=512, channels=512, num_layers=0),
        texture=TextureConfig(channels=(512, 512, 512, 512, 512), padding="zero"),
        discriminator=DiscriminatorConfig(coord_head=False),
        patch_size=128,
        full_size=128,
        pre_resize=None,
    )


def stylegan2_nci_fcg() -> ModelConfig:
    """Baseline StyleGAN2-NCI-FCG (configs/model/StyleGAN2_NCI_FCG.yaml): InfinityGAN's
    padding-free texture synthesizer fed directly by an 11x11x256 random local latent (no
    structure synthesizer, no coordinates, no coordinate head), trained on 101-px patches of
    197-px images (no pre-resize) (22,826,772 / 26,554,113 parameters)."""
    return ModelConfig(
        name="stylegan2-nci-fcg",
        structure=StructureConfig(local_dim=256, channels=256, num_layers=0),
        discriminator=DiscriminatorConfig(coord_head=False),
        pre_resize=None,
    )


def tiny_nci() -> ModelConfig:
    """``stylegan2-nci``'s layout with few channels (for tests and CPU comparisons)."""
    t = tiny()
    return ModelConfig(
        name="tiny-nci",
        mapping=t.mapping,
        structure=StructureConfig(local_dim=48, channels=48, num_layers=0),
        texture=TextureConfig(channels=(48, 32, 32, 16, 16), padding="zero"),
        discriminator=dataclasses.replace(t.discriminator, coord_head=False),
        patch_size=128,
        full_size=128,
        pre_resize=None,
    )


def tiny_nci_fcg() -> ModelConfig:
    """``stylegan2-nci-fcg``'s layout with the channels of ``tiny``."""
    t = tiny()
    return ModelConfig(
        name="tiny-nci-fcg",
        mapping=t.mapping,
        structure=StructureConfig(local_dim=32, channels=32, num_layers=0),
        texture=t.texture,
        discriminator=dataclasses.replace(t.discriminator, coord_head=False),
    )


def landscapes_cpu() -> ModelConfig:
    """The bundled "landscapes" model: trainable in a few hours on one core of a 2-core CPU.

    Three texture pairs (8 px per structure cell) give 53-px patches from the usual 11 structure
    cells (35 local-latent cells); the photos are pre-resized to 66 px and upsampled to 101-px
    full images, the paper's 128 -> 197 -> 101 field of view at about half the resolution, so a
    patch shows about half of the scene. The horizontal period is 278 cells, so that a 360-degree
    panorama is 2224 px wide as with the paper model. Few channels: 64-d latents, a 48-channel
    structure synthesizer, texture pairs of 96/64/32 channels, a discriminator of 64-96 channels
    (716k generator parameters; about 1.1 s per plain training step at batch 4 on one thread).
    """
    return ModelConfig(
        name="landscapes-cpu",
        mapping=MappingConfig(z_dim=64, w_dim=64, num_layers=4, lr_mul=0.01),
        structure=StructureConfig(local_dim=16, channels=48),
        texture=TextureConfig(channels=(96, 64, 32)),
        coords=CoordConfig(horizontal_period=278),
        discriminator=DiscriminatorConfig(channel_base=4096, channel_max=96, stddev_group=4),
        patch_size=53,
        full_size=101,
        pre_resize=66,
    )


PRESETS: dict[str, Callable[[], ModelConfig]] = {
    "paper-101": paper_101,
    "paper-hr": paper_hr,
    "paper-hr-197": paper_hr_197,
    "paper-ur": paper_ur,
    "paper-iof": paper_iof,
    "paper-iop": paper_iop,
    "tiny": tiny,
    "stylegan2-nci": stylegan2_nci,
    "stylegan2-nci-fcg": stylegan2_nci_fcg,
    "tiny-nci": tiny_nci,
    "tiny-nci-fcg": tiny_nci_fcg,
    "landscapes-cpu": landscapes_cpu,
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
