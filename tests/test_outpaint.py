"""Outpainting and inbetweening: layouts, kept known regions, seeds, clear errors, the CLIs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from infinitygan import generate_region, save_generator
from infinitygan.applications import InversionConfig, invert, render_region
from infinitygan.applications.inbetween import inbetween_layout, inbetween_sides
from infinitygan.applications.outpaint import (
    Extension,
    outpaint_description,
    outpaint_region,
    parse_extend,
    placement_for,
)
from infinitygan.cli import main

H, W = 32, 48
TOP, LEFT = -16, 0


pytestmark = pytest.mark.usefixtures("single_thread")


# --------------------------------------------------------------------------------- parsing
def test_parse_extend():
    assert parse_extend("left:256,right:1024") == Extension(left=256, right=1024)
    assert parse_extend(" top:8 , bottom:0,left:1") == Extension(top=8, left=1)
    assert parse_extend("right:4").sides == "r"
    for text, message in [
        ("", "empty"),
        ("left256", "not SIDE:PIXELS"),
        ("middle:4", "unknown side"),
        ("left:-4", "negative"),
        ("left:4,left:5", "given twice"),
        ("left:0,right:0", "every extension is 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_extend(text)


def test_outpaint_region_and_inbetween_layout():
    assert outpaint_region(-16, 0, 32, 48, Extension(left=10, bottom=5)) == (-16, -10, 37, 58)
    lay = inbetween_layout((32, 40), (48, 40), 200)
    assert (lay.top, lay.left, lay.height, lay.width, lay.gap) == (-24, 0, 48, 200, 120)
    assert lay.left_pos == (-16, 0) and lay.right_pos == (-24, 160)
    assert inbetween_sides(lay, (32, 40), "left") == "rtb"
    assert inbetween_sides(lay, (48, 40), "right") == "l"
    with pytest.raises(ValueError, match="no room between the images"):
        inbetween_layout((32, 40), (32, 40), 80)


# ----------------------------------------------------------------------------- outpainting
@pytest.fixture(scope="module")
def inverted(tiny_generator, tmp_path_factory):
    image = generate_region(tiny_generator, 5, TOP, LEFT, H, W).clamp(-1, 1)
    latents = invert(
        tiny_generator,
        image,
        top=TOP,
        left=LEFT,
        config=InversionConfig(steps=4, stats_samples=256),
    )
    path = latents.save(tmp_path_factory.mktemp("inv") / "inv.safetensors")
    return latents, path


def test_outpainting_keeps_the_known_region_and_varies_with_the_seed(tiny_generator, inverted):
    latents, path = inverted
    ext = Extension(left=20, right=40, bottom=12)
    region = outpaint_region(latents.top, latents.left, H, W, ext)
    placement = placement_for(path, latents, feather=4, sides=ext.sides)
    outs = [
        render_region(tiny_generator, outpaint_description(placement, s), *region) for s in (0, 1)
    ]
    original = latents.image.float() / 127.5 - 1
    for out in outs:
        assert out.shape == (3, H + 12, W + 60)
        known = out[:, :H, 20 : 20 + W]
        # exactly the original except the feathered band on the extended sides (left, right, bottom)
        assert (known[:, :-4, 4:-4] - original[:, :-4, 4:-4]).abs().max() < 1e-6
        assert (known[:, :, :4] - original[:, :, :4]).abs().max() > 1e-3
    outside = (outs[0] - outs[1]).abs()
    assert outside[:, :, :20].mean() > 1e-2 and outside[:, H:, :].mean() > 1e-2
    assert outside[:, :-13, 24:-44].max() < 1e-6  # the same known region for both seeds


# ------------------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def model_file(tiny_generator, tmp_path_factory):
    return save_generator(tiny_generator, tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.mark.parametrize("command", ["fuse", "invert", "outpaint", "inbetween"])
def test_cli_help(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "Examples" in result.output or "Example" in result.output


def test_cli_fuse_one_seed_is_generate(model_file, tmp_path):
    runner = CliRunner()
    fused = tmp_path / "fused.png"
    plain = tmp_path / "plain.png"
    r = runner.invoke(
        main,
        [
            "fuse",
            str(model_file),
            "--seeds",
            "7",
            "--size",
            "40x24",
            "--out",
            str(fused),
            "--device",
            "cpu",
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        main,
        [
            "generate",
            str(model_file),
            "--seed",
            "7",
            "--size",
            "40x24",
            "--out",
            str(plain),
            "--device",
            "cpu",
        ],
    )
    assert r.exit_code == 0, r.output
    assert np.array_equal(np.asarray(Image.open(fused)), np.asarray(Image.open(plain)))
    sidecar = json.loads((tmp_path / "fused.png.json").read_text())
    assert sidecar["metadata"]["description"]["anchors"][0]["seed"] == 7


def test_cli_fuse_errors(model_file, tmp_path):
    runner = CliRunner()
    base = ["fuse", str(model_file), "--size", "40x24", "--out", str(tmp_path / "f.png")]
    r = runner.invoke(main, base + ["--seeds", "1,2", "--layout", "diagonal"])
    assert r.exit_code == 2 and "unknown layout" in r.output
    r = runner.invoke(main, base + ["--seeds", "1,2", "--layout", "points:1,2"])
    assert r.exit_code == 2 and "one Y,X point per seed" in r.output
    r = runner.invoke(main, base + ["--seeds", "x"])
    assert r.exit_code == 2 and "not a seed" in r.output
    r = runner.invoke(main, base + ["--seeds", "1,2", "--wrap"])
    assert r.exit_code == 2 and "exactly one period wide" in r.output


def test_cli_outpaint_errors(model_file, tmp_path):
    runner = CliRunner()
    image = tmp_path / "img.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(image)
    base = ["outpaint", str(model_file), str(image), "--out", str(tmp_path / "o.png")]
    r = runner.invoke(main, base + ["--extend", "left:-3"])
    assert r.exit_code == 2 and "negative" in r.output
    r = runner.invoke(main, base + ["--extend", "left:0"])
    assert r.exit_code == 2 and "every extension is 0" in r.output
    r = runner.invoke(main, base + ["--extend", "sideways:4"])
    assert r.exit_code == 2 and "unknown side" in r.output
    r = runner.invoke(main, base + ["--extend", "left:16"])
    assert r.exit_code == 1 and "at least 32 px per side" in r.output
    r = runner.invoke(
        main,
        [
            "outpaint",
            str(model_file),
            str(tmp_path / "none.png"),
            "--extend",
            "left:4",
            "--out",
            str(tmp_path / "o.png"),
        ],
    )
    assert r.exit_code == 1 and "no image" in r.output


def test_cli_invert_then_outpaint_reuses_latents(model_file, tiny_generator, tmp_path):
    runner = CliRunner()
    image = tmp_path / "img.png"
    arr = generate_region(tiny_generator, 3, -16, 0, 32, 40).clamp(-1, 1)
    Image.fromarray(((arr + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()).save(image)
    latents = tmp_path / "img.latents.safetensors"
    r = runner.invoke(
        main,
        [
            "invert",
            str(model_file),
            str(image),
            "--steps",
            "3",
            "--out",
            str(latents),
            "--device",
            "cpu",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "PSNR" in r.output and latents.is_file()
    r = runner.invoke(
        main,
        [
            "outpaint",
            str(model_file),
            str(image),
            "--latents",
            str(latents),
            "--extend",
            "right:24",
            "--seeds",
            "0,1",
            "--out",
            str(tmp_path / "wide.png"),
            "--device",
            "cpu",
        ],
    )
    assert r.exit_code == 0, r.output
    a = np.asarray(Image.open(tmp_path / "wide-seed0000.png"))
    b = np.asarray(Image.open(tmp_path / "wide-seed0001.png"))
    assert a.shape == (32, 64, 3)
    original = np.asarray(Image.open(image))
    assert np.abs(a[:, :24].astype(int) - original[:, :24]).max() <= 1
    assert np.abs(a[:, 40:].astype(int) - b[:, 40:]).mean() > 1
    r = runner.invoke(
        main,
        [
            "inbetween",
            str(model_file),
            str(image),
            str(image),
            "--width",
            "60",
            "--out",
            str(tmp_path / "j.png"),
        ],
    )
    assert r.exit_code == 2 and "no room between the images" in r.output


def test_cli_inbetween(model_file, tiny_generator, tmp_path):
    runner = CliRunner()
    paths = []
    for name, seed, height in (("a.png", 1, 32), ("b.png", 2, 40)):
        arr = generate_region(tiny_generator, seed, -height // 2, 0, height, 36).clamp(-1, 1)
        Image.fromarray(((arr + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()).save(
            tmp_path / name
        )
        paths.append(str(tmp_path / name))
    out = tmp_path / "joined.png"
    r = runner.invoke(
        main,
        [
            "inbetween",
            str(model_file),
            *paths,
            "--width",
            "120",
            "--steps",
            "2",
            "--feather",
            "2",
            "--out",
            str(out),
            "--device",
            "cpu",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "different heights" in r.output
    joined = np.asarray(Image.open(out))
    assert joined.shape == (40, 120, 3)
    left = np.asarray(Image.open(paths[0]))
    # the shorter left image sits centred (rows 4..36), feathered only towards the generated part
    assert np.abs(joined[6:34, :34].astype(int) - left[2:-2, :34]).max() <= 1
    assert (tmp_path / "joined.left.latents.safetensors").is_file()
    description = json.loads((tmp_path / "joined.png.json").read_text())["metadata"]["description"]
    assert [p["latents"] for p in description["placements"]] == [
        "joined.left.latents.safetensors",
        "joined.right.latents.safetensors",
    ]
    assert description["blend"] == 120 - 72
