"""`infinitygan train` / `infinitygan plot`: options, errors, a run, resume, kill -9 recovery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from infinitygan.cli import main

TINY = ["--data", "synthetic", "--preset", "tiny", "--batch", "2", "--device", "cpu"]
FAST = [
    "--deterministic",
    "--tick-every",
    "1",
    "--sample-seeds",
    "0",
    "--set",
    "train.r1_interval=2",
]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_dry_run_resolves_the_settings(tmp_path):
    result = invoke(
        "train",
        *TINY,
        "--kimg",
        "1",
        "--set",
        "train.pl_mode=official",
        "--set",
        "train.ema_rampup=none",
        "--outdir",
        str(tmp_path),
        "--dry-run",
    )
    assert result.exit_code == 0, result.output
    cfg = json.loads(result.output)
    assert cfg["train"]["batch"] == 2 and cfg["total_steps"] == 500  # ceil(1000 / 2)
    assert cfg["train"]["pl_mode"] == "official" and cfg["train"]["ema_rampup"] is None
    assert cfg["model"]["name"] == "tiny" and cfg["data"] == "synthetic"
    assert cfg["channels_last"] is False and cfg["device"] == "cpu"
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "tiny", "--steps", "1"], "--data is required"),
        ([*TINY, "--kimg", "1", "--steps", "2"], "not both"),
        ([*TINY, "--steps", "1", "--set", "train.nope=1"], "FIELD one of"),
        ([*TINY, "--steps", "1", "--set", "train.r1_gamma=abc"], "not a valid value"),
        ([*TINY, "--steps", "1", "--batch", "3"], "even integer"),
        ([*TINY, "--steps", "1", "--set", "discriminator.channel_base=64"], "use at least 128"),
        ([*TINY, "--steps", "1", "--set", "train.d_warmup_kimg=-1"], "d_warmup_kimg must be"),
        (["--data", "/no/such/folder", "--preset", "tiny", "--steps", "1"], "neither a known"),
        (["--data", "synthetic", "--preset", "huge", "--steps", "1"], "unknown preset"),
    ],
)
def test_bad_options_fail_clearly(tmp_path, args, message):
    result = CliRunner().invoke(main, ["train", *args, "--outdir", str(tmp_path)])
    assert result.exit_code != 0
    assert message in result.output, result.output
    assert not any(tmp_path.iterdir())  # no run folder for a run that cannot start


def test_resume_rejects_settings_it_keeps(tmp_path):
    (tmp_path / "training_options.json").write_text("{}")
    result = CliRunner().invoke(main, ["train", "--resume", str(tmp_path), "--batch", "8"])
    assert result.exit_code != 0 and "drop --batch" in result.output
    result = CliRunner().invoke(main, ["train", "--resume", str(tmp_path / "missing")])
    assert result.exit_code != 0 and "not a training run folder" in result.output


def test_train_generate_plot_and_resume(tmp_path):
    result = invoke(
        "train", *TINY, *FAST, "--steps", "2", "--snapshot-every", "2", "--outdir", str(tmp_path)
    )
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "00000-tiny-synthetic-b2"
    assert run_dir.is_dir() and "latest snapshot" in result.output
    ema = run_dir / "checkpoints" / "step00000002" / "generator_ema.safetensors"
    out = tmp_path / "canvas.png"
    result = invoke("generate", str(ema), "--size", "64x48", "--out", str(out))
    assert result.exit_code == 0, result.output and out.is_file()
    result = invoke("plot", str(run_dir))
    assert result.exit_code == 0, result.output
    assert (run_dir / "loss-curves.png").stat().st_size > 10_000
    # --resume alone keeps the settings; --steps raises the target.
    result = invoke("train", "--resume", str(run_dir), "--steps", "3")
    assert result.exit_code == 0, result.output
    assert (run_dir / "checkpoints" / "latest.txt").read_text().strip() == "step00000003"
    options = json.loads((run_dir / "training_options.json").read_text())
    assert options["total_steps"] == 3 and options["train"]["batch"] == 2


def test_plot_without_stats_fails_clearly(tmp_path):
    result = CliRunner().invoke(main, ["plot", str(tmp_path)])
    assert result.exit_code != 0 and "no stats.jsonl" in result.output


def _weights(run_dir: Path, step: int) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "checkpoints" / f"step{step:08d}" / "generator.safetensors"))


def test_kill_9_then_resume_matches_an_uninterrupted_run(tmp_path):
    """SIGKILL in the middle of training (any moment after the first snapshot) loses nothing."""
    args = [*TINY, *FAST, "--steps", "3", "--snapshot-every", "1"]
    ref = tmp_path / "ref"
    assert invoke("train", *args, "--outdir", str(ref)).exit_code == 0
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "infinitygan", "train", *args, "--outdir", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    run_dir = out / "00000-tiny-synthetic-b2"
    latest = run_dir / "checkpoints" / "latest.txt"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if latest.is_file() and latest.read_text().strip() >= "step00000001":
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    killed_at = latest.read_text().strip()
    # Resume with a data-loader worker process: batches do not depend on where they are loaded.
    result = invoke("train", "--resume", str(run_dir), "--workers", "1")
    assert result.exit_code == 0, result.output
    a, b = _weights(ref / "00000-tiny-synthetic-b2", 3), _weights(run_dir, 3)
    for key, value in a.items():
        torch.testing.assert_close(b[key], value, rtol=0, atol=1e-6, msg=f"{key} ({killed_at})")


def test_tensorboard_without_the_package_fails_before_training(tmp_path):
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("tensorboard is installed here")
    result = CliRunner().invoke(
        main, ["train", *TINY, "--steps", "1", "--tensorboard", "--outdir", str(tmp_path)]
    )
    assert result.exit_code != 0 and "infinitygan[tb]" in result.output
    assert not any(tmp_path.iterdir())
