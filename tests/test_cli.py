"""Command line: every command's --help, generate and convert end to end, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from infinitygan import generate_image, load_generator, save_generator
from infinitygan.cli import main
from infinitygan.imageio import to_uint8


def all_commands(group=main, prefix=()):
    for name, cmd in group.commands.items():
        yield (*prefix, name)
        if hasattr(cmd, "commands"):
            yield from all_commands(cmd, (*prefix, name))


@pytest.mark.parametrize("command", sorted(all_commands()))
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_core_commands_registered():
    assert {"generate", "convert"} <= set(main.commands)


@pytest.fixture()
def model_file(tmp_path, tiny_generator):
    return save_generator(tiny_generator, tmp_path / "tiny.safetensors")


def test_generate_png_matches_library(tmp_path, model_file):
    out = tmp_path / "img.png"
    result = CliRunner().invoke(
        main, ["generate", str(model_file), "--size", "70x40", "--seed", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    pixels = np.asarray(Image.open(out))
    G = load_generator(model_file)
    expected = to_uint8(generate_image(G, 3, 40, 70))
    assert pixels.shape == (40, 70, 3)
    assert np.abs(pixels.astype(int) - expected.astype(int)).max() <= 1
    sidecar = json.loads((tmp_path / "img.png.json").read_text())["metadata"]
    assert sidecar["seed"] == 3 and len(sidecar["model_sha256"]) == 64
    assert sidecar["region"] == {"top": -20, "left": 0, "height": 40, "width": 70}


def test_generate_offset_and_seeds(tmp_path, model_file):
    out = tmp_path / "many.png"
    result = CliRunner().invoke(
        main,
        [
            "generate",
            str(model_file),
            "--size",
            "32x32",
            "--seeds",
            "1-2",
            "--offset",
            "16,-8",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    G = load_generator(model_file)
    from infinitygan import generate_region

    for s in (1, 2):
        pixels = np.asarray(Image.open(tmp_path / f"many-seed{s:04d}.png"))
        expected = to_uint8(generate_region(G, s, -16 + 16, -8, 32, 32))
        assert np.abs(pixels.astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--size", "10y20"], "not a size"),
        (["--size", "0x20"], "positive"),
        (["--size", "64x64", "--seeds", "5-2"], "backwards"),
        (["--size", "64x64", "--offset", "1"], "offset"),
        (["--size", "200000x100000"], "gigapixels"),
        (["--size", "64x64", "--wrap"], "--wrap"),
    ],
)
def test_generate_bad_input(tmp_path, model_file, args, message):
    result = CliRunner().invoke(
        main, ["generate", str(model_file), *args, "--out", str(tmp_path / "x.png")]
    )
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_generate_missing_model(tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "generate",
            str(tmp_path / "none.safetensors"),
            "--size",
            "8x8",
            "--out",
            str(tmp_path / "x.png"),
        ],
    )
    assert result.exit_code != 0 and "no model file" in result.output


def test_generate_bad_extension(tmp_path, model_file):
    result = CliRunner().invoke(
        main, ["generate", str(model_file), "--size", "8x8", "--out", str(tmp_path / "x.bmpx")]
    )
    assert result.exit_code != 0 and ".png" in result.output


def test_convert_command(tmp_path, tiny_generator):

    # Build an official-format tiny state dict by renaming ours back (inverse of the converter).
    from infinitygan.convert import from_official

    official = {}
    for k, v in tiny_generator.state_dict().items():
        if k == "w_avg":  # ours only: official models have no average style
            continue
        official[_to_official(k)] = (
            v.unsqueeze(0) if k.endswith("conv.weight") and v.ndim == 4 else v
        )
    G, _ = from_official(official, preset="tiny")
    ckpt = tmp_path / "official.pth.tar"
    torch.save({"g_ema": official, "iter": 3}, ckpt)
    out = tmp_path / "conv.safetensors"
    result = CliRunner().invoke(main, ["convert", str(ckpt), str(out), "--preset", "tiny"])
    assert result.exit_code == 0, result.output
    G2 = load_generator(out)
    ours = {k: v for k, v in tiny_generator.state_dict().items() if k != "w_avg"}
    converted = G2.state_dict()
    for key, a in ours.items():
        assert torch.equal(a, converted[key])
    # The converted file carries the deterministic estimate of the average style.
    fresh = G.average_w()
    assert torch.isfinite(converted["w_avg"]).all() and torch.equal(converted["w_avg"], fresh)
    bad_out = tmp_path / "bad.safetensors"
    bad = CliRunner().invoke(main, ["convert", str(ckpt), str(bad_out), "--preset", "paper-101"])
    assert bad.exit_code != 0 and "preset" in bad.output and "Traceback" not in bad.output
    # Without --preset the architecture is detected from the weights.
    detected_out = tmp_path / "detected.safetensors"
    detected = CliRunner().invoke(main, ["convert", str(ckpt), str(detected_out)])
    assert detected.exit_code == 0, detected.output
    assert "preset tiny, detected" in detected.output
    assert load_generator(detected_out).config.name == "tiny"


def _to_official(key: str) -> str:
    import re

    rules = [
        (
            r"structure_synthesizer\.layers\.(\d+)\.conv\.weight",
            "structure_synthesizer.implicit_model.conv_stack.{}.conv.conv.weight",
        ),
        (
            r"structure_synthesizer\.layers\.(\d+)\.conv\.affine\.(\w+)",
            "structure_synthesizer.implicit_model.conv_stack.{}.conv.conv.modulation.{}",
        ),
        (
            r"structure_synthesizer\.layers\.(\d+)\.bias",
            "structure_synthesizer.implicit_model.conv_stack.{}.conv.activate.bias",
        ),
        (r"mapping_network\.layers\.(\d+)\.(\w+)", None),
        (
            r"texture_synthesizer\.(convs|to_rgbs)\.(\d+)\.conv\.affine\.(\w+)",
            "texture_synthesizer.{}.{}.conv.modulation.{}",
        ),
        (
            r"texture_synthesizer\.convs\.(\d+)\.noise\.strength",
            "texture_synthesizer.convs.{}.noise.weight",
        ),
        (r"texture_synthesizer\.convs\.(\d+)\.bias", "texture_synthesizer.convs.{}.activate.bias"),
    ]
    for pattern, template in rules:
        m = re.fullmatch(pattern, key)
        if m:
            if template is None:
                return f"texture_synthesizer.mapping.{int(m.group(1)) + 1}.{m.group(2)}"
            return template.format(*m.groups())
    return key


def test_import_without_cuda_compiles_nothing():
    code = (
        "import sys, infinitygan, infinitygan.cli, infinitygan.models, infinitygan.canvas;"
        "import torch; assert not torch.cuda.is_initialized();"
        "assert 'torch.utils.cpp_extension' not in sys.modules;"
        "print('ok')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
