"""Procedural landscapes: an unlimited, deterministic training source and a PNG writer.

``render_landscape(seed, index, height, width)`` paints, in numpy only:

* a sky gradient (zenith to horizon colour, palette per image), a sun with a glow, and soft
  clouds on a perspective cloud plane (smaller and hazier towards the horizon);
* 3-5 mountain ridges between the sky and the horizon, farther ridges lighter and closer to the
  horizon colour (aerial perspective), with mist in the valleys;
* below the horizon either a lake reflecting the sky and the mountains through perspective
  ripples, or meadows with a tree line and rolling foreground hills, textured on a perspective
  ground plane.

Everything depends on the row (vertical structure) but nothing on a particular column: every
horizontal feature comes from i.i.d. lattice noise and the sun's column is uniform over the
width, so the content is horizontally stationary. The horizon height (50-68 % of the height)
and the palette vary per image. Coordinates are measured in image heights, so a wider image
shows a wider panorama at the same scale; noise octaves finer than the pixel grid are faded out
(no aliasing at small sizes).

Determinism: the image depends only on ``(seed, index, height, width)``; random numbers come from
``numpy.random.SeedSequence([tag, seed, index])`` (platform-independent), and the arithmetic is
float64, so the output is identical for the same numpy version on any machine.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from infinitygan.data.pipeline import DataConfig, PatchDataset, to_full_image
from infinitygan.imageio import save_image

logger = logging.getLogger(__name__)

_SCENE_TAG = 0x4C414E44  # "LAND"
MIN_SIDE = 8
MAX_PIXELS = 1 << 26  # 64 Mpx: beyond this a single render needs several GB of float64 buffers


# --------------------------------------------------------------------------------------------
# Noise


def _bspline_weights(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Uniform cubic B-spline weights for lattice points -1, 0, +1, +2 at fraction t."""
    t2 = t * t
    t3 = t2 * t
    s = 1.0 - t
    w0 = s * s * s * (1.0 / 6.0)
    w3 = t3 * (1.0 / 6.0)
    w1 = 0.5 * t3 - t2 + 2.0 / 3.0
    w2 = 1.0 - w0 - w1 - w3
    return w0, w1, w2, w3


def _spline_std_1d() -> float:
    t = (np.arange(4096) + 0.5) / 4096
    return float(np.sqrt(np.mean(sum(w * w for w in _bspline_weights(t)))))


_STD_1D = _spline_std_1d()  # std of B-spline-interpolated i.i.d. N(0, 1) lattice values (1D)
_STD_2D = _STD_1D**2


def _octave_weight(footprint: np.ndarray) -> np.ndarray:
    """Fade an octave out as one pixel covers 0.25 .. 0.5 lattice cells (anti-aliasing)."""
    return np.clip((0.5 - footprint) / 0.25, 0.0, 1.0)


def _fbm1d(
    rng: np.random.Generator,
    x: np.ndarray,
    *,
    freq: float,
    octaves: int,
    pixel: float,
    gain: float = 0.5,
) -> np.ndarray:
    """Fractal 1D noise, about N(0, 1) per position.

    Args:
        rng: source of the lattice values (consumed in a fixed order).
        x: [W] coordinates.
        freq: lattice cells per coordinate unit of the first octave.
        octaves: number of octaves (each doubles the frequency).
        pixel: coordinate step of one pixel (for anti-aliasing).
        gain: amplitude ratio between octaves.
    """
    total = np.zeros_like(x)
    norm = 0.0
    for o in range(octaves):
        f = freq * 2.0**o
        weight = float(_octave_weight(np.asarray(pixel * f)))
        offset = rng.uniform(0.0, 1000.0)
        if weight <= 0.0:
            continue
        c = x * f + offset
        lo = np.floor(c)
        base = int(lo.min()) - 1
        lattice = rng.standard_normal(int(lo.max()) - base + 3)
        i = (lo - base).astype(np.int64)
        ws = _bspline_weights(c - lo)
        octave = sum(w * lattice[i - 1 + k] for k, w in enumerate(ws))
        amp = gain**o * weight
        total += amp * octave
        norm += amp * amp
    return total / (np.sqrt(max(norm, 1e-12)) * _STD_1D)


