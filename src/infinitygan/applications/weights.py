"""Fusion weights in canvas coordinates, evaluated exactly and locally for any sample grid.

Spatial style fusion (paper §3.4) assigns every canvas pixel to its nearest anchor and blurs that
one-hot assignment, giving soft weights that sum to one. The official code does this on a dense
image of the whole canvas; here the same quantity is computed in closed form for just the
positions a region needs, so its cost does not depend on how far apart the anchors are.

Definition. Canvas pixels are integer points ``(y, x)``. ``owner(y, x)`` is the index of the
nearest site (squared Euclidean distance; ties go to the lower index). For a blur of radius ``r``
(window ``2r + 1``) with a separable kernel ``k(dy) k(dx)`` (``"box"``: uniform, ``"gaussian"``:
``exp(-d^2 / 2 sigma^2)`` with ``sigma = (2r + 1) / 6``, each normalised to sum one)::

    weight_n(y, x) = sum_{|dy|, |dx| <= r} k(dy) k(dx) [owner(y + dy, x + dx) == n]

Because a Voronoi cell is convex, on every canvas row it is one interval of integer columns whose
ends follow from the bisector inequalities in exact integer arithmetic. The inner sum over ``dx``
is therefore a difference of the kernel's cumulative sum at the interval ends, and only the outer
sum over ``dy`` needs the rows around each sample: ``O(rows x samples x sites)`` work for a grid
with any spacing (structure cells, each texture layer's grid, output pixels).

Style edits (regional style resampling) use a separable mask: the edit box eroded by the blur radius
and blurred by the same kernel, so it is exactly 0 outside the box and 1 in its core.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

KERNELS = ("box", "gaussian")
_BIG = np.int64(1) << np.int64(60)


def blend_radius(blend: int) -> int:
    """Blur radius ``r`` of a blend width in pixels (window ``2r + 1``; even widths round up)."""
    if isinstance(blend, bool) or not isinstance(blend, int) or blend < 0:
        raise ValueError(f"blend must be a non-negative number of pixels, got {blend!r}")
    return blend // 2


def kernel_cdf(radius: int, kernel: str) -> np.ndarray:
    """Cumulative kernel sums ``C[k + r + 1] = sum_{d <= k} k(d)`` for ``k`` in ``[-r-1, r]``.

    Returns:
        float64 array of length ``2r + 2`` rising from 0 to 1.
    """
    if kernel not in KERNELS:
        raise ValueError(f"blend kernel must be one of {KERNELS}, got {kernel!r}")
    d = np.arange(-radius, radius + 1, dtype=np.float64)
    if kernel == "box" or radius == 0:
        taps = np.ones_like(d)
    else:
        sigma = (2 * radius + 1) / 6.0
        taps = np.exp(-0.5 * (d / sigma) ** 2)
    taps = taps / taps.sum()
    return np.concatenate([[0.0], np.cumsum(taps)])


def kernel_taps(radius: int, kernel: str) -> np.ndarray:
    """The normalised 1-D kernel ``k(d)``, ``d`` in ``[-r, r]`` (float64, sums to one)."""
    return np.diff(kernel_cdf(radius, kernel))


def interval_sum(lo: np.ndarray, hi: np.ndarray, xs: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    """``sum_{d : lo <= x + d <= hi, |d| <= r} k(d)`` for every ``x`` in ``xs``.

    Args:
        lo, hi: interval ends (inclusive integers, ``lo > hi`` for an empty interval), any shape
            ``[...]``.
        xs: sample positions [C].
        cdf: :func:`kernel_cdf` of the kernel.

    Returns:
        float64 [..., C].
    """
    r = (len(cdf) - 2) // 2
    lo_d = np.clip(lo[..., None] - xs, -r, r + 1)
    hi_d = np.clip(hi[..., None] - xs, -r - 1, r)
    out = cdf[hi_d + r + 1] - cdf[lo_d + r]
    return np.clip(out, 0.0, 1.0)


def interval_count(lo: np.ndarray, hi: np.ndarray, xs: np.ndarray, radius: int) -> np.ndarray:
    """Integer version of :func:`interval_sum` for the box kernel: ``|[x-r, x+r] & [lo, hi]|``.

    Returns:
        int32 [..., C] (int64 for windows wider than 46340 px).
    """
    dtype = np.int32 if radius < 20000 else np.int64
    big = np.iinfo(dtype).max // 4
    lo_c = np.clip(lo, -big, big).astype(dtype)[..., None]
    hi_c = np.clip(hi, -big, big).astype(dtype)[..., None]
    xs = xs.astype(dtype)
    out = np.minimum(hi_c, xs + dtype(radius))
    out -= np.maximum(lo_c, xs - dtype(radius))
    out += 1
    return np.maximum(out, 0, out=out)


def _floor_div(a: np.ndarray, b: int) -> np.ndarray:
    return np.floor_divide(a, b)


def _ceil_div(a: np.ndarray, b: int) -> np.ndarray:
    return -np.floor_divide(-a, b)


def row_intervals(
    sy: np.ndarray, sx: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Columns owned by each site on each row: the exact integer Voronoi intervals.

    Args:
        sy, sx: site coordinates [N] (int64, relative to any origin shared with ``rows``).
        rows: canvas rows [Y] (int64).

    Returns:
        ``(lo, hi)`` int64 [Y, N]; site ``n`` owns columns ``lo..hi`` of each row (empty when
        ``lo > hi``). Ties go to the lower site index.
    """
    n_sites = len(sy)
    y_count = len(rows)
    lo = np.full((y_count, n_sites), -_BIG, dtype=np.int64)
    hi = np.full((y_count, n_sites), _BIG, dtype=np.int64)
    extent = max(int(np.abs(sy).max()), int(np.abs(sx).max()), int(np.abs(rows).max()))
    if extent >= 1 << 30:
        # squared distances could overflow int64: use exact Python integers (rare, slower)
        sy, sx, rows = (np.asarray(a, dtype=object) for a in (sy, sx, rows))
    sq = sy * sy + sx * sx
    for n in range(n_sites):
        for m in range(n_sites):
            if m == n:
                continue
            # |p - a_n|^2 - |p - a_m|^2 = -2 dx x + c, with c depending on the row only.
            dx = int(sx[n] - sx[m])
            c = -2 * rows * (sy[n] - sy[m]) + (sq[n] - sq[m])
            strict = m < n  # site n must be strictly closer than lower-index sites
            if dx == 0:
                ok = np.asarray(c < 0 if strict else c <= 0, dtype=bool)
                hi[~ok, n] = -_BIG
            elif dx > 0:
                bound = _floor_div(c, 2 * dx) + 1 if strict else _ceil_div(c, 2 * dx)
                lo[:, n] = np.maximum(lo[:, n], np.clip(bound, -_BIG, _BIG).astype(np.int64))
            else:
                bound = _ceil_div(-c, -2 * dx) - 1 if strict else _floor_div(-c, -2 * dx)
                hi[:, n] = np.minimum(hi[:, n], np.clip(bound, -_BIG, _BIG).astype(np.int64))
    return lo, hi


