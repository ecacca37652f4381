"""A described canvas as a tile source: fusion, placements and edits at any position.

:class:`Scene` binds a :class:`~infinitygan.applications.description.CanvasDescription` to a
generator and is the :class:`infinitygan.tiling.TileSource` of the canvas; :func:`render_region`,
the one entry point, renders any region of it with the tile loop of every canvas
(:func:`infinitygan.tiling.render_tiles`, the loop of :func:`infinitygan.canvas.generate_region`).
Three per-position inputs are taken from the description instead of the seed alone:

* local latents and noise: the base seed's, overwritten by placed (inverted) latents and by
  ``local`` / ``noise`` edits (:meth:`Scene.local`, :meth:`Scene.noise`);
* styles: fusion weights of the anchors / placements / ``style`` edits evaluated at every layer's
  own grid (:meth:`Scene.style_weights`), used by the exact spatial modulation of
  :mod:`infinitygan.applications.fused`; a block or tile that only one style reaches runs the
  ordinary generator;
* pasted originals of placements, blended in over a feathered border (:meth:`Scene.paste`).

Every one of these is a function of canvas position only, so a region equals the crop of any larger
region (up to float rounding, < 1e-4), and only the items near a region are looked at: the cost of
a small region does not depend on how far away other anchors or edits are.

Grid convention. Texture conv ``i``'s output grid index ``g`` sits at canvas pixel
``A[i+1] * g + B[i+1]``; the structure cell grid is ``A[0] = scale``, ``B[0] = 0``. An upsampling
conv halves ``A``; every lattice position is a multiple of its spacing, so all grids of one spacing
share the lattice ``A * Z`` and their fusion weights are computed once per tile and spacing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from infinitygan.applications.description import CanvasDescription, Edit
from infinitygan.applications.fused import fused_structure, fused_texture
from infinitygan.applications.inverted import InvertedLatents, load_latents_cached
from infinitygan.applications.weights import (
    BoxMask,
    blend_radius,
    rect_inside,
    rects_meet,
    sites_touching,
    voronoi_weights,
)
from infinitygan.canvas import SeedCanvas
from infinitygan.coords import coord_grid
from infinitygan.latents import global_latent, local_latent, noise_map
from infinitygan.models import Generator
from infinitygan.models.generator import check_truncation
from infinitygan.runtime import check_precision
from infinitygan.spatial import Window
from infinitygan.tiling import (
    TileSource,
    Windows,
    batch_noise,
    check_region,
    render_tiles,
    structure_blocks,
    texture_function,
    window_noise,
)

logger = logging.getLogger(__name__)

Rect = tuple[int, int, int, int]  # inclusive (y0, y1, x0, x1) in canvas pixels


def lattice_constants(G: Generator) -> tuple[list[int], list[int]]:
    """Spacing ``A[k]`` and offset ``B[k]`` (canvas pixels) of grid ``k``.

    Grid 0 is the structure cell grid, grid ``i + 1`` the output grid of texture conv ``i``:
    index ``g`` of grid ``k`` is centred on canvas pixel ``A[k] * g + B[k]``.
    """
    geo = G.geometry
    spacing, offset = [geo.scale], [0]
    for i in range(G.num_convs):
        a, b = spacing[-1], offset[-1]
        if i % 2 == 0:  # upsampling conv: output g is centred on input (g + 1) / 2
            spacing.append(a // 2)
            offset.append(b + a // 2)
        else:  # plain conv: output g is centred on input g + 1
            spacing.append(a)
            offset.append(b + a)
    if offset[-1] != geo.pixel_offset:
        raise AssertionError("texture grid arithmetic disagrees with Geometry.pixel_offset")
    return spacing, offset


@dataclass
class _Source:
    """One global style: raw latent for the structure, W+ for the texture."""

    key: tuple
    z: Tensor  # [z_dim]
    styles: Tensor | None = None  # [num_styles, w_dim]; seeds get theirs from the mapping


@dataclass
class _Placed:
    """A placement resolved against its latents file."""

    latents: InvertedLatents
    dy: int  # canvas shift in pixels (multiple of the cell size)
    dx: int
    source: int
    y: int  # canvas position of the image's top-left
    x: int
    paste: bool
    feather: int
    sides: str


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def _index_overlap(
    start: int, count: int, src_start: int, src_count: int, period: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Destination and source indices where ``[start, +count)`` meets
    ``[src_start, +src_count)``."""
    offsets = np.arange(start, start + count, dtype=np.int64) - src_start
    if period:
        offsets = np.mod(offsets, period)
    keep = np.nonzero((offsets >= 0) & (offsets < src_count))[0]
    return keep, offsets[keep]