def _fbm2d(
    rng: np.random.Generator,
    y: np.ndarray,
    x: np.ndarray,
    *,
    freq: float,
    octaves: int,
    footprint: np.ndarray,
    gain: float = 0.5,
) -> np.ndarray:
    """Fractal 2D noise, about N(0, 1) per pixel, with a row-dependent footprint.

    Args:
        rng: source of the lattice values.
        y: [R] coordinate of each row (the same along a row).
        x: [C] coordinate of each column (the same for every row), or [R, C] coordinate of each
            pixel along its row (may differ per row: perspective).
        freq: lattice cells per coordinate unit of the first octave.
        octaves: number of octaves.
        footprint: [R] coordinate extent of one pixel on each row; octaves whose cells get
            smaller than ~2-4 pixels fade out row by row.
        gain: amplitude ratio between octaves.

    Returns:
        [R, C] noise.
    """
    rows = y.shape[0]
    cols = x.shape[-1]
    per_pixel = x.ndim == 2
    total = np.zeros((rows, cols))
    norm = np.zeros(rows)
    for o in range(octaves):
        f = freq * 2.0**o
        weight = _octave_weight(footprint * f)
        oy, ox = rng.uniform(0.0, 1000.0, size=2)
        live = np.nonzero(weight > 0.0)[0]
        if live.size == 0:
            continue
        cy = y[live] * f + oy
        cx = (x[live] if per_pixel else x) * f + ox
        ly, lx = np.floor(cy), np.floor(cx)
        by, bx = int(ly.min()) - 1, int(lx.min()) - 1
        lattice = rng.standard_normal((int(ly.max()) - by + 3, int(lx.max()) - bx + 3))
        iy = (ly - by).astype(np.int64)
        wy = _bspline_weights(cy - ly)
        # Interpolate along y first: one lattice row per image row ([R', nx]) ...
        along = sum(w[:, None] * lattice[iy - 1 + k] for k, w in enumerate(wy))
        # ... then along x (per column, or per pixel with a gather).
        ix = (lx - bx).astype(np.int64)
        wx = _bspline_weights(cx - lx)
        if per_pixel:
            octave = sum(
                w * np.take_along_axis(along, ix - 1 + k, axis=1) for k, w in enumerate(wx)
            )
        else:
            octave = sum(w[None, :] * along[:, ix - 1 + k] for k, w in enumerate(wx))
        amp = gain**o * weight[live]
        if live.size == rows:
            total += amp[:, None] * octave
        else:
            total[live] += amp[:, None] * octave
        norm[live] += amp * amp
    return total / (np.sqrt(np.maximum(norm, 1e-12))[:, None] * _STD_2D)


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    return a + (b - a) * t


# --------------------------------------------------------------------------------------------
# Scene parameters


@dataclass(frozen=True)
class _Palette:
    zenith: tuple[float, float, float]
    horizon: tuple[float, float, float]
    sun: tuple[float, float, float]
    cloud_light: tuple[float, float, float]
    cloud_shadow: tuple[float, float, float]
    rock: tuple[float, float, float]
    water: tuple[float, float, float]
    grass: tuple[float, float, float]
    grass_dry: tuple[float, float, float]
    tree: tuple[float, float, float]
    sun_strength: float