def voronoi_weights(
    sy: np.ndarray,
    sx: np.ndarray,
    ys: np.ndarray,
    xs: np.ndarray,
    radius: int,
    kernel: str = "box",
) -> np.ndarray:
    """Blurred nearest-site weights at the sample grid ``ys x xs``.

    Args:
        sy, sx: site coordinates [N] (integers).
        ys, xs: sample rows [R] and columns [C] (integers, increasing).
        radius: blur radius (0: hard nearest-site assignment).
        kernel: "box" or "gaussian".

    Returns:
        float64 [N, R, C]; the weights of each sample sum to one.
    """
    sy = np.asarray(sy, dtype=np.int64)
    sx = np.asarray(sx, dtype=np.int64)
    ys = np.asarray(ys, dtype=np.int64)
    xs = np.asarray(xs, dtype=np.int64)
    n_sites = len(sy)
    if n_sites == 1:
        return np.ones((1, len(ys), len(xs)))
    # Work relative to the sample grid so that squares stay small.
    oy, ox = int(ys[0]), int(xs[0])
    sy, sx, ys, xs = sy - oy, sx - ox, ys - oy, xs - ox
    y0 = int(ys.min()) - radius
    rows = np.arange(y0, int(ys.max()) + radius + 1, dtype=np.int64)
    lo, hi = row_intervals(sy, sx, rows)
    # Only the part of each interval inside the widest window matters: clip, then group equal
    # consecutive rows (a vertical bisector gives one group however tall the window is).
    x_lo, x_hi = int(xs.min()) - radius - 1, int(xs.max()) + radius + 1
    lo = np.clip(lo, x_lo, x_hi)
    hi = np.clip(hi, x_lo, x_hi)
    empty = lo > hi
    lo[empty], hi[empty] = x_hi, x_lo
    key = np.concatenate([lo, hi], axis=1)
    starts = np.concatenate([[0], np.nonzero(np.any(key[1:] != key[:-1], axis=1))[0] + 1])
    lengths = np.diff(np.append(starts, len(rows)))
    first = ys - y0 - radius  # dense-row index of each sample's first window row
    if kernel == "box" or radius == 0:
        # Exact integer counts; one division at the end.
        counts = interval_count(lo[starts], hi[starts], xs, radius).astype(np.int64)  # [K,N,C]
        prefix = np.zeros((len(starts) + 1,) + counts.shape[1:], np.int64)
        np.cumsum(counts * lengths[:, None, None], axis=0, out=prefix[1:])

        def rows_before(index: np.ndarray) -> np.ndarray:
            k = np.searchsorted(starts, index, side="right") - 1
            return prefix[k] + (index - starts[k])[:, None, None] * counts[k]

        total = rows_before(first + 2 * radius + 1) - rows_before(np.maximum(first, 0))
        out = total.transpose(1, 0, 2).astype(np.float64) / float((2 * radius + 1) ** 2)
        return np.ascontiguousarray(out)
    cdf = kernel_cdf(radius, kernel)
    sums = interval_sum(lo[starts], hi[starts], xs, cdf)  # [K, N, C]
    if len(starts) * len(ys) <= len(rows) * (2 * radius + 1):
        # kernel mass of each row group seen from each sample row: [R, K]
        ends = starts + lengths - 1
        d_lo = np.clip(starts[None, :] - (first[:, None] + radius), -radius, radius + 1)
        d_hi = np.clip(ends[None, :] - (first[:, None] + radius), -radius - 1, radius)
        mass = np.clip(cdf[d_hi + radius + 1] - cdf[d_lo + radius], 0.0, 1.0)
        out = np.einsum("rk,knc->nrc", mass, sums)
    else:
        dense = np.repeat(sums, lengths, axis=0)  # [Y, N, C]
        taps = torch.from_numpy(kernel_taps(radius, kernel))
        y_count, n, c = dense.shape
        seq = torch.from_numpy(np.ascontiguousarray(dense.transpose(1, 2, 0)))
        smooth = F.conv1d(seq.reshape(n * c, 1, y_count), taps.view(1, 1, -1)).reshape(n, c, -1)
        # conv output j is centred on row j + r
        out = np.ascontiguousarray(smooth[:, :, first].permute(0, 2, 1).numpy())
    return out / out.sum(axis=0, keepdims=True)


