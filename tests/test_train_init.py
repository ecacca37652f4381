"""Fine-tuning (`infinitygan train --init MODEL`): what is loaded from where, exactly; resume;
bad inputs; the bundled model and its discriminator file."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from infinitygan import load_generator, save_generator
from infinitygan.checkpoint import BUNDLED_DIR, CheckpointError
from infinitygan.cli import main
from infinitygan.data import DataConfig, SyntheticLandscapeDataset
from infinitygan.models import build_discriminator
from infinitygan.presets import get_preset
from infinitygan.train import RunConfig, TrainConfig, Trainer, training_loop
from infinitygan.train import snapshots as snap
from infinitygan.train.config import InitSource
from infinitygan.train.init import apply_init, discriminator_file_for, resolve_init
from infinitygan.train.runs import OPTIONS_FILE
from test_bad_inputs import assert_one_clear_line, listing

CPU = torch.device("cpu")
WEIGHT_FILES = (snap.G_FILE, snap.G_EMA_FILE, snap.D_FILE)
BUNDLED_D = BUNDLED_DIR / "discriminators" / "landscapes.safetensors"


@pytest.fixture(scope="module")
def dataset():
    """What `infinitygan train --data synthetic` trains the tiny preset on."""
    model = get_preset("tiny")
    config = DataConfig(model.patch_size, model.full_size, model.pre_resize)
    return SyntheticLandscapeDataset(config, seed=0)


def tiny_run(steps: int, init: InitSource | None = None, **train) -> RunConfig:
    return RunConfig(
        model=get_preset("tiny"),
        train=TrainConfig(batch=2, r1_interval=2, pl_interval=2, **train),
        total_steps=steps,
        tick_every=1,
        snapshot_every=1,
        keep_snapshots=5,
        deterministic=True,
        sample_seeds=(),
        init=init,
    )


@pytest.fixture(scope="module")
def source(tmp_path_factory, dataset):
    """A one-step tiny run (its snapshot: G, G_ema and D all differ) and exports of it: a
    generator file with a float32 discriminator file beside it, and one with a float16 one."""
    root = tmp_path_factory.mktemp("source")
    # No EMA ramp-up, so that G_ema (mostly the initial G) differs from G.
    training_loop(tiny_run(1, ema_rampup=None), root / "run", dataset)
    snapshot = snap.latest_snapshot(root / "run")
    assert snapshot is not None
    G_ema = load_generator(snapshot.path / snap.G_EMA_FILE)
    D = snap.load_discriminator(snapshot.path / snap.D_FILE)
    for name, half in (("fp32", False), ("fp16", True)):
        save_generator(G_ema, root / f"{name}.safetensors")
        snap.save_discriminator(D, discriminator_file_for(root / f"{name}.safetensors"), half=half)
    return root, snapshot.path


def reals(model_name: str = "tiny") -> tuple[torch.Tensor, torch.Tensor]:
    model = get_preset(model_name)
    config = DataConfig(model.patch_size, model.full_size, model.pre_resize)
    batch = SyntheticLandscapeDataset(config, seed=5, num_images=4)
    patches = torch.stack([batch[i][0] for i in range(2)])
    return patches, torch.zeros(2)


def started(source: InitSource, model) -> Trainer:
    trainer = Trainer(dataclasses.replace(tiny_run(1, source), model=model), CPU)
    apply_init(source, trainer.G, trainer.G_ema, trainer.D)
    return trainer


def assert_state_equal(module: torch.nn.Module, path: Path, half: bool = False) -> None:
    state = module.state_dict()
    expected = load_file(str(path))
    assert set(state) == set(expected), path
    for key, value in expected.items():
        assert state[key].dtype == torch.float32, key
        if half:
            assert value.dtype == torch.float16, key
        assert torch.equal(state[key], value.float()), (path, key)


@pytest.mark.parametrize("kind", ["run", "snapshot", "file", "file-fp16"])
def test_init_loads_the_source_exactly(source, kind):
    root, snapshot = source
    spec = {
        "run": root / "run",
        "snapshot": snapshot,
        "file": root / "fp32.safetensors",
        "file-fp16": root / "fp16.safetensors",
    }[kind]
    init, model = resolve_init(str(spec))
    assert model == get_preset("tiny") and init.model == str(spec)
    trainer = started(init, model)
    d_file = Path(init.discriminator)
    if kind in ("run", "snapshot"):
        assert Path(init.generator) == snapshot / snap.G_FILE
        assert Path(init.generator_ema) == snapshot / snap.G_EMA_FILE
        assert d_file == snapshot / snap.D_FILE
        assert_state_equal(trainer.G, snapshot / snap.G_FILE)
    else:
        assert init.generator == init.generator_ema == str(spec)
        assert d_file == spec.with_name(spec.stem + ".discriminator.safetensors")
        assert_state_equal(trainer.G, spec)  # G and G_ema both from the file, w_avg included
    assert_state_equal(trainer.G_ema, Path(init.generator_ema))
    assert torch.isfinite(trainer.G.w_avg).all()
    assert_state_equal(trainer.D, d_file, half=kind == "file-fp16")
    # D judges the reals as the source D does (not as a fresh D), to fp16 rounding of the weights.
    x, _ = reals()
    source_D = snap.load_discriminator(snapshot / snap.D_FILE)
    fresh = Trainer(tiny_run(1), CPU)
    with torch.no_grad():
        logits, ref, new = trainer.D(x)[0], source_D(x)[0], fresh.D(x)[0]
    if kind == "file-fp16":
        torch.testing.assert_close(logits, ref, rtol=0, atol=1e-2)
        assert not torch.equal(logits, ref)
    else:
        assert torch.equal(logits, ref)
    assert (logits - new).abs().max() > 1e-3
    assert trainer.step == 0 and trainer.images_seen == 0 and not trainer.opt_G.state


def test_a_step_after_init_moves_every_network(source, dataset, tmp_path):
    root, snapshot = source
    init, _ = resolve_init(str(root / "run"))
    result = training_loop(tiny_run(1, init), tmp_path, dataset)
    assert result.start_step == 0 and result.step == 1
    for name in WEIGHT_FILES:
        before, after = load_file(str(snapshot / name)), load_file(str(result.snapshot / name))
        moved = [k for k in before if not torch.equal(before[k], after[k])]
        assert moved, name
    state = torch.load(result.snapshot / snap.STATE_FILE, weights_only=True)
    assert state["step"] == 1 and state["images_seen"] == 2  # a new run: counted from 0
    recorded = RunConfig.from_json((tmp_path / OPTIONS_FILE).read_text())
    assert recorded.init == init


def test_resume_reapplies_init_before_a_snapshot_and_continues_after_one(source, dataset, tmp_path):
    root, _ = source
    init, model = resolve_init(str(root / "fp16.safetensors"))
    straight = training_loop(tiny_run(2, init), tmp_path / "straight", dataset)
    # A run stopped before its first snapshot has only its options: --resume applies init again.
    early = tmp_path / "early"
    early.mkdir()
    (early / OPTIONS_FILE).write_text(tiny_run(2, init).to_json())
    r = CliRunner().invoke(main, ["train", "--resume", str(early)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    # A run with a snapshot continues from it (exact resume).
    later = tmp_path / "later"
    training_loop(tiny_run(1, init), later, dataset)
    resumed = training_loop(tiny_run(2, init), later, dataset, resume=True)
    assert resumed.start_step == 1
    for run_dir in (early, later):
        done = snap.latest_snapshot(run_dir)
        assert done is not None and done.step == 2
        for name in WEIGHT_FILES:
            a, b = load_file(str(straight.snapshot / name)), load_file(str(done.path / name))
            for key, value in a.items():
                torch.testing.assert_close(b[key], value, rtol=0, atol=1e-6, msg=name + key)


def test_init_without_a_discriminator_file_warns_and_records_it(source, tmp_path, caplog):
    root, _ = source
    lone = tmp_path / "lone.safetensors"
    shutil.copy(root / "fp32.safetensors", lone)
    init, model = resolve_init(str(lone))
    assert init.discriminator is None and init.discriminator_sha256 is None
    with caplog.at_level(logging.INFO, logger="infinitygan"):
        trainer = started(init, model)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "discriminator starts from scratch" in warnings[0]
    assert str(tmp_path / "lone.discriminator.safetensors") in warnings[0]
    fresh = Trainer(tiny_run(1), CPU)
    for key, value in fresh.D.state_dict().items():
        assert torch.equal(trainer.D.state_dict()[key], value), key
    assert json.loads(tiny_run(1, init).to_json())["init"]["discriminator"] is None


def test_a_changed_source_file_stops_the_resume(source, tmp_path):
    root, _ = source
    copy = tmp_path / "g.safetensors"
    shutil.copy(root / "fp32.safetensors", copy)
    init, model = resolve_init(str(copy))
    copy.write_bytes(copy.read_bytes()[:-4] + b"\0\0\0\0")
    trainer = Trainer(tiny_run(1), CPU)
    with pytest.raises(CheckpointError, match="changed since the run started"):
        apply_init(init, trainer.G, trainer.G_ema, trainer.D)


def test_run_configs_from_before_init_still_load(source):
    old = json.loads(tiny_run(1).to_json())
    del old["init"]
    assert RunConfig.from_dict(old).init is None
    root, _ = source
    init, _ = resolve_init(str(root / "run"))
    run = tiny_run(1, init)
    assert RunConfig.from_json(run.to_json()) == run
    data = json.loads(run.to_json())
    data["init"]["colour"] = 1
    with pytest.raises(ValueError, match="RunConfig.init"):
        RunConfig.from_dict(data)


def test_dry_run_records_the_init_and_the_models_architecture(source, tmp_path):
    root, _ = source
    r = CliRunner().invoke(
        main,
        ["train", "--data", "synthetic", "--init", str(root / "fp16.safetensors"), "--batch", "2"]
        + ["--set", "train.lr=0.001", "--set", "coords.vertical_step=0.6"]
        + ["--outdir", str(tmp_path), "--dry-run"],
    )
    assert r.exit_code == 0, r.output
    cfg = json.loads(r.output)
    assert cfg["model"]["name"] == "tiny" and cfg["train"]["lr"] == 0.001
    # Coordinates are inputs, not weights: the model keeps the source's weights and takes the
    # new coords settings; everything else is the source's config.
    run = RunConfig.from_dict(cfg)
    tiny = get_preset("tiny")
    assert run.model.coords == dataclasses.replace(tiny.coords, vertical_step=0.6)
    assert dataclasses.replace(run.model, coords=tiny.coords) == tiny
    assert cfg["init"]["generator"] == str(root / "fp16.safetensors")
    assert cfg["init"]["discriminator"] == str(root / "fp16.discriminator.safetensors")
    assert not any(tmp_path.iterdir())


@pytest.fixture(scope="module")
def bad_d(tmp_path_factory, source):
    """A generator file whose discriminator file holds a differently shaped discriminator."""
    root, _ = source
    folder = tmp_path_factory.mktemp("bad")
    shutil.copy(root / "fp32.safetensors", folder / "g.safetensors")
    model = get_preset("tiny")
    D = build_discriminator(
        dataclasses.replace(
            model.discriminator, channel_base=model.discriminator.channel_base // 2
        ),
        model.patch_size,
    )
    snap.save_discriminator(D, discriminator_file_for(folder / "g.safetensors"))
    return folder / "g.safetensors"


@pytest.mark.parametrize(
    ("case", "args", "fragment"),
    [
        ("missing", ["--init", "{tmp}/nothing.safetensors"], "no model file"),
        ("missing-name", ["--init", "nosuchmodel"], "no bundled model of that name"),
        ("random", ["--init", "random:tiny"], "untrained model"),
        ("preset", ["--init", "{file}", "--preset", "paper-101"], "--preset paper-101 conflicts"),
        ("d-shape", ["--init", "{bad}"], "discriminator weights do not fit"),
        (
            "set-d",
            ["--init", "{file}", "--set", "discriminator.channel_base=2048"],
            "changed by --set discriminator.channel_base",
        ),
        ("resume", ["--resume", "{tmp}", "--init", "{file}"], "drop --init"),
        ("set-coords", ["--init", "{file}", "--set", "coords.vertical_step=0"], "must be > 0"),
        ("set-section", ["--init", "{file}", "--set", "coords.nope=1"], "coords.FIELD=VALUE with"),
    ],
)
def test_bad_init_is_one_clear_line_and_writes_nothing(
    source, bad_d, tmp_path, case, args, fragment
):
    root, _ = source
    out = tmp_path / "out"
    out.mkdir()
    if case == "resume":
        (out / OPTIONS_FILE).write_text(tiny_run(1).to_json())
    values = {"tmp": str(out), "file": str(root / "fp32.safetensors"), "bad": str(bad_d)}
    argv = ["train", *[a.format(**values) for a in args]]
    if case != "resume":
        argv += ["--data", "synthetic", "--batch", "2", "--steps", "1", "--outdir", str(out)]
    before = listing(tmp_path)
    result = CliRunner().invoke(main, argv)
    assert_one_clear_line(result, fragment)
    assert listing(tmp_path) == before  # no run folder, nothing else


def test_a_matching_preset_and_weight_preserving_settings_are_accepted(source):
    root, _ = source
    init, model = resolve_init(
        str(root / "fp32.safetensors"), preset="tiny", discriminator={"stddev_group": 2}
    )
    assert model.discriminator.stddev_group == 2 and init.discriminator is not None


def test_discriminator_files_sit_beside_their_generator(tmp_path):
    assert discriminator_file_for(tmp_path / "m.safetensors") == tmp_path / (
        "m.discriminator.safetensors"
    )
    bundled = discriminator_file_for(BUNDLED_DIR / "landscapes.safetensors")
    assert bundled == BUNDLED_D
    assert bundled.parent != BUNDLED_DIR  # not listed among the bundled models


def test_init_landscapes_loads_the_bundled_generator(caplog):
    init, model = resolve_init("landscapes")
    assert Path(init.generator) == (BUNDLED_DIR / "landscapes.safetensors").resolve()
    assert model == load_generator("landscapes").config
    with caplog.at_level(logging.WARNING, logger="infinitygan"):
        trainer = started(init, model)
    bundled = load_generator("landscapes")
    for G in (trainer.G, trainer.G_ema):  # w_avg: NaN (unknown) when the file has none
        for key, value in bundled.state_dict().items():
            torch.testing.assert_close(G.state_dict()[key], value, rtol=0, atol=0, equal_nan=True)
    if BUNDLED_D.is_file():
        assert init.discriminator == str(BUNDLED_D.resolve())
    else:
        assert init.discriminator is None and "from scratch" in caplog.text


@pytest.mark.skipif(not BUNDLED_D.is_file(), reason=f"no bundled discriminator at {BUNDLED_D}")
def test_init_landscapes_loads_the_bundled_discriminator():
    init, model = resolve_init("landscapes")
    trainer = started(init, model)
    assert_state_equal(trainer.D, BUNDLED_D, half=True)
    shipped = snap.load_discriminator(BUNDLED_D)
    x, _ = reals("landscapes-cpu")
    with torch.no_grad():
        assert torch.equal(trainer.D(x)[0], shipped(x)[0])
