"""Bad and odd inputs through every command: one clear line, a nonzero exit, nothing left behind.

The table runs each case in-process with click's CliRunner against small inputs made once per
module (a tiny model file, a model with a NaN weight, photos, broken official checkpoints, a
stats file with nulls). Each case must end with exit status 1 or 2, no traceback, exactly one
``Error:`` line naming the problem (click prints its usage lines above a usage error), the
inputs unchanged and no file written. The tests after the table check the behaviours that are
not errors: what the data scan skips, the one image reader, snapshot fallback and full disks.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from infinitygan import build_generator, save_generator
from infinitygan.cli import main

BIG = str(2**63)  # one past the largest 64-bit seed
HUGE = "99999999999999999999999"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    G = build_generator("tiny", seed=0)
    save_generator(G, d / "model.safetensors")
    with torch.no_grad():
        G.texture_synthesizer.to_rgbs[0].bias.view(-1)[0] = float("nan")
    save_generator(G, d / "nan.safetensors")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(d / "photo.png")
    (d / "afile").write_text("a file, not a folder\n")
    (d / "empty.pth.tar").write_bytes(b"")
    (d / "garbage.pth.tar").write_bytes(b"\x00garbage, not a checkpoint" * 20)
    torch.save([1, 2, 3], d / "list.pth.tar")
    torch.save({"g_ema": [torch.zeros(2)]}, d / "g-list.pth.tar")
    torch.save({"g_ema": {"texture_synthesizer.x": 5}}, d / "g-int.pth.tar")
    nan = torch.zeros(4)
    nan[1] = float("inf")
    torch.save({"g_ema": {"texture_synthesizer.convs.0.conv.weight": nan}}, d / "g-nan.pth.tar")
    run = d / "run"
    run.mkdir()
    (run / "stats.jsonl").write_text('{"kimg": null, "step": 1}\n[1, 2]\n')
    return d


def listing(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): p.stat().st_size if p.is_file() else -1
        for p in sorted(root.rglob("*"))
    }


def invoke(args: list[str], cwd: Path):
    runner = CliRunner()
    old = os.getcwd()
    os.chdir(cwd)  # eval writes evaluations/ below the working folder by default
    try:
        return runner.invoke(main, args)
    finally:
        os.chdir(old)


def assert_one_clear_line(result, fragment: str) -> None:
    text = result.stderr
    assert result.exit_code in (1, 2), (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in text.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, text
    assert text.rstrip().splitlines()[-1] == errors[0], text  # the error line ends the output
    assert fragment.lower() in errors[0].lower(), (fragment, errors[0])


# (id, arguments with {model}, {nan}, {photo}, {inputs}, {out} placeholders, expected fragment)
CASES = [
    # item 6: integers beyond 64 bits, checked before anything is written
    ("generate-seed", ["generate", "{model}", "--size", "64x64", "--seed", BIG], "out of range"),
    ("generate-seeds", ["generate", "{model}", "--size", "64x64", "--seeds", f"0-{BIG}"], "range"),
    ("generate-random-seed", ["generate", f"random:tiny:{HUGE}", "--size", "64x64"], "range"),
    ("generate-offset", ["generate", "{model}", "--size", "64x64", "--offset", f"0,{HUGE}"], "off"),
    (
        "generate-offset-x",
        ["generate", "{model}", "--size", "64x64", "--offset", "x=1,x=2"],
        "twice",
    ),
    (
        "generate-offset-text",
        ["generate", "{model}", "--size", "8x8", "--offset", "y=1"],
        "x=X,y=Y",
    ),
    ("fuse-seeds", ["fuse", "{model}", "--seeds", f"1,{BIG}", "--size", "64x64"], "range"),
    (
        "fuse-points",
        [
            "fuse",
            "{model}",
            "--seeds",
            "1,2",
            "--size",
            "64x64",
            "--layout",
            f"points:0,0;x=5,y={HUGE}",
        ],
        "off the canvas",
    ),
    ("fuse-no-seeds", ["fuse", "{model}", "--size", "64x64"], "--seeds"),
    (
        "fuse-seed-and-seeds",
        ["fuse", "{model}", "--seed", "1", "--seeds", "2", "--size", "64x64"],
        "not both",
    ),
    ("invert-seed", ["invert", "{model}", "{photo}", "--seed", BIG, "--steps", "1"], "range"),
    ("invert-at", ["invert", "{model}", "{photo}", "--at", f"{HUGE},0", "--steps", "1"], "canvas"),
    (
        "outpaint-seed",
        ["outpaint", "{model}", "{photo}", "--extend", "left:16", "--seed", BIG],
        "range",
    ),
    (
        "outpaint-at",
        ["outpaint", "{model}", "{photo}", "--extend", "left:16", "--at", "1,2,3"],
        "not a position",
    ),
    (
        "inbetween-seeds",
        ["inbetween", "{model}", "{photo}", "{photo}", "--width", "200", "--seeds", BIG],
        "range",
    ),
    (
        "eval-seed",
        ["eval", "{model}", "--data", "synthetic", "--seed", str(2**63 - 5), "--num", "10"],
        "largest seed",
    ),
    ("train-seed", ["train", "--data", "synthetic", "--preset", "tiny", "--seed", BIG], "range"),
    (
        "train-sample-seeds",
        ["train", "--data", "synthetic", "--preset", "tiny", "--steps", "1", "--sample-seeds", BIG],
        "out of range",
    ),
    (
        "train-set-seed",
        ["train", "--data", "synthetic", "--preset", "tiny", "--set", f"train.seed={BIG}"],
        "--seed must be",
    ),
    ("prepare-seed", ["prepare", "synthetic", "--count", "1", "--seed", BIG], "range"),
    # item 7: devices
    *[
        (f"{cmd}-device-{dev}", [*argv, "--device", dev], "not a device")
        for dev in ("nonsense", "mps", "meta", "cpu:99")
        for cmd, argv in (
            ("generate", ["generate", "{model}", "--size", "64x64"]),
            ("train", ["train", "--data", "synthetic", "--preset", "tiny", "--steps", "1"]),
            ("eval", ["eval", "{model}", "--data", "synthetic", "--metrics", "swd"]),
            ("invert", ["invert", "{model}", "{photo}", "--steps", "1"]),
        )
    ],
    # item 7: outputs below a file
    (
        "generate-parent-file",
        ["generate", "{model}", "--size", "64x64", "--out", "{inputs}/afile/x.png"],
        "not a directory",
    ),
    (
        "fuse-parent-file",
        ["fuse", "{model}", "--seeds", "1", "--size", "64x64", "--out", "{inputs}/afile/x.png"],
        "afile",
    ),
    (
        "outpaint-parent-file",
        [
            "outpaint",
            "{model}",
            "{photo}",
            "--extend",
            "left:16",
            "--steps",
            "1",
            "--out",
            "{inputs}/afile/x.png",
        ],
        "afile",
    ),
    (
        "invert-parent-file",
        ["invert", "{model}", "{photo}", "--steps", "1", "--out", "{inputs}/afile/x.safetensors"],
        "not a folder",
    ),
    (
        "convert-parent-file",
        ["convert", "{inputs}/g-nan.pth.tar", "{inputs}/afile/x.safetensors"],
        "is a file, not a folder",
    ),
    (
        "plot-parent-file",
        ["plot", "{inputs}/run", "--out", "{inputs}/afile/x.png"],
        "is a file, not a folder",
    ),
    (
        "train-outdir-file",
        [
            "train",
            "--data",
            "synthetic",
            "--preset",
            "tiny",
            "--steps",
            "1",
            "--outdir",
            "{inputs}/afile",
        ],
        "is a file",
    ),
    (
        "train-outdir-below-file",
        [
            "train",
            "--data",
            "synthetic",
            "--preset",
            "tiny",
            "--steps",
            "1",
            "--outdir",
            "{inputs}/afile/runs",
        ],
        "is a file",
    ),
    # item 7: other tracebacks
    (
        "eval-scale",
        ["eval", "{model}", "--data", "synthetic", "--metrics", "scaleinv-fid@1000"],
        "are supported",
    ),
    (
        "train-kimg-nan",
        ["train", "--data", "synthetic", "--preset", "tiny", "--kimg", "nan"],
        "finite",
    ),
    (
        "train-kimg-inf",
        ["train", "--data", "synthetic", "--preset", "tiny", "--kimg", "inf"],
        "finite",
    ),
    (
        "train-batch",
        ["train", "--data", "synthetic", "--preset", "tiny", "--batch", "3"],
        "--batch must be",
    ),
    ("convert-empty", ["convert", "{inputs}/empty.pth.tar", "{out}.safetensors"], "is empty"),
    (
        "convert-garbage",
        ["convert", "{inputs}/garbage.pth.tar", "{out}.safetensors"],
        "truncated, damaged or of another kind",
    ),
    ("convert-list", ["convert", "{inputs}/list.pth.tar", "{out}.safetensors"], "holds a list"),
    (
        "convert-g-list",
        ["convert", "{inputs}/g-list.pth.tar", "{out}.safetensors"],
        "expected a state dict",
    ),
    (
        "convert-g-int",
        ["convert", "{inputs}/g-int.pth.tar", "{out}.safetensors"],
        "not a named tensor",
    ),
    # item 4: NaN/Inf weights
    (
        "convert-nan",
        ["convert", "{inputs}/g-nan.pth.tar", "{out}.safetensors"],
        "'texture_synthesizer.convs.0.conv.weight' holds 1 NaN/Inf",
    ),
    (
        "generate-nan",
        ["generate", "{nan}", "--size", "64x64"],
        "'texture_synthesizer.to_rgbs.0.bias' holds 1 NaN/Inf",
    ),
    ("fuse-nan", ["fuse", "{nan}", "--seeds", "1,2", "--size", "64x64"], "NaN/Inf"),
    ("invert-nan", ["invert", "{nan}", "{photo}", "--steps", "1"], "NaN/Inf"),
    ("eval-nan", ["eval", "{nan}", "--data", "synthetic", "--metrics", "swd"], "NaN/Inf"),
    # item 6: other integers far out of range
    (
        "train-kimg-huge",
        ["train", "--data", "synthetic", "--preset", "tiny", "--kimg", "1e308"],
        "steps; give less",
    ),
    (
        "train-steps-huge",
        ["train", "--data", "synthetic", "--preset", "tiny", "--steps", HUGE],
        "--steps must be from 1",
    ),
    (
        "fuse-blend-huge",
        ["fuse", "{model}", "--seeds", "1,2", "--size", "64x64", "--blend", HUGE],
        "--blend",
    ),
    ("eval-num-huge", ["eval", "{model}", "--data", "synthetic", "--num", HUGE], "--num"),
    # item 9: stats without usable records
    ("plot-nulls-only", ["plot", "{inputs}/run"], "no stats records"),
]


@pytest.mark.parametrize("case_id, argv, fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_clear_line(inputs, tmp_path, case_id, argv, fragment):
    out = tmp_path / "out"
    names = {
        "model": inputs / "model.safetensors",
        "nan": inputs / "nan.safetensors",
        "photo": inputs / "photo.png",
        "inputs": inputs,
        "out": out,
    }
    args = [a.format(**names) for a in argv]
    command = args[0]
    if command == "train" and "--outdir" not in args:
        args += ["--outdir", str(tmp_path / "runs")]
    if command == "prepare":
        args += ["--out", str(tmp_path / "prepared")]
    if command in ("generate", "fuse", "outpaint", "inbetween", "invert") and "--out" not in args:
        args += ["--out", str(out) + (".safetensors" if command == "invert" else ".png")]
    if command == "eval":
        args += ["--out", str(tmp_path / "evaluation"), "--no-cache"]
    before = listing(inputs)
    result = invoke(args, tmp_path)
    assert_one_clear_line(result, fragment)
    assert listing(inputs) == before  # inputs untouched, nothing written beside them
    assert listing(tmp_path) == {}  # no output, partial file, run folder or cache


def test_generate_offset_forms_agree(inputs, tmp_path):
    """``--offset x=X,y=Y`` is the bare ``Y,X``: the same pixels."""
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    base = ["generate", str(inputs / "model.safetensors"), "--size", "48x32", "--seed", "4"]
    assert CliRunner().invoke(main, [*base, "--offset", "-16,40", "--out", str(a)]).exit_code == 0
    r = CliRunner().invoke(main, [*base, "--offset", "y=-16, x=40", "--out", str(b)])
    assert r.exit_code == 0, r.output
    assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))
    sidecar = json.loads((tmp_path / "b.png.json").read_text())["metadata"]
    assert "--offset x=40,y=-16" in sidecar["regenerate"]
    assert sidecar["region"]["left"] == 40


def test_fuse_points_forms_agree():
    from infinitygan.applications.fusion import layout_points

    assert layout_points("points:x=2,y=1; y=-3,x=400", 2, 10, 10) == [(1, 2), (-3, 400)]
    assert layout_points("points:1,2;-3,400", 2, 10, 10) == [(1, 2), (-3, 400)]


def test_seed_and_seeds_are_aliases(inputs, tmp_path):
    model = str(inputs / "model.safetensors")
    outs = []
    for i, flag in enumerate(("--seed", "--seeds")):
        out = tmp_path / f"f{i}.png"
        r = CliRunner().invoke(
            main,
            ["fuse", model, flag, "7", "--size", "40x40", "--out", str(out), "--device", "cpu"],
        )
        assert r.exit_code == 0, r.output
        outs.append(np.asarray(Image.open(out)))
    assert np.array_equal(*outs)


def test_fp16_on_cpu_warns_once(inputs, tmp_path):
    r = CliRunner().invoke(
        main,
        [
            "generate",
            str(inputs / "model.safetensors"),
            "--size",
            "32x32",
            "--precision",
            "fp16",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "x.png"),
        ],
    )
    assert r.exit_code == 0, r.output
    warnings = [line for line in r.stderr.splitlines() if "fp16" in line]
    assert len(warnings) == 1 and "slower" in warnings[0]
    quiet = CliRunner().invoke(
        main,
        [
            "generate",
            str(inputs / "model.safetensors"),
            "--size",
            "32x32",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "y.png"),
        ],
    )
    assert quiet.exit_code == 0 and "fp16" not in quiet.stderr


def test_generate_accepts_a_run_folder(tmp_path):
    """generate takes a training run folder (its latest EMA generator) like eval does."""
    from infinitygan.train import snapshots

    run = tmp_path / "run"
    snap = run / "checkpoints" / "step00000004"
    snap.mkdir(parents=True)
    G = build_generator("tiny", seed=3)
    for name in (snapshots.G_EMA_FILE, snapshots.G_FILE):
        save_generator(G, snap / name)
    for name in (snapshots.D_FILE, snapshots.STATE_FILE):
        (snap / name).write_bytes(b"x")
    (run / "checkpoints" / "latest.txt").write_text("step00000004\n")
    save_generator(G, tmp_path / "g.safetensors")
    images = []
    for model in (run, snap, tmp_path / "g.safetensors"):
        out = tmp_path / f"{model.name}.png"
        r = CliRunner().invoke(main, ["generate", str(model), "--size", "40x32", "--out", str(out)])
        assert r.exit_code == 0, r.output
        images.append(np.asarray(Image.open(out)))
    assert np.array_equal(images[0], images[2]) and np.array_equal(images[1], images[2])
    empty = tmp_path / "empty-run"
    empty.mkdir()
    out = tmp_path / "x.png"
    r = CliRunner().invoke(main, ["generate", str(empty), "--size", "40x32", "--out", str(out)])
    assert r.exit_code == 1 and "without a complete training snapshot" in r.stderr


def test_plot_skips_nulls(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    records = [
        {"kimg": 0.004, "step": 1, "D/adv": 1.0, "G/adv": None},
        {"kimg": None, "step": 2, "D/adv": 2.0},
        {"kimg": 0.012, "step": 3, "D/adv": None, "G/adv": 0.5},
        "not a record",
    ]
    (run / "stats.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    r = CliRunner().invoke(main, ["plot", str(run)])
    assert r.exit_code == 0, r.output
    assert Image.open(run / "loss-curves.png").size[0] > 100


def test_eval_swd_needs_no_inception(tmp_path, monkeypatch):
    from infinitygan import metrics as ev

    def no_inception(*args, **kwargs):
        raise FileNotFoundError("the Inception weights are not installed")

    monkeypatch.setattr(ev, "make_feature_extractor", no_inception)
    args = ["eval", "random:tiny", "--data", "synthetic", "--num", "4", "--batch", "4"]
    args += ["--no-cache", "--out", str(tmp_path / "ev"), "--device", "cpu"]
    r = CliRunner().invoke(main, [*args, "--metrics", "swd"])
    assert r.exit_code == 0, r.output
    record = json.loads((tmp_path / "ev" / "metric-swd.jsonl").read_text().splitlines()[0])
    assert record["extractor"] is None and record["num"] == 4
    assert f"records appended to {tmp_path / 'ev' / 'metric-swd.jsonl'}" in r.output
    r = CliRunner().invoke(main, [*args, "--metrics", "fid"])
    assert r.exit_code == 1 and "Inception weights are not installed" in r.stderr


# ------------------------------------------------------------------------------ item 3: scan


def _png(path: Path, value: int, size: int = 8) -> None:
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(path)


def test_folder_scan_follows_each_real_folder_once(tmp_path):
    from infinitygan.data.sources import OUTSIDE, REPEATED, scan_images

    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    _png(root / "a.png", 1)
    _png(root / "sub" / "b.png", 2)
    outside = tmp_path / "secret.png"
    _png(outside, 3)
    os.symlink(".", root / "loop-a")
    os.symlink(".", root / "loop-b")
    os.symlink("..", root / "sub" / "up")
    os.symlink(outside, root / "outside.png")
    os.symlink(tmp_path, root / "outside-dir")
    os.symlink(root / "a.png", root / "sub" / "again.png")
    report = scan_images(root, min_size=4)
    assert [e.name for e in report.used] == ["a.png", "sub/b.png"]
    skipped = {s.name: s.reason for s in report.skipped}
    assert skipped == {
        "loop-a": REPEATED,
        "loop-b": REPEATED,
        "sub/up": REPEATED,
        "sub/again.png": REPEATED,
        "outside.png": OUTSIDE,
        "outside-dir": OUTSIDE,
    }
    assert report.to_dict()["skipped_by_reason"] == {REPEATED: 4, OUTSIDE: 2}


def test_train_scan_of_a_looping_folder_finishes(tmp_path):
    """``ln -s . a; ln -s . b`` used to hang the scan; the run's scan report lists the links."""
    root = tmp_path / "data"
    root.mkdir()
    for i in range(2):
        _png(root / f"{i}.png", 40 * i, size=128)
    os.symlink(".", root / "a")
    os.symlink(".", root / "b")
    r = CliRunner().invoke(
        main,
        ["train", "--data", str(root), "--preset", "tiny", "--batch", "2", "--steps", "1"]
        + ["--outdir", str(tmp_path / "runs"), "--device", "cpu", "--sample-seeds", "0"],
    )
    assert r.exit_code == 0, r.output
    (run,) = (tmp_path / "runs").iterdir()
    scan = json.loads((run / "dataset-scan.json").read_text())
    assert scan["num_used"] == 2
    assert {s["name"] for s in scan["skipped"]} == {"a", "b"}


