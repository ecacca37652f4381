"""Pure-PyTorch building blocks: equalised-lr layers, modulated convs, blur, bias-activation.

Parameters are stored the way the official (rosinality-derived) code stores them: raw N(0, 1)
weights with the equalised-learning-rate scale applied at run time, so official state dicts load
unchanged. Everything runs on any device; nothing is compiled.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SQRT2 = math.sqrt(2.0)


def bias_lrelu(
    x: Tensor, bias: Tensor, negative_slope: float = 0.2, gain: float = SQRT2, inplace: bool = False
) -> Tensor:
    """``leaky_relu(x + bias) * gain`` with the bias broadcast over channel dim 1.

    ``inplace`` overwrites ``x`` (three memory passes, no allocation): for inference only.
    """
    shape = [1, -1] + [1] * (x.ndim - 2)
    if inplace:
        x.add_(bias.view(shape))
        F.leaky_relu_(x, negative_slope)
        return x.mul_(gain)
    return F.leaky_relu(x + bias.view(shape), negative_slope) * gain


def blur_kernel_2d(taps: tuple[int, ...], gain: float = 1.0) -> Tensor:
    """Separable blur kernel ``outer(taps, taps)`` normalised to sum ``gain``."""
    k = torch.tensor(taps, dtype=torch.float64)
    k2 = torch.outer(k, k)
    return (k2 / k2.sum() * gain).to(torch.float32)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate (StyleGAN2): weight * lr_mul / sqrt(in)."""

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        bias: bool = True,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activate: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: Tensor) -> Tensor:
        weight = self.weight * self.scale
        if self.activate:
            out = F.linear(x, weight)
            return bias_lrelu(out, self.bias * self.lr_mul)
        bias = self.bias * self.lr_mul if self.bias is not None else None
        return F.linear(x, weight, bias)