def _inside(positions: np.ndarray, lo: int, size: int, period: int | None) -> np.ndarray:
    """Boolean mask of positions in ``[lo, lo + size)`` (modulo ``period`` when given)."""
    d = positions - lo
    if period:
        d = np.mod(d, period)
    return (d >= 0) & (d < size)


def _overlay_block(
    dst: Tensor,
    rows: np.ndarray,
    cols: np.ndarray,
    values: Tensor,
) -> None:
    """``dst[:, rows, cols] = values`` for index vectors ``rows`` and ``cols``."""
    r = torch.from_numpy(rows)
    c = torch.from_numpy(cols)
    dst[:, r[:, None], c[None, :]] = values


def _overlay_edits(
    dst: Tensor,
    edits: Sequence[Edit],
    positions: tuple[np.ndarray, np.ndarray],
    starts: tuple[int, int],
    period_px: int | None,
    draw: Callable[[int, int, int, int, int], Tensor],
) -> None:
    """Overwrite the grid entries of ``dst`` inside each edit's rectangle with redrawn values.

    ``positions`` are the canvas pixel positions of ``dst``'s rows and columns, ``starts`` their
    grid indices' first values; ``draw(seed, row, rows, col, cols)`` returns the block
    ``[C, rows, cols]`` of an edit's seed at those grid indices.
    """
    for e in edits:
        ri = np.nonzero(_inside(positions[0], e.top, e.height, None))[0]
        ci = np.nonzero(_inside(positions[1], e.left, e.width, period_px))[0]
        if len(ri) and len(ci):
            new = draw(
                e.seed,
                starts[0] + int(ri[0]),
                int(ri[-1] - ri[0]) + 1,
                starts[1] + int(ci[0]),
                int(ci[-1] - ci[0]) + 1,
            )
            _overlay_block(dst, ri, ci, new[:, (ri - ri[0])[:, None], (ci - ci[0])[None, :]])