# ------------------------------------------------------------------------------ item 5: reader


def _exif_rotated_jpeg(path: Path) -> np.ndarray:
    """A JPEG stored sideways with EXIF orientation 6; returns the upright decoded pixels."""
    from infinitygan.data.sources import decode_image

    rng = np.random.default_rng(1)
    stored = Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(path, exif=exif, quality=95)
    return np.asarray(decode_image(path.read_bytes()))


def test_image_reader_is_the_training_reader(tmp_path):
    from infinitygan.data.sources import decode_image
    from infinitygan.imageio import load_image, to_uint8

    upright = _exif_rotated_jpeg(tmp_path / "rotated.jpg")
    assert upright.shape == (64, 48, 3)  # turned upright: taller than wide
    assert np.array_equal(to_uint8(load_image(tmp_path / "rotated.jpg")), upright)
    values = np.arange(0, 65536, 64, dtype=np.uint16).reshape(32, 32)
    Image.fromarray(values).save(tmp_path / "deep.png")  # 16-bit greyscale
    expected = np.clip(np.round(values / 257.0), 0, 255).astype(np.uint8)
    loaded = to_uint8(load_image(tmp_path / "deep.png"))
    assert np.array_equal(loaded[..., 0], expected)
    assert np.array_equal(loaded, np.asarray(decode_image((tmp_path / "deep.png").read_bytes())))