_PALETTES: tuple[_Palette, ...] = (
    _Palette(  # clear day
        zenith=(0.16, 0.38, 0.78),
        horizon=(0.72, 0.84, 0.95),
        sun=(1.0, 0.97, 0.88),
        cloud_light=(0.98, 0.98, 0.98),
        cloud_shadow=(0.62, 0.68, 0.78),
        rock=(0.22, 0.27, 0.30),
        water=(0.05, 0.18, 0.28),
        grass=(0.22, 0.42, 0.14),
        grass_dry=(0.52, 0.55, 0.22),
        tree=(0.06, 0.16, 0.08),
        sun_strength=0.8,
    ),
    _Palette(  # golden hour
        zenith=(0.22, 0.36, 0.66),
        horizon=(0.98, 0.74, 0.46),
        sun=(1.0, 0.86, 0.55),
        cloud_light=(1.0, 0.86, 0.66),
        cloud_shadow=(0.50, 0.45, 0.55),
        rock=(0.26, 0.21, 0.24),
        water=(0.08, 0.12, 0.20),
        grass=(0.30, 0.38, 0.12),
        grass_dry=(0.66, 0.52, 0.22),
        tree=(0.10, 0.12, 0.06),
        sun_strength=1.0,
    ),
    _Palette(  # sunset / dusk
        zenith=(0.14, 0.16, 0.38),
        horizon=(0.96, 0.52, 0.36),
        sun=(1.0, 0.70, 0.40),
        cloud_light=(0.98, 0.62, 0.50),
        cloud_shadow=(0.32, 0.26, 0.40),
        rock=(0.15, 0.12, 0.20),
        water=(0.06, 0.06, 0.14),
        grass=(0.16, 0.20, 0.10),
        grass_dry=(0.36, 0.28, 0.16),
        tree=(0.05, 0.05, 0.07),
        sun_strength=1.0,
    ),
    _Palette(  # hazy / overcast
        zenith=(0.50, 0.57, 0.66),
        horizon=(0.84, 0.86, 0.88),
        sun=(1.0, 1.0, 0.95),
        cloud_light=(0.90, 0.90, 0.92),
        cloud_shadow=(0.55, 0.58, 0.63),
        rock=(0.30, 0.33, 0.36),
        water=(0.16, 0.22, 0.26),
        grass=(0.28, 0.38, 0.22),
        grass_dry=(0.46, 0.48, 0.32),
        tree=(0.12, 0.18, 0.14),
        sun_strength=0.25,
    ),
    _Palette(  # alpine morning
        zenith=(0.10, 0.30, 0.70),
        horizon=(0.66, 0.80, 0.92),
        sun=(1.0, 0.95, 0.82),
        cloud_light=(1.0, 1.0, 1.0),
        cloud_shadow=(0.58, 0.64, 0.76),
        rock=(0.25, 0.28, 0.36),
        water=(0.04, 0.20, 0.24),
        grass=(0.18, 0.36, 0.16),
        grass_dry=(0.40, 0.46, 0.20),
        tree=(0.04, 0.12, 0.08),
        sun_strength=0.7,
    ),
)