class Scene:
    """A canvas description bound to a generator: per-position latents, noise and styles.

    Build one per render call (cheap: placements' files are cached); the methods only look at the
    items that reach the positions asked for.
    """

    def __init__(
        self, G: Generator, description: CanvasDescription, truncation: float = 1.0
    ) -> None:
        self.G = G
        self.description = description
        self.truncation = check_truncation(truncation)
        cfg = G.config
        geo = G.geometry
        self.geo = geo
        self.scale = geo.scale
        self.spacing, self.offset = lattice_constants(G)
        self.radius = blend_radius(description.blend)
        self.kernel = description.blend_kernel
        self.period_cells = cfg.coords.horizontal_period if description.wrap else None
        self.period_px = self.period_cells * self.scale if self.period_cells else None
        self.sources: list[_Source] = []
        self._source_ids: dict[tuple, int] = {}
        self._mapped: dict[int, Tensor] = {}
        seed = description.seed

        self.placed: list[_Placed] = []
        for p in description.placements:
            latents = load_latents_cached(p.latents, p.sha256)
            latents.check_model(G)
            dy, dx = p.y - latents.top, p.x - latents.left
            if dy % self.scale or dx % self.scale:
                ny = latents.top + round(dy / self.scale) * self.scale
                nx = latents.left + round(dx / self.scale) * self.scale
                raise ValueError(
                    f"placement of {p.latents} at (y={p.y}, x={p.x}): the image was inverted with "
                    f"its top-left at (y={latents.top}, x={latents.left}), and a placement may "
                    "only "
                    f"move it by multiples of the model's cell size ({self.scale} px) so that "
                    f"every latent grid stays aligned; the nearest valid position is "
                    f"(y={ny}, x={nx})"
                )
            if self.period_px and latents.local.shape[-1] > self.period_cells:
                raise ValueError(
                    f"{p.latents} is wider than the canvas period; it cannot be placed on a "
                    "wrapped canvas"
                )
            src = self._add_source(
                ("placement", p.latents, p.sha256), latents.z_global, latents.styles
            )
            self.placed.append(
                _Placed(latents, dy, dx, src, p.y, p.x, p.paste, p.feather, p.feather_sides)
            )

        # Style sites: anchors, then placements (at the image centre); else the base seed.
        sites: list[tuple[int, int, int]] = []
        for a in description.anchors:
            sites.append((a.y, a.x, self._seed_source(a.seed)))
        for pl in self.placed:
            h, w = pl.latents.height, pl.latents.width
            sites.append((pl.y + h // 2, pl.x + w // 2, pl.source))
        if not sites:
            sites.append((0, 0, self._seed_source(seed)))
        self.site_y = np.array([s[0] for s in sites], dtype=np.int64)
        self.site_x = np.array([s[1] for s in sites], dtype=np.int64)
        self.site_source = np.array([s[2] for s in sites], dtype=np.int64)

        self.local_edits: list[Edit] = [e for e in description.edits if e.what == "local"]
        self.noise_edits: list[Edit] = [e for e in description.edits if e.what == "noise"]
        self.style_edits: list[tuple[BoxMask, int]] = []
        for e in description.edits:
            if e.what == "style":
                if self.period_px and e.width > self.period_px:
                    raise ValueError(
                        "a style edit on a wrapped canvas must be narrower than the period"
                    )
                mask = BoxMask(e.top, e.left, e.height, e.width, self.radius, self.kernel)
                self.style_edits.append((mask, self._seed_source(e.seed)))

    # -- styles --------------------------------------------------------------------------
    def _add_source(self, key: tuple, z: Tensor, styles: Tensor | None) -> int:
        if key not in self._source_ids:
            self._source_ids[key] = len(self.sources)
            self.sources.append(_Source(key, z.float(), None if styles is None else styles.float()))
        return self._source_ids[key]

    def _seed_source(self, seed: int) -> int:
        key = ("seed", seed)
        if key in self._source_ids:
            return self._source_ids[key]
        return self._add_source(key, global_latent(seed, self.G.config.mapping.z_dim), None)

    def z(self, source: int, device: torch.device) -> Tensor:
        """Raw global latent [z_dim] of a source (structure synthesizer style); a seed's is
        truncated (:meth:`Generator.truncate_global`), an inverted image's is kept as fitted."""
        src = self.sources[source]
        z = src.z.to(device)
        return self.G.truncate_global(z, self.truncation) if src.key[0] == "seed" else z

    def wplus(self, source: int, device: torch.device) -> Tensor:
        """Texture styles [num_styles, w_dim] of a source (mapped global latent for seeds,
        truncated toward ``w_avg``; an inverted image's W+ is kept as fitted)."""
        src = self.sources[source]
        if src.styles is not None:
            return src.styles.to(device)
        if source not in self._mapped:
            w = self.G.truncate_w(self.G.mapping(src.z[None].to(device)), self.truncation)[0]
            self._mapped[source] = w.unsqueeze(0).expand(self.G.num_styles, -1)
        return self._mapped[source]

    def _sites_for(self, rect: Rect) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sites (with periodic copies on wrapped canvases) that may matter for ``rect``."""
        if not self.period_px:
            return self.site_y, self.site_x, self.site_source
        p = self.period_px
        ys, xs, ss = [], [], []
        for y, x, s in zip(self.site_y, self.site_x, self.site_source):
            k0 = (rect[2] - p - int(x)) // p
            k1 = _ceil_div(rect[3] + p - int(x), p)
            for k in range(k0, k1 + 1):
                ys.append(int(y))
                xs.append(int(x) + k * p)
                ss.append(int(s))
        return np.array(ys), np.array(xs), np.array(ss)

    def _mask_shifts(self, mask: BoxMask, rect: Rect) -> list[int]:
        """Horizontal shifts of a style-edit mask whose box meets ``rect`` (only 0, if any,
        without wrap)."""
        shifts = [0]
        if self.period_px:
            p = self.period_px
            k0 = (rect[2] - mask.left - mask.width) // p
            k1 = _ceil_div(rect[3] - mask.left, p)
            shifts = [k * p for k in range(k0, k1 + 1)]
        return [
            shift
            for shift in shifts
            if rects_meet(
                (
                    mask.top,
                    mask.top + mask.height - 1,
                    mask.left + shift,
                    mask.left + shift + mask.width - 1,
                ),
                rect,
            )
        ]

    def active_sources(self, rect: Rect) -> list[int]:
        """Sources that may have non-zero weight at some position of ``rect`` (a superset)."""
        r = self.radius
        grown = (rect[0] - r, rect[1] + r, rect[2] - r, rect[3] + r)
        sy, sx, ss = self._sites_for(grown)
        ids = list(dict.fromkeys(int(ss[i]) for i in sites_touching(sy, sx, grown)))
        for mask, src in self.style_edits:
            for shift in self._mask_shifts(mask, rect):
                c = mask.core()
                core = (c[0], c[1], c[2] + shift, c[3] + shift)
                if c[0] <= c[1] and c[2] <= c[3] and rect_inside(rect, core):
                    ids = [src]
                elif src not in ids:
                    ids.append(src)
        return ids

    def style_weights(self, ys: np.ndarray, xs: np.ndarray, ids: list[int]) -> np.ndarray:
        """Fusion weights [len(ids), R, C] (float64) of sources ``ids`` at the grid ``ys x xs``.

        ``ids`` must contain every source that is active there (see :meth:`active_sources`).
        """
        r = self.radius
        rect = (int(ys[0]), int(ys[-1]), int(xs[0]), int(xs[-1]))
        grown = (rect[0] - r, rect[1] + r, rect[2] - r, rect[3] + r)
        sy, sx, ss = self._sites_for(grown)
        idx = sites_touching(sy, sx, grown)
        col = {s: i for i, s in enumerate(ids)}
        out = np.zeros((len(ids), len(ys), len(xs)))
        if len(idx) == 1:
            out[col[int(ss[idx[0]])]] = 1.0
        else:
            w = voronoi_weights(sy[idx], sx[idx], ys, xs, r, self.kernel)
            for k, i in enumerate(idx):
                out[col[int(ss[i])]] += w[k]
        for mask, src in self.style_edits:
            for shift in self._mask_shifts(mask, rect):
                m = mask(ys, xs - shift)
                out *= 1.0 - m
                out[col[src]] += m
        return out

    # -- local latents and noise --------------------------------------------------------------
    def local(self, row_start: int, rows: int, col_start: int, cols: int) -> Tensor:
        """Local latents [local_dim, rows, cols] of structure cells at the given position."""
        dim = self.G.config.structure.local_dim
        period = self.period_cells
        out = local_latent(
            self.description.seed, dim, row_start, rows, col_start, cols, period=period
        )
        for pl in self.placed:
            lat = pl.latents
            r0 = lat.local_origin[0] + pl.dy // self.scale
            c0 = lat.local_origin[1] + pl.dx // self.scale
            ri, rs = _index_overlap(row_start, rows, r0, lat.local.shape[1], None)
            ci, cs = _index_overlap(col_start, cols, c0, lat.local.shape[2], period)
            if len(ri) and len(ci):
                _overlay_block(out, ri, ci, lat.local[:, rs[:, None], cs[None, :]])
        if self.local_edits:
            cell_rows = self.scale * np.arange(row_start, row_start + rows, dtype=np.int64)
            cell_cols = self.scale * np.arange(col_start, col_start + cols, dtype=np.int64)
            _overlay_edits(
                out,
                self.local_edits,
                (cell_rows, cell_cols),
                (row_start, col_start),
                self.period_px,
                lambda seed, r, nr, c, nc: local_latent(seed, dim, r, nr, c, nc, period=period),
            )
        return out

    def noise(self, conv: int, row_start: int, rows: int, col_start: int, cols: int) -> Tensor:
        """Noise [1, rows, cols] of texture conv ``conv`` at its grid indices."""
        ls = self.geo.layer_scale(conv)
        period = self.period_cells * ls if self.period_cells else None
        out = noise_map(
            self.description.seed, conv, row_start, rows, col_start, cols, period=period
        )
        a = self.spacing[conv + 1]
        for pl in self.placed:
            lat = pl.latents
            n = lat.noise[conv]
            r0 = lat.noise_origins[conv][0] + pl.dy // a
            c0 = lat.noise_origins[conv][1] + pl.dx // a
            ri, rs = _index_overlap(row_start, rows, r0, n.shape[-2], None)
            ci, cs = _index_overlap(col_start, cols, c0, n.shape[-1], period)
            if len(ri) and len(ci):
                _overlay_block(
                    out, ri, ci, n.reshape(1, *n.shape[-2:])[:, rs[:, None], cs[None, :]]
                )
        if self.noise_edits:
            b = self.offset[conv + 1]
            pos_r = a * np.arange(row_start, row_start + rows, dtype=np.int64) + b
            pos_c = a * np.arange(col_start, col_start + cols, dtype=np.int64) + b
            _overlay_edits(
                out,
                self.noise_edits,
                (pos_r, pos_c),
                (row_start, col_start),
                self.period_px,
                lambda seed, r, nr, c, nc: noise_map(seed, conv, r, nr, c, nc, period=period),
            )
        return out

    # -- networks ------------------------------------------------------------------------------
    def structure(
        self,
        row_start: int,
        rows: int,
        col_start: int,
        cols: int,
        device: torch.device,
        block: int = 64,
    ) -> Tensor:
        """Structure latent [1, C, rows, cols] of the given cells (blocks of ``block`` cells)."""
        G = self.G
        cfg = G.config

        def block_structure(r0: int, nr: int, c0: int, nc: int) -> Tensor:
            z_local = self.local(r0, nr, c0, nc)[None].to(device)
            coords = coord_grid(range(r0, r0 + nr), range(c0, c0 + nc), cfg.coords)
            coords = coords[None].to(device)
            ys = self.scale * np.arange(r0, r0 + nr, dtype=np.int64)
            xs = self.scale * np.arange(c0, c0 + nc, dtype=np.int64)
            ids = self.active_sources((int(ys[0]), int(ys[-1]), int(xs[0]), int(xs[-1])))
            if len(ids) == 1:
                return G.structure(self.z(ids[0], device)[None], z_local, coords)
            w = torch.from_numpy(self.style_weights(ys, xs, ids)).float().to(device)
            z = torch.stack([self.z(i, device) for i in ids])
            return fused_structure(G.structure_synthesizer, z_local, coords, w, z)

        return structure_blocks(G, row_start, rows, col_start, cols, device, block_structure, block)

    def _tile_sources(self, windows: Windows) -> list[int]:
        """Sources active over the texture input of one tile (see :meth:`active_sources`)."""
        wy, wx = windows
        half = self.scale // 2
        rect = (
            self.scale * wy.cell_start - half,
            self.scale * (wy.cell_start + wy.cells) - half,
            self.scale * wx.cell_start - half,
            self.scale * (wx.cell_start + wx.cells) - half,
        )
        return self.active_sources(rect)

    def batch_key(self, windows: Windows) -> int | None:
        """The one source of a tile that only one style reaches (such tiles batch); None for a
        fused tile, which runs alone."""
        ids = self._tile_sources(windows)
        return ids[0] if len(ids) == 1 else None

    def finish(self, image: Tensor, top: int, left: int) -> None:
        """Blend in the pasted originals (:meth:`paste`)."""
        self.paste(image, top, left)

    def texture(
        self, structure: Tensor, windows: list[Windows], device: torch.device, compile: bool
    ) -> Tensor:
        """Texture output [N, 3, H, W] of equally shaped tiles (structure [N, C, S_y, S_x]) that
        share a :meth:`batch_key`; a fused tile comes alone. ``compile`` applies to tiles of one
        style (:func:`infinitygan.tiling.compiled_texture`)."""
        G = self.G
        geo = self.geo
        noise = batch_noise(
            [
                window_noise(
                    G, w, lambda i, r, nr, c, nc: self.noise(i, r, nr, c, nc)[None].to(device)
                )
                for w in windows
            ]
        )
        ids = self._tile_sources(windows[0])
        if len(ids) == 1:
            return texture_function(G, compile)(structure, self.wplus(ids[0], device)[None], noise)
        if len(windows) != 1:
            raise AssertionError("fused tiles are rendered one at a time")
        wy, wx = windows[0]
        sizes_y = geo.texture_conv_sizes(wy.cells)
        sizes_x = geo.texture_conv_sizes(wx.cells)

        # Index ranges of every grid k (structure cells for k = 0) along both axes.
        def grid_range(k: int, w: Window, sizes: list[int]) -> tuple[int, int]:
            if k == 0:
                return w.cell_start, w.cells
            return geo.layer_scale(k - 1) * w.cell_start, sizes[k - 1]

        # Sample positions of every grid that carries styles; one weight evaluation for all.
        input_g, fine_g, rgb_g = [], [], []
        for j in range(G.num_convs):
            gy, ny = grid_range(j, wy, sizes_y)
            gx, nx = grid_range(j, wx, sizes_x)
            a, b = self.spacing[j], self.offset[j]
            input_g.append(((a * gy + b, ny, a), (a * gx + b, nx, a)))
            if j % 2 == 0:  # half-spacing grid from half a step before the first input
                fa = a // 2
                fine_g.append(
                    ((a * gy + b - fa, 2 * ny + 1, fa), (a * gx + b - fa, 2 * nx + 1, fa))
                )
            else:
                fine_g.append(None)
        for pair in range(len(G.texture_synthesizer.to_rgbs)):
            k = 2 * pair + 2
            gy, ny = grid_range(k, wy, sizes_y)
            gx, nx = grid_range(k, wx, sizes_x)
            a, b = self.spacing[k], self.offset[k]
            rgb_g.append(((a * gy + b, ny, a), (a * gx + b, nx, a)))
        grids = input_g + [f for f in fine_g if f] + rgb_g
        ys = np.unique(np.concatenate([np.arange(y0, y0 + n * a, a) for (y0, n, a), _ in grids]))
        xs = np.unique(np.concatenate([np.arange(x0, x0 + n * a, a) for _, (x0, n, a) in grids]))
        weights = torch.from_numpy(self.style_weights(ys, xs, ids)).float().to(device)

        def take(grid: tuple[tuple[int, int, int], tuple[int, int, int]]) -> Tensor:
            (y0, ny, ay), (x0, nx, ax) = grid
            iy = torch.from_numpy(np.searchsorted(ys, np.arange(y0, y0 + ny * ay, ay)))
            ix = torch.from_numpy(np.searchsorted(xs, np.arange(x0, x0 + nx * ax, ax)))
            return weights[:, iy.to(device)][:, :, ix.to(device)]

        styles = torch.stack([self.wplus(i, device) for i in ids])
        return fused_texture(
            G.texture_synthesizer,
            structure,
            styles,
            [take(g) for g in input_g],
            [take(g) if g else None for g in fine_g],
            [take(g) for g in rgb_g],
            noise,
        )

    # -- pasted originals ------------------------------------------------------------------
    def paste(self, image: Tensor, top: int, left: int) -> None:
        """Blend the originals of pasted placements into ``image`` [3, H, W] (in place)."""
        height, width = image.shape[-2:]
        for pl in self.placed:
            if not pl.paste:
                continue
            h, w = pl.latents.height, pl.latents.width
            shifts = [0]
            if self.period_px:
                p = self.period_px
                shifts = [
                    k * p
                    for k in range((left - pl.x - w) // p, _ceil_div(left + width - pl.x, p) + 1)
                ]
            for shift in shifts:
                y0, x0 = pl.y, pl.x + shift
                ry0, ry1 = max(top, y0), min(top + height, y0 + h)
                rx0, rx1 = max(left, x0), min(left + width, x0 + w)
                if ry0 >= ry1 or rx0 >= rx1:
                    continue
                ay = _ramp(h, pl.feather, "t" in pl.sides, "b" in pl.sides)[ry0 - y0 : ry1 - y0]
                ax = _ramp(w, pl.feather, "l" in pl.sides, "r" in pl.sides)[rx0 - x0 : rx1 - x0]
                alpha = torch.outer(ay, ax)
                original = pl.latents.image[:, ry0 - y0 : ry1 - y0, rx0 - x0 : rx1 - x0]
                original = original.float() / 127.5 - 1.0
                target = image[:, ry0 - top : ry1 - top, rx0 - left : rx1 - left]
                target.mul_(1 - alpha).add_(alpha * original)


def _ramp(n: int, feather: int, low: bool, high: bool) -> Tensor:
    """1-D blend weights of a pasted original: 1 inside, linear over ``feather`` px at the ends."""
    d = torch.arange(n, dtype=torch.float32)
    out = torch.ones(n)
    if feather > 0:
        if low:
            out = torch.minimum(out, (d + 1) / (feather + 1))
        if high:
            out = torch.minimum(out, (n - d) / (feather + 1))
    return out


def render_region(
    G: Generator,
    description: CanvasDescription,
    top: int,
    left: int,
    height: int,
    width: int,
    *,
    device: str | torch.device | None = None,
    precision: str = "fp32",
    max_memory: int | None = None,
    tile: int | None = None,
    channels_last: bool = True,
    tile_batch: int = 1,
    compile: bool = False,
    truncation: float = 1.0,
) -> Tensor:
    """Render canvas pixels ``[top, top+height) x [left, left+width)`` of a described canvas.

    The region-containment contract of :func:`infinitygan.canvas.generate_region` holds: any
    region equals the crop of any larger region (max abs difference < 1e-4) whatever the tiling.
    A description without anchors, placements and edits (or with one anchor whose seed is the base
    seed) renders exactly ``generate_region(G, description.seed, ...)``.

    Args:
        G: the generator.
        description: the canvas.
        top, left: canvas position of the region's first pixel (any integers).
        height, width: region size (positive).
        device, precision, max_memory, tile, channels_last, tile_batch, compile: as for
            :func:`infinitygan.canvas.generate_region` (the same tile loop,
            :func:`infinitygan.tiling.render_tiles`). Tiles that one style reaches batch and
            compile like a plain canvas's; fused tiles run one at a time, uncompiled.
        truncation: psi of :func:`infinitygan.canvas.generate_region`, applied to every seed's
            style (base seed, anchors, style edits); inverted placements keep their fitted
            latents, so they still reproduce their images.

    Returns:
        Tensor [3, height, width], float32, about [-1, 1], on CPU.

    Raises:
        TypeError, ValueError: bad region; a placement whose file is missing, changed, made for
            another architecture, or moved off the cell grid.
    """
    check_region(top, left, height, width)
    if not isinstance(description, CanvasDescription):
        raise TypeError("description must be a CanvasDescription")
    check_precision(precision)
    psi = check_truncation(truncation)

    def make_source(G: Generator, device: torch.device) -> TileSource:
        if description.is_plain:  # exactly what generate_region renders
            return SeedCanvas(G, description.seed, wrap=description.wrap, psi=psi, device=device)
        return Scene(G, description, psi)

    return render_tiles(
        make_source,
        G,
        top,
        left,
        height,
        width,
        device=device,
        precision=precision,
        max_memory=max_memory,
        tile=tile,
        channels_last=channels_last,
        tile_batch=tile_batch,
        compile=compile,
    )
