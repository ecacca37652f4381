"""The paper's baselines: StyleGAN2-NCI (zero-padded) and StyleGAN2-NCI-FCG (padding-free)."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from infinitygan import build_generator, generate_region, save_generator
from infinitygan.baselines import generate_enlarged
from infinitygan.canvas import one_shot_region
from infinitygan.cli import main
from infinitygan.config import StructureConfig


def test_fcg_is_padding_free_and_tiles_exactly():
    G = build_generator("tiny-nci-fcg", seed=3)
    with torch.no_grad():
        for conv in G.texture_synthesizer.convs:
            conv.noise.strength.fill_(0.3)
    assert G.geometry.margin == 0 and not G.geometry.padded
    big = generate_region(G, 2, -40, 100, 90, 120, tile=32)
    assert (big - one_shot_region(G, 2, -40, 100, 90, 120)).abs().max() < 1e-4
    small = generate_region(G, 2, -20, 130, 30, 50)
    assert (small - big[:, 20:50, 30:80]).abs().max() < 1e-4


def test_fcg_ignores_coordinates():
    G = build_generator("tiny-nci-fcg")
    zl = torch.randn(1, 32, 11, 11)
    zg = torch.randn(1, 64)
    a = G.structure(zg, zl, torch.zeros(1, 3, 11, 11))
    b = G.structure(zg, zl, torch.randn(1, 3, 11, 11))
    assert torch.equal(a, b) and torch.equal(a, zl)


def test_nci_sizes_and_enlargement():
    G = build_generator("tiny-nci")
    assert G.geometry.padded and G.num_styles == 12
    assert G.geometry.texture_conv_sizes(4) == [4, 8, 8, 16, 16, 32, 32, 64, 64, 128, 128]
    img = generate_enlarged(G, 1, 4, 4)
    assert img.shape == (3, 128, 128)
    wide = generate_enlarged(G, 1, 4, 12)
    assert wide.shape == (3, 128, 384) and torch.isfinite(wide).all()
    assert torch.equal(generate_enlarged(G, 1, 4, 12), wide)


def test_nci_cannot_render_regions(tmp_path):
    G = build_generator("tiny-nci")
    with pytest.raises(ValueError, match="zero padding"):
        generate_region(G, 0, 0, 0, 64, 64)
    path = save_generator(G, tmp_path / "nci.safetensors")
    result = CliRunner().invoke(
        main, ["generate", str(path), "--size", "64x64", "--out", str(tmp_path / "a.png")]
    )
    assert result.exit_code != 0 and "zero-padded baseline" in result.output


def test_paper_size_baselines_build():
    for name, size in (("stylegan2-nci", 128), ("stylegan2-nci-fcg", 101)):
        G = build_generator(name)
        cells = 4 if G.geometry.padded else 11
        assert G.geometry.texture_out(cells) == size
    with pytest.raises(ValueError, match="local_dim == channels"):
        StructureConfig(local_dim=16, channels=32, num_layers=0)
