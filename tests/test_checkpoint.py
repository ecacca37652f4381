"""Generator files: round trip, config strictness, clear errors; official checkpoint files."""

from __future__ import annotations

import json

import pytest
import torch

from infinitygan import build_generator, get_preset, load_generator, save_generator
from infinitygan.checkpoint import CheckpointError, read_metadata
from infinitygan.config import ModelConfig
from infinitygan.convert import load_official_checkpoint


def test_round_trip_identical_forward(tmp_path, tiny_generator):
    path = save_generator(tiny_generator, tmp_path / "g.safetensors")
    G2 = load_generator(path)
    assert G2.config == tiny_generator.config
    torch.manual_seed(0)
    zg = torch.randn(2, 64)
    zl = torch.randn(2, 16, 35, 35)
    coords = torch.randn(1, 3, 35, 35)
    noise = [torch.randn(1, 1, n, n) for n in tiny_generator.geometry.texture_conv_sizes(11)]
    with torch.no_grad():
        assert torch.equal(tiny_generator(zg, zl, coords, noise), G2(zg, zl, coords, noise))


def test_half_precision_file(tmp_path, tiny_generator):
    path = save_generator(tiny_generator, tmp_path / "h.safetensors", half=True)
    G2 = load_generator(path)
    for (k, a), b in zip(tiny_generator.state_dict().items(), G2.state_dict().values()):
        assert b.dtype == torch.float32
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-4), k


def test_build_generator_is_seeded_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b, c = build_generator("tiny", 1), build_generator("tiny", 1), build_generator("tiny", 2)
    assert torch.equal(torch.random.get_rng_state(), state)
    pa, pb, pc = (next(g.parameters()) for g in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset 'huge'.*paper-101"):
        get_preset("huge")
    with pytest.raises(ValueError, match="unknown preset"):
        build_generator("huge")


def test_config_json_is_strict():
    cfg = get_preset("tiny")
    assert ModelConfig.from_json(cfg.to_json()) == cfg
    data = json.loads(cfg.to_json())
    data["texture"]["colour"] = 3
    with pytest.raises(ValueError, match="unknown keys.*colour"):
        ModelConfig.from_dict(data)
    data = json.loads(cfg.to_json())
    data["config_version"] = 99
    with pytest.raises(ValueError, match="newer"):
        ModelConfig.from_dict(data)


def test_missing_corrupt_foreign_and_newer_files(tmp_path, tiny_generator):
    with pytest.raises(CheckpointError, match="no model file"):
        load_generator(tmp_path / "nothing.safetensors")
    with pytest.raises(CheckpointError, match="no bundled model"):
        load_generator("no-such-model-name")
    good = save_generator(tiny_generator, tmp_path / "g.safetensors")
    data = good.read_bytes()
    truncated = tmp_path / "t.safetensors"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt|truncated|cannot read"):
        load_generator(truncated)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError):
        load_generator(garbage)
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"x": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="not an infinitygan generator"):
        load_generator(foreign)
    newer = tmp_path / "newer.safetensors"
    meta = read_metadata(good)
    meta["format_version"] = "99"
    save_file({k: v.contiguous() for k, v in tiny_generator.state_dict().items()}, str(newer), meta)
    with pytest.raises(CheckpointError, match="newer"):
        load_generator(newer)


def test_official_file_conversion_and_unsafe_pickles(tmp_path, tiny_generator):
    # An official-style checkpoint (tensors + counters) loads without unpickling code.
    path = tmp_path / "official.pth.tar"
    torch.save({"g_ema": {"a": torch.zeros(1)}, "iter": 5, "best_fid": 12.5}, path)
    data = load_official_checkpoint(path)
    assert data["iter"] == 5
    evil = tmp_path / "evil.pth.tar"

    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"g_ema": {}, "args": Payload()}, evil)
    with pytest.raises(ValueError, match="no unrestricted unpickling"):
        load_official_checkpoint(evil)
    with pytest.raises(FileNotFoundError):
        load_official_checkpoint(tmp_path / "missing.pth.tar")


def test_saved_files_get_normal_permissions(tmp_path, tiny_generator):
    import os

    from infinitygan.imageio import save_image

    umask = os.umask(0o022)
    try:
        a = save_generator(tiny_generator, tmp_path / "g.safetensors")
        b = save_image(torch.zeros(3, 4, 4), tmp_path / "i.png")
    finally:
        os.umask(umask)
    assert os.stat(a).st_mode & 0o777 == 0o644
    assert os.stat(b).st_mode & 0o777 == 0o644
