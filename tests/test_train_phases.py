"""Training step: pairing, coordinate labels, style mixing, keyed randomness, one Trainer step."""

from __future__ import annotations

import math

import pytest
import torch

from infinitygan import build_generator
from infinitygan.presets import get_preset
from infinitygan.train import NonFiniteLossError, RunConfig, TrainConfig, Trainer
from infinitygan.train.phases import mix_styles, sample_fake_inputs, step_generator


@pytest.fixture(scope="module")
def G():
    return build_generator("tiny", seed=0)


def test_pairs_share_global_latent_coords_labels_and_mixing(G):
    inputs = sample_fake_inputs(
        G, 8, torch.Generator().manual_seed(3), style_mixing=0.5, paired=True, device="cpu"
    )
    for t in (inputs.z_global, inputs.coords, inputs.labels, inputs.inject):
        torch.testing.assert_close(t[0::2], t[1::2], rtol=0, atol=0)
    # Pairs differ in the local latent and the noise; different pairs differ in everything.
    assert not torch.equal(inputs.z_local[0], inputs.z_local[1])
    assert not torch.equal(inputs.noise[0][0], inputs.noise[0][1])
    assert not torch.equal(inputs.z_global[0], inputs.z_global[2])
    assert inputs.z_local.shape == (8, G.config.structure.local_dim, 35, 35)
    assert [m.shape[-1] for m in inputs.noise] == G.geometry.texture_conv_sizes(11)


def test_labels_match_the_coordinates_actually_used(G):
    cfg = G.config.coords
    inputs = sample_fake_inputs(
        G, 64, torch.Generator().manual_seed(5), style_mixing=0.9, paired=True, device="cpu"
    )
    v = cfg.vertical_positions
    # label = 2 (k + jitter) / (V - 1) - 1 and the centre row sits at k + jitter - V // 2.
    centre_row = (inputs.labels.double() + 1) * (v - 1) / 2 - v // 2
    expected = torch.tanh(cfg.vertical_step * centre_row).float()
    torch.testing.assert_close(inputs.coords[:, 0, 17, 0], expected, rtol=0, atol=1e-6)
    assert inputs.labels.min() >= -1 - 1 / (v - 1) - 1e-6
    assert inputs.labels.max() <= 1 + 1 / (v - 1) + 1e-6


def test_style_mixing_only_changes_the_texture_styles(G):
    w = torch.stack([torch.zeros(4, 3), torch.ones(4, 3)], dim=1)  # slot 0 = 0, slot 1 = 1
    inject = torch.tensor([1, 4, 9, 9])
    styles = mix_styles(w, inject, 9)
    assert styles.shape == (4, 9, 3)
    assert styles[:, :, 0].tolist()[0] == [0] + [1] * 8
    assert styles[:, :, 0].tolist()[1] == [0] * 4 + [1] * 5
    assert styles[2:].sum() == 0  # no mixing: all layers from slot 0
    inputs = sample_fake_inputs(
        G, 400, torch.Generator().manual_seed(1), style_mixing=0.9, paired=True, device="cpu"
    )
    mixed = (inputs.inject[0::2] < G.num_styles).float().mean().item()
    assert mixed == pytest.approx(0.9, abs=0.07)
    assert inputs.inject.min() >= 1


def test_step_generators_are_keyed_and_independent():
    a = torch.randn(5, generator=step_generator(0, 7, 1, 0))
    assert torch.equal(a, torch.randn(5, generator=step_generator(0, 7, 1, 0)))
    for key in [(1, 7, 1, 0), (0, 8, 1, 0), (0, 7, 2, 0), (0, 7, 1, 1)]:
        assert not torch.equal(a, torch.randn(5, generator=step_generator(*key)))


def _tiny_run(**train) -> RunConfig:
    return RunConfig(
        model=get_preset("tiny"),
        train=TrainConfig(**{"batch": 4, **train}),
        total_steps=4,
        sample_seeds=(0,),
        deterministic=True,
    )


def _reals(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 101, 101, generator=g) * 2 - 1, torch.rand(n, generator=g) * 2 - 1


