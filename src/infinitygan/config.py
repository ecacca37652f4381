"""Typed, frozen model configuration with strict JSON round trip.

Every module takes its own sub-config. Derived sizes (margins, layer sizes, periods) are computed
in :mod:`infinitygan.spatial` and :mod:`infinitygan.coords`, never stored here.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

CONFIG_VERSION = 2  # 2: StyleGAN2-NCI without the input conv; optional D coordinate head


@dataclass(frozen=True)
class MappingConfig:
    """StyleGAN2 mapping network: PixelNorm then ``num_layers`` equalised-lr linear layers."""

    z_dim: int = 512  # global latent size
    w_dim: int = 512  # style size
    num_layers: int = 8
    lr_mul: float = 0.01

    def __post_init__(self) -> None:
        _positive(self, "z_dim", "w_dim", "num_layers")
        if self.lr_mul <= 0:
            raise ValueError(f"MappingConfig.lr_mul must be > 0, got {self.lr_mul}")


@dataclass(frozen=True)
class StructureConfig:
    """Structure synthesizer (paper §3.1): implicit function of z_global, z_local and coords.

    Implemented as ``num_layers`` unpadded ``kernel_size`` modulated convolutions with the
    coordinates concatenated before every layer, modulated by the *raw* global latent.
    """

    local_dim: int = 256  # channels of the local latent z_local
    channels: int = 256  # channels of each layer's output (and of the structure latent)
    num_layers: int = 4
    kernel_size: int = 7
    coord_dim: int = 3  # [tanh(vertical), cos(horizontal), sin(horizontal)]

    def __post_init__(self) -> None:
        _positive(self, "local_dim", "channels", "kernel_size")
        if not isinstance(self.num_layers, int) or self.num_layers < 0:
            raise ValueError(f"StructureConfig.num_layers must be >= 0, got {self.num_layers!r}")
        if self.num_layers == 0 and self.local_dim != self.channels:
            raise ValueError(
                "StructureConfig with num_layers=0 (no structure synthesizer: the local latent is "
                f"the structure) needs local_dim == channels, got {self.local_dim} and "
                f"{self.channels}"
            )
        if self.kernel_size % 2 != 1:
            raise ValueError(f"StructureConfig.kernel_size must be odd, got {self.kernel_size}")
        if self.coord_dim != 3:
            raise ValueError("StructureConfig.coord_dim must be 3 (tanh, cos, sin)")


@dataclass(frozen=True)
class TextureConfig:
    """Padding-free StyleGAN2 texture synthesizer (paper §3.2).

    One (upsampling conv, plain conv) pair per entry of ``channels``; a ToRGB follows every plain
    conv. ``channels[i]`` is the output width of pair ``i``.
    """

    channels: tuple[int, ...] = (512, 512, 512, 512)
    # "none": InfinityGAN's padding-free synthesizer. "zero": StyleGAN2's zero-padded layers
    # ([1, 3, 3, 1] blur, size x2 per pair, the same pairs and ToRGBs as "none"): only for the
    # StyleGAN2-NCI baseline; it is not spatially independent.
    padding: str = "none"

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if not self.channels or any(c <= 0 for c in self.channels):
            raise ValueError(f"TextureConfig.channels must be positive, got {self.channels}")
        if self.padding not in ("none", "zero"):
            raise ValueError(
                f"TextureConfig.padding must be 'none' or 'zero', got {self.padding!r}"
            )


@dataclass(frozen=True)
class CoordConfig:
    """Coordinate encoding (paper §3.1, reference-spec §2.2).

    ``vertical_step`` is the tanh pre-activation distance between latent rows (0.3 in the paper
    model: 2 * cut / (patch_cells + vertical_positions - 1) = 6/20). ``horizontal_period`` is the
    number of latent columns after which cos/sin repeat (139 in the paper model).
    """

    vertical_step: float = 0.3
    horizontal_period: int = 139
    vertical_positions: int = 10  # distinct vertical window offsets seen in training ("V")

    def __post_init__(self) -> None:
        if self.vertical_step <= 0:
            raise ValueError("CoordConfig.vertical_step must be > 0")
        _positive(self, "horizontal_period", "vertical_positions")


DISCRIMINATOR_KINDS: tuple[str, ...] = ("stylegan2", "projected")


def stylegan2_d_log2_size(patch_size: int) -> int:
    """k such that the StyleGAN2 discriminator treats a patch as 2**k px (101 -> 7: 128 px);
    its widest layer then has ``channel_base // 2**k`` channels."""
    return round(math.log2(patch_size))