class EqualConv2d(nn.Module):
    """Conv2d with equalised learning rate: weight / sqrt(in * k * k)."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale = 1.0 / math.sqrt(in_ch * kernel_size * kernel_size)
        self.stride = stride
        self.padding = padding

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(
            x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding
        )


def depthwise_conv(x: Tensor, kernel: Tensor, padding: int = 0, stride: int = 1) -> Tensor:
    """Apply the same 2-D ``kernel`` to every channel (true convolution; kernels are symmetric)."""
    channels = x.shape[1]
    weight = kernel.to(dtype=x.dtype, device=x.device).flip([0, 1])
    weight = weight.expand(channels, 1, *kernel.shape)
    return F.conv2d(x, weight, padding=padding, stride=stride, groups=channels)


def upsample_transposed_depthwise(x: Tensor, kernel: Tensor) -> Tensor:
    """Depthwise stride-2 transposed conv with ``kernel`` (3x3), one border pixel cropped:
    H -> 2H - 1 (the full transposed output is 2H + 1; ``padding=1`` drops its border)."""
    channels = x.shape[1]
    weight = kernel.to(dtype=x.dtype, device=x.device).expand(channels, 1, *kernel.shape)
    return F.conv_transpose2d(x, weight, stride=2, padding=1, groups=channels)


def _runs_in_fp16(x: Tensor) -> bool:
    """True when convolutions of ``x`` compute in float16 (fp16 tensors or fp16 autocast)."""
    if x.dtype == torch.float16:
        return True
    kind = x.device.type
    return torch.is_autocast_enabled(kind) and torch.get_autocast_dtype(kind) == torch.float16


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated convolution without zero padding.

    ``upsample`` uses a stride-2 transposed convolution (H -> 2H + 1), crops one pixel on every
    border (-> 2H - 1) and applies the unpadded [1, 2, 1] blur with gain 4 (-> 2H - 3), as the
    official padding-free texture synthesizer does.

    Two exact formulations are used: with one style for the whole batch the style is folded into
    the weight (a plain convolution); with per-sample styles the input is scaled by the style and
    the output by the demodulation factor (a batched plain convolution, no per-sample groups).
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int,
        style_dim: int,
        *,
        demodulate: bool = True,
        upsample: bool = False,
        blur_taps: tuple[int, ...] = (1, 2, 1),
        padded: bool = False,
    ) -> None:
        super().__init__()
        self.in_ch = in_ch
        self.out_ch = out_ch
        self.kernel_size = kernel_size
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.affine = EqualLinear(style_dim, in_ch, bias_init=1.0)
        self.scale = 1.0 / math.sqrt(in_ch * kernel_size * kernel_size)
        self.demodulate = demodulate
        self.upsample = upsample
        self.padded = padded  # zero padding (StyleGAN2 baseline only)
        if upsample:
            self.register_buffer("blur", blur_kernel_2d(blur_taps, gain=4.0), persistent=False)

    def styles(self, w: Tensor) -> Tensor:
        """Per-input-channel modulation ``s = affine(w)``: [N, w_dim] -> [N, in_ch]."""
        return self.affine(w)

    def modulated_weight(self, s: Tensor) -> Tensor:
        """Weight for one style vector ``s`` [in_ch] (demodulated if enabled): [out, in, k, k]."""
        weight = self.weight * self.scale * s.view(1, -1, 1, 1)
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        return weight

    def demod_factors(self, s: Tensor, weight: Tensor | None = None) -> Tensor:
        """Demodulation factors for styles ``s`` [N, in_ch] -> [N, out_ch] (of ``weight``,
        default the scaled weight)."""
        weight = self.weight * self.scale if weight is None else weight
        w2 = weight.pow(2).sum(dim=(2, 3))  # [out, in]
        return torch.rsqrt(s.pow(2) @ w2.t() + 1e-8)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        """x [N, in_ch, H, W], w [N or 1, w_dim] -> [N, out_ch, H', W']."""
        s = self.styles(w)
        if s.shape[0] == 1:
            weight = self.modulated_weight(s[0]).to(x.dtype)
            return self._conv(x, weight)
        weight = self.weight * self.scale
        if self.demodulate and _runs_in_fp16(x):
            # As StyleGAN2-ADA: scale the weight and the styles to a maximum of 1 before the
            # modulation, so that x * s and s^2 @ w^2 stay inside float16's range; the
            # demodulation cancels both scales (up to its 1e-8 epsilon).
            weight = weight / weight.abs().amax(dim=(1, 2, 3), keepdim=True)
            s = s.float()
            s = s / s.abs().amax(dim=1, keepdim=True)
        x = x * s.to(x.dtype).view(s.shape[0], -1, 1, 1)
        out = self._conv(x, weight.to(x.dtype))
        if self.demodulate:
            out = out * self.demod_factors(s, weight).to(out.dtype).view(s.shape[0], -1, 1, 1)
        return out

    def _conv(self, x: Tensor, weight: Tensor) -> Tensor:
        if self.padded:
            return self._conv_padded(x, weight)
        if not self.upsample:
            return F.conv2d(x, weight)
        # Transposed conv H -> 2H + 1 with its one-pixel border cropped (padding=1 does exactly
        # that, without a copy): 2H - 1; then the unpadded blur: 2H - 3.
        out = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2, padding=1)
        return depthwise_conv(out, self.blur)

    def _conv_padded(self, x: Tensor, weight: Tensor) -> Tensor:
        """StyleGAN2's zero-padded conv: same size, or x2 (transposed conv + padded blur)."""
        if not self.upsample:
            return F.conv2d(x, weight, padding=self.kernel_size // 2)
        out = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)  # 2H + 1
        return depthwise_conv(out, self.blur, padding=1)  # 4-tap blur: 2H


def upsample_zero_padded(x: Tensor, kernel: Tensor) -> Tensor:
    """StyleGAN2's skip upsampling (upfirdn2d up=2, pad (2, 1), 4-tap kernel): H -> 2H."""
    n, c, h, w = x.shape
    up = x.new_zeros(n, c, 2 * h, 2 * w)
    up[:, :, ::2, ::2] = x
    up = F.pad(up, (2, 1, 2, 1))
    return depthwise_conv(up, kernel)


class NoiseInjection(nn.Module):
    """Adds ``strength * noise``; the learned scalar strength starts at 0."""

    def __init__(self) -> None:
        super().__init__()
        self.strength = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor, noise: Tensor | None, inplace: bool = False) -> Tensor:
        if noise is None:
            return x
        strength = self.strength.to(x.dtype)
        if inplace:
            return x.addcmul_(noise.to(x.dtype), strength.view(1, 1, 1, 1))
        return x + strength * noise.to(x.dtype)


class PixelNorm(nn.Module):
    """x / sqrt(mean(x^2) + 1e-8) over the feature dimension."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)