@pytest.mark.parametrize("kind", ["exif", "16bit"])
def test_outpaint_keeps_the_photo_pixels(inputs, tmp_path, kind):
    """The kept photo region of an outpainted result is the photo as training decodes it."""
    from infinitygan.data.sources import decode_image

    if kind == "exif":
        photo = tmp_path / "photo.jpg"
        expected = _exif_rotated_jpeg(photo)
    else:
        photo = tmp_path / "photo.png"
        rng = np.random.default_rng(2)
        # Not the full 16-bit range: a contrast stretch (the old reader) would show.
        values = rng.integers(0, 40000, (48, 40), dtype=np.uint16)
        Image.fromarray(values).save(photo)
        expected = np.asarray(decode_image(photo.read_bytes()))
    out = tmp_path / "out.png"
    r = CliRunner().invoke(
        main,
        [
            "outpaint",
            str(inputs / "model.safetensors"),
            str(photo),
            "--extend",
            "right:32",
            "--steps",
            "1",
            "--feather",
            "0",
            "--out",
            str(out),
            "--device",
            "cpu",
        ],
    )
    assert r.exit_code == 0, r.output
    h, w = expected.shape[:2]
    result = np.asarray(Image.open(out).convert("RGB"))
    assert result.shape == (h, w + 32, 3)
    assert np.array_equal(result[:, :w], expected)


