"""Training objectives of InfinityGAN (paper §3.3-3.4, reference-spec §5.3-5.5) as pure functions.

Every function takes tensors and returns a scalar (or per-sample) tensor; none of them touches a
model, an optimiser or global state. The training loop composes them.

* Adversarial: non-saturating logistic loss (StyleGAN2), ``softplus``; or hinge (Projected GAN).
* R1: ``mean_n sum_{c,h,w} (d sum D(x) / d x)^2`` on real patches (lazy, see :func:`r1_penalty`).
* Path length: Jacobian norm of the image w.r.t. the per-layer styles, see :func:`path_lengths`.
* Coordinate prediction: L1 on the vertical entry (the only trained entry).
* Diversity ("mode seeking"): the L1 ratio ``mean|zl1 - zl2| / mean|S1 - S2|`` on pairs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

PathLengthMode = Literal["stylegan2", "official"]


# ----------------------------------------------------------------------------------- adversarial
def d_logistic_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Discriminator loss ``mean softplus(-D(real)) + mean softplus(D(fake))``.

    Args:
        real_logits: [N] or [N, 1] logits on real patches.
        fake_logits: [M] or [M, 1] logits on generated patches.

    Returns:
        Scalar; ``2 log 2`` when every logit is 0, decreasing as D separates the two.
    """
    return F.softplus(-real_logits.float()).mean() + F.softplus(fake_logits.float()).mean()


def g_nonsaturating_loss(fake_logits: Tensor) -> Tensor:
    """Generator loss ``mean softplus(-D(G(z)))`` (non-saturating logistic)."""
    return F.softplus(-fake_logits.float()).mean()


