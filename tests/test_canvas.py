"""The addressable canvas: containment, tiling independence, wrap, determinism."""

from __future__ import annotations

import random

import pytest
import torch

from infinitygan import generate_image, generate_region, period_pixels
from infinitygan.canvas import image_framing, one_shot_region
from infinitygan.latents import local_latent, noise_map
from infinitygan.runtime import model_on, module_device

TOL = 1e-4


def test_region_equals_one_shot_forward(tiny_generator, device):
    G = tiny_generator
    on_device = model_on(G, device)
    for top, left, h, w in [(-40, 7, 61, 83), (0, 0, 17, 17), (-333, -1000, 90, 45)]:
        tiled = generate_region(G, 3, top, left, h, w, tile=32, device=device)
        single = one_shot_region(on_device, 3, top, left, h, w)
        assert (tiled - single).abs().max().item() < TOL
    assert module_device(G).type == "cpu"  # the caller's model stays where it was


@pytest.mark.parametrize("trial", range(4))
def test_random_region_containment(tiny_generator, trial, device):
    G = tiny_generator
    rng = random.Random(trial)
    top = rng.randint(-400, 400)
    left = rng.randint(-3000, 3000)
    H, W = rng.randint(40, 160), rng.randint(40, 160)
    tile = rng.choice([32, 48, 64, 256])
    big = generate_region(
        G, 11, top, left, H, W, tile=tile, tile_batch=rng.choice([1, 3]), device=device
    )
    dy, dx = rng.randint(0, H - 5), rng.randint(0, W - 5)
    h, w = rng.randint(1, H - dy), rng.randint(1, W - dx)
    small = generate_region(
        G, 11, top + dy, left + dx, h, w, tile=rng.choice([16, 32, 512]), device=device
    )
    assert small.device.type == "cpu"
    assert (small - big[:, dy : dy + h, dx : dx + w]).abs().max().item() < TOL
    if device.type != "cpu":  # across devices too (strict fp32: no TF32 convolutions)
        ref = generate_region(G, 11, top + dy, left + dx, h, w, tile=tile, device="cpu")
        assert (small - ref).abs().max().item() < TOL


def test_containment_across_chunk_boundaries_and_period(tiny_generator):
    G = tiny_generator
    P = period_pixels(G)
    scale = G.geometry.scale
    # a region straddling the 16-cell and 64-pixel chunk borders of randomness version 1, groups
    # of four Philox columns at every layer (version 2) and the period
    left = 16 * scale - 37
    big = generate_region(G, 5, 64 - 30, left, 70, 90)
    small = generate_region(G, 5, 64 - 10, left + 20, 30, 40)
    assert (small - big[:, 20:50, 20:60]).abs().max().item() < TOL
    across = generate_region(G, 5, -20, P - 30, 40, 60)
    part = generate_region(G, 5, -20, P, 40, 30)
    assert (part - across[:, :, 30:]).abs().max().item() < TOL


def test_seeds_differ_and_repeat(tiny_generator):
    a = generate_region(tiny_generator, 1, 0, 0, 32, 32)
    b = generate_region(tiny_generator, 1, 0, 0, 32, 32)
    c = generate_region(tiny_generator, 2, 0, 0, 32, 32)
    assert torch.equal(a, b)
    assert (a - c).abs().mean() > 1e-3


def test_wrap_is_periodic_and_differs_from_plain(tiny_generator):
    G = tiny_generator
    P = period_pixels(G)
    left_edge = generate_region(G, 9, -16, 0, 32, 24, wrap=True)
    one_period_later = generate_region(G, 9, -16, P, 32, 24, wrap=True)
    assert (left_edge - one_period_later).abs().max().item() < TOL
    plain = generate_region(G, 9, -16, P, 32, 24, wrap=False)
    assert (plain - left_edge).abs().max().item() > 1e-2
    # the seam: a region spanning the wrap point equals the two halves side by side
    seam = generate_region(G, 9, -16, P - 12, 32, 24, wrap=True)
    assert (seam[:, :, 12:] - left_edge[:, :, :12]).abs().max().item() < TOL


def test_determinism_across_thread_counts(tiny_generator):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        a = generate_region(tiny_generator, 4, -30, 10, 50, 70)
        torch.set_num_threads(max(2, threads))
        b = generate_region(tiny_generator, 4, -30, 10, 50, 70)
    finally:
        torch.set_num_threads(threads)
    assert (a - b).abs().max().item() < TOL


def test_generate_image_framing(tiny_generator):
    img = generate_image(tiny_generator, 2, 40, 50)
    top, left = image_framing(40, 50)
    assert (top, left) == (-20, 0)
    assert torch.equal(img, generate_region(tiny_generator, 2, top, left, 40, 50))
    assert img.shape == (3, 40, 50) and img.dtype == torch.float32


def test_latents_are_position_keyed():
    a = local_latent(7, 4, -5, 20, 30, 20)
    b = local_latent(7, 4, 0, 10, 35, 5)
    assert torch.equal(a[:, 5:15, 5:10], b)
    n = noise_map(7, 3, 100, 50, -90, 40)
    m = noise_map(7, 3, 120, 5, -70, 3)
    assert torch.equal(n[:, 20:25, 20:23], m)
    assert not torch.equal(noise_map(7, 2, 0, 8, 0, 8), noise_map(7, 3, 0, 8, 0, 8))
    assert abs(a.mean().item()) < 0.2 and abs(a.std().item() - 1) < 0.2


def test_bad_regions_raise(tiny_generator):
    with pytest.raises(ValueError, match="positive"):
        generate_region(tiny_generator, 0, 0, 0, 0, 10)
    with pytest.raises(TypeError, match="int"):
        generate_region(tiny_generator, 0, 0.5, 0, 10, 10)
    with pytest.raises(ValueError, match="precision"):
        generate_region(tiny_generator, 0, 0, 0, 10, 10, precision="fp8")


def test_tile_batching_equals_single_tiles(tiny_generator):
    a = generate_region(tiny_generator, 6, -50, 20, 100, 130, tile=32, tile_batch=1)
    b = generate_region(tiny_generator, 6, -50, 20, 100, 130, tile=32, tile_batch=5)
    assert (a - b).abs().max().item() < TOL
    with pytest.raises(ValueError, match="tile_batch"):
        generate_region(tiny_generator, 6, 0, 0, 8, 8, tile_batch=0)


def test_bf16_close_to_fp32(tiny_generator):
    a = generate_region(tiny_generator, 6, -20, 0, 48, 48)
    b = generate_region(tiny_generator, 6, -20, 0, 48, 48, precision="bf16")
    rel = ((a - b).pow(2).mean() / a.pow(2).mean()).sqrt().item()
    assert b.dtype == torch.float32 and rel < 0.05


@pytest.mark.slow
def test_compiled_texture_matches_eager(tiny_generator):
    a = generate_region(tiny_generator, 6, -20, 0, 64, 64, compile=True)
    b = generate_region(tiny_generator, 6, -20, 0, 64, 64)
    assert (a - b).abs().max().item() < TOL
