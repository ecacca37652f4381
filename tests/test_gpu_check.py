"""benchmarks/gpu_check.py --smoke-cpu: the GPU check's harness on the CPU, every check passing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # about 20 s of CPU time (training steps of the tiny model)
def test_gpu_check_smoke_cpu_passes(tmp_path):
    out = tmp_path / "check.json"
    p = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "gpu_check.py"),
            "--smoke-cpu",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(p.stdout)
    assert p.returncode == 0, report["failed"]
    assert report["passed"] and report["failed"] == [] and report["smoke_cpu"]
    assert json.loads(out.read_text()) == report  # the --out copy is the same object
    status = {(r["section"], r["check"]): r["status"] for r in report["checks"]}
    assert set(status.values()) <= {"PASS", "INFO", "SKIP"}
    # The checks that carry the contracts ran and passed (not skipped).
    for key in [
        ("s3", "tiny_61x83_fp32"),
        ("s3", "tiny_containment_tile_batch4"),
        ("s4", "per_sample_styles_x50_bf16"),
        ("s6", "tiny_batch2_fp32"),
        ("s7", "resume_equals_straight"),
        ("s7", "generate_from_snapshot"),
    ]:
        assert status[key] == "PASS", key
    speeds = [r for r in report["checks"] if r["section"] == "s5"]
    assert speeds and all(r["mpx_per_s"] > 0 and r["finite"] for r in speeds)


def test_gpu_check_without_cuda_says_what_to_do():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    p = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2 and p.stdout == ""
    assert "no CUDA device; use --smoke-cpu" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
