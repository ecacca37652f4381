"""Two-process data-parallel training on gloo (torchrun) equals one process with the same global
batch split into two rounds: --batch is the global batch."""

from __future__ import annotations

import os
import subprocess
import sys

import torch
from safetensors.torch import load_file

from infinitygan.data import DataConfig, SyntheticLandscapeDataset
from infinitygan.presets import get_preset
from infinitygan.train import RunConfig, TrainConfig, training_loop

FILES = ("generator.safetensors", "discriminator.safetensors", "generator_ema.safetensors")


def test_two_gloo_ranks_match_one_process_with_the_same_global_batch(tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "infinitygan", "train", "--data", "synthetic", "--preset", "tiny",
        "--batch", "4", "--steps", "2", "--snapshot-every", "2", "--tick-every", "1",
        "--sample-seeds", "0", "--device", "cpu", "--deterministic",
        "--set", "train.r1_interval=2", "--set", "train.pl_interval=2",
        "--outdir", str(out),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_dir = out / "00000-tiny-synthetic-b4"
    log = (run_dir / "log.txt").read_text()
    assert "2 process(es) x 2" in log
    assert "parameters identical on all 2 ranks" in log

    # Reference: one process, global batch 4 in two rounds of 2 (gradient accumulation).
    model = get_preset("tiny")
    dataset = SyntheticLandscapeDataset(
        DataConfig(model.patch_size, model.full_size, model.pre_resize), seed=0
    )
    run = RunConfig(
        model=model,
        train=TrainConfig(batch=4, batch_gpu=2, r1_interval=2, pl_interval=2),
        total_steps=2,
        snapshot_every=2,
        deterministic=True,
        sample_seeds=(),
    )
    # Same kernels as the ranks (torchrun runs each with one thread), so the result is exact.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ref = training_loop(run, tmp_path / "ref", dataset)
    finally:
        torch.set_num_threads(threads)
    for name in FILES:
        a = load_file(str(ref.snapshot / name))
        b = load_file(str(run_dir / "checkpoints" / "step00000002" / name))
        for key, value in a.items():
            torch.testing.assert_close(b[key], value, rtol=0, atol=1e-6, msg=name + key)
