"""One output pipeline: every canvas command writes one sidecar schema that regenerates the file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from infinitygan import save_generator
from infinitygan.cli import main
from infinitygan.output import (
    OutputSpec,
    plain_spec,
    read_sidecar,
    regenerate,
    resume_settings,
)

SCHEMA = {
    "software",
    "command",
    "random_version",
    "model",
    "model_sha256",
    "config",
    "seed",
    "region",
    "wrap",
    "precision",
    "truncation",
    "description",
    "regenerate",
}


@pytest.fixture()
def model_file(tmp_path, tiny_generator):
    return save_generator(tiny_generator, tmp_path / "tiny.safetensors")


def ok(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def pixels(path):
    return np.asarray(Image.open(path))


@pytest.mark.parametrize(
    "command",
    [
        ["generate", "--size", "48x32", "--seed", "4", "--offset", "x=40,y=-16", "--trunc", "0.7"],
        ["fuse", "--size", "96x32", "--seeds", "3,8", "--blend", "16"],
    ],
    ids=["generate", "fuse"],
)
def test_sidecar_schema_regenerates_the_file(tmp_path, model_file, command):
    out = tmp_path / "a.png"
    ok(command[0], model_file, *command[1:], "--out", out)
    meta = json.loads((tmp_path / "a.png.json").read_text())["metadata"]
    assert set(meta) == SCHEMA
    assert meta["command"] == command[0] and meta["model"] == str(model_file)
    assert meta["description"]["seed"] == meta["seed"]
    again = tmp_path / "again.png"
    regenerate(tmp_path / "a.png.json", again)
    assert np.array_equal(pixels(out), pixels(again))
    stored = json.loads((tmp_path / "again.png.json").read_text())["metadata"]
    assert {k: v for k, v in stored.items() if k != "regenerate"} == {
        k: v for k, v in meta.items() if k != "regenerate"
    }


def test_regenerate_refuses_another_model(tmp_path, model_file, tiny_generator):
    out = tmp_path / "a.png"
    ok("generate", model_file, "--size", "32x32", "--out", out)
    with open(model_file, "ab") as f:
        f.write(b" ")
    with pytest.raises(ValueError, match="is not the model"):
        regenerate(tmp_path / "a.png.json", tmp_path / "b.png")


def test_sidecars_of_earlier_versions_are_read(tmp_path, tiny_generator):
    from infinitygan.applications.description import CanvasDescription, ModelRef
    from infinitygan.canvas import generate_region
    from infinitygan.imageio import to_uint8
    from infinitygan.latents import RANDOM_VERSION

    sha = "ab" * 32
    old_generate = {
        "canvas": {"format": "png", "chunk": 64, "options": {}},
        "metadata": {
            "software": "infinitygan 0.1",
            "random_version": RANDOM_VERSION,
            "model": "tiny.safetensors",
            "model_sha256": sha,
            "seed": 5,
            "region": {"top": -8, "left": 3, "height": 16, "width": 24},
            "wrap": False,
            "precision": "fp32",
            "truncation": 1.0,
        },
    }
    (tmp_path / "g.png.json").write_text(json.dumps(old_generate))
    spec, canvas = read_sidecar(tmp_path / "g.png.json")
    assert spec.is_bare and spec.description.seed == 5 and spec.region == (-8, 3, 16, 24)
    assert spec.description.model == ModelRef("tiny.safetensors", sha) and canvas["chunk"] == 64
    regenerate(tmp_path / "g.png.json", tmp_path / "g.png", G=tiny_generator)
    expected = to_uint8(generate_region(tiny_generator, 5, -8, 3, 16, 24))
    assert np.abs(pixels(tmp_path / "g.png").astype(int) - expected.astype(int)).max() <= 1

    described = CanvasDescription(seed=2, model=ModelRef("m", sha)).to_dict()
    old_fuse = {
        "canvas": {"format": "png", "chunk": 64, "options": {}},
        "metadata": {
            "software": "infinitygan 0.1",
            "command": "fuse",
            "description": described,
            "region": {"top": 0, "left": 0, "height": 16, "width": 16},
            "precision": "fp32",
            "truncation": 0.5,
            "random_version": RANDOM_VERSION,
        },
    }
    (tmp_path / "f.png.json").write_text(json.dumps(old_fuse))
    spec, _ = read_sidecar(tmp_path / "f.png.json")
    assert spec.command == "fuse" and spec.truncation == 0.5 and spec.description.model.path == "m"
    with pytest.raises(ValueError, match="not the sidecar"):
        (tmp_path / "x.json").write_text("{}")
        read_sidecar(tmp_path / "x.json")


def test_resume_settings_keep_the_forms_of_earlier_partial_files(tmp_path):
    from infinitygan.applications.description import Anchor, CanvasDescription, ModelRef
    from infinitygan.latents import RANDOM_VERSION

    sha = "cd" * 32
    region = {"top": -16, "left": 0, "height": 32, "width": 48}
    plain = plain_spec("m", sha, 7, (-16, 0, 32, 48), wrap=True, precision="bf16")
    assert resume_settings(plain, tmp_path) == {
        "model_sha256": sha,
        "random_version": RANDOM_VERSION,
        "seed": 7,
        "region": region,
        "wrap": True,
        "precision": "bf16",
    }
    desc = CanvasDescription(seed=7, model=ModelRef("m", sha), anchors=(Anchor(0, 0, 7),))
    fused = OutputSpec(desc, (-16, 0, 32, 48), truncation=0.7, command="fuse")
    described = desc.to_dict()
    del described["model"]
    assert resume_settings(fused, tmp_path) == {
        "model_sha256": sha,
        "description": described,
        "region": region,
        "precision": "fp32",
        "truncation": 0.7,
    }
