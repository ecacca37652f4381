"""The paper's baselines: StyleGAN2-NCI (zero-padded) and StyleGAN2-NCI-FCG (padding-free)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from infinitygan import build_generator, generate_region, save_generator
from infinitygan.baselines import generate_enlarged, generate_whole_image
from infinitygan.canvas import one_shot_region
from infinitygan.cli import main
from infinitygan.config import StructureConfig
from infinitygan.imageio import to_uint8


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
    # The official StyleGAN2-NCI layout: no 4x4 input conv, conv 0 upsamples 4 -> 8.
    assert G.geometry.padded and G.num_styles == 11
    assert G.geometry.texture_conv_sizes(4) == [8, 8, 16, 16, 32, 32, 64, 64, 128, 128]
    img = generate_enlarged(G, 1, 4, 4)
    assert img.shape == (3, 128, 128)
    wide = generate_enlarged(G, 1, 4, 12)
    assert wide.shape == (3, 128, 384) and torch.isfinite(wide).all()
    assert torch.equal(generate_enlarged(G, 1, 4, 12), wide)


def test_nci_cannot_render_regions():
    G = build_generator("tiny-nci")
    with pytest.raises(ValueError, match="zero padding"):
        generate_region(G, 0, 0, 0, 64, 64)


def test_nci_whole_image_is_the_centre_of_the_enlarged_latent_output():
    G = build_generator("tiny-nci", seed=1)
    image = generate_whole_image(G, 5, 100, 300)
    assert image.shape == (3, 100, 300)
    enlarged = generate_enlarged(G, 5, 4, 10)  # ceil(100 / 32) x ceil(300 / 32) cells
    assert enlarged.shape == (3, 128, 320)
    assert torch.equal(image, enlarged[:, 14:114, 10:310])
    assert torch.equal(generate_whole_image(G, 5, 128, 128), generate_enlarged(G, 5, 4, 4))


def test_generate_cli_renders_the_nci_baseline_in_one_pass(tmp_path):
    G = build_generator("tiny-nci", seed=2)
    path = save_generator(G, tmp_path / "nci.safetensors")
    out = tmp_path / "a.png"
    result = CliRunner().invoke(
        main,
        [
            "generate",
            str(path),
            "--size",
            "200x70",
            "--seed",
            "3",
            "--chunk",
            "64",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    expected = generate_whole_image(G, 3, 70, 200)
    with Image.open(out) as image:
        got = np.asarray(image.convert("RGB"))
    assert np.array_equal(got, to_uint8(expected))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--wrap"], "cannot wrap around"),
        (["--offset", "16,0"], "drop --offset"),
        (["--max-memory", "32MB"], "raise --max-memory"),
    ],
)
def test_generate_cli_refuses_canvas_options_for_nci(tmp_path, extra, message):
    path = save_generator(build_generator("tiny-nci"), tmp_path / "nci.safetensors")
    result = CliRunner().invoke(
        main,
        ["generate", str(path), "--size", "1024x1024", *extra, "--out", str(tmp_path / "a.png")],
    )
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "a.png").exists()


def test_paper_size_baselines_build():
    for name, size in (("stylegan2-nci", 128), ("stylegan2-nci-fcg", 101)):
        G = build_generator(name)
        cells = 4 if G.geometry.padded else 11
        assert G.geometry.texture_out(cells) == size
    with pytest.raises(ValueError, match="local_dim == channels"):
        StructureConfig(local_dim=16, channels=32, num_layers=0)


def _version1(config_json: str, padding: str) -> dict:
    """A config as infinitygan wrote it before version 2 (texture.input_channels, no
    discriminator.coord_head)."""
    import json

    data = json.loads(config_json)
    data["config_version"] = 1
    data["texture"]["input_channels"] = 512
    data["texture"]["padding"] = padding
    del data["discriminator"]["coord_head"]
    return data


def test_version1_configs_load_and_version1_nci_is_refused_clearly():
    from infinitygan.config import ModelConfig
    from infinitygan.presets import get_preset

    paper = get_preset("paper-101")
    assert ModelConfig.from_dict(_version1(paper.to_json(), "none")) == paper
    with pytest.raises(ValueError, match="version-1 layout.*retrain") as err:
        ModelConfig.from_dict(_version1(get_preset("stylegan2-nci").to_json(), "zero"))
    assert "\n" not in str(err.value)


def test_baseline_discriminators_have_no_coordinate_head():
    from infinitygan.models import Discriminator
    from infinitygan.presets import get_preset

    for name in ("tiny-nci", "tiny-nci-fcg"):
        cfg = get_preset(name)
        assert not cfg.discriminator.coord_head
        D = Discriminator(cfg.discriminator, cfg.patch_size)
        assert D.coord_linear is None
        assert not any(k.startswith("coord_linear") for k in D.state_dict())
        logit, coord = D(torch.zeros(4, 3, cfg.patch_size, cfg.patch_size))
        assert logit.shape == (4, 1) and coord is None
    D = Discriminator(get_preset("tiny").discriminator, 101)
    assert D(torch.zeros(4, 3, 101, 101))[1].shape == (4, 3)
