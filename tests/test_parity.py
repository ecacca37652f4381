"""Parity with the official InfinityGAN model (tests/fixtures, float64)."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest
import torch

from infinitygan.convert import ConversionError, from_official
from infinitygan.runtime import model_on


def _official_state(keys: dict, prefix: str) -> dict[str, torch.Tensor]:
    state = {}
    for key, spec in keys.items():
        shape = spec["shape"]
        if spec["parameter"]:
            rng = np.random.default_rng(zlib.crc32((prefix + key).encode()))
            state[key] = torch.from_numpy(rng.standard_normal(shape).astype(np.float32))
        elif key.endswith("blur.kernel") or key.endswith("upsample.kernel"):
            k = torch.tensor([1.0, 2.0, 1.0])
            state[key] = torch.outer(k, k) / 16 * 4
        elif key.endswith(".kernel"):
            k = torch.tensor([1.0, 3.0, 3.0, 1.0])
            state[key] = torch.outer(k, k) / 64
        else:
            state[key] = torch.zeros(shape)
    return state


@pytest.fixture(scope="module")
def official(fixtures_dir):
    keys = json.loads((fixtures_dir / "paper101_state_dict_keys.json").read_text())
    g_state = _official_state(keys["generator"], "g_ema.")
    d_state = _official_state(keys["discriminator"], "d.")
    data = dict(np.load(fixtures_dir / "paper101_parity.npz"))
    return g_state, d_state, data


@pytest.fixture(scope="module")
def converted(official):
    g_state, d_state, _ = official
    G, D = from_official(g_state, d_state, preset="paper-101")
    return G.double(), D.double()


def _close(ours: torch.Tensor, ref: np.ndarray, name: str) -> None:
    ref_t = torch.from_numpy(ref)
    err = (ours.detach() - ref_t).abs().max().item()
    scale = float(ref.std()) if ref.std() > 0 else 1.0
    assert ours.shape == ref_t.shape, name
    assert err < 1e-6 * scale, f"{name}: max abs error {err:.3e} vs std {scale:.3e}"


def test_parameter_counts(converted):
    G, D = converted
    assert sum(p.numel() for p in G.parameters()) == 36_354_848
    assert sum(p.numel() for p in D.parameters()) == 28_915_460


def test_generator_parity(converted, official, device):
    G = model_on(converted[0], device)
    _, _, data = official

    def t(key):
        return torch.from_numpy(data[key]).to(device)

    zg, zl, coords = t("zg"), t("zl"), t("coords")
    noise = [t(f"noise{i}") for i in range(8)]
    with torch.no_grad():
        w = G.mapping(zg)
        structure = G.structure(zg, zl, coords)
        image = G.texture(structure, w, noise)
        whole = G(zg, zl, coords, noise)
    _close(w.cpu(), data["w"], "w")
    _close(structure.cpu(), data["structure"], "structure")
    _close(image.cpu(), data["image"], "image")
    _close(whole.cpu(), data["image"], "G(...)")


def test_discriminator_parity(converted, official, device):
    D = model_on(converted[1], device)
    _, _, data = official
    with torch.no_grad():
        logit, coord = D(torch.from_numpy(data["image"]).to(device))
        logit, coord = logit.cpu(), coord.cpu()
    assert logit.shape == (1, 1) and coord.shape == (1, 3)
    # d_logit's std is 0 (a single value): compare with absolute tolerance scaled by |value|.
    ref = float(data["d_logit"][0, 0])
    assert abs(logit.item() - ref) < 1e-6 * max(1.0, abs(ref))
    _close(coord, data["d_coord"], "d_coord")


def test_fixture_coords_match_our_canvas(official):
    """The fixture's coordinates are our canvas coordinates for cells rows -17..17, cols 0..34."""
    from infinitygan.coords import coord_grid
    from infinitygan.presets import get_preset

    _, _, data = official
    ours = coord_grid(range(-17, 18), range(0, 35), get_preset("paper-101").coords)
    assert torch.allclose(ours.double(), torch.from_numpy(data["coords"][0]), atol=1e-6)


def test_conversion_rejects_wrong_preset(official):
    g_state, _, _ = official
    with pytest.raises(ConversionError, match="preset"):
        from_official(g_state, preset="tiny")


def test_conversion_rejects_foreign_state_dict():
    with pytest.raises(ConversionError, match="does not match"):
        from_official({"foo.weight": torch.zeros(3)}, preset="tiny")