def test_one_step_updates_both_networks_and_the_ema(device):
    import dataclasses

    trainer = Trainer(dataclasses.replace(_tiny_run(), device=str(device)), device)
    g0 = [p.detach().clone() for p in trainer.G.parameters()]
    d0 = [p.detach().clone() for p in trainer.D.parameters()]
    stats = trainer.train_step(_reals(4))
    assert trainer.step == 1 and trainer.images_seen == 4
    expected_terms = {"D/adv", "D/coord_real", "D/coord_fake", "D/r1", "G/adv", "G/coord"}
    assert expected_terms | {"G/diversity", "G/path_length"} <= set(stats)
    assert all(math.isfinite(v) for v in stats.values())
    assert any(not torch.equal(a, b) for a, b in zip(g0, trainer.G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, trainer.D.parameters()))
    # First EMA update with ramp-up (half-life capped near 0): the average is G, as a frozen copy.
    for p_ema, p in zip(trainer.G_ema.parameters(), trainer.G.parameters()):
        assert not p_ema.requires_grad and p_ema.data_ptr() != p.data_ptr()
        torch.testing.assert_close(p_ema, p.detach(), rtol=0, atol=1e-6)
    assert trainer.pl_mean.item() > 0
    # Lazy terms only run on their interval.
    stats2 = trainer.train_step(_reals(4, 1))
    assert "D/r1" not in stats2 and "G/path_length" not in stats2


def test_d_warmup_trains_only_the_discriminator_then_both():
    # 8 images of warm-up at batch 4: steps 0 and 1 train D alone, step 2 trains both.
    trainer = Trainer(_tiny_run(d_warmup_kimg=0.008), torch.device("cpu"))
    g0 = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    ema0 = {k: v.clone() for k, v in trainer.G_ema.state_dict().items()}
    d_before = [p.detach().clone() for p in trainer.D.parameters()]
    for i in range(2):
        assert trainer.in_d_warmup
        stats = trainer.train_step(_reals(4, i))
        assert "D/adv" in stats and not any(k.startswith("G/") for k in stats)
        assert stats["ema_beta"] == 1.0
    for module, before in ((trainer.G, g0), (trainer.G_ema, ema0)):
        for key, value in module.state_dict().items():
            # weights and w_avg alike (w_avg is NaN until G's first step tracks it)
            torch.testing.assert_close(value, before[key], rtol=0, atol=0, equal_nan=True)
    assert not trainer.opt_G.state  # Adam never saw a G gradient
    assert any(not torch.equal(a, b) for a, b in zip(d_before, trainer.D.parameters()))
    assert not trainer.in_d_warmup
    stats = trainer.train_step(_reals(4, 2))
    assert "G/adv" in stats
    assert any(not torch.equal(v, g0[k]) for k, v in trainer.G.state_dict().items())
    with pytest.raises(ValueError, match="d_warmup_kimg must be >= 0"):
        TrainConfig(d_warmup_kimg=-1)


def test_optimisers_use_lazy_regularisation_scaling():
    trainer = Trainer(_tiny_run(), torch.device("cpu"))
    assert trainer.lr_G == pytest.approx(0.002 * 4 / 5)
    assert trainer.lr_D == pytest.approx(0.002 * 16 / 17)
    assert trainer.opt_G.param_groups[0]["betas"] == (0.0, pytest.approx(0.99**0.8))
    assert trainer.opt_D.param_groups[0]["betas"] == (0.0, pytest.approx(0.99 ** (16 / 17)))


def test_batch_checks_are_clear():
    with pytest.raises(ValueError, match="even integer"):
        TrainConfig(batch=3)
    with pytest.raises(ValueError, match="multiple of batch_gpu"):
        Trainer(_tiny_run(batch=6, batch_gpu=4), torch.device("cpu"))
    trainer = Trainer(_tiny_run(), torch.device("cpu"))
    with pytest.raises(ValueError, match="expected 4 real patches"):
        trainer.train_step(_reals(2))


def test_bf16_autocast_and_channels_last_run_on_cpu():
    import dataclasses

    run = dataclasses.replace(_tiny_run(), precision="bf16", channels_last=True)
    trainer = Trainer(run, torch.device("cpu"))
    stats = trainer.train_step(_reals(4))
    assert all(math.isfinite(v) for v in stats.values())
    assert trainer.G.texture_synthesizer.convs[0].conv.weight.is_contiguous(
        memory_format=torch.channels_last
    )