# ---------------------------------------------------------------------------------------------
# Which sites can matter inside a rectangle


def _clip_polygon(poly: np.ndarray, a: np.ndarray, b: float) -> np.ndarray:
    """Sutherland-Hodgman: keep the part of ``poly`` [K, 2] with ``a . p <= b``."""
    if len(poly) == 0:
        return poly
    out = []
    vals = poly @ a - b
    for i in range(len(poly)):
        p, q = poly[i], poly[(i + 1) % len(poly)]
        vp, vq = vals[i], vals[(i + 1) % len(poly)]
        if vp <= 0:
            out.append(p)
        if (vp < 0 < vq) or (vq < 0 < vp):
            t = vp / (vp - vq)
            out.append(p + t * (q - p))
    return np.array(out).reshape(-1, 2)


def sites_touching(
    sy: Sequence[int], sx: Sequence[int], rect: tuple[int, int, int, int]
) -> list[int]:
    """Indices of the sites whose (closed) Voronoi cell meets ``rect``.

    Args:
        sy, sx: site coordinates.
        rect: ``(y0, y1, x0, x1)``, inclusive canvas bounds (already grown by the blur radius).

    Returns:
        Increasing site indices (a superset of the owners of the rectangle's integer points).
    """
    sy_a = np.asarray(sy, dtype=np.float64)
    sx_a = np.asarray(sx, dtype=np.float64)
    n = len(sy_a)
    if n <= 1:
        return list(range(n))
    y0, y1, x0, x1 = rect
    cy, cx = (y0 + y1) / 2.0, (x0 + x1) / 2.0
    py, px = sy_a - cy, sx_a - cx
    hy, hx = (y1 - y0) / 2.0, (x1 - x0) / 2.0
    # Cheap prefilter: a site can only own a point of the rectangle if its nearest distance is
    # not above the smallest farthest distance of any site.
    dmin = np.hypot(np.maximum(np.abs(py) - hy, 0.0), np.maximum(np.abs(px) - hx, 0.0))
    dmax = np.hypot(np.abs(py) + hy, np.abs(px) + hx)
    cand = np.nonzero(dmin <= dmax.min() * (1 + 1e-9) + 1e-6)[0]
    if len(cand) == 1:
        return [int(cand[0])]
    box = np.array([[-hy, -hx], [-hy, hx], [hy, hx], [hy, -hx]], dtype=np.float64)
    scale = max(hy, hx, 1.0)
    keep = []
    for i in cand:
        poly = box
        ai = np.array([py[i], px[i]])
        for j in cand:
            if j == i:
                continue
            aj = np.array([py[j], px[j]])
            # |p - ai|^2 <= |p - aj|^2  <=>  2 p.(aj - ai) <= |aj|^2 - |ai|^2 (+ tolerance)
            normal = 2.0 * (aj - ai)
            bound = aj @ aj - ai @ ai
            poly = _clip_polygon(poly, normal, bound + 1e-7 * scale * np.linalg.norm(normal) + 1e-9)
            if len(poly) == 0:
                break
        if len(poly):
            keep.append(int(i))
    return keep