def d_hinge_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Hinge discriminator loss ``mean relu(1 - D(real)) + mean relu(1 + D(fake))`` (the
    Projected-GAN objective); 2 when every logit is 0, 0 once reals score >= 1 and fakes <= -1."""
    return F.relu(1 - real_logits.float()).mean() + F.relu(1 + fake_logits.float()).mean()


def g_hinge_loss(fake_logits: Tensor) -> Tensor:
    """Generator loss of the hinge objective: ``-mean D(G(z))``."""
    return -fake_logits.float().mean()


ADVERSARIAL_LOSSES: tuple[str, ...] = ("logistic", "hinge")


def adversarial_losses(
    name: str,
) -> tuple[Callable[[Tensor, Tensor], Tensor], Callable[[Tensor], Tensor]]:
    """``(d_loss(real_logits, fake_logits), g_loss(fake_logits))`` of ``"logistic"`` (StyleGAN2's
    non-saturating loss, the paper's) or ``"hinge"``."""
    if name == "logistic":
        return d_logistic_loss, g_nonsaturating_loss
    if name == "hinge":
        return d_hinge_loss, g_hinge_loss
    raise ValueError(
        f"unknown adversarial loss {name!r}; use one of {', '.join(ADVERSARIAL_LOSSES)}"
    )


# ----------------------------------------------------------------------------------- R1
def r1_penalty(real_logits: Tensor, real_images: Tensor) -> Tensor:
    """R1 gradient penalty (Mescheder et al. 2018) without its weight.

    Args:
        real_logits: [N, 1] D output computed from ``real_images`` (which require grad).
        real_images: [N, C, H, W] the real batch that produced the logits.

    Returns:
        Scalar ``mean_n sum_{c,h,w} g^2`` with ``g = d sum(real_logits) / d real_images``; the graph
        is kept (``create_graph``) so the penalty can be back-propagated into D.
    """
    (grad,) = torch.autograd.grad(
        real_logits.float().sum(), real_images, create_graph=True, only_inputs=True
    )
    return grad.float().pow(2).flatten(1).sum(1).mean()


def r1_loss_weight(gamma: float, interval: int) -> float:
    """Weight of the lazy R1 penalty: ``gamma / 2 * interval`` (10 / 2 * 16 = 80)."""
    return gamma / 2.0 * interval


# ----------------------------------------------------------------------------------- path length
def path_length_noise(images: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Projection noise ``randn / sqrt(H * W)`` of the shape of ``images`` [N, C, H, W]."""
    h, w = images.shape[-2:]
    device = generator.device if generator is not None else images.device
    noise = torch.randn(images.shape, generator=generator, device=device, dtype=torch.float32)
    return noise.to(images.device) / math.sqrt(h * w)


def path_lengths(
    images: Tensor, styles: Tensor, noise: Tensor, mode: PathLengthMode = "stylegan2"
) -> Tensor:
    """Per-sample path lengths ``|J_w^T y|`` for random image-space directions ``y``.

    Args:
        images: [N, C, H, W] generator output computed from ``styles`` (which require grad).
        styles: [N, L, w_dim] per-layer styles used to render ``images``.
        noise: [N, C, H, W] projection directions (:func:`path_length_noise`).
        mode: ``"stylegan2"``: ``sqrt(mean_L sum_w g^2)`` (StyleGAN2's definition, the scale its
            weight of 2 was tuned for); ``"official"``: ``sqrt(mean_{L, w} g^2)`` (the official
            InfinityGAN code; ``sqrt(w_dim)`` times smaller, so the penalty is ``w_dim`` times
            weaker).

    Returns:
        [N] lengths, differentiable (``create_graph``).
    """
    (grad,) = torch.autograd.grad(
        (images.float() * noise).sum(), styles, create_graph=True, only_inputs=True
    )
    sq = grad.float().pow(2)
    if mode == "stylegan2":
        return sq.sum(2).mean(1).sqrt()
    if mode == "official":
        return sq.mean(dim=(1, 2)).sqrt()
    raise ValueError(f"unknown path-length mode {mode!r}; use 'stylegan2' or 'official'")


def update_path_length_mean(mean: Tensor, lengths_mean: Tensor, decay: float) -> Tensor:
    """Running mean ``a + decay * (mean(lengths) - a)`` (detached)."""
    return (mean + decay * (lengths_mean.detach().float() - mean)).detach()


def path_length_penalty(lengths: Tensor, target: Tensor | float) -> Tensor:
    """``mean((lengths - target)^2)``: the penalty before its weight (2 x interval 4 = 8)."""
    return (lengths - target).pow(2).mean()


# ----------------------------------------------------------------------------------- coordinates
def coord_loss(predicted: Tensor, vertical_label: Tensor) -> Tensor:
    """L1 error of D's vertical-position prediction (InfinityGAN §3.3, auxiliary coordinate loss).

    Args:
        predicted: [N, coord_dim] D's coordinate head; only entry 0 (vertical) is trained.
        vertical_label: [N] the vertical position actually used (real: crop offset; fake: the
            sampled coordinates).

    Returns:
        Scalar ``mean |predicted[:, 0] - label|``.
    """
    if predicted.ndim != 2 or predicted.shape[0] != vertical_label.shape[0]:
        raise ValueError(
            f"coord prediction {tuple(predicted.shape)} and labels {tuple(vertical_label.shape)} "
            "do not match: expected [N, coord_dim] and [N]"
        )
    return (predicted[:, 0].float() - vertical_label.float()).abs().mean()


# ----------------------------------------------------------------------------------- diversity
def diversity_loss(z_local: Tensor, structure: Tensor, eps: float = 1e-5) -> Tensor:
    """Mode-seeking diversity loss on pairs ``(2k, 2k+1)`` (paper §3.4, MSGAN's L1 ratio form).

    The pairs share the global latent and the coordinates and differ only in ``z_local``; the
    loss ``mean_k  mean|zl_2k - zl_2k+1| / (mean|S_2k - S_2k+1| + eps)`` falls when the structure
    features of a pair move apart, so minimising it rewards diversity. (The official code's
    "angular" variant is a ratio of similarities and pushes pairs *together*; see docs/training.md.)

    Args:
        z_local: [N, Dl, h, w] local latents (N even).
        structure: [N, C, h', w'] structure features rendered from them.
        eps: keeps the ratio finite when a pair's structures coincide.

    Returns:
        Scalar, >= 0. Gradients are finite even for identical pairs (``|x|'`` at 0 is 0).
    """
    n = z_local.shape[0]
    if n % 2 != 0 or structure.shape[0] != n:
        raise ValueError(
            f"diversity loss needs an even batch of pairs; got z_local {tuple(z_local.shape)} "
            f"and structure {tuple(structure.shape)}"
        )
    z = z_local.float().flatten(1)
    s = structure.float().flatten(1)
    dz = (z[0::2] - z[1::2]).abs().mean(1).detach()
    ds = (s[0::2] - s[1::2]).abs().mean(1)
    return (dz / (ds + eps)).mean()


# ----------------------------------------------------------------------------------- optimiser/EMA
def lazy_adam_hyperparams(
    lr: float, beta2: float, interval: int | None
) -> tuple[float, tuple[float, float]]:
    """Adam settings for a loss regularised every ``interval`` steps (StyleGAN2 lazy reg).

    With ``c = k / (k + 1)``: ``lr * c`` and betas ``(0, beta2 ** c)``; no change when
    ``interval`` is None or 0 (no lazy regularisation).
    """
    if not interval:
        return lr, (0.0, beta2)
    c = interval / (interval + 1)
    return lr * c, (0.0, beta2**c)


def ema_beta(batch: int, half_life_images: float, rampup: float | None, images_seen: int) -> float:
    """Per-step EMA decay for a half-life given in *images*, independent of the batch size.

    ``0.5 ** (batch / half_life)``; the official 0.5 ** (32 / 10000) at batch 16 is a half-life of
    5000 images. With ``rampup`` (StyleGAN2-ADA) the half-life is capped at ``rampup *
    images_seen`` so the average follows the young generator early in training.
    """
    if batch <= 0 or half_life_images <= 0:
        raise ValueError("batch and half_life_images must be positive")
    half = half_life_images
    if rampup is not None and rampup > 0:
        half = min(half, max(images_seen, 1) * rampup)
    return 0.5 ** (batch / max(half, 1e-8))
