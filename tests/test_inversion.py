"""Inversion: loss decrease, PSNR on self-generated images, position-aware latents files."""

from __future__ import annotations

import math

import pytest
import torch

from infinitygan import generate_region, period_pixels
from infinitygan.applications import (
    CanvasDescription,
    InversionConfig,
    InvertedLatents,
    Placement,
    invert,
    render_region,
)
from infinitygan.applications.inversion import psnr, reconstruct
from infinitygan.applications.inverted import file_sha256

TOP, LEFT, SIZE = -24, 32, 48
FAST = {"stats_samples": 512}


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def target(tiny_generator):
    return generate_region(tiny_generator, 5, TOP, LEFT, SIZE, SIZE).clamp(-1, 1)


@pytest.fixture(scope="module")
def short_inversion(tiny_generator, target):
    log: list[dict[str, float]] = []
    latents = invert(
        tiny_generator,
        target,
        top=TOP,
        left=LEFT,
        config=InversionConfig(steps=12, **FAST),
        init_seed=1,
        progress=lambda step, total, values: log.append(values),
    )
    return latents, log


def test_inversion_lowers_its_loss(short_inversion, tiny_generator, target):
    latents, log = short_inversion
    assert len(log) == 12
    assert log[-1]["loss"] < 0.5 * log[0]["loss"]
    assert log[-1]["psnr"] > log[0]["psnr"] + 3
    # the recorded PSNR is that of the saved latents' reconstruction
    rec = reconstruct(tiny_generator, latents).clamp(-1, 1)
    assert math.isclose(latents.stats["psnr"], psnr(rec, target), abs_tol=0.01)


def test_latents_file_round_trip(short_inversion, tmp_path):
    latents, _ = short_inversion
    path = latents.save(tmp_path / "inv.safetensors")
    back = InvertedLatents.load(path)
    for name in ("z_global", "styles", "local", "image"):
        assert torch.equal(getattr(back, name), getattr(latents, name))
    assert all(torch.equal(a, b) for a, b in zip(back.noise, latents.noise))
    assert back.noise_origins == latents.noise_origins
    assert back.local_origin == latents.local_origin
    assert (back.top, back.left, back.height, back.width) == (TOP, LEFT, SIZE, SIZE)
    assert back.stats["psnr"] == latents.stats["psnr"]
    (tmp_path / "not.safetensors").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable"):
        InvertedLatents.load(tmp_path / "not.safetensors")


def test_placed_latents_reproduce_the_reconstruction(short_inversion, tiny_generator, tmp_path):
    G = tiny_generator
    latents, _ = short_inversion
    path = latents.save(tmp_path / "inv.safetensors")
    rec = reconstruct(G, latents)

    def placed(y: int, x: int, seed: int = 0) -> CanvasDescription:
        p = Placement(str(path), file_sha256(path), y, x, paste=False)
        return CanvasDescription(seed=seed, placements=(p,))

    # at the inverted position, inside a larger canvas of any size, whatever the other seed
    big = render_region(G, placed(TOP, LEFT, seed=9), TOP - 40, LEFT - 56, SIZE + 90, SIZE + 120)
    assert (big[:, 40 : 40 + SIZE, 56 : 56 + SIZE] - rec).abs().max() < 1e-4
    # moved by whole periods the coordinates repeat: the same image
    P = period_pixels(G)
    moved = render_region(G, placed(TOP, LEFT + P), TOP, LEFT + P, SIZE, SIZE)
    assert (moved - rec).abs().max() < 1e-4
    # moved by cells elsewhere it still renders (new coordinates, same latents)
    other = render_region(G, placed(TOP + 32, LEFT - 160), TOP + 32, LEFT - 160, SIZE, SIZE)
    assert torch.isfinite(other).all()
    with pytest.raises(ValueError, match="multiples of the model's cell size"):
        render_region(G, placed(TOP, LEFT + 5), TOP, LEFT, SIZE, SIZE)


def test_pasted_placement_shows_the_original(short_inversion, tiny_generator, tmp_path):
    latents, _ = short_inversion
    path = latents.save(tmp_path / "inv.safetensors")
    p = Placement(str(path), file_sha256(path), TOP, LEFT, paste=True, feather=6)
    out = render_region(
        tiny_generator, CanvasDescription(seed=2, placements=(p,)), TOP, LEFT, SIZE, SIZE
    )
    original = latents.image.float() / 127.5 - 1
    assert (out[:, 6:-6, 6:-6] - original[:, 6:-6, 6:-6]).abs().max() < 1e-6
    assert (out[:, 0, :] - original[:, 0, :]).abs().max() > 1e-3  # feathered border


def test_changed_latents_file_is_detected(short_inversion, tiny_generator, tmp_path):
    latents, _ = short_inversion
    path = latents.save(tmp_path / "inv.safetensors")
    p = Placement(str(path), file_sha256(path), TOP, LEFT)
    latents.save(path.with_name("other.safetensors"))
    path.write_bytes(path.with_name("other.safetensors").read_bytes() + b"")  # same bytes: fine
    render_region(tiny_generator, CanvasDescription(seed=0, placements=(p,)), TOP, LEFT, 8, 8)
    wrong = Placement(str(path), "0" * 64, TOP, LEFT)
    with pytest.raises(ValueError, match="changed since"):
        render_region(
            tiny_generator, CanvasDescription(seed=0, placements=(wrong,)), TOP, LEFT, 8, 8
        )
    missing = Placement(str(tmp_path / "gone.safetensors"), "", TOP, LEFT)
    with pytest.raises(FileNotFoundError, match="no inverted-latents file"):
        render_region(tiny_generator, CanvasDescription(seed=0, placements=(missing,)), 0, 0, 8, 8)


def test_tiny_images_are_refused(tiny_generator):
    with pytest.raises(ValueError, match="at least 32 px per side"):
        invert(tiny_generator, torch.zeros(3, 20, 64), top=0, left=0)
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        invert(tiny_generator, torch.zeros(20, 64), top=0, left=0)
    with pytest.raises(ValueError, match="feature_loss"):
        InversionConfig(feature_loss="vgg")


def test_missing_lpips_is_a_clear_error(tiny_generator, target):
    import importlib.util

    if importlib.util.find_spec("lpips") is not None:
        pytest.skip("lpips is installed here")
    config = InversionConfig(steps=1, feature_loss="lpips", **FAST)
    with pytest.raises(ValueError, match="needs the lpips package"):
        invert(tiny_generator, target, top=TOP, left=LEFT, config=config)


@pytest.mark.slow
def test_inversion_reaches_25_db_on_a_self_generated_image(tiny_generator):
    G = tiny_generator
    image = generate_region(G, 5, -32, 0, 64, 64).clamp(-1, 1)
    latents = invert(G, image, top=-32, left=0)  # default settings
    assert latents.stats["psnr"] >= 25.0
    rendered = render_region(
        G,
        CanvasDescription(seed=0, placements=(Placement(_save(latents), "", -32, 0, paste=False),)),
        -32,
        0,
        64,
        64,
    )
    assert psnr(rendered.clamp(-1, 1), image) >= 25.0


def _save(latents: InvertedLatents) -> str:
    import tempfile

    folder = tempfile.mkdtemp()
    return str(latents.save(f"{folder}/inv.safetensors"))
