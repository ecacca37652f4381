"""StyleGAN2 residual discriminator with InfinityGAN's coordinate-prediction head (§3.3)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from infinitygan.config import DiscriminatorConfig, stylegan2_d_log2_size
from infinitygan.ops import EqualConv2d, EqualLinear, bias_lrelu, blur_kernel_2d, depthwise_conv


class ConvLayer(nn.Module):
    """[blur] + equalised conv (+ bias + lrelu). Downsampling: blur then stride-2 unpadded conv."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int,
        *,
        down: bool = False,
        activate: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.down = down
        if down:
            # StyleGAN2: pad = (len(blur) - 2) + (kernel - 1), split ((p + 1) // 2, p // 2).
            p = 2 + (kernel - 1)
            self.blur_pad = ((p + 1) // 2, p // 2)
            self.register_buffer("blur", blur_kernel_2d((1, 3, 3, 1)), persistent=False)
        self.conv = EqualConv2d(
            in_ch,
            out_ch,
            kernel,
            stride=2 if down else 1,
            padding=0 if down else kernel // 2,
            bias=bias and not activate,
        )
        self.activate = activate
        self.act_bias = nn.Parameter(torch.zeros(out_ch)) if (activate and bias) else None

    def forward(self, x: Tensor) -> Tensor:
        if self.down:
            lo, hi = self.blur_pad
            x = torch.nn.functional.pad(x, (lo, hi, lo, hi))
            x = depthwise_conv(x, self.blur)
        x = self.conv(x)
        if self.activate:
            x = (
                bias_lrelu(x, self.act_bias)
                if self.act_bias is not None
                else (torch.nn.functional.leaky_relu(x, 0.2) * math.sqrt(2))
            )
        return x


class ResBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_ch, in_ch, 3)
        self.conv2 = ConvLayer(in_ch, out_ch, 3, down=True)
        self.skip = ConvLayer(in_ch, out_ch, 1, down=True, activate=False, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


class Discriminator(nn.Module):
    """D(image [N, 3, P, P]) -> (realness logit [N, 1], coordinate prediction [N, coord_dim]);
    the prediction is None when the config has no coordinate head (``coord_head=False``).

    The patch is treated as the nearest power of two (101 -> 128): ``log2`` rounds, giving five
    residual blocks 101 -> 50 -> 25 -> 12 -> 6 -> 3 for the paper model.
    """

    def __init__(self, config: DiscriminatorConfig, patch_size: int) -> None:
        super().__init__()
        self.config = config
        self.patch_size = patch_size
        log_size = stylegan2_d_log2_size(patch_size)

        def width(res: int) -> int:
            return min(config.channel_max, config.channel_base // res)

        self.from_rgb = ConvLayer(3, width(2**log_size), 1)
        blocks = []
        size = patch_size
        for i in range(log_size, 2, -1):
            blocks.append(ResBlock(width(2**i), width(2 ** (i - 1))))
            size = (size - 2) // 2 + 1
        self.blocks = nn.ModuleList(blocks)
        self.final_size = size
        ch = width(4)
        self.final_conv = ConvLayer(ch + 1, ch, 3)
        flat = ch * size * size
        self.final_linear = nn.Sequential(EqualLinear(flat, ch, activate=True), EqualLinear(ch, 1))
        self.coord_linear = (
            nn.Sequential(EqualLinear(flat, ch, activate=True), EqualLinear(ch, config.coord_dim))
            if config.coord_head
            else None
        )

    def minibatch_stddev(self, x: Tensor) -> Tensor:
        """Append the StyleGAN2 minibatch-stddev feature (groups interleaved as in StyleGAN2)."""
        n, c, h, w = x.shape
        group = min(n, self.config.stddev_group)
        if n % group != 0:
            raise ValueError(
                f"batch size {n} must be divisible by the stddev group {group}; "
                "use a batch size that is a multiple of it"
            )
        y = x.view(group, -1, 1, c, h, w)
        y = torch.sqrt(y.var(0, unbiased=False) + 1e-8)
        y = y.mean(dim=(2, 3, 4), keepdim=True).squeeze(2)
        y = y.repeat(group, 1, h, w)
        return torch.cat([x, y], dim=1)

    def features(self, image: Tensor) -> Tensor:
        """Flattened final features [N, C * s * s] shared by both heads."""
        if image.shape[-2:] != (self.patch_size, self.patch_size):
            raise ValueError(
                f"discriminator expects {self.patch_size}x{self.patch_size} patches, "
                f"got {tuple(image.shape[-2:])}"
            )
        x = self.from_rgb(image)
        for block in self.blocks:
            x = block(x)
        x = self.final_conv(self.minibatch_stddev(x))
        return x.flatten(1)

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor | None]:
        """(realness logit [N, 1], coordinate prediction [N, coord_dim] or None without a
        coordinate head)."""
        feat = self.features(image)
        coord = self.coord_linear(feat) if self.coord_linear is not None else None
        return self.final_linear(feat), coord
