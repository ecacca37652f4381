"""Training loop: run folder contents, exact resume, NaN stop, snapshot atomicity and pruning."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from infinitygan import load_generator
from infinitygan.data import DataConfig, SyntheticLandscapeDataset
from infinitygan.presets import get_preset
from infinitygan.train import NonFiniteLossError, RunConfig, TrainConfig, losses, training_loop
from infinitygan.train import snapshots as snap
from infinitygan.train.runs import allocate_run_dir, data_label, read_stats, truncate_stats

WEIGHT_FILES = ("generator.safetensors", "generator_ema.safetensors", "discriminator.safetensors")


@pytest.fixture(scope="module")
def dataset():
    model = get_preset("tiny")
    config = DataConfig(model.patch_size, model.full_size, model.pre_resize)
    return SyntheticLandscapeDataset(config, seed=0, num_images=16)


def tiny_run(steps: int, **kw) -> RunConfig:
    train = TrainConfig(batch=2, r1_interval=2, pl_interval=2, **kw.pop("train", {}))
    base = dict(
        model=get_preset("tiny"),
        train=train,
        total_steps=steps,
        tick_every=1,
        snapshot_every=2,
        keep_snapshots=2,
        deterministic=True,
        sample_seeds=(),
    )
    base.update(kw)
    return RunConfig(**base)


def weights(snapshot_dir: Path) -> dict[str, dict[str, torch.Tensor]]:
    return {name: load_file(str(snapshot_dir / name)) for name in WEIGHT_FILES}


def test_run_folder_has_everything(tmp_path, dataset):
    run = tiny_run(2, sample_seeds=(0,))
    result = training_loop(run, tmp_path, dataset)
    assert result.step == 2 and result.snapshot == tmp_path / "checkpoints" / "step00000002"
    # Options round trip, environment, log, stats.
    assert RunConfig.from_json((tmp_path / "training_options.json").read_text()) == run
    env = json.loads((tmp_path / "environment.json").read_text())
    assert env["torch"] == torch.__version__ and env["device"] == "cpu" and "git_sha" in env
    log = (tmp_path / "log.txt").read_text()
    assert "step 2" in log and "snapshot" in log
    stats = read_stats(tmp_path)
    assert [r["step"] for r in stats] == [1, 2]
    for key in (
        "kimg",
        "sec_per_kimg",
        "D/adv",
        "G/adv",
        "G/coord",
        "G/diversity",
        "lr/G",
        "lr/D",
        "mem/rss_gb",
        "D/r1",
        "G/path_length",
    ):
        assert key in stats[0] and math.isfinite(stats[0][key]), key
    assert stats[1]["kimg"] == pytest.approx(0.004)
    # Samples.
    names = sorted(p.name for p in (tmp_path / "samples").iterdir())
    assert names == [
        "fakes-1x-step00000002.png",
        "fakes-2x-step00000002.png",
        "fakes-4x-step00000002.png",
        "reals.png",
    ]
    # Snapshot: generator_ema loads with the public loader; the state loads weights-only.
    assert (tmp_path / "checkpoints" / "latest.txt").read_text().strip() == "step00000002"
    G_ema = load_generator(result.snapshot / "generator_ema.safetensors")
    assert G_ema.config == run.model
    state = torch.load(result.snapshot / "training_state.pt", weights_only=True)
    assert state["step"] == 2 and state["images_seen"] == 4
    assert {"opt_G", "opt_D", "pl_mean", "rng_torch", "data"} <= set(state)
    D = snap.load_discriminator(result.snapshot / "discriminator.safetensors")
    assert D.patch_size == 101


def test_resume_continues_exactly(tmp_path, dataset, device):
    def tiny_run_on(steps):
        return tiny_run(steps, device=str(device))

    straight = training_loop(tiny_run_on(4), tmp_path / "a", dataset)
    training_loop(tiny_run_on(2), tmp_path / "b", dataset)
    resumed = training_loop(tiny_run_on(4), tmp_path / "b", dataset, resume=True)
    assert resumed.start_step == 2 and resumed.step == 4
    a, b = weights(straight.snapshot), weights(resumed.snapshot)
    # The tracked average style (truncation centre) is part of the snapshot and resumes exactly.
    for name in WEIGHT_FILES[:2]:
        assert torch.isfinite(a[name]["w_avg"]).all()
        assert torch.equal(a[name]["w_avg"], b[name]["w_avg"]), name
    for name in WEIGHT_FILES:
        for key, value in a[name].items():
            torch.testing.assert_close(b[name][key], value, rtol=0, atol=1e-6, msg=name + key)
    sa = torch.load(straight.snapshot / "training_state.pt", weights_only=True)
    sb = torch.load(resumed.snapshot / "training_state.pt", weights_only=True)
    assert sa["pl_mean"].item() == pytest.approx(sb["pl_mean"].item(), abs=1e-7)
    assert [r["step"] for r in read_stats(tmp_path / "b")] == [1, 2, 3, 4]
    # keep_snapshots=2: nothing pruned yet (steps 2 and 4); resuming a finished run is a no-op.
    assert [s.step for s in snap.list_snapshots(tmp_path / "b")] == [2, 4]
    again = training_loop(tiny_run_on(4), tmp_path / "b", dataset, resume=True)
    assert again.start_step == 4 and again.step == 4
    # environment.json keeps every session: the one that started the run and both resumes.
    env = json.loads((tmp_path / "b" / "environment.json").read_text())
    assert env["start_step"] == 4
    assert [e["start_step"] for e in env["earlier_sessions"]] == [0, 2]
    assert all("argv" in e and "earlier_sessions" not in e for e in env["earlier_sessions"])


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
    tmp_path, dataset, monkeypatch, caplog
):
    calls = {"n": 0}
    original = losses.g_nonsaturating_loss

    def poisoned(logits):
        calls["n"] += 1
        value = original(logits)
        return value * float("nan") if calls["n"] == 3 else value  # G step of step 2

    monkeypatch.setattr(losses, "g_nonsaturating_loss", poisoned)
    with pytest.raises(NonFiniteLossError) as info:
        training_loop(tiny_run(4), tmp_path, dataset)
    assert info.value.term == "G/adv" and info.value.step == 2
    assert "G/adv" in str(info.value) and "step 2" in str(info.value)
    assert [s.step for s in snap.list_snapshots(tmp_path)] == [2]
    assert snap.latest_snapshot(tmp_path).step == 2
    for tensors in weights(tmp_path / "checkpoints" / "step00000002").values():
        assert all(torch.isfinite(t).all() for t in tensors.values())
    log = (tmp_path / "log.txt").read_text()
    assert "not finite at step 2" in log and "step00000002" in log


def test_snapshots_are_atomic_and_pruned(tmp_path, dataset):
    run = tiny_run(3, snapshot_every=1, keep_snapshots=2)
    training_loop(run, tmp_path, dataset)
    assert [s.step for s in snap.list_snapshots(tmp_path)] == [2, 3]
    # A crash during a snapshot write leaves a temporary folder: ignored, then cleaned on resume.
    partial = tmp_path / "checkpoints" / ".tmp-step00000004"
    partial.mkdir()
    (partial / "generator.safetensors").write_bytes(b"half")
    assert snap.latest_snapshot(tmp_path).step == 3
    resumed = training_loop(dataclasses.replace(run, total_steps=4), tmp_path, dataset, resume=True)
    assert resumed.start_step == 3 and not partial.exists()
    assert [s.step for s in snap.list_snapshots(tmp_path)] == [3, 4]
    # A pointer to a missing folder falls back to the newest complete snapshot.
    (tmp_path / "checkpoints" / "latest.txt").write_text("step00000099\n")
    assert snap.latest_snapshot(tmp_path).step == 4


def test_prune_never_removes_the_latest(tmp_path):
    root = tmp_path / "checkpoints"
    for step in (1, 2, 3):
        d = root / snap.snapshot_name(step)
        d.mkdir(parents=True)
        for name in snap.SNAPSHOT_FILES:
            (d / name).write_bytes(b"x")
    (root / "latest.txt").write_text("step00000001\n")
    removed = snap.prune_snapshots(tmp_path, 1)
    assert sorted(p.name for p in removed) == ["step00000002"]
    assert [s.step for s in snap.list_snapshots(tmp_path)] == [1, 3]
    with pytest.raises(ValueError):
        snap.prune_snapshots(tmp_path, 0)


def test_truncate_stats_drops_records_after_the_snapshot(tmp_path):
    path = tmp_path / "stats.jsonl"
    path.write_text("".join(json.dumps({"step": s}) + "\n" for s in (1, 2, 3)) + '{"step": 4')
    assert truncate_stats(path, 2) == 1
    assert [r["step"] for r in read_stats(path)] == [1, 2]
    assert path.read_text().endswith("\n")


def test_training_state_rejects_other_files(tmp_path):
    d = tmp_path / "checkpoints" / "step00000001"
    d.mkdir(parents=True)
    torch.save({"format": "something-else"}, d / snap.STATE_FILE)
    with pytest.raises(snap.CheckpointError, match="not an infinitygan training state"):
        snap.read_state(snap.Snapshot(d, 1))


def test_run_folders_are_numbered_and_named(tmp_path):
    (tmp_path / "00007-old").mkdir()
    (tmp_path / "notes").mkdir()
    first = allocate_run_dir(tmp_path, "tiny-synthetic-b4")
    second = allocate_run_dir(tmp_path, "tiny-synthetic-b4")
    assert (first.name, second.name) == ("00008-tiny-synthetic-b4", "00009-tiny-synthetic-b4")
    assert data_label("/data/My Photos.tar.gz") == "My_Photos"
    assert data_label("synthetic") == "synthetic" and data_label("/x/land.zip/") == "land"