def _jitter(
    rng: np.random.Generator, colour: tuple[float, float, float], amount: float
) -> np.ndarray:
    c = np.asarray(colour) * (1.0 + rng.uniform(-amount, amount))  # brightness
    c = c + rng.uniform(-amount, amount, size=3) * 0.5  # tint
    return np.clip(c, 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# Renderer


def _check_size(height: int, width: int) -> None:
    if height < MIN_SIDE or width < MIN_SIDE:
        raise ValueError(
            f"landscape size must be at least {MIN_SIDE}x{MIN_SIDE}, got {width}x{height}"
        )
    if height * width > MAX_PIXELS:
        raise ValueError(
            f"landscape size {width}x{height} exceeds {MAX_PIXELS} pixels; render smaller images"
        )


def render_landscape(seed: int, index: int, height: int, width: int) -> np.ndarray:
    """Render procedural landscape ``index`` of ``seed``.

    Args:
        seed: non-negative seed of the collection.
        index: non-negative image number in the collection.
        height: image height in pixels (>= 8).
        width: image width in pixels (>= 8).

    Returns:
        uint8 array [height, width, 3].

    Raises:
        ValueError: negative seed/index, or a size below 8 px or above 64 Mpx.
    """
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be >= 0, got seed={seed}, index={index}")
    _check_size(height, width)
    streams = np.random.SeedSequence([_SCENE_TAG, seed, index]).spawn(6)
    p_rng, tree_rng, cloud_rng, mount_rng, ground_rng, water_rng = (
        np.random.default_rng(s) for s in streams
    )
    px = 1.0 / height  # one pixel in image-height units
    v = (np.arange(height) + 0.5) * px  # [H] 0 = top
    u = (np.arange(width) + 0.5) * px  # [W]
    aspect = width / height

    pal = _PALETTES[int(p_rng.integers(len(_PALETTES)))]
    zenith = _jitter(p_rng, pal.zenith, 0.08)
    horizon_col = _jitter(p_rng, pal.horizon, 0.06)
    sun_col = np.asarray(pal.sun)
    vh = p_rng.uniform(0.50, 0.68)  # horizon, fraction of the height from the top
    use_water = bool(p_rng.random() < 0.5)
    sky_power = p_rng.uniform(1.2, 2.6)
    sun_u = p_rng.uniform(0.0, aspect)
    sun_v = p_rng.uniform(0.10, vh - 0.06)
    sun_r = p_rng.uniform(0.018, 0.034)
    sun_strength = pal.sun_strength * p_rng.uniform(0.6, 1.0)
    coverage = p_rng.uniform(0.15, 0.75)
    num_ridges = int(p_rng.integers(3, 6))

    # ---- upper scene: sky, sun, clouds, mountains (rows above the horizon) -------------
    rows_up = min(height, int(np.ceil(vh * height)) + 2)
    vu = v[:rows_up]
    t = np.clip(vu / vh, 0.0, 1.0) ** sky_power
    sky = _mix(zenith[None, None, :], horizon_col[None, None, :], t[:, None, None])
    sky = np.broadcast_to(sky, (rows_up, width, 3)).copy()

    dist = np.sqrt((u[None, :] - sun_u) ** 2 + (vu[:, None] - sun_v) ** 2)  # [R, W]
    glow = 0.55 * np.exp(-dist / 0.06) + 0.35 * np.exp(-((dist / 0.30) ** 2))
    sky += sun_strength * glow[..., None] * (sun_col - 0.5 * sky) * 0.8
    disc = np.clip((sun_r - dist) / (1.5 * px) + 0.5, 0.0, 1.0) * min(1.0, 1.3 * sun_strength)
    sky = _mix(sky, np.array([1.0, 0.98, 0.92])[None, None, :], disc[..., None])

    # Clouds on a plane above the viewer: depth ~ 1 / (distance above the horizon).
    dv_up = np.maximum(vh - vu, 0.02)
    depth = 0.35 / dv_up  # [R]
    cloud_x = (u[None, :] - 0.5 * aspect) * depth[:, None]
    cloud_foot = np.maximum(px * depth, 0.35 * px / dv_up**2)
    density = _fbm2d(
        cloud_rng, depth * 1.6, cloud_x, freq=1.2, octaves=6, footprint=cloud_foot, gain=0.55
    )
    threshold = 1.4 - 2.2 * coverage
    alpha = _smoothstep(threshold, threshold + 0.9, density)
    alpha *= _smoothstep(0.0, 0.10, vh - vu)[:, None]  # thin out at the horizon
    thick = _smoothstep(threshold + 0.4, threshold + 1.8, density)
    cloud_col = _mix(
        _jitter(cloud_rng, pal.cloud_light, 0.03)[None, None, :],
        _jitter(cloud_rng, pal.cloud_shadow, 0.03)[None, None, :],
        (0.75 * thick)[..., None],
    )
    cloud_col = cloud_col + sun_strength * glow[..., None] * 0.6 * (sun_col - 0.4)
    haze_up = np.exp(-(vh - vu) / 0.07)[:, None, None]
    cloud_col = _mix(cloud_col, horizon_col[None, None, :], 0.6 * haze_up)
    opacity = p_rng.uniform(0.75, 0.95)
    sky = _mix(sky, cloud_col, (opacity * alpha)[..., None])

    upper = sky
    # gullies: rock texture stretched vertically
    rock_texture = _fbm2d(
        mount_rng,
        vu * 0.6,
        u,
        freq=14.0,
        octaves=5,
        footprint=np.full(rows_up, 0.6 * px),
        gain=0.6,
    )
    snow_texture = _fbm2d(
        mount_rng,
        vu,
        u,
        freq=10.0,
        octaves=4,
        footprint=np.full(rows_up, px),
        gain=0.6,
    )
    snowy = bool(mount_rng.random() < 0.35) and pal is not _PALETTES[2]
    far_height = mount_rng.uniform(0.08, 0.20)
    for k in range(num_ridges):
        near = k / max(num_ridges - 1, 1)  # 0 = farthest ridge, 1 = nearest
        base = far_height * (1.0 - 0.75 * near) * mount_rng.uniform(0.8, 1.1)
        amp = base * mount_rng.uniform(0.45, 0.75)
        freq = mount_rng.uniform(1.6, 3.0) * (1.0 + 0.6 * near)
        smooth = _fbm1d(mount_rng, u, freq=freq, octaves=7, pixel=px, gain=0.5)
        ridged = 1.0 - np.abs(_fbm1d(mount_rng, u, freq=freq * 0.7, octaves=6, pixel=px))
        profile = 0.5 * smooth + ridged
        ridge_h = base + amp * profile  # [W] height above the horizon
        cap, knee = 0.65 * vh, 0.35 * vh  # soft ceiling: peaks flatten gradually, never clip flat
        over = np.maximum(ridge_h - knee, 0.0)
        ridge_h = np.maximum(
            np.minimum(ridge_h, knee) + (cap - knee) * np.tanh(over / (cap - knee)), 0.005
        )
        top = vh - ridge_h
        r0 = max(int(np.floor(top.min() / px - 1.0)), 0)  # rows above r0 are all sky
        vr = vu[r0:, None]
        cover = np.clip((vr - top[None, :]) / px + 0.5, 0.0, 1.0)  # [R', W]
        haze = 0.58 * (1.0 - near) ** 1.3 + 0.06
        rock = _jitter(mount_rng, pal.rock, 0.10)
        below_top = np.clip(vr - top[None, :], 0.0, None)
        shade = (1.0 + 0.14 * rock_texture[r0:]) * (1.0 - 0.25 * _smoothstep(0.0, 0.12, below_top))
        height_above = np.clip(vh - vr, 0.0, None)
        col = rock[None, None, :] * shade[..., None]
        if snowy and k < 2:
            snow_line = ridge_h.mean() * mount_rng.uniform(0.75, 1.05)
            wobble = 0.025 * snow_texture[r0:] + 0.01 * rock_texture[r0:]
            snow = _smoothstep(-0.01, 0.01, height_above - snow_line + wobble)
            col = _mix(col, np.array([0.92, 0.94, 0.98])[None, None, :], 0.9 * snow[..., None])
        mist = np.exp(-height_above / (0.02 + 0.06 * mount_rng.random()))
        col = _mix(col, horizon_col[None, None, :], (haze + (1.0 - haze) * 0.45 * mist)[..., None])
        upper[r0:] = _mix(upper[r0:], col, cover[..., None])

    # tree line (far shore or edge of the meadows), in front of the mountains
    if not use_water or tree_rng.random() < 0.6:
        tree_h = tree_rng.uniform(0.006, 0.025)
        bumps = _fbm1d(tree_rng, u, freq=90.0, octaves=3, pixel=px, gain=0.7)
        crown = tree_h * np.clip(0.7 + 0.3 * bumps, 0.2, 1.3)
        crown *= np.clip(1.2 + 0.8 * _fbm1d(tree_rng, u, freq=4.0, octaves=2, pixel=px), 0, 1)
        t0 = max(int(np.floor((vh - crown.max()) / px - 1.0)), 0)
        tree_cover = np.clip((vu[t0:, None] - (vh - crown[None, :])) / px + 0.5, 0.0, 1.0)
        tree = _mix(_jitter(tree_rng, pal.tree, 0.05), horizon_col, 0.25)
        upper[t0:] = _mix(upper[t0:], tree[None, None, :], tree_cover[..., None])

    image = np.zeros((height, width, 3))
    image[:rows_up] = upper

    # ---- lower scene: water or ground ------------------------------------------------------
    first = int(np.floor(vh * height))
    if first < height:
        vl = v[first:]
        dv = np.maximum(vl - vh, 0.5 * px)  # distance below the horizon
        plane_depth = 0.25 / dv  # ground-plane depth per row
        plane_x = (u[None, :] - 0.5 * aspect) * plane_depth[:, None]
        foot = np.maximum(px * plane_depth, 0.25 * px / dv**2)
        if use_water:
            lower = _water(
                water_rng, upper, vl, dv, plane_depth, plane_x, foot, px, vh, pal, horizon_col
            )
        else:
            lower = _ground(
                ground_rng, vl, dv, u, plane_depth, plane_x, foot, px, vh, pal, horizon_col
            )
        # blend across the horizon row for an anti-aliased line
        cover = np.clip((vl - vh) / px + 0.5, 0.0, 1.0)[:, None, None]
        image[first:] = _mix(image[first:], lower, cover)
    return np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)


