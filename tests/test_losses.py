"""Training losses: known values, signs and gradient directions of each pure function."""

from __future__ import annotations

import math

import pytest
import torch

from infinitygan import build_generator
from infinitygan.train import losses


def test_d_logistic_loss_known_value_and_gradient_signs():
    real = torch.zeros(4, 1, requires_grad=True)
    fake = torch.zeros(6, 1, requires_grad=True)
    loss = losses.d_logistic_loss(real, fake)
    assert loss.item() == pytest.approx(2 * math.log(2), abs=1e-6)
    loss.backward()
    # Descent raises real logits and lowers fake logits.
    assert (real.grad < 0).all() and (fake.grad > 0).all()
    assert real.grad[0, 0].item() == pytest.approx(-0.5 / 4, abs=1e-6)
    separated = losses.d_logistic_loss(torch.full((4, 1), 20.0), torch.full((4, 1), -20.0))
    assert separated.item() < 1e-8


def test_g_nonsaturating_loss_value_and_gradient():
    fake = torch.tensor([[0.0], [2.0]], requires_grad=True)
    loss = losses.g_nonsaturating_loss(fake)
    expected = (math.log(2) + math.log1p(math.exp(-2.0))) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    loss.backward()
    assert (fake.grad < 0).all()  # G wants D(fake) to go up


def test_hinge_losses_values_margins_and_gradients():
    zero = torch.zeros(4, 1)
    assert losses.d_hinge_loss(zero, zero).item() == pytest.approx(2.0)
    # Past the margins (reals >= 1, fakes <= -1) the D loss is 0 and gives no gradient.
    real = torch.tensor([[1.5], [1.0]], requires_grad=True)
    fake = torch.tensor([[-2.0], [0.5]], requires_grad=True)
    loss = losses.d_hinge_loss(real, fake)
    assert loss.item() == pytest.approx(0.0 + (0.0 + 1.5) / 2)
    loss.backward()
    assert real.grad.abs().sum().item() == 0
    assert fake.grad.flatten().tolist() == [0.0, 0.5]
    g_fake = torch.tensor([[0.5], [-1.5]], requires_grad=True)
    g = losses.g_hinge_loss(g_fake)
    assert g.item() == pytest.approx(0.5)
    g.backward()
    assert g_fake.grad.flatten().tolist() == [-0.5, -0.5]
    assert losses.adversarial_losses("hinge") == (losses.d_hinge_loss, losses.g_hinge_loss)
    assert losses.adversarial_losses("logistic") == (
        losses.d_logistic_loss,
        losses.g_nonsaturating_loss,
    )
    with pytest.raises(ValueError, match="use one of logistic, hinge"):
        losses.adversarial_losses("wasserstein")


def test_r1_penalty_of_linear_and_quadratic_critics():
    a = torch.randn(3, 5, 5, generator=torch.Generator().manual_seed(0))
    x = torch.randn(4, 3, 5, 5, requires_grad=True)
    logits = (x * a).flatten(1).sum(1, keepdim=True)
    r1 = losses.r1_penalty(logits, x)
    assert r1.item() == pytest.approx(a.pow(2).sum().item(), rel=1e-5)
    # Quadratic critic D(x) = 0.5 * |x|^2: gradient x, penalty mean |x|^2, and it back-props.
    x2 = torch.randn(2, 3, 4, 4, requires_grad=True)
    r1q = losses.r1_penalty(0.5 * x2.pow(2).flatten(1).sum(1, keepdim=True), x2)
    assert r1q.item() == pytest.approx(x2.pow(2).flatten(1).sum(1).mean().item(), rel=1e-5)
    r1q.backward()
    torch.testing.assert_close(x2.grad, 2 * x2.detach() / 2)


def test_r1_weight_is_gamma_half_times_interval():
    assert losses.r1_loss_weight(10.0, 16) == 80.0


def test_path_lengths_known_value_and_modes():
    n, layers, w_dim, hw = 2, 3, 8, 4
    styles = torch.randn(n, layers, w_dim, requires_grad=True)
    mat = torch.randn(layers * w_dim, 3 * hw * hw, generator=torch.Generator().manual_seed(1))
    images = (styles.flatten(1) @ mat).view(n, 3, hw, hw)
    noise = losses.path_length_noise(images, torch.Generator().manual_seed(2))
    assert noise.std().item() == pytest.approx(1 / hw, rel=0.5)
    grad = (mat @ noise.flatten(1).t()).t().view(n, layers, w_dim)  # exact J^T y
    expected = grad.pow(2).sum(2).mean(1).sqrt()
    lengths = losses.path_lengths(images, styles, noise, "stylegan2")
    torch.testing.assert_close(lengths, expected, rtol=1e-5, atol=1e-6)
    official = losses.path_lengths(images, styles, noise, "official")
    torch.testing.assert_close(lengths / official, torch.full((n,), math.sqrt(w_dim)))
    with pytest.raises(ValueError, match="path-length mode"):
        losses.path_lengths(images, styles, noise, "bogus")  # type: ignore[arg-type]


