"""Spatial style fusion: exact spatial modulation, fusion weights, fused canvases, descriptions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from infinitygan import generate_region
from infinitygan.applications import (
    Anchor,
    CanvasDescription,
    Edit,
    fusion_description,
    render_region,
)
from infinitygan.applications.fused import fused_modconv, fused_structure, fused_texture
from infinitygan.applications.fusion import default_blend, layout_points
from infinitygan.applications.weights import (
    kernel_taps,
    sites_touching,
    voronoi_weights,
)

TOL = 1e-4


pytestmark = pytest.mark.usefixtures("single_thread")


# ------------------------------------------------------------------------------------ weights
def _brute_weights(sy, sx, ys, xs, r, kernel):
    """Dense reference: one-hot nearest-site map (ties to the lower index), blurred."""
    rows = np.arange(ys.min() - r, ys.max() + r + 1)
    cols = np.arange(xs.min() - r, xs.max() + r + 1)
    d = (rows[None, :, None] - sy[:, None, None]) ** 2 + (
        cols[None, None, :] - sx[:, None, None]
    ) ** 2
    owner = np.argmin(d, axis=0)
    onehot = np.stack([owner == n for n in range(len(sy))]).astype(float)
    k = kernel_taps(r, kernel)
    out = np.zeros((len(sy), len(ys), len(xs)))
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            win = onehot[
                :, y - rows[0] - r : y - rows[0] + r + 1, x - cols[0] - r : x - cols[0] + r + 1
            ]
            out[:, i, j] = (win * np.outer(k, k)).sum((1, 2))
    return out


@pytest.mark.parametrize("kernel", ["box", "gaussian"])
def test_weights_match_dense_blur_and_sum_to_one(kernel):
    rng = np.random.default_rng(1)
    for trial in range(6):
        n = int(rng.integers(2, 5))
        sy, sx = rng.integers(-30, 30, n), rng.integers(-30, 30, n)
        if trial % 2 == 0:  # exact ties on a bisector
            sy[1], sx[1] = sy[0], sx[0] + 6
        ys = np.arange(-20, 20, int(rng.integers(1, 4)))
        xs = np.arange(-25, 22, int(rng.integers(1, 4)))
        r = int(rng.integers(0, 7))
        w = voronoi_weights(sy, sx, ys, xs, r, kernel)
        assert np.abs(w - _brute_weights(sy, sx, ys, xs, r, kernel)).max() < 1e-12
        assert np.abs(w.sum(0) - 1).max() < 1e-12
        rect = (int(ys.min()) - r, int(ys.max()) + r, int(xs.min()) - r, int(xs.max()) + r)
        touching = set(sites_touching(sy, sx, rect))
        assert {k for k in range(n) if w[k].max() > 0} <= touching


def test_weights_of_far_anchors_are_local():
    # anchors 100 000 px apart: the transition is evaluated without the space between them
    sy = np.array([0, 0])
    sx = np.array([0, 100_000])
    xs = np.arange(49_900, 50_100, 7)
    w = voronoi_weights(sy, sx, np.arange(-10, 10), xs, 64, "box")
    assert w.shape == (2, 20, len(xs))
    assert np.abs(w.sum(0) - 1).max() < 1e-12
    left = xs < 50_000 - 64
    assert np.all(w[0][:, left] == 1)
    mid = np.argmin(np.abs(xs - 50_000))
    assert 0.4 < w[0, 0, mid] < 0.6
    assert sites_touching(sy, sx, (-10, 10, 0, 10)) == [0]
    # billions of pixels apart (squared distances beyond int64): the same transition
    for big in (1 << 20, 1 << 31):
        far = voronoi_weights(
            np.array([-big, big]), np.array([0, 0]), np.arange(-40, 40, 8), [0], 20
        )
        near = voronoi_weights(
            np.array([-50, 50]), np.array([0, 0]), np.arange(-40, 40, 8), [0], 20
        )
        assert np.array_equal(far, near)


# ---------------------------------------------------------------- spatial modulation (exact)
def _reference_modconv(conv, x, s_in, s_fine=None):
    """Per-pixel definition with unfold: modulate the input, convolve, demodulate per output."""
    weight = conv.weight * conv.scale
    o, i, k, _ = weight.shape
    if not conv.upsample:
        cols = F.unfold(x * s_in[None], k)  # [1, I*k*k, L]
        out = weight.reshape(o, -1) @ cols[0]
        h = x.shape[-1] - k + 1
        if conv.demodulate:
            den = weight.pow(2).reshape(o, -1) @ F.unfold(s_in[None].pow(2), k)[0]
            out = out / torch.sqrt(den + 1e-8)
        return out.reshape(1, o, h, -1)
    # Upsampling: a transposed conv is a conv of the zero-stuffed input with the flipped kernel.
    n = x.shape[-1]
    stuffed = torch.zeros(1, i, 2 * n + 3, 2 * n + 3)
    stuffed[:, :, 2 : 2 * n + 1 : 2, 2 : 2 * n + 1 : 2] = x * s_in[None]
    flipped = weight.flip(-1, -2)
    full = (flipped.reshape(o, -1) @ F.unfold(stuffed, k)[0]).reshape(1, o, 2 * n + 1, -1)
    cropped = full[:, :, 1:-1, 1:-1]
    den = flipped.pow(2).reshape(o, -1) @ F.unfold(s_fine[None].pow(2), k)[0]
    cropped = cropped / torch.sqrt(den.reshape(1, o, 2 * n - 1, -1) + 1e-8)
    blur = conv.blur.expand(o, 1, 3, 3)
    return F.conv2d(cropped, blur, groups=o)


@pytest.mark.parametrize("which", ["structure", "texture_up", "texture_plain", "to_rgb"])
def test_spatial_modulation_matches_per_pixel_definition(tiny_generator, which):
    G = tiny_generator
    conv = {
        "structure": G.structure_synthesizer.layers[1].conv,
        "texture_up": G.texture_synthesizer.convs[2].conv,
        "texture_plain": G.texture_synthesizer.convs[3].conv,
        "to_rgb": G.texture_synthesizer.to_rgbs[1].conv,
    }[which]
    gen = torch.Generator().manual_seed(0)
    size = 13
    x = torch.randn(1, conv.in_ch, size, size, generator=gen)
    styles = torch.randn(3, conv.in_ch, generator=gen) + 1
    a = torch.rand(3, size, size, generator=gen)
    a /= a.sum(0)
    fine = torch.rand(3, 2 * size + 1, 2 * size + 1, generator=gen)
    fine /= fine.sum(0)
    with torch.no_grad():
        ref = _reference_modconv(
            conv,
            x,
            torch.einsum("nhw,nc->chw", a, styles),
            torch.einsum("nhw,nc->chw", fine, styles),
        )
        for factored in (True, False):
            out = fused_modconv(conv, x, a, styles, fine, factored=factored)
            assert out.shape == ref.shape
            assert (out - ref).abs().max() < 1e-4 * max(1.0, ref.abs().max().item())


def test_constant_style_map_equals_unfused(tiny_generator):
    G = tiny_generator
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(1, G.num_styles, G.config.mapping.w_dim, generator=gen)
    z = torch.randn(1, G.config.mapping.z_dim, generator=gen)
    structure = torch.randn(1, G.config.structure.channels, 6, 7, generator=gen)
    sizes_y = G.geometry.texture_conv_sizes(6)
    sizes_x = G.geometry.texture_conv_sizes(7)
    noise = [torch.randn(1, 1, sy, sx, generator=gen) for sy, sx in zip(sizes_y, sizes_x)]
    with torch.no_grad():
        plain = G.texture(structure, w, noise)
        # two copies of one style with arbitrary (non-constant) weights: the style map is constant
        styles = w.expand(2, -1, -1)

        def split(h, wd):
            a = torch.rand(h, wd, generator=gen)
            return torch.stack([a, 1 - a])

        ins, fines, rgbs = [], [], []
        hy, hx = [6] + sizes_y, [7] + sizes_x
        for j in range(G.num_convs):
            ins.append(split(hy[j], hx[j]))
            fines.append(split(2 * hy[j] + 1, 2 * hx[j] + 1) if j % 2 == 0 else None)
        for p in range(len(G.texture_synthesizer.to_rgbs)):
            rgbs.append(split(hy[2 * p + 2], hx[2 * p + 2]))
        fused = fused_texture(G.texture_synthesizer, structure, styles, ins, fines, rgbs, noise)
        assert (fused - plain).abs().max() < 1e-5

        z_local = torch.randn(1, G.config.structure.local_dim, 30, 31, generator=gen)
        coords = torch.randn(1, 3, 30, 31, generator=gen)
        ref = G.structure(z, z_local, coords)
        out = fused_structure(
            G.structure_synthesizer, z_local, coords, split(30, 31), z.expand(2, -1)
        )
        assert (out - ref).abs().max() < 1e-5


# ------------------------------------------------------------------------------- canvases
def test_one_seed_fusion_is_plain_generation(tiny_generator):
    desc = fusion_description([7], 48, 80, top=-24, left=0)
    out = render_region(tiny_generator, desc, -24, 0, 48, 80)
    assert torch.equal(out, generate_region(tiny_generator, 7, -24, 0, 48, 80))
    # not a plain description (a second anchor far away), rendered by the scene: the same
    far = CanvasDescription(seed=7, anchors=(Anchor(0, 40, 7), Anchor(0, 90_000, 8)), blend=31)
    out = render_region(tiny_generator, far, -24, 0, 48, 80)
    assert (out - generate_region(tiny_generator, 7, -24, 0, 48, 80)).abs().max() < TOL


@pytest.mark.parametrize("kernel", ["box", "gaussian"])
def test_fused_canvas_region_containment(tiny_generator, kernel):
    G = tiny_generator
    desc = CanvasDescription(
        seed=3,
        anchors=(Anchor(-10, 30, 3), Anchor(20, 100, 8), Anchor(-50, 150, 9)),
        blend=41,
        blend_kernel=kernel,
    )
    big = render_region(G, desc, -40, 40, 64, 96, tile=64)
    small = render_region(G, desc, -40 + 13, 40 + 37, 31, 45, tile=32)
    assert (small - big[:, 13:44, 37:82]).abs().max() < TOL
    # the fused canvas really mixes styles: it differs from every single-seed canvas
    for s in (3, 8, 9):
        assert (big - generate_region(G, s, -40, 40, 64, 96)).abs().mean() > 1e-2


def test_fused_canvas_far_anchors(tiny_generator):
    G = tiny_generator
    desc = CanvasDescription(seed=4, anchors=(Anchor(0, 0, 4), Anchor(0, 100_000, 6)), blend=255)
    middle = render_region(G, desc, -16, 50_000 - 40, 32, 80)
    assert torch.isfinite(middle).all()
    near_second = render_region(G, desc, -16, 100_000 - 40, 32, 80)
    assert (near_second - generate_region(G, 6, -16, 100_000 - 40, 32, 80)).abs().max() > 1e-2
    # style of seed 6, local latents of seed 4: equals a canvas with seed 6's style everywhere
    only_six = CanvasDescription(seed=4, anchors=(Anchor(0, 100_000, 6),))
    assert (near_second - render_region(G, only_six, -16, 100_000 - 40, 32, 80)).abs().max() < TOL


def test_wrapped_fused_canvas_is_periodic(tiny_generator):
    G = tiny_generator
    from infinitygan import period_pixels

    P = period_pixels(G)
    desc = CanvasDescription(
        seed=2, anchors=(Anchor(0, 100, 2), Anchor(0, P - 300, 5)), blend=63, wrap=True
    )
    a = render_region(G, desc, -16, -20, 32, 40)
    b = render_region(G, desc, -16, P - 20, 32, 40)
    assert (a - b).abs().max() < TOL


def test_described_canvas_batches_the_tiles_of_one_style(tiny_generator, monkeypatch):
    from infinitygan.applications.scene import Scene

    G = tiny_generator
    desc = CanvasDescription(seed=5, anchors=(Anchor(0, 0, 5), Anchor(0, 400, 6)), blend=15)
    batches = []
    texture = Scene.texture

    def counting(self, structure, windows, device, compile):
        batches.append(len(windows))
        return texture(self, structure, windows, device, compile)

    monkeypatch.setattr(Scene, "texture", counting)
    single = render_region(G, desc, -32, 0, 64, 480, tile=32)
    assert set(batches) == {1}
    batches.clear()
    batched = render_region(G, desc, -32, 0, 64, 480, tile=32, tile_batch=4)
    # the tiles near one anchor share its style and run four at a time; fused ones run alone
    assert max(batches) == 4 and 1 in batches and sum(batches) == 2 * 15
    assert (batched - single).abs().max() < TOL


# ----------------------------------------------------------------------------- descriptions
def test_description_json_round_trip_and_strictness(tmp_path):
    desc = CanvasDescription(
        seed=5,
        anchors=(Anchor(1, 2, 3), Anchor(-4, 5, 6)),
        blend=99,
        blend_kernel="gaussian",
        edits=(Edit(0, 0, 10, 20, "style", 9),),
    )
    assert CanvasDescription.from_json(desc.to_json()) == desc
    path = desc.save(tmp_path / "c.json")
    assert CanvasDescription.load(path) == desc
    data = json.loads(desc.to_json())
    data["colour"] = 1
    with pytest.raises(ValueError, match="unknown field"):
        CanvasDescription.from_dict(data)
    data = json.loads(desc.to_json())
    data["version"] = 99
    with pytest.raises(ValueError, match="newer"):
        CanvasDescription.from_dict(data)
    with pytest.raises(ValueError, match="what must be one of"):
        Edit(0, 0, 1, 1, "colour", 1)


def test_layouts():
    assert layout_points("horizontal", 3, 100, 300) == [(50, 50), (50, 150), (50, 250)]
    assert layout_points("vertical", 2, 100, 300) == [(25, 150), (75, 150)]
    assert len(layout_points("grid", 5, 400, 400)) == 5
    assert layout_points("points:1,2; -3,400", 2, 10, 10) == [(1, 2), (-3, 400)]
    with pytest.raises(ValueError, match="one Y,X point per seed"):
        layout_points("points:1,2", 2, 10, 10)
    with pytest.raises(ValueError, match="not Y,X"):
        layout_points("points:1;2", 2, 10, 10)
    with pytest.raises(ValueError, match="unknown layout"):
        layout_points("diagonal", 2, 10, 10)
    assert default_blend([(0, 0), (0, 100), (0, 400)]) == 50
    assert default_blend([(0, 0)]) == 0