def _water(
    rng: np.random.Generator,
    upper: np.ndarray,
    vl: np.ndarray,
    dv: np.ndarray,
    plane_depth: np.ndarray,
    plane_x: np.ndarray,
    foot: np.ndarray,
    px: float,
    vh: float,
    pal: _Palette,
    horizon_col: np.ndarray,
) -> np.ndarray:
    """Lake: the upper scene mirrored at the horizon through perspective ripples."""
    rows_up, width = upper.shape[:2]
    ripple = _fbm2d(
        rng, plane_depth * 3.0, plane_x * 0.8, freq=2.0, octaves=5, footprint=foot, gain=0.6
    )
    strength = rng.uniform(0.004, 0.012)
    # mirrored row, displaced by the ripples (more displacement closer to the viewer)
    src_v = vh - dv[:, None] - strength * ripple * (0.3 + 4.0 * dv[:, None])
    src_row = np.clip(np.round(src_v / px - 0.5), 0, rows_up - 1).astype(np.int64)
    shift = np.round(2.0 * strength * ripple * (0.2 + 3.0 * dv[:, None]) / px).astype(np.int64)
    src_col = np.clip(np.arange(width)[None, :] + shift, 0, width - 1)
    reflection = upper[src_row, src_col]  # [R, W, 3]
    water = np.asarray(pal.water) * rng.uniform(0.8, 1.2)
    fresnel = 0.35 + 0.55 * np.exp(-dv / 0.12)
    col = _mix(water[None, None, :], reflection * 0.85, fresnel[:, None, None])
    col = col * (1.0 + 0.06 * ripple[..., None])
    haze = 0.35 * np.exp(-dv / 0.015)[:, None, None]
    return _mix(col, horizon_col[None, None, :], haze)


