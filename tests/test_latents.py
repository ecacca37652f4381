"""Canvas randomness (randomness version 2): Philox-4x32-10 known answers, position keying (any
region is the crop of a larger one, any order, wrap), statistics, independence of seeds and
streams, and equal draws on CPU and CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from infinitygan import latents
from infinitygan.latents import (
    STREAM_LOCAL,
    global_latent,
    local_latent,
    noise_map,
    normal_field,
    philox4x32_10,
    uniforms,
)

# Random123's kat_vectors for philox4x32 with 10 rounds: (counter, key, expected output).
PHILOX_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _t(v: int, device: str = "cpu") -> torch.Tensor:
    return torch.tensor(v, dtype=torch.int64, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("counter,key,expected", PHILOX_KAT)
def test_philox_matches_random123_known_answers(counter, key, expected, device):
    out = philox4x32_10(*(_t(c, device) for c in counter), *(_t(k, device) for k in key))
    assert tuple(int(w) for w in out) == expected


def test_philox_broadcasts_like_elementwise_calls():
    # one batched call over broadcast counters equals the scalar calls
    c0 = torch.tensor([0, 7, 0xFFFFFFFF])[None, :]
    c1 = torch.tensor([3, 0x80000000])[:, None]
    out = philox4x32_10(c0, c1, _t(5), _t(9), _t(0xDEADBEEF), _t(1))
    for i in range(2):
        for j in range(3):
            one = philox4x32_10(c0[0, j], c1[i, 0], _t(5), _t(9), _t(0xDEADBEEF), _t(1))
            assert [int(w[i, j]) for w in out] == [int(w) for w in one]


@pytest.mark.parametrize("period", [None, 13, 30])
def test_any_region_is_the_crop_of_a_larger_one(period):
    big = local_latent(11, 5, -9, 30, -23, 61, period=period)
    for r0, nr, c0, nc in [(-9, 30, -23, 61), (0, 1, 0, 1), (-3, 7, -20, 9), (4, 11, 5, 33)]:
        small = local_latent(11, 5, r0, nr, c0, nc, period=period)
        assert torch.equal(small, big[:, r0 + 9 : r0 + 9 + nr, c0 + 23 : c0 + 23 + nc])


def test_order_and_block_size_do_not_change_values():
    whole = latents._normal_groups(3, 104, 2, torch.arange(-5, 40), torch.arange(-3, 17))
    for block in (1, 7, 64, 1 << 20):
        blocked = latents._normal_groups(
            3, 104, 2, torch.arange(-5, 40), torch.arange(-3, 17), block=block
        )
        assert torch.equal(blocked, whole)
    # tiles drawn in any order and reassembled give the whole field
    full = noise_map(8, 2, -40, 64, -40, 64)
    tiles = [(y, x) for y in range(-40, 24, 16) for x in range(-40, 24, 16)]
    rebuilt = torch.empty_like(full)
    for y, x in reversed(tiles):
        rebuilt[:, y + 40 : y + 56, x + 40 : x + 56] = noise_map(8, 2, y, 16, x, 16)
    assert torch.equal(rebuilt, full)


def test_wrap_is_periodic_and_the_period_need_not_be_a_multiple_of_four():
    period = 13
    one = local_latent(2, 3, 0, 4, 0, period)
    wrapped = local_latent(2, 3, 0, 4, -2 * period - 3, 4 * period, period=period)
    idx = torch.arange(-2 * period - 3, 2 * period - 3) % period
    assert torch.equal(wrapped, one[:, :, idx])
    # a periodic field differs from the unwrapped one beyond the period
    assert not torch.equal(
        noise_map(2, 0, 0, 2, period, 4, period=period), noise_map(2, 0, 0, 2, period, 4)
    )


def test_global_latent_is_a_field_row():
    z = global_latent(5, 512)
    assert z.shape == (512,) and z.dtype == torch.float32
    assert torch.equal(global_latent(5, 64), z[:64])
    assert not torch.equal(global_latent(5, 512, index=1), z)
    assert not torch.equal(global_latent(6, 512), z)


def test_normals_are_standard_normal():
    z = local_latent(0, 16, -100, 200, 50, 100).flatten().double().numpy()  # 320,000 values
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert stats.kstest(z, "norm").pvalue > 1e-3
    # the four columns of one Philox call and neighbouring rows are uncorrelated
    f = noise_map(0, 0, 0, 400, 0, 400)[0].double()
    for a, b in [(f[:, :-1], f[:, 1:]), (f[:-1], f[1:]), (f[:, 0::4], f[:, 1::4])]:
        r = np.corrcoef(a.flatten().numpy(), b.flatten().numpy())[0, 1]
        assert abs(r) < 0.01


def test_uniforms_are_uniform_in_the_open_closed_unit_interval():
    u = uniforms(1, STREAM_LOCAL, 3, torch.arange(100), torch.arange(100)).flatten()
    assert float(u.min()) > 0 and float(u.max()) <= 1
    assert stats.kstest(u.double().numpy(), "uniform").pvalue > 1e-3


def test_seeds_streams_and_positions_are_independent():
    base = normal_field(1, 7, 4, 0, 32, 0, 32)
    others = [
        normal_field(2, 7, 4, 0, 32, 0, 32),  # seed
        normal_field(1 + (1 << 32), 7, 4, 0, 32, 0, 32),  # high word of the seed
        normal_field(-1, 7, 4, 0, 32, 0, 32),
        normal_field(1, 8, 4, 0, 32, 0, 32),  # stream
        normal_field(1, 7, 4, 32, 32, 0, 32),  # position
        normal_field(1, 7, 4, 0, 32, 32, 32),
    ]
    for o in others:
        r = np.corrcoef(base.flatten().numpy(), o.flatten().numpy())[0, 1]
        assert abs(r) < 0.05
    # channels are separate counters
    r = np.corrcoef(base[0].flatten().numpy(), base[1].flatten().numpy())[0, 1]
    assert abs(r) < 0.1
    assert not torch.equal(noise_map(7, 2, 0, 8, 0, 8), noise_map(7, 3, 0, 8, 0, 8))


def test_extreme_seeds_and_bad_input():
    for seed in (-(1 << 63), (1 << 63) - 1, np.int64(3)):
        assert torch.isfinite(local_latent(seed, 2, 0, 3, 0, 3)).all()
    assert torch.equal(local_latent(np.int64(3), 2, 0, 3, 0, 3), local_latent(3, 2, 0, 3, 0, 3))
    with pytest.raises(ValueError, match="64 bits"):
        local_latent(1 << 63, 2, 0, 3, 0, 3)
    with pytest.raises(TypeError, match="seed must be an int"):
        local_latent(True, 2, 0, 3, 0, 3)
    with pytest.raises(ValueError, match="period must be positive"):
        noise_map(0, 0, 0, 3, 0, 3, period=0)
    assert local_latent(0, 2, 0, 0, 0, 5).shape == (2, 0, 5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_and_cuda_draws_agree():
    rows, groups = torch.arange(-50, 150), torch.arange(-1000, 1000)
    for stream in (STREAM_LOCAL, 107):
        u_cpu = uniforms(-12345, stream, 3, rows, groups)
        u_gpu = uniforms(-12345, stream, 3, rows.cuda(), groups.cuda())
        assert torch.equal(u_cpu, u_gpu.cpu())  # bit for bit
    for period in (None, 139):
        a = local_latent(99, 8, -40, 90, -300, 500, period=period)
        b = local_latent(99, 8, -40, 90, -300, 500, period=period, device="cuda")
        assert b.device.type == "cuda"
        torch.testing.assert_close(b.cpu(), a, rtol=1e-5, atol=1e-5)  # float rounding
    a = noise_map(3, 7, -1000, 2049, 5000, 2047)
    b = noise_map(3, 7, -1000, 2049, 5000, 2047, device="cuda")
    torch.testing.assert_close(b.cpu(), a, rtol=1e-5, atol=1e-5)


def test_random_version_is_recorded_and_other_versions_are_refused(tiny_generator, tmp_path):
    import json

    from infinitygan.applications import CanvasDescription
    from infinitygan.applications.output import write_description
    from infinitygan.latents import RANDOM_VERSION

    desc = CanvasDescription(seed=4)
    data = desc.to_dict()
    assert data["random_version"] == RANDOM_VERSION == 2
    assert CanvasDescription.from_dict(data) == desc
    old = {k: v for k, v in data.items() if k != "random_version"}  # as written before
    with pytest.raises(ValueError, match="randomness version 1; this infinitygan draws version 2"):
        CanvasDescription.from_dict(old)
    with pytest.raises(ValueError, match="newer than this infinitygan"):
        CanvasDescription.from_dict({**data, "random_version": 3})
    out = tmp_path / "c.png"
    write_description(tiny_generator, desc, out, 0, 0, 16, 16)
    meta = json.loads((tmp_path / "c.png.json").read_text())["metadata"]
    assert meta["random_version"] == meta["description"]["random_version"] == RANDOM_VERSION


def test_explorer_model_id_changes_with_the_randomness_version(monkeypatch):
    pytest.importorskip("fastapi", reason="the web extra is not installed: pip install '.[web]'")
    from infinitygan import latents as lat
    from infinitygan.checkpoint import model_hash, resolve_model_path
    from infinitygan.web import app

    path = resolve_model_path("landscapes")
    current = app.model_identity(path)
    assert len(current) == 16 and current != model_hash(path)[:16]  # the version-1 id
    monkeypatch.setattr(app, "RANDOM_VERSION", lat.RANDOM_VERSION + 1)
    assert app.model_identity(path) != current
