"""Padding-free texture synthesizer (InfinityGAN §3.2): StyleGAN2 synthesis without zero padding.

The structure latent replaces StyleGAN2's constant input. Each (upsampling conv, plain conv) pair
maps H -> 2H - 5; with four pairs the image is 16*S - 75 pixels for S structure cells.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from infinitygan.config import TextureConfig
from infinitygan.models.structure import center_crop
from infinitygan.ops import (
    ModulatedConv2d,
    NoiseInjection,
    bias_lrelu,
    blur_kernel_2d,
    upsample_transposed_depthwise,
    upsample_zero_padded,
)


class StyledConv(nn.Module):
    """Modulated 3x3 conv (optionally upsampling), noise injection, bias + leaky ReLU."""

    def __init__(
        self, in_ch: int, out_ch: int, style_dim: int, *, upsample: bool, padded: bool = False
    ) -> None:
        super().__init__()
        blur = (1, 3, 3, 1) if padded else (1, 2, 1)
        self.conv = ModulatedConv2d(
            in_ch, out_ch, 3, style_dim, upsample=upsample, blur_taps=blur, padded=padded
        )
        self.noise = NoiseInjection()
        self.bias = nn.Parameter(torch.zeros(out_ch))

    def forward(self, x: Tensor, w: Tensor, noise: Tensor | None) -> Tensor:
        x = self.conv(x, w)
        # Without autograd the fresh conv output can be updated in place (no allocations).
        inplace = not torch.is_grad_enabled()
        x = self.noise(x, noise, inplace=inplace)
        return bias_lrelu(x, self.bias.to(x.dtype), inplace=inplace)


class ToRGB(nn.Module):
    """Modulated 1x1 conv to RGB (no demodulation) + bias, plus the upsampled previous RGB."""

    def __init__(self, in_ch: int, style_dim: int, *, padded: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.padded = padded
        taps = (1, 3, 3, 1) if padded else (1, 2, 1)
        self.register_buffer("up_kernel", blur_kernel_2d(taps, gain=4.0), persistent=False)

    def forward(self, x: Tensor, w: Tensor, skip: Tensor | None) -> Tensor:
        out = self.conv(x, w) + self.bias.to(x.dtype)
        if skip is not None and self.padded:
            return out + upsample_zero_padded(skip, self.up_kernel)
        if skip is not None:
            up = upsample_transposed_depthwise(skip, self.up_kernel)
            out = out + center_crop(up, out.shape[-2], out.shape[-1])
        return out


class TextureSynthesizer(nn.Module):
    """Structure latent + styles + per-conv noise -> image (linear output, about [-1, 1]).

    The official layout: one (upsampling conv, plain conv) pair per entry of ``config.channels``,
    the first conv upsampling the input, a ToRGB after every plain conv. With
    ``config.padding == "zero"`` the same layers are StyleGAN2's zero-padded ones (the
    StyleGAN2-NCI baseline: 4x4 -> 128x128 with five pairs; not spatially independent).
    """

    def __init__(self, config: TextureConfig, in_channels: int, w_dim: int) -> None:
        super().__init__()
        self.config = config
        padded = config.padding == "zero"
        convs: list[StyledConv] = []
        to_rgbs: list[ToRGB] = []
        prev = in_channels
        for ch in config.channels:
            convs.append(StyledConv(prev, ch, w_dim, upsample=True, padded=padded))
            convs.append(StyledConv(ch, ch, w_dim, upsample=False, padded=padded))
            to_rgbs.append(ToRGB(ch, w_dim, padded=padded))
            prev = ch
        self.convs = nn.ModuleList(convs)
        self.to_rgbs = nn.ModuleList(to_rgbs)
        self.num_styles = len(convs) + 1

    def rgb_style_index(self, pair: int) -> int:
        """Style slot of the ToRGB after pair ``pair`` (official: conv index + 2, last slot cap)."""
        return min(2 * pair + 3, self.num_styles - 1)

    def expand_styles(self, w: Tensor) -> Tensor:
        """w [N, w_dim] or [N, num_styles, w_dim] -> [N, num_styles, w_dim]."""
        if w.ndim == 2:
            return w.unsqueeze(1).expand(-1, self.num_styles, -1)
        if w.ndim != 3 or w.shape[1] != self.num_styles:
            raise ValueError(
                f"styles must be [N, w_dim] or [N, {self.num_styles}, w_dim], got {tuple(w.shape)}"
            )
        return w

    def forward(
        self, structure: Tensor, w: Tensor, noise: list[Tensor | None] | None = None
    ) -> Tensor:
        """structure [N, C, S, S'], w [N or 1, (num_styles,) w_dim], noise: one map per conv
        ([N or 1, 1, h_i, w_i], or None for no noise) -> image [N, 3, H, W]."""
        styles = self.expand_styles(w)
        if noise is None:
            noise = [None] * len(self.convs)
        if len(noise) != len(self.convs):
            raise ValueError(f"noise must have {len(self.convs)} maps, got {len(noise)}")
        x = structure
        skip: Tensor | None = None
        for pair, to_rgb in enumerate(self.to_rgbs):
            for j in (2 * pair, 2 * pair + 1):
                x = self.convs[j](x, styles[:, j], noise[j])
            skip = to_rgb(x, styles[:, self.rgb_style_index(pair)], skip)
        assert skip is not None
        return skip