def test_decompression_bomb_is_one_line(inputs, tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # the 48x40 photo is then a "bomb"
    for argv in (
        ["invert", str(inputs / "model.safetensors"), str(inputs / "photo.png"), "--steps", "1"]
        + ["--out", str(tmp_path / "x.safetensors")],
        ["inbetween", str(inputs / "model.safetensors"), str(inputs / "photo.png")]
        + [str(inputs / "photo.png"), "--width", "200", "--out", str(tmp_path / "x.png")],
    ):
        result = CliRunner().invoke(main, argv)
        assert_one_clear_line(result, "DecompressionBombError")
    assert listing(tmp_path) == {}


# ------------------------------------------------------------------- item 4: weights on load


def test_load_generator_names_the_bad_tensor(inputs):
    from infinitygan.checkpoint import CheckpointError, load_generator

    with pytest.raises(CheckpointError, match=r"to_rgbs\.0\.bias' holds 1 NaN/Inf"):
        load_generator(inputs / "nan.safetensors")


# --------------------------------------------------------- item 7 and 9: snapshots, full disks


@pytest.fixture(scope="module")
def tiny_dataset():
    from infinitygan.data import DataConfig, SyntheticLandscapeDataset
    from infinitygan.presets import get_preset

    model = get_preset("tiny")
    config = DataConfig(model.patch_size, model.full_size, model.pre_resize)
    return SyntheticLandscapeDataset(config, seed=0, num_images=8)


def _tiny_run(steps: int, **kw):
    from infinitygan.presets import get_preset
    from infinitygan.train import RunConfig, TrainConfig

    train = TrainConfig(batch=2, r1_interval=2, pl_interval=2)
    base = dict(
        model=get_preset("tiny"),
        train=train,
        total_steps=steps,
        tick_every=1,
        snapshot_every=1,
        keep_snapshots=3,
        deterministic=True,
        sample_seeds=(),
    )
    return RunConfig(**{**base, **kw})


def test_resume_skips_an_unreadable_latest_snapshot(tmp_path, tiny_dataset, caplog):
    from safetensors.torch import load_file

    from infinitygan.train import snapshots, training_loop

    training_loop(_tiny_run(2), tmp_path, tiny_dataset)
    assert snapshots.latest_snapshot(tmp_path).step == 2
    good = load_file(str(tmp_path / "checkpoints" / "step00000001" / snapshots.G_EMA_FILE))
    latest = tmp_path / "checkpoints" / "step00000002" / snapshots.G_FILE
    latest.write_bytes(latest.read_bytes()[:100])  # truncated by a crash of the disk
    result = training_loop(_tiny_run(1), tmp_path, tiny_dataset, resume=True)
    assert result.start_step == 1
    assert "skipping the unreadable snapshot" in caplog.text and "step00000002" in caplog.text
    resumed = load_file(str(tmp_path / "checkpoints" / "step00000001" / snapshots.G_EMA_FILE))
    for key, value in good.items():
        assert torch.equal(resumed[key], value), key
    # Every snapshot unreadable: a clear error, not a silent restart from step 0.
    for snap in snapshots.list_snapshots(tmp_path):
        (snap.path / snapshots.D_FILE).write_bytes(b"")
    with pytest.raises(snapshots.CheckpointError, match="none of its 2 snapshot"):
        training_loop(_tiny_run(3), tmp_path, tiny_dataset, resume=True)


def test_snapshot_write_failure_leaves_no_temporary_folder(tmp_path, tiny_dataset, monkeypatch):
    from infinitygan.train import snapshots, training_loop

    calls = {"n": 0}
    original = snapshots.save_discriminator

    def full_disk(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the second snapshot
            raise OSError(errno.ENOSPC, "No space left on device", str(args[1]))
        return original(*args, **kwargs)

    monkeypatch.setattr(snapshots, "save_discriminator", full_disk)
    with pytest.raises(OSError) as info:
        training_loop(_tiny_run(2), tmp_path, tiny_dataset)
    assert info.value.errno == errno.ENOSPC
    root = tmp_path / "checkpoints"
    assert sorted(p.name for p in root.iterdir()) == ["latest.txt", "step00000001"]


def test_train_full_disk_is_one_line_and_resumable(tmp_path, monkeypatch):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=1 << 20))
    r = CliRunner().invoke(
        main,
        ["train", "--data", "synthetic", "--preset", "tiny", "--batch", "2", "--steps", "1"]
        + ["--outdir", str(tmp_path), "--device", "cpu", "--sample-seeds", "0"],
    )
    assert_one_clear_line(r, "no space left on the device")
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert f"--resume {run}" in r.stderr and "MiB are free" in r.stderr
    assert list((run / "checkpoints").iterdir()) == []  # no temporary snapshot folder


def test_generate_full_disk_is_one_line(inputs, tmp_path, monkeypatch):
    from infinitygan.writers.writer import CanvasWriter

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.path))

    monkeypatch.setattr(CanvasWriter, "write", full)
    out = tmp_path / "big.tif"
    r = CliRunner().invoke(
        main, ["generate", str(inputs / "model.safetensors"), "--size", "64x64", "--out", str(out)]
    )
    assert_one_clear_line(r, "no space left on the device")
    assert "--resume" in r.stderr and not out.exists()