def _ground(
    rng: np.random.Generator,
    vl: np.ndarray,
    dv: np.ndarray,
    u: np.ndarray,
    plane_depth: np.ndarray,
    plane_x: np.ndarray,
    foot: np.ndarray,
    px: float,
    vh: float,
    pal: _Palette,
    horizon_col: np.ndarray,
) -> np.ndarray:
    """Meadows on a perspective ground plane, a tree line at the horizon, rolling hills."""
    rows = vl.shape[0]
    width = u.shape[0]
    patches = _fbm2d(rng, plane_depth, plane_x, freq=0.8, octaves=7, footprint=foot, gain=0.55)
    detail = _fbm2d(rng, plane_depth, plane_x, freq=12.0, octaves=6, footprint=foot, gain=0.75)
    grass = _jitter(rng, pal.grass, 0.08)
    dry = _jitter(rng, pal.grass_dry, 0.08)
    col = _mix(grass[None, None, :], dry[None, None, :], _smoothstep(-0.3, 1.4, patches)[..., None])
    # grass tufts: fine screen-space grain, taller than wide, growing towards the viewer
    tufts = _fbm2d(rng, vl * 0.25, u, freq=120.0, octaves=2, footprint=np.full(rows, 0.25 * px))
    near = _smoothstep(0.0, 0.35, dv)[:, None]
    col = col * (1.0 + (0.16 * detail + 0.10 * near * tufts)[..., None])
    # rolling foreground hills: a brighter rim and darker slopes below their crest
    for _ in range(int(rng.integers(1, 3))):
        crest = (
            vh
            + rng.uniform(0.06, 0.28) * (1.0 - vh)
            + 0.04 * _fbm1d(rng, u, freq=rng.uniform(0.6, 1.4), octaves=4, pixel=px)
        )
        inside = np.clip((vl[:, None] - crest[None, :]) / px + 0.5, 0.0, 1.0)
        below = np.clip(vl[:, None] - crest[None, :], 0.0, None)
        tone = rng.uniform(0.75, 1.2) * (1.0 - 0.25 * _smoothstep(0.0, 0.15, below))
        rim = 0.18 * np.exp(-below / 0.006)
        col = col * (1.0 + inside[..., None] * (tone[..., None] - 1.0 + rim[..., None]))
    haze = 0.55 * np.exp(-dv / 0.03)[:, None, None]
    return _mix(col, horizon_col[None, None, :], haze)[:rows, :width]


