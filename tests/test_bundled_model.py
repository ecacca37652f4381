"""The trained "landscapes" model shipped inside the package."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from infinitygan.canvas import generate_image, period_pixels
from infinitygan.checkpoint import BUNDLED_DIR, load_generator, read_metadata
from infinitygan.cli import main
from infinitygan.data import DataConfig, open_dataset
from infinitygan.presets import get_preset

BUNDLED = BUNDLED_DIR / "landscapes.safetensors"


@pytest.fixture(scope="module")
def bundled():
    return load_generator("landscapes")


def test_bundled_file_is_small_half_precision_and_named() -> None:
    assert BUNDLED.is_file()
    assert BUNDLED.stat().st_size < 30 << 20
    meta = read_metadata("landscapes")
    assert json.loads(meta["config"])["name"] == "landscapes-cpu"
    extra = json.loads(meta["extra"])
    assert extra["source"] == "scripts/train_bundled_model.sh"
    assert extra["step"] > 0


def test_load_bundled_generates_finite_image_of_requested_size(bundled) -> None:
    assert bundled.config == get_preset("landscapes-cpu")
    assert all(p.dtype == torch.float32 for p in bundled.parameters())
    image = generate_image(bundled, 3, 70, 150)
    assert image.shape == (3, 70, 150)
    assert bool(torch.isfinite(image).all())
    assert float(image.std()) > 0.05  # not a flat colour
    again = generate_image(bundled, 3, 70, 150)
    assert torch.equal(image, again)


def test_generate_cli_with_bundled_name(tmp_path) -> None:
    out = tmp_path / "pano.png"
    width = period_pixels(load_generator("landscapes"))
    result = CliRunner().invoke(
        main, ["generate", "landscapes", "--size", f"{width}x48", "--wrap", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.size == (width, 48)


def _colour_moments(images: torch.Tensor) -> torch.Tensor:
    """Per-channel mean and std of [N, 3, H, W] images in [-1, 1]: [6]."""
    flat = images.clamp(-1, 1).transpose(0, 1).reshape(3, -1)
    return torch.cat([flat.mean(1), flat.std(1)])


def test_bundled_samples_match_photo_colours_better_than_untrained(bundled) -> None:
    config = bundled.config
    data = open_dataset(
        "landscapes", DataConfig(config.patch_size, config.full_size, config.pre_resize), seed=0
    )
    reals = torch.stack([data.full_image(i) for i in range(len(data))])
    target = _colour_moments(reals)
    size = config.full_size
    untrained = load_generator("random:landscapes-cpu:0")
    seeds = range(12)
    trained_fakes = torch.stack([generate_image(bundled, s, size, size) for s in seeds])
    untrained_fakes = torch.stack([generate_image(untrained, s, size, size) for s in seeds])
    trained_error = float((_colour_moments(trained_fakes) - target).abs().sum())
    untrained_error = float((_colour_moments(untrained_fakes) - target).abs().sum())
    assert trained_error < 0.5 * untrained_error, (trained_error, untrained_error)
