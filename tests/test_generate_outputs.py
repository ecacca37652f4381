"""Every output path of `infinitygan generate` equals generate_region; resume; distributed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner
from PIL import Image

from infinitygan import generate_region, load_generator, save_generator
from infinitygan.canvas import image_framing
from infinitygan.cli import main
from infinitygan.imageio import to_uint8


@pytest.fixture()
def model_file(tmp_path, tiny_generator):
    return save_generator(tiny_generator, tmp_path / "tiny.safetensors")


def expected_pixels(model_file, seed, height, width, dy=0, dx=0):
    G = load_generator(model_file)
    top, left = image_framing(height, width)
    return to_uint8(generate_region(G, seed, top + dy, left + dx, height, width)).astype(int)


def run(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return result


def block_means(a: np.ndarray, k: int = 10) -> np.ndarray:
    h, w = a.shape[0] // k * k, a.shape[1] // k * k
    return a[:h, :w].reshape(h // k, k, w // k, k, 3).astype(float).mean(axis=(1, 3))


@pytest.mark.parametrize("suffix", [".png", ".tif", ".zarr", ".webp", ".jpg"])
def test_formats_equal_generate_region(tmp_path, model_file, suffix):
    if suffix in (".webp", ".jpg"):
        # Lossy codecs cannot keep the saturated colour noise of the noisy test model: use the
        # untrained model without noise, whose images are smooth.
        from infinitygan import build_generator

        model_file = save_generator(build_generator("tiny"), tmp_path / "smooth.safetensors")
    out = tmp_path / f"img{suffix}"
    extra = ["--quality", "100"] if suffix in (".webp", ".jpg") else []
    run(
        [
            "generate",
            str(model_file),
            "--size",
            "150x90",
            "--seed",
            "4",
            "--offset",
            "-7,33",
            "--chunk",
            "64",
            "--out",
            str(out),
            *extra,
        ]
    )
    if suffix == ".tif":
        pixels = tifffile.imread(out)
    elif suffix == ".zarr":
        import zarr

        pixels = np.asarray(zarr.open_array(str(out), mode="r")[:])
    else:
        pixels = np.asarray(Image.open(out).convert("RGB"))
    want = expected_pixels(model_file, 4, 90, 150, -7, 33)
    assert pixels.shape == want.shape
    diff = np.abs(pixels.astype(int) - want)
    if suffix in (".webp", ".jpg"):  # lossy (chroma subsampling): compare 10x10 block means
        assert np.abs(block_means(pixels) - block_means(want)).max() < 6
        assert diff.mean() < 4
    else:
        assert diff.max() <= 1


def test_dry_run_prints_plan_and_writes_nothing(tmp_path, model_file):
    out = tmp_path / "big.tif"
    result = run(
        ["generate", str(model_file), "--size", "8192x2048", "--out", str(out), "--dry-run"]
    )
    plan = json.loads(result.output)
    assert plan["chunks"] == 16 and plan["canvas"]["height"] == 2048
    assert plan["estimated_seconds_per_seed"] > 0
    assert not out.exists() and not list(tmp_path.glob("big.tif*"))


def test_quality_rejected_for_png(tmp_path, model_file):
    result = CliRunner().invoke(
        main,
        [
            "generate",
            str(model_file),
            "--size",
            "32x32",
            "--quality",
            "90",
            "--out",
            str(tmp_path / "a.png"),
        ],
    )
    assert result.exit_code != 0 and "--quality" in result.output


def _cmd(model_file, out, *extra):
    return [
        sys.executable,
        "-m",
        "infinitygan",
        "generate",
        str(model_file),
        "--size",
        "448x320",
        "--seed",
        "2",
        "--chunk",
        "64",
        "--out",
        str(out),
        *extra,
    ]


def test_kill_and_resume_gives_identical_file(tmp_path, model_file):
    # The same file name in two folders: the sidecar/TIFF metadata records the output path.
    (tmp_path / "ref").mkdir()
    (tmp_path / "run").mkdir()
    reference = tmp_path / "ref" / "out.tif"
    subprocess.run(
        _cmd(model_file, reference),
        check=True,
        capture_output=True,
        timeout=300,
        cwd=tmp_path / "ref",
    )
    out = tmp_path / "run" / "out.tif"
    proc = subprocess.Popen(
        _cmd(model_file, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    chunks = tmp_path / "run" / "out.tif.partial" / "chunks"
    deadline = time.time() + 240
    while time.time() < deadline:
        if chunks.is_dir() and len(list(chunks.glob("*.npy"))) >= 6:
            break
        if proc.poll() is not None:
            pytest.fail("generation finished before it could be killed; make the canvas bigger")
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "no file may exist under the final name before completion"
    again = subprocess.run(_cmd(model_file, out), capture_output=True, text=True, timeout=300)
    assert again.returncode != 0 and "--resume" in again.stderr
    subprocess.run(_cmd(model_file, out, "--resume"), check=True, capture_output=True, timeout=300)
    assert out.read_bytes() == reference.read_bytes()
    assert not (tmp_path / "run" / "out.tif.partial").exists()


def test_two_process_zarr_equals_single_process(tmp_path, model_file):
    import zarr

    single = tmp_path / "single.zarr"
    run(
        [
            "generate",
            str(model_file),
            "--size",
            "200x130",
            "--seed",
            "5",
            "--chunk",
            "64",
            "--out",
            str(single),
        ]
    )
    multi = tmp_path / "multi.zarr"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "infinitygan",
            "generate",
            str(model_file),
            "--size",
            "200x130",
            "--seed",
            "5",
            "--chunk",
            "64",
            "--out",
            str(multi),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    a = np.asarray(zarr.open_array(str(single), mode="r")[:])
    b = np.asarray(zarr.open_array(str(multi), mode="r")[:])
    assert np.array_equal(a, b)


def test_distributed_requires_zarr(tmp_path, model_file, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    import infinitygan.cli.generate as gen

    monkeypatch.setattr(gen, "distributed_context", lambda device_name: (0, 2))
    result = CliRunner().invoke(
        main, ["generate", str(model_file), "--size", "32x32", "--out", str(tmp_path / "a.png")]
    )
    assert result.exit_code != 0 and ".zarr" in result.output


def test_unwritable_output_is_refused_before_work(tmp_path, model_file):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        result = CliRunner().invoke(
            main, ["generate", str(model_file), "--size", "32x32", "--out", str(locked / "a.tif")]
        )
        assert result.exit_code != 0 and "writ" in result.output
    finally:
        locked.chmod(0o700)


@pytest.mark.slow
def test_memory_does_not_grow_with_canvas(tmp_path, model_file):
    """A 16384x4096 tiny canvas to TIFF peaks at no more than 1.3x the RSS of a 1024x1024 one."""
    code = (
        "import resource, sys; from click.testing import CliRunner;"
        "from infinitygan.cli import main;"
        "r = CliRunner().invoke(main, ['generate', sys.argv[1], '--size', sys.argv[2], '--out',"
        " sys.argv[3]]); assert r.exit_code == 0, r.output;"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    rss = {}
    for size in ("1024x1024", "16384x4096"):
        out = subprocess.run(
            [sys.executable, "-c", code, str(model_file), size, str(tmp_path / f"{size}.tif")],
            capture_output=True,
            text=True,
            timeout=3000,
            check=True,
        )
        rss[size] = int(out.stdout.strip().splitlines()[-1])
    assert rss["16384x4096"] <= 1.3 * rss["1024x1024"], rss
