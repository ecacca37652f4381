"""Size arithmetic both ways, checked against real forward passes."""

from __future__ import annotations

import pytest
import torch

from infinitygan import build_generator, get_preset
from infinitygan.config import ModelConfig, TextureConfig
from infinitygan.spatial import Geometry


@pytest.fixture(scope="module")
def geo() -> Geometry:
    return Geometry(get_preset("paper-101"))


def test_paper_numbers(geo):
    assert geo.margin == 12 and geo.scale == 16 and geo.pixel_offset == 30
    assert geo.texture_conv_sizes(11) == [19, 17, 31, 29, 55, 53, 103, 101]
    assert geo.structure_in(11) == 35 and geo.structure_out(35) == 11
    for s, out in [(11, 101), (17, 197), (21, 261), (69, 1029), (83, 1253)]:
        assert geo.texture_out(s) == out
    assert geo.texture_in(101) == 11 and geo.texture_in(197) == 17 and geo.texture_in(1024) == 69
    assert [geo.layer_scale(i) for i in range(8)] == [2, 2, 4, 4, 8, 8, 16, 16]
    assert geo.num_styles == 9 and geo.min_cells == 5


@pytest.mark.parametrize("pairs", [1, 2, 3, 4, 5])
def test_in_out_inverse(pairs):
    cfg = ModelConfig(
        name="t",
        texture=TextureConfig(channels=(8,) * pairs),
        patch_size=2**pairs * 11 - 5 * (2**pairs - 1),
        full_size=400,
    )
    geo = Geometry(cfg)
    for s in range(geo.min_cells, 120):
        out = geo.texture_out(s)
        assert out == 2**pairs * s - 5 * (2**pairs - 1)
        assert geo.texture_in(out) == s
    for out in range(1, 600):
        s = geo.texture_in(out)
        assert geo.texture_out(s) >= out
        assert s == geo.min_cells or geo.texture_out(s - 1) < out
    with pytest.raises(ValueError, match="too small"):
        geo.texture_conv_sizes(geo.min_cells - 1)


def test_windows_cover_requests(geo):
    for start in range(-70, 70, 7):
        for size in (1, 15, 16, 17, 101, 333):
            win = geo.window(start, size)
            assert 0 <= win.crop
            assert win.crop + size <= geo.texture_out(win.cells)
            assert geo.output_start(win.cell_start) + win.crop == start


def test_forward_shapes_match_arithmetic():
    G = build_generator("tiny")
    geo = G.geometry
    for cells in (5, 6, 9):
        zl = torch.randn(
            1, G.config.structure.local_dim, geo.structure_in(cells), geo.structure_in(cells) + 2
        )
        coords = torch.zeros(1, 3, *zl.shape[-2:])
        s = G.structure(torch.randn(1, G.config.mapping.z_dim), zl, coords)
        assert s.shape[-2:] == (cells, cells + 2)
        img = G.texture(s, G.mapping(torch.randn(1, G.config.mapping.z_dim)))
        assert img.shape[-2:] == (geo.texture_out(cells), geo.texture_out(cells + 2))


def test_translation_equivariance():
    """Shifting the structure input by k cells shifts the image by exactly k * scale pixels."""
    G = build_generator("tiny", seed=1)
    with torch.no_grad():
        for conv in G.texture_synthesizer.convs:
            conv.noise.strength.fill_(0.5)
    geo = G.geometry
    torch.manual_seed(0)
    s = torch.randn(1, G.config.structure.channels, 9, 9)
    w = G.mapping(torch.randn(1, G.config.mapping.z_dim))
    sizes = geo.texture_conv_sizes(9)
    noise = [torch.randn(1, 1, n, n) for n in sizes]
    k = 2
    with torch.no_grad():
        full = G.texture(s, w, noise)
        shifted_noise = [n[..., geo.layer_scale(i) * k :, :] for i, n in enumerate(noise)]
        sub_sizes = geo.texture_conv_sizes(9 - k)
        shifted_noise = [n[..., : sub_sizes[i], :] for i, n in enumerate(shifted_noise)]
        # keep width; shift only vertically (noise must match the narrower height)
        part = G.texture(s[:, :, k:, :], w, [n for n in shifted_noise])
    assert torch.allclose(
        part, full[:, :, k * geo.scale : k * geo.scale + part.shape[-2], :], atol=1e-5
    )


def test_invalid_sizes_raise(geo):
    with pytest.raises(ValueError, match="not an output size"):
        geo.structure_size_for_output(100, exact=True)
    with pytest.raises(ValueError, match="too small"):
        geo.structure_out(20)
    with pytest.raises(ValueError, match="positive"):
        geo.window(0, 0)
    with pytest.raises(ValueError, match="patch"):
        ModelConfig(name="bad", patch_size=300, full_size=197)
    with pytest.raises(ValueError, match="not an output size"):
        ModelConfig(name="bad", patch_size=100, full_size=197)