def test_path_length_penalty_pulls_lengths_to_the_mean():
    mean = losses.update_path_length_mean(torch.tensor(1.0), torch.tensor(3.0), 0.01)
    assert mean.item() == pytest.approx(1.02)
    lengths = torch.tensor([1.0, 3.0], requires_grad=True)
    penalty = losses.path_length_penalty(lengths, torch.tensor(2.0))
    assert penalty.item() == pytest.approx(1.0)
    penalty.backward()
    assert lengths.grad.tolist() == pytest.approx([-1.0, 1.0])


def test_coord_loss_uses_the_vertical_entry_only():
    pred = torch.tensor([[0.5, 9.0, -9.0], [-1.0, 3.0, 3.0]], requires_grad=True)
    label = torch.tensor([0.0, -0.5])
    loss = losses.coord_loss(pred, label)
    assert loss.item() == pytest.approx((0.5 + 0.5) / 2)
    loss.backward()
    assert pred.grad[:, 1:].abs().sum().item() == 0.0
    assert pred.grad[:, 0].tolist() == pytest.approx([0.5, -0.5])
    with pytest.raises(ValueError, match="do not match"):
        losses.coord_loss(pred, torch.zeros(3))


def test_diversity_loss_value_and_safety():
    z = torch.zeros(4, 2, 3, 3)
    z[1] += 2.0  # pair 0: |dz| = 2
    z[3] += 1.0  # pair 1: |dz| = 1
    s = torch.zeros(4, 5, 2, 2, requires_grad=True)
    with torch.no_grad():
        s[0] += 0.5  # pair 0: |ds| = 0.5 ; pair 1 identical structures
    loss = losses.diversity_loss(z, s, eps=1e-5)
    assert loss.item() == pytest.approx((2 / (0.5 + 1e-5) + 1 / 1e-5) / 2, rel=1e-5)
    loss.backward()
    assert torch.isfinite(s.grad).all()
    with pytest.raises(ValueError, match="even batch"):
        losses.diversity_loss(z[:3], s[:3])


def test_a_descent_step_on_the_diversity_loss_moves_pairs_apart():
    G = build_generator("tiny", seed=0)
    gen = torch.Generator().manual_seed(0)
    cfg = G.config
    size = G.geometry.structure_in(11)
    zg = torch.randn(4, cfg.mapping.z_dim, generator=gen).repeat_interleave(2, 0)
    zl = torch.randn(8, cfg.structure.local_dim, size, size, generator=gen)
    from infinitygan.coords import sample_training_coords

    coords, _ = sample_training_coords(4, size, cfg.coords, gen)
    coords = coords.repeat_interleave(2, 0)

    def pair_distance() -> float:
        with torch.no_grad():
            s = G.structure(zg, zl, coords).flatten(1)
        return (s[0::2] - s[1::2]).abs().mean().item()

    before = pair_distance()
    G.zero_grad()
    losses.diversity_loss(zl, G.structure(zg, zl, coords)).backward()
    params = list(G.structure_synthesizer.parameters())
    start = [p.detach().clone() for p in params]

    def step(lr: float) -> float:
        with torch.no_grad():
            for p, p0 in zip(params, start):
                p.copy_(p0 - lr * p.grad)
        return pair_distance()

    descent, ascent = step(0.1), step(-0.1)
    assert descent > before > ascent, (ascent, before, descent)


def test_lazy_adam_hyperparams_match_stylegan2():
    lr, betas = losses.lazy_adam_hyperparams(0.002, 0.99, 4)
    assert lr == pytest.approx(0.0016) and betas == (0.0, pytest.approx(0.99**0.8))
    lr, betas = losses.lazy_adam_hyperparams(0.002, 0.99, 16)
    assert lr == pytest.approx(0.002 * 16 / 17) and betas[1] == pytest.approx(0.99 ** (16 / 17))
    assert losses.lazy_adam_hyperparams(0.002, 0.99, None) == (0.002, (0.0, 0.99))


def test_ema_beta_is_a_half_life_in_images():
    official = 0.5 ** (32 / 10000)
    assert losses.ema_beta(16, 5000, None, 10**6) == pytest.approx(official)
    # Two steps at batch 8 decay as much as one at batch 16.
    assert losses.ema_beta(8, 5000, None, 10**6) ** 2 == pytest.approx(official)
    # Ramp-up: early on, the half-life is capped at rampup * images seen.
    assert losses.ema_beta(16, 5000, 0.05, 1600) == pytest.approx(0.5 ** (16 / 80))
    assert losses.ema_beta(16, 5000, 0.05, 10**7) == pytest.approx(official)