# --------------------------------------------------------------------------------------------
# Training source and PNG writer


class SyntheticLandscapeDataset(PatchDataset):
    """Procedural landscapes as a training source with the folder dataset's output contract.

    Image ``index`` is ``render_landscape(seed, index, render_h, render_w)``, then the standard
    pipeline (centre square, pre-resize, resize to the full size, flip, crop, label). By default
    it renders squares at ``pre_resize`` (or ``full_size`` when there is none), so the detail
    level matches real data of the same config.

    Args:
        config: the sizes.
        seed: content and augmentation seed.
        num_images: size of the collection (any number: images are rendered on demand).
        render_size: ``(height, width)`` to render before the pipeline, or None (see above).
        cache_bytes: in-memory cache budget for full images per process.
    """

    def __init__(
        self,
        config: DataConfig,
        *,
        seed: int,
        num_images: int = 100_000,
        render_size: tuple[int, int] | None = None,
        cache_bytes: int = 256 << 20,
    ) -> None:
        super().__init__(config, seed=seed, cache_bytes=cache_bytes)
        if num_images < 1:
            raise ValueError(f"num_images must be >= 1, got {num_images}")
        if render_size is None:
            side = config.pre_resize if config.pre_resize is not None else config.full_size
            render_size = (max(side, MIN_SIDE), max(side, MIN_SIDE))
        _check_size(*render_size)
        self.num_images = int(num_images)
        self.render_size = render_size

    def __len__(self) -> int:
        return self.num_images

    def render(self, index: int) -> np.ndarray:
        """The rendered image ``index`` before the pipeline: uint8 [h, w, 3]."""
        return render_landscape(self.seed, index, *self.render_size)

    def load_full(self, index: int) -> np.ndarray:
        return to_full_image(Image.fromarray(self.render(index)), self.config)


def prepare_synthetic(
    out_dir: str | os.PathLike[str],
    count: int,
    height: int,
    width: int,
    seed: int = 0,
    *,
    progress: Callable[[int], None] | None = None,
) -> list[Path]:
    """Write ``count`` procedural landscapes as PNG files ``000000.png``, ``000001.png``, ...

    File ``i`` holds ``render_landscape(seed, i, height, width)``. Each file is written to a
    temporary name and renamed, so an interrupted run leaves only complete files.

    Args:
        out_dir: output folder (created if needed).
        count: number of images (>= 1).
        height: image height in pixels.
        width: image width in pixels.
        seed: collection seed (>= 0).
        progress: called with the number of images written so far after each image.

    Returns:
        The written paths, in index order.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    _check_size(height, width)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    digits = max(6, len(str(count - 1)))
    paths: list[Path] = []
    for i in range(count):
        path = out / f"{i:0{digits}d}.png"
        save_image(render_landscape(seed, i, height, width), path)
        paths.append(path)
        if progress is not None:
            progress(i + 1)
    logger.info("wrote %d landscapes of %dx%d to %s", count, width, height, out)
    return paths