@dataclass(frozen=True)
class DiscriminatorConfig:
    """The discriminator plus InfinityGAN's coordinate-prediction head.

    ``kind``: ``"stylegan2"``, the paper's StyleGAN2 residual discriminator
    (:mod:`infinitygan.models.discriminator`), or ``"projected"``, a Projected-GAN discriminator
    (Sauer et al. 2021) on the features of a frozen, ImageNet-trained EfficientNet-Lite0
    (:mod:`infinitygan.models.projected`; needs the ``projected`` extra).

    Width at resolution r is ``min(channel_max, channel_base // r)`` (paper model: 32768, 512),
    for the residual blocks (stylegan2) or the per-scale discriminators (projected).
    ``coord_head=False`` builds no coordinate head (the official baselines' discriminators);
    training then has no coordinate loss (stylegan2 only: the projected discriminator always has
    one).
    ``stddev_group`` is the minibatch-stddev group (stylegan2 only). ``projected_size`` is the side
    patches are resized to before the feature network (projected only; a multiple of 32,
    >= 64);
    ``projected_channels`` the width ``c`` of the random channel mixing (``c, 2c, 4c, 8c`` per
    scale, projected only).
    """

    channel_base: int = 32768
    channel_max: int = 512
    stddev_group: int = 4
    coord_dim: int = 3
    coord_head: bool = True
    kind: str = "stylegan2"
    projected_size: int = 128
    projected_channels: int = 64

    def __post_init__(self) -> None:
        _positive(
            self,
            "channel_base",
            "channel_max",
            "stddev_group",
            "coord_dim",
            "projected_size",
            "projected_channels",
        )
        if not isinstance(self.coord_head, bool):
            raise ValueError(
                f"DiscriminatorConfig.coord_head must be true or false, got {self.coord_head!r}"
            )
        if self.kind not in DISCRIMINATOR_KINDS:
            raise ValueError(
                f"DiscriminatorConfig.kind must be one of {', '.join(DISCRIMINATOR_KINDS)}, "
                f"got {self.kind!r}"
            )
        if self.kind == "projected" and not self.coord_head:
            raise ValueError(
                "DiscriminatorConfig: the projected discriminator always has a coordinate head; "
                "use kind=stylegan2 for a discriminator without one"
            )
        if self.projected_size < 64 or self.projected_size % 32:
            raise ValueError(
                "DiscriminatorConfig.projected_size must be a multiple of 32 and >= 64 (the "
                f"feature network downsamples 32x), got {self.projected_size}"
            )


