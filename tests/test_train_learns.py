"""Slow: the tiny preset learns the synthetic landscapes' layout in a few hundred CPU steps;
torch.compile training runs on CPU."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from infinitygan import build_generator, load_generator
from infinitygan.data import DataConfig, open_dataset
from infinitygan.presets import get_preset
from infinitygan.train import RunConfig, TrainConfig, Trainer, training_loop
from infinitygan.train.runs import read_stats
from infinitygan.train.samples import generated_patches_at, row_profile

SEEDS = tuple(range(8))


def real_profiles(dataset, count: int = 48) -> torch.Tensor:
    """Row profiles [2, P, 3] of real patches at the top (label -1) and bottom (+1) offsets."""
    cfg = dataset.config
    p, top, bottom, x = cfg.patch_size, 0, cfg.max_offset, cfg.max_offset // 2
    fulls = torch.stack([dataset.full_image(i) for i in range(count)])
    return torch.stack([row_profile(fulls[:, :, y : y + p, x : x + p]) for y in (top, bottom)])


def fake_profiles(G) -> torch.Tensor:
    v = G.config.coords.vertical_positions
    return torch.stack([row_profile(generated_patches_at(G, SEEDS, k)) for k in (0, v - 1)])


@pytest.mark.slow
@pytest.mark.timeout(3600)  # 400 steps: about 3 min on a quiet 2-core CPU, 11 min on a busy one
def test_tiny_learns_the_synthetic_layout(tmp_path):
    model = get_preset("tiny")
    dataset = open_dataset(
        "synthetic", DataConfig(model.patch_size, model.full_size, model.pre_resize), seed=0
    )
    run = RunConfig(
        model=model,
        train=TrainConfig(batch=4),
        total_steps=400,
        tick_every=10,
        snapshot_every=0,
        sample_seeds=SEEDS,
    )
    reals = real_profiles(dataset)
    initial = (fake_profiles(build_generator(model, seed=0)) - reals).abs().mean().item()
    result = training_loop(run, tmp_path, dataset)
    stats = read_stats(tmp_path)
    assert len(stats) == 40
    for record in stats:
        for key, value in record.items():
            if key.startswith(("D/", "G/")):
                assert math.isfinite(value), (record["step"], key)
    first = stats[0]["D/coord_real"]
    last = sum(r["D/coord_real"] for r in stats[-5:]) / 5
    assert last < 0.75 * first, (first, last)

    G_ema = load_generator(result.snapshot / "generator_ema.safetensors")
    fakes = fake_profiles(G_ema)
    final = (fakes - reals).abs().mean().item()
    assert final < 0.6 * initial, (initial, final)
    # Top patches are sky-like and bottom patches ground-like in the same direction as the data:
    # the brightness difference between the top and the bottom position has the data's sign.
    real_gap = (reals[0].mean() - reals[1].mean()).item()
    fake_gap = (fakes[0].mean() - fakes[1].mean()).item()
    assert real_gap * fake_gap > 0 and abs(fake_gap) > 0.3 * abs(real_gap), (real_gap, fake_gap)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # compiling forward and backward graphs takes minutes on 2 cores
def test_compiled_training_step_runs_on_cpu():
    run = RunConfig(
        model=get_preset("tiny"), train=TrainConfig(batch=2), compile=True, sample_seeds=()
    )
    trainer = Trainer(run, torch.device("cpu"))
    eager = Trainer(dataclasses.replace(run, compile=False), torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    reals = (torch.rand(2, 3, 101, 101, generator=gen) * 2 - 1, torch.zeros(2))
    a = trainer.train_step(reals)
    b = eager.train_step(reals)
    for key in ("D/adv", "G/adv", "G/diversity"):
        assert a[key] == pytest.approx(b[key], rel=1e-3, abs=1e-4), key