# ---------------------------------------------------------------------------------------------
# Style-edit masks


@dataclass(frozen=True)
class BoxMask:
    """Separable soft mask of a box: 0 outside, 1 in the core, blurred inside the border.

    Attributes:
        top, left, height, width: the box in canvas pixels.
        radius: blur radius; shrunk so the core keeps at least half of the box per axis.
        kernel: "box" or "gaussian".
    """

    top: int
    left: int
    height: int
    width: int
    radius: int
    kernel: str = "box"

    @property
    def effective_radius(self) -> int:
        return max(0, min(self.radius, (min(self.height, self.width) - 1) // 4))

    def axis(self, start: int, size: int, positions: np.ndarray) -> np.ndarray:
        r = self.effective_radius
        cdf = kernel_cdf(r, self.kernel)
        lo = np.array(start + r, dtype=np.int64)
        hi = np.array(start + size - 1 - r, dtype=np.int64)
        return interval_sum(lo, hi, np.asarray(positions, dtype=np.int64), cdf)

    def __call__(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Mask values [R, C] (float64) at the sample grid."""
        return np.outer(self.axis(self.top, self.height, ys), self.axis(self.left, self.width, xs))

    def core(self) -> tuple[int, int, int, int]:
        """Inclusive ``(y0, y1, x0, x1)`` where the mask is exactly one."""
        r = 2 * self.effective_radius
        return (
            self.top + r,
            self.top + self.height - 1 - r,
            self.left + r,
            self.left + self.width - 1 - r,
        )


def rect_inside(inner: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    """Whether inclusive rectangle ``inner`` lies within ``outer`` (both ``(y0, y1, x0, x1)``)."""
    return (
        outer[0] <= inner[0]
        and inner[1] <= outer[1]
        and outer[2] <= inner[2]
        and inner[3] <= outer[3]
    )


def rects_meet(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether two inclusive rectangles ``(y0, y1, x0, x1)`` share a point."""
    return a[0] <= b[1] and b[0] <= a[1] and a[2] <= b[3] and b[2] <= a[3]