@dataclass(frozen=True)
class ModelConfig:
    """The whole model: generator, discriminator and the training-image geometry."""

    name: str = "paper-101"
    mapping: MappingConfig = field(default_factory=MappingConfig)
    structure: StructureConfig = field(default_factory=StructureConfig)
    texture: TextureConfig = field(default_factory=TextureConfig)
    coords: CoordConfig = field(default_factory=CoordConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    patch_size: int = 101  # training patch (generator output size during training)
    full_size: int = 197  # full training image the patch is cut from
    pre_resize: int | None = 128  # optional resize before full_size (fixes the field of view)

    def __post_init__(self) -> None:
        _positive(self, "patch_size", "full_size")
        if self.full_size < self.patch_size:
            raise ValueError(
                f"ModelConfig.full_size ({self.full_size}) must be >= patch_size "
                f"({self.patch_size})"
            )
        if self.pre_resize is not None and self.pre_resize <= 0:
            raise ValueError("ModelConfig.pre_resize must be positive or None")
        if self.discriminator.kind == "stylegan2":  # its widest layer sees the patch as 2**k px
            top = 2 ** stylegan2_d_log2_size(self.patch_size)
            if self.discriminator.channel_base < top:
                raise ValueError(
                    f"discriminator.channel_base {self.discriminator.channel_base} leaves the "
                    f"discriminator no channels at its {top}-px input (channel_base // {top} = 0); "
                    f"use at least {top}"
                )
        # Validate that the patch size is reachable by the padding-free texture stack.
        from infinitygan.spatial import Geometry

        Geometry(self).structure_size_for_output(self.patch_size, exact=True)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["config_version"] = CONFIG_VERSION
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Strict inverse of :meth:`to_dict`: unknown keys and newer versions fail clearly."""
        data = dict(data)
        version = data.pop("config_version", CONFIG_VERSION)
        if version > CONFIG_VERSION:
            raise ValueError(
                f"model config version {version} is newer than this infinitygan understands "
                f"({CONFIG_VERSION}); upgrade infinitygan"
            )
        if version < 2:
            _upgrade_v1(data)
        return _build(cls, data, "ModelConfig")

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        return cls.from_dict(json.loads(text))


def check_keys(
    data: Any, known: type | Iterable[str], where: str, *, error: type[ValueError] = ValueError
) -> dict[str, Any]:
    """Refuse a JSON value that is not an object or that has a key outside ``known``.

    The one unknown-key check of every JSON file and request the package reads (model and run
    configs, canvas descriptions, web requests): a misspelt key is an error, never ignored.

    Args:
        data: the parsed JSON value.
        known: the allowed keys, or a dataclass whose field names they are.
        where: what ``data`` is, for the message (``"RunConfig.train"``).
        error: the ValueError subclass to raise.

    Returns:
        ``data``.
    """
    if not isinstance(data, dict):
        raise error(f"{where} must be a JSON object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(known)} if isinstance(known, type) else set(known)
    unknown = sorted(set(data) - names)
    if unknown:
        raise error(
            f"{where}: unknown keys {unknown}; an unknown field is an error, not ignored (check "
            f"its spelling); known keys: {sorted(names)}"
        )
    return data


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    check_keys(data, cls, where)
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        sub = _SUBCONFIGS.get((cls, name))
        if sub is not None:
            kwargs[name] = _build(sub, value, f"{where}.{name}")
        elif isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def _upgrade_v1(data: dict[str, Any]) -> None:
    """Version 1 -> 2 in place: ``texture.input_channels`` (the width of the zero-padded
    baseline's 4x4 input conv, unused by padding-free models) is gone; a version-1 zero-padded
    model had that input conv, which the official StyleGAN2-NCI does not, so it cannot load."""
    texture = data.get("texture")
    if not isinstance(texture, dict):
        return
    if texture.get("padding") == "zero":
        raise ValueError(
            "this model is a StyleGAN2-NCI baseline of the version-1 layout (with a 4x4 input "
            "conv that the official StyleGAN2-NCI does not have); its weights do not fit the "
            "current layout: retrain it with the stylegan2-nci or tiny-nci preset"
        )
    texture = dict(texture)
    texture.pop("input_channels", None)
    data["texture"] = texture


_SUBCONFIGS: dict[tuple[type, str], type] = {
    (ModelConfig, "mapping"): MappingConfig,
    (ModelConfig, "structure"): StructureConfig,
    (ModelConfig, "texture"): TextureConfig,
    (ModelConfig, "coords"): CoordConfig,
    (ModelConfig, "discriminator"): DiscriminatorConfig,
}


def _positive(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, int) or value <= 0:
            raise ValueError(
                f"{type(obj).__name__}.{name} must be a positive integer, got {value!r}"
            )
