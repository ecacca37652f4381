"""Exact spatially varying modulation: the generator's forward pass with per-pixel styles.

With several styles blended over the canvas, a modulated convolution's style differs per input
pixel. Writing ``s(q) = sum_n a_n(q) s_n`` (``s_n = affine(w_n)``; the affine map is linear and the
weights ``a_n`` sum to one, so fusing ``w`` and fusing ``s`` agree), the exact spatial version of a
StyleGAN2 modulated conv with weight ``W`` is::

    y(p) = d(p) * sum_{t, i} W[o, i, t] s_i(p + t) x_i(p + t)
    d(p) = 1 / sqrt(sum_{t, i} W[o, i, t]^2 s_i(p + t)^2 + 1e-8)

i.e. modulate the input per pixel, convolve with the plain weight, and demodulate per output pixel
with a convolution of the squared style map by the squared weights. With a constant style this is
the ordinary modulated conv. The demodulation convolution is evaluated in factored form::

    sum_{t,i} W^2 s_i^2 = sum_{n <= m} (a_n a_m)(p + t) * K_nm[o, t],
    K_nm[o, t] = (2 - [n == m]) sum_i W[o, i, t]^2 s_n,i s_m,i

which has ``N (N + 1) / 2`` input channels instead of ``in_ch`` (N = styles present in the tile),
falling back to the direct form ``conv(s^2, W^2)`` when that is cheaper.

For the upsampling conv (stride-2 transposed conv, crop, blur) the same formula holds on the
transposed conv's output grid: a transposed conv is a conv of the zero-stuffed input, so tap ``t``
of output ``u`` reads the stuffed grid at ``u - t``; the style there is the fusion weight
evaluated at that (half-step) canvas position. The caller therefore passes the weights on the
"fine" grid of half the input spacing, and the demodulation is a conv of those with the flipped
squared weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from infinitygan.models.structure import StructureSynthesizer, center_crop
from infinitygan.models.texture import TextureSynthesizer
from infinitygan.ops import (
    ModulatedConv2d,
    bias_lrelu,
    depthwise_conv,
    upsample_transposed_depthwise,
)


def style_map(weights: Tensor, styles: Tensor) -> Tensor:
    """Per-pixel styles: weights [N, H, W], styles [N, C] -> [C, H, W] (channels-last strides)."""
    n, h, w = weights.shape
    return torch.mm(weights.reshape(n, h * w).t(), styles).view(h, w, -1).permute(2, 0, 1)


def _pair_maps(weights: Tensor, styles: Tensor, w2: Tensor) -> tuple[Tensor, Tensor]:
    """Factored demodulation operands: pair maps [P, H, W] and kernels [O, P, k, k]."""
    n = weights.shape[0]
    idx_n, idx_m = torch.triu_indices(n, n, device=weights.device)
    mult = torch.where(idx_n == idx_m, 1.0, 2.0).to(styles.dtype)
    pair_styles = styles[idx_n] * styles[idx_m] * mult[:, None]  # [P, I]
    kernels = torch.einsum("oikl,pi->opkl", w2, pair_styles)
    maps = weights[idx_n] * weights[idx_m]
    return maps, kernels


def demodulation(
    conv: ModulatedConv2d, weights: Tensor, styles: Tensor, *, factored: bool | None = None
) -> Tensor:
    """Per-output-pixel demodulation factors ``d`` [1, O, H', W'] of a (non-upsampling) conv.

    Args:
        conv: the modulated conv (its raw weight and scale are used).
        weights: fusion weights [N, H, W] at the conv's input grid (for an upsampling conv: at the
            fine grid, see the module docstring).
        styles: modulation of each fused style [N, in_ch].
        factored: force the factored (True) or direct (False) evaluation; None picks the cheaper.
    """
    w2 = (conv.weight * conv.scale).pow(2).to(weights.dtype)
    if conv.upsample:
        w2 = w2.flip(-1, -2)  # the transposed conv's tap t reads the stuffed grid at u - t
    n = weights.shape[0]
    if factored is None:
        factored = n * (n + 1) // 2 < conv.in_ch
    if factored:
        maps, kernels = _pair_maps(weights, styles, w2)
        total = F.conv2d(maps[None].contiguous(memory_format=torch.channels_last), kernels)
    else:
        total = F.conv2d(
            style_map(weights, styles).pow(2)[None].contiguous(memory_format=torch.channels_last),
            w2,
        )
    # (the factored sum can round a hair below zero where the style vanishes)
    return total.clamp_(min=0).add_(1e-8).rsqrt_()


def fused_modconv(
    conv: ModulatedConv2d,
    x: Tensor,
    weights: Tensor,
    styles: Tensor,
    fine_weights: Tensor | None = None,
    *,
    factored: bool | None = None,
) -> Tensor:
    """A modulated conv with per-pixel styles, exact (see the module docstring).

    Args:
        conv: the layer (weights as stored in the model).
        x: input [1, in_ch, H, W].
        weights: fusion weights [N, H, W] at the input grid (sum to one over N).
        styles: per-style modulation ``conv.affine(w_n)`` [N, in_ch].
        fine_weights: for an upsampling conv, the fusion weights [N, 2H + 1, 2W + 1] at the
            half-spacing grid of the transposed conv, starting half an input step before the first
            input pixel.
        factored: demodulation evaluation (None: the cheaper).

    Returns:
        [1, out_ch, H', W'] with the sizes of ``conv``.
    """
    s = style_map(weights, styles).to(x.dtype)
    xm = x * s[None]
    weight = (conv.weight * conv.scale).to(x.dtype)
    if not conv.upsample:
        out = F.conv2d(xm, weight)
        if conv.demodulate:
            out.mul_(demodulation(conv, weights, styles, factored=factored).to(out.dtype))
        return out
    if fine_weights is None:
        raise ValueError("an upsampling conv needs the fusion weights on its fine grid")
    # transposed conv H -> 2H + 1 with its border cropped by padding=1: 2H - 1
    out = F.conv_transpose2d(xm, weight.transpose(0, 1), stride=2, padding=1)
    if conv.demodulate:
        out.mul_(demodulation(conv, fine_weights, styles, factored=factored).to(out.dtype))
    return depthwise_conv(out, conv.blur)


def fused_structure(
    synth: StructureSynthesizer,
    z_local: Tensor,
    coords: Tensor,
    weights: Tensor,
    z_styles: Tensor,
) -> Tensor:
    """The structure synthesizer with spatially fused raw global latents.

    Args:
        synth: the model's structure synthesizer.
        z_local: local latents [1, local_dim, h, w].
        coords: coordinates [1, 3, h, w] of the same cells.
        weights: fusion weights [N, h, w] at those cells.
        z_styles: the fused raw global latents [N, z_dim].

    Returns:
        structure latent [1, channels, h - 2m, w - 2m].
    """
    x = z_local
    coords = coords.to(x.dtype)
    for layer in synth.layers:
        c = center_crop(coords, x.shape[-2], x.shape[-1])
        a = center_crop(weights, x.shape[-2], x.shape[-1])
        s = layer.conv.affine(z_styles)
        x = fused_modconv(layer.conv, torch.cat([x, c], dim=1), a, s)
        x = bias_lrelu(x, layer.bias.to(x.dtype))
    return x


def fused_texture(
    synth: TextureSynthesizer,
    structure: Tensor,
    styles: Tensor,
    input_weights: list[Tensor],
    fine_weights: list[Tensor | None],
    rgb_weights: list[Tensor],
    noise: list[Tensor | None],
) -> Tensor:
    """The texture synthesizer with spatially fused per-layer styles.

    Args:
        synth: the model's texture synthesizer.
        structure: structure latent [1, C, S, S'].
        styles: per-style W+ [N, num_styles, w_dim].
        input_weights: per conv, fusion weights [N, h, w] at its input grid.
        fine_weights: per conv, weights at the half-spacing grid (upsampling convs) or None.
        rgb_weights: per ToRGB, weights at its input grid (the output grid of its plain conv).
        noise: one map per conv ([1, 1, h_i, w_i]) or None.

    Returns:
        image [1, 3, H, W].
    """
    x = structure
    skip: Tensor | None = None
    inplace = not torch.is_grad_enabled()  # fresh conv outputs may be updated in place
    for pair, to_rgb in enumerate(synth.to_rgbs):
        for j in (2 * pair, 2 * pair + 1):
            layer = synth.convs[j]
            s = layer.conv.affine(styles[:, j])
            x = fused_modconv(layer.conv, x, input_weights[j], s, fine_weights[j])
            x = layer.noise(x, noise[j], inplace=inplace)
            x = bias_lrelu(x, layer.bias.to(x.dtype), inplace=inplace)
        s = to_rgb.conv.affine(styles[:, synth.rgb_style_index(pair)])
        out = fused_modconv(to_rgb.conv, x, rgb_weights[pair], s) + to_rgb.bias.to(x.dtype)
        if skip is not None:
            up = upsample_transposed_depthwise(skip, to_rgb.up_kernel)
            out = out + center_crop(up, out.shape[-2], out.shape[-1])
        skip = out
    assert skip is not None
    return skip
