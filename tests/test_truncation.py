"""Truncation: the average style (stored, estimated, tracked) and psi in every renderer."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

from infinitygan import generate_region, load_generator, save_generator
from infinitygan.canvas import one_shot_region
from infinitygan.checkpoint import FORMAT_NAME, FORMAT_VERSION
from infinitygan.cli import main
from infinitygan.latents import global_latent, global_latents
from infinitygan.models.generator import W_AVG_SAMPLES, W_AVG_SEED, check_truncation


@pytest.fixture
def G(tiny_generator):
    """A private copy (average_w and save_generator fill the buffer in place)."""
    return copy.deepcopy(tiny_generator)


def _write_without_w_avg(G, path):
    """A generator file as written before w_avg existed."""
    save_generator(G, path)
    state = load_file(str(path))
    del state["w_avg"]
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    save_file(state, str(path), metadata=meta)
    assert meta["format"] == FORMAT_NAME and int(meta["format_version"]) == FORMAT_VERSION


def test_psi_one_is_bit_identical_and_needs_no_average(G):
    with torch.no_grad():
        G.w_avg.fill_(math.nan)  # unknown (other tests may have saved the shared fixture)
    base = generate_region(G, 5, -40, 3, 48, 56)
    same = generate_region(G, 5, -40, 3, 48, 56, truncation=1.0)
    assert torch.equal(base, same)
    assert bool(torch.isnan(G.w_avg).all())  # psi = 1 never estimates the average


def test_psi_zero_gives_every_seed_the_average_style(G):
    w_avg = G.average_w()
    for seed in (0, 1, 99):
        z = global_latent(seed, G.config.mapping.z_dim)[None]
        assert torch.equal(G.truncate_w(G.mapping(z), 0.0)[0], w_avg)
        assert torch.equal(G.truncate_global(z, 0.0), torch.zeros_like(z))
    # With psi = 0 two seeds differ only through their local latents and noise: same style.
    a = generate_region(G, 1, 0, 0, 32, 32, truncation=0.0)
    b = generate_region(G, 2, 0, 0, 32, 32, truncation=0.0)
    assert not torch.equal(a, b)


def test_truncation_formula(G):
    z = global_latent(7, G.config.mapping.z_dim)[None]
    w = G.mapping(z)
    avg = G.average_w()
    for psi in (0.5, 0.7, 1.5):
        torch.testing.assert_close(G.truncate_w(w, psi), avg + psi * (w - avg))
        torch.testing.assert_close(G.truncate_global(z, psi), psi * z)


@pytest.mark.parametrize("wrap", [False, True])
def test_containment_holds_with_truncation(G, wrap):
    big = generate_region(G, 3, -48, -16, 96, 112, truncation=0.7, tile=32, wrap=wrap)
    small = generate_region(G, 3, -20, 8, 40, 44, truncation=0.7, tile=16, wrap=wrap)
    torch.testing.assert_close(small, big[:, 28:68, 24:68], rtol=0, atol=1e-4)
    one = one_shot_region(G, 3, -20, 8, 40, 44, truncation=0.7, wrap=wrap)
    torch.testing.assert_close(small, one, rtol=0, atol=1e-4)
    assert not torch.allclose(small, generate_region(G, 3, -20, 8, 40, 44, wrap=wrap), atol=1e-3)


def test_w_avg_is_saved_and_loaded(G, tmp_path):
    with torch.no_grad():
        G.w_avg.copy_(torch.linspace(-1, 1, G.w_avg.numel()))
    path = save_generator(G, tmp_path / "g.safetensors")
    assert torch.equal(load_file(str(path))["w_avg"], G.w_avg)
    assert torch.equal(load_generator(path).w_avg, G.w_avg)


def test_w_avg_is_estimated_deterministically_for_old_files(G, tmp_path):
    path = tmp_path / "old.safetensors"
    _write_without_w_avg(G, path)
    a, b = load_generator(path), load_generator(path)
    assert bool(torch.isnan(a.w_avg).all())  # unknown until needed
    wa, wb = a.average_w().clone(), b.average_w().clone()
    assert torch.equal(wa, wb) and bool(torch.isfinite(wa).all())
    z = global_latents(W_AVG_SEED, G.config.mapping.z_dim, 0, W_AVG_SAMPLES)
    torch.testing.assert_close(wa, a.mapping(z).double().mean(0).float(), rtol=0, atol=1e-5)
    # The batched draw is the per-index draw.
    assert torch.equal(z[3], global_latent(W_AVG_SEED, G.config.mapping.z_dim, 3))
    # Saving stores it; a truncated render of the old file equals one of the re-saved file.
    resaved = save_generator(a, tmp_path / "new.safetensors")
    assert torch.equal(load_file(str(resaved))["w_avg"], wa)
    torch.testing.assert_close(
        generate_region(b, 4, 0, 0, 24, 24, truncation=0.5),
        generate_region(load_generator(resaved), 4, 0, 0, 24, 24, truncation=0.5),
        rtol=0,
        atol=0,
    )


def test_bundled_model_gets_an_estimated_average():
    G = load_generator("landscapes")
    w = G.average_w()
    assert bool(torch.isfinite(w).all())
    assert torch.equal(w, load_generator("landscapes").average_w())


@pytest.mark.parametrize("psi", [-0.1, 2.5, math.nan, math.inf])
def test_bad_psi_is_refused(G, psi):
    with pytest.raises(ValueError, match="truncation psi"):
        generate_region(G, 0, 0, 0, 16, 16, truncation=psi)
    with pytest.raises(ValueError, match="truncation psi"):
        check_truncation(psi)


def test_training_tracks_w_avg_and_the_ema_takes_it():
    from infinitygan.presets import get_preset
    from infinitygan.train import RunConfig, TrainConfig, Trainer

    run = RunConfig(
        model=get_preset("tiny"),
        train=TrainConfig(batch=4),
        total_steps=4,
        sample_seeds=(0,),
        deterministic=True,
    )
    trainer = Trainer(run, torch.device("cpu"))
    assert bool(torch.isnan(trainer.G.w_avg).all())
    g = torch.Generator().manual_seed(0)
    reals = (torch.rand(4, 3, 101, 101, generator=g) * 2 - 1, torch.rand(4, generator=g) * 2 - 1)
    trainer.train_step(reals)
    first = trainer.G.w_avg.clone()
    assert bool(torch.isfinite(first).all())
    assert torch.equal(trainer.G_ema.w_avg, first)
    trainer.train_step(reals)
    second = trainer.G.w_avg.clone()
    assert not torch.equal(first, second) and torch.equal(trainer.G_ema.w_avg, second)
    # An EMA with beta 0.995: the step moved w_avg by 0.5% of the way to the batch mean.
    step = (second - first).norm() / first.norm()
    assert 0 < step < 0.05


def _generate(runner, tmp_path, *extra, name="a.png"):
    out = tmp_path / name
    result = runner.invoke(
        main,
        ["generate", "random:tiny", "--size", "48x32", "--seed", "2", "--out", str(out), *extra],
    )
    return result, out


@pytest.mark.parametrize("bad", ["-1", "3", "nan", "inf", "abc"])
def test_cli_rejects_bad_trunc_in_one_line(tmp_path, bad):
    result, _ = _generate(CliRunner(), tmp_path, "--trunc", bad)
    assert result.exit_code == 2
    assert "--trunc" in result.output and "Traceback" not in result.output


def test_cli_records_trunc_and_refuses_resume_with_another(tmp_path):
    from infinitygan.writers import sidecar_path

    runner = CliRunner()
    result, out = _generate(runner, tmp_path, "--trunc", "0.7")
    assert result.exit_code == 0, result.output
    meta = json.loads(sidecar_path(out).read_text())
    meta = meta.get("metadata", meta)
    assert meta["truncation"] == 0.7 and "--trunc 0.7" in meta["regenerate"]
    plain, out1 = _generate(runner, tmp_path, name="b.png")
    assert plain.exit_code == 0, plain.output
    meta1 = json.loads(sidecar_path(out1).read_text())
    assert meta1.get("metadata", meta1)["truncation"] == 1.0
    # Same settings: --resume keeps the finished file; another psi is refused.
    again, _ = _generate(runner, tmp_path, "--trunc", "0.7", "--resume")
    assert again.exit_code == 0, again.output
    other, _ = _generate(runner, tmp_path, "--trunc", "0.5", "--resume")
    assert other.exit_code != 0 and "truncation 0.7, not 0.5" in other.output


def test_trunc_option_on_every_rendering_command():
    runner = CliRunner()
    for command in ("generate", "fuse", "outpaint", "inbetween", "serve"):
        result = runner.invoke(main, [command, "--help"])
        assert result.exit_code == 0 and "--trunc" in result.output, command


def test_serve_identity_depends_on_truncation():
    from infinitygan.web.app import ServerOptions, truncated_identity

    assert truncated_identity("abc123", 1.0) == "abc123"
    ids = {truncated_identity("abc123", psi) for psi in (0.5, 0.7, 0.75)}
    assert len(ids) == 3 and all(len(i) == 16 for i in ids)
    with pytest.raises(ValueError, match="truncation psi"):
        ServerOptions(truncation=-1.0)


def test_described_canvases_truncate_every_seed(G):
    from infinitygan.applications import Anchor, CanvasDescription, render_region

    plain = CanvasDescription(seed=7)
    torch.testing.assert_close(
        render_region(G, plain, -24, 0, 48, 80, truncation=0.6),
        generate_region(G, 7, -24, 0, 48, 80, truncation=0.6),
        rtol=0,
        atol=0,
    )
    # Not plain (a far second anchor): rendered by the scene, the same truncated canvas.
    far = CanvasDescription(seed=7, anchors=(Anchor(0, 40, 7), Anchor(0, 90_000, 8)), blend=31)
    scene = render_region(G, far, -24, 0, 48, 80, truncation=0.6)
    torch.testing.assert_close(
        scene, generate_region(G, 7, -24, 0, 48, 80, truncation=0.6), rtol=0, atol=1e-4
    )
    assert not torch.allclose(scene, render_region(G, far, -24, 0, 48, 80), atol=1e-3)
    # psi = 0: every seed has the average style, so the anchors no longer matter.
    mixed = CanvasDescription(seed=3, anchors=(Anchor(-10, 30, 3), Anchor(20, 100, 8)), blend=41)
    torch.testing.assert_close(
        render_region(G, mixed, -40, 40, 64, 96, truncation=0.0),
        generate_region(G, 3, -40, 40, 64, 96, truncation=0.0),
        rtol=0,
        atol=1e-4,
    )
    big = render_region(G, mixed, -40, 40, 64, 96, tile=64, truncation=0.7)
    small = render_region(G, mixed, -27, 77, 31, 45, tile=32, truncation=0.7)
    torch.testing.assert_close(small, big[:, 13:44, 37:82], rtol=0, atol=1e-4)


def test_served_tiles_are_truncated_and_keyed_by_psi(G, tmp_path):
    pytest.importorskip("fastapi")
    import io
    import urllib.error
    import urllib.request

    import numpy as np
    from PIL import Image

    from infinitygan.imageio import to_uint8
    from infinitygan.web.app import BackgroundServer, ServerOptions, create_app, truncated_identity

    options = ServerOptions(truncation=0.7, cache_dir=tmp_path, measure_speed=False)
    app = create_app(G, model_name="tiny", model_id="abc1", options=options)
    psi_id = truncated_identity("abc1", 0.7)
    with BackgroundServer(app) as server:
        with urllib.request.urlopen(f"{server.url}tiles/3/0/-1/2.png?m={psi_id}") as reply:
            body = reply.read()
        with pytest.raises(urllib.error.HTTPError) as err:  # the untruncated model's id
            urllib.request.urlopen(f"{server.url}tiles/3/0/-1/2.png?m=abc1")
        assert err.value.code == 409
    want = to_uint8(generate_region(G, 3, -256, 512, 256, 256, truncation=0.7))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(body)).convert("RGB")), want)
    assert (tmp_path / psi_id).is_dir() and not (tmp_path / "abc1").exists()


def test_fuse_records_trunc_and_refuses_resume_with_another(tmp_path):
    from infinitygan.writers import sidecar_path

    runner = CliRunner()
    out = tmp_path / "fused.png"

    def fuse(*extra):
        args = ["fuse", "random:tiny", "--seeds", "1,2", "--size", "64x48", "--out", str(out)]
        return runner.invoke(main, [*args, *extra])

    result = fuse("--trunc", "0.6")
    assert result.exit_code == 0, result.output
    meta = json.loads(sidecar_path(out).read_text())
    assert meta.get("metadata", meta)["truncation"] == 0.6
    assert fuse("--trunc", "0.6", "--resume").exit_code == 0
    other = fuse("--resume")
    assert other.exit_code != 0 and "truncation" in other.output
