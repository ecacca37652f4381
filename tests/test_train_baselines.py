"""Training the paper's baselines: no structure synthesizer means no coordinate and no diversity
loss, and no latent pairs (every sample has its own global latent)."""

from __future__ import annotations

import math

import pytest
import torch

from infinitygan.config import (
    DiscriminatorConfig,
    MappingConfig,
    ModelConfig,
    StructureConfig,
    TextureConfig,
)
from infinitygan.presets import get_preset
from infinitygan.train import RunConfig, TrainConfig, Trainer

# Few-channel, small-patch versions of the baselines keep the steps fast on a busy CPU.
_SMALL = {
    "mapping": MappingConfig(z_dim=8, w_dim=8, num_layers=1),
    "discriminator": DiscriminatorConfig(channel_base=256, channel_max=16, stddev_group=4),
}
_MODELS = {
    # padding-free, 7 cells -> 37 px (16 * 7 - 75)
    "nci-fcg": ModelConfig(
        name="small-nci-fcg",
        structure=StructureConfig(local_dim=8, channels=8, num_layers=0),
        texture=TextureConfig(channels=(8, 8, 8, 8)),
        patch_size=37,
        full_size=48,
        **_SMALL,
    ),
    # zero-padded, 4 cells -> 32 px (whole images)
    "nci": ModelConfig(
        name="small-nci",
        structure=StructureConfig(local_dim=8, channels=8, num_layers=0),
        texture=TextureConfig(channels=(8, 8, 8), padding="zero"),
        patch_size=32,
        full_size=32,
        pre_resize=None,
        **_SMALL,
    ),
}


def _run(name: str) -> RunConfig:
    return RunConfig(
        model=_MODELS[name] if name in _MODELS else get_preset(name),
        train=TrainConfig(batch=4, r1_interval=1000, pl_interval=1000),
        total_steps=2,
        sample_seeds=(),
        deterministic=True,
    )


def _reals(n: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1, torch.zeros(n)


@pytest.mark.parametrize("preset", ["nci-fcg", "nci"])
def test_baseline_step_has_only_adversarial_terms(preset):
    trainer = Trainer(_run(preset), torch.device("cpu"))
    assert not trainer.has_structure
    # Unpaired sampling: neighbours do not share the global latent.
    inputs = trainer._sample(0, 3, 0, 4, trainer.has_structure)
    assert not torch.equal(inputs.z_global[0], inputs.z_global[1])
    g0 = [p.detach().clone() for p in trainer.G.parameters()]
    stats = trainer.train_step(_reals(4, trainer.run.model.patch_size))
    assert {"D/adv", "G/adv", "D/r1", "G/path_length"} <= set(stats)
    assert not {"D/coord_real", "D/coord_fake", "G/coord", "G/diversity"} & set(stats)
    assert all(math.isfinite(v) for v in stats.values())
    assert any(not torch.equal(a, b) for a, b in zip(g0, trainer.G.parameters()))


def test_infinitygan_keeps_coordinate_and_diversity_terms():
    trainer = Trainer(_run("tiny"), torch.device("cpu"))
    assert trainer.has_structure
    inputs = trainer._sample(0, 3, 0, 4, trainer.has_structure)
    assert torch.equal(inputs.z_global[0], inputs.z_global[1])  # diversity pairs
    stats = trainer.d_step(0, trainer.real_rounds(_reals(4, 101)))
    assert {"D/adv", "D/coord_real", "D/coord_fake"} <= set(stats)


def test_sample_grids_of_the_zero_padded_baseline(tmp_path):
    from PIL import Image

    from infinitygan.baselines import generate_enlarged
    from infinitygan.checkpoint import build_generator
    from infinitygan.train.samples import render_canvases, write_sample_grids

    G = build_generator(_MODELS["nci"])
    images = render_canvases(G, (0, 1), 44)  # 6 cells of 8 px = 48, centre-cropped to 44
    assert images.shape == (2, 3, 44, 44)
    torch.testing.assert_close(images[1], generate_enlarged(G, 1, 6, 6)[:, 2:46, 2:46])
    paths = write_sample_grids(G, tmp_path, 3, (0, 1, 2, 3))
    assert [p.name for p in paths] == [f"fakes-{s}x-step00000003.png" for s in (1, 2, 4)]
    for path, scale in zip(paths, (1, 2, 4)):
        with Image.open(path) as image:
            assert image.height >= 32 * scale


def test_structure_model_without_coordinate_head_keeps_only_the_diversity_term():
    """As the official InfinityGAN_maps: coordinates and diversity pairs, but D has no
    coordinate head, so there is no coordinate loss."""
    import dataclasses

    model = get_preset("tiny")
    model = dataclasses.replace(
        model, discriminator=dataclasses.replace(model.discriminator, coord_head=False)
    )
    run = dataclasses.replace(_run("tiny"), model=model)
    trainer = Trainer(run, torch.device("cpu"))
    assert trainer.has_structure and not trainer.coord_loss
    stats = trainer.d_step(0, trainer.real_rounds(_reals(4, 101)))
    assert "D/adv" in stats and not {"D/coord_real", "D/coord_fake"} & set(stats)
    stats = trainer.g_step(0)
    assert {"G/adv", "G/diversity"} <= set(stats) and "G/coord" not in stats
    assert all(math.isfinite(v) for v in stats.values())