@pytest.mark.slow  # fp16 convolutions are emulated on CPU (about 30 s for one tiny step)
def test_fp16_grad_scaler_path_runs_on_cpu():
    import dataclasses

    run = dataclasses.replace(_tiny_run(), precision="fp16")
    trainer = Trainer(run, torch.device("cpu"))
    assert trainer.scaler_G.is_enabled() and trainer.scaler_D.is_enabled()
    stats = trainer.train_step(_reals(4))
    assert all(math.isfinite(v) for v in stats.values())
    assert trainer.scaler_G.get_scale() > 0
    state = trainer.state_dict()
    assert state["scaler_G"]["scale"] > 0


def test_inputs_are_drawn_on_the_device_and_keyed(device):
    import dataclasses

    trainer = Trainer(dataclasses.replace(_tiny_run(), device=str(device)), device)
    a = trainer._sample(3, 1, 0, 4, True)
    b = trainer._sample(3, 1, 0, 4, True)
    for t in (a.z_global, a.z_local, a.coords, a.labels, a.inject, *a.noise):
        assert t.device.type == device.type
    for x, y in zip((a.z_local, a.coords, *a.noise), (b.z_local, b.coords, *b.noise)):
        assert torch.equal(x, y)  # keyed: the same key draws the same inputs
    if device.type == "cpu":  # one CPU generator draws what earlier versions drew
        ref = sample_fake_inputs(
            trainer.G, 4, step_generator(0, 3, 1, 0), style_mixing=0.9, paired=True, device="cpu"
        )
        assert torch.equal(ref.z_local, a.z_local) and torch.equal(ref.coords, a.coords)


def test_phases_leave_their_terms_on_the_device():
    """No host sync per phase: the phases return tensors, train_step converts once."""
    trainer = Trainer(_tiny_run(), torch.device("cpu"))
    reals = _reals(4)
    stats = trainer.d_step(0, trainer.real_rounds(reals))
    assert stats and all(isinstance(v, torch.Tensor) and v.ndim == 0 for v in stats.values())
    assert trainer.check_finite(0) == set()


def test_non_finite_terms_are_fatal_except_fp16_skips():
    import dataclasses

    nan = torch.tensor(float("nan"))
    fp32 = Trainer(_tiny_run(), torch.device("cpu"))
    fp32._watch({"D/adv": torch.tensor(0.5), "D/coord_real": nan}, scaled=True)
    with pytest.raises(NonFiniteLossError, match="D/coord_real is not finite at step 7"):
        fp32.check_finite(7)
    assert fp32.check_finite(8) == set()  # the watched terms were consumed

    fp16 = Trainer(dataclasses.replace(_tiny_run(), precision="fp16"), torch.device("cpu"))
    fp16._watch({"G/adv": torch.tensor(float("inf")), "G/coord": torch.tensor(0.1)}, scaled=True)
    assert fp16.check_finite(2) == {"G/adv"}  # the GradScaler skipped that update
    fp16._watch({"D/r1": nan}, scaled=False)  # unscaled regularisation: fatal
    with pytest.raises(NonFiniteLossError, match="D/r1"):
        fp16.check_finite(3)
    fp16.scaler_G = torch.amp.GradScaler("cpu", init_scale=2.0**-20)
    fp16._watch({"G/adv": nan}, scaled=True)
    with pytest.raises(NonFiniteLossError, match="G/adv"):  # the loss scale collapsed
        fp16.check_finite(4)


@pytest.mark.slow  # fp16 convolutions are emulated on CPU
def test_fp16_overflow_skips_the_update_and_training_goes_on(monkeypatch):
    import dataclasses

    run = dataclasses.replace(_tiny_run(pl_weight=0.0, r1_gamma=0.0), precision="fp16")
    trainer = Trainer(run, torch.device("cpu"))
    # The trainer binds its adversarial losses (train.loss) when it is built.
    original = trainer.g_loss
    monkeypatch.setattr(trainer, "g_loss", lambda x: original(x) * float("inf"))
    g0 = [p.detach().clone() for p in trainer.G.parameters()]
    scale0 = trainer.scaler_G.get_scale()
    stats = trainer.train_step(_reals(4))
    assert stats["fp16/skipped"] == 1.0 and "G/adv" not in stats
    assert all(torch.equal(a, b) for a, b in zip(g0, trainer.G.parameters()))
    assert trainer.scaler_G.get_scale() < scale0 and trainer.step == 1
