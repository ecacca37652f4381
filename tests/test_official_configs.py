"""Every official model config converts, is detected from its state dict alone, and has the
official parameter counts and layer sizes (fixture: tests/fixtures/official_configs, made by
running the official code)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from infinitygan.convert import (
    ConversionError,
    detect_preset,
    from_official,
    official_architecture,
)
from infinitygan.models import Discriminator, Generator
from infinitygan.presets import get_preset

FIXTURES = Path(__file__).parent / "fixtures" / "official_configs"
# official config -> (preset to convert with, preset detected from the state dict alone)
CONFIGS = {
    "InfinityGAN": ("paper-101", "paper-101"),
    "InfinityGAN-IOF": ("paper-iof", "paper-101"),
    "InfinityGAN-IOP": ("paper-iop", "paper-101"),
    "InfinityGAN-HR": ("paper-hr", "paper-hr"),
    # HR at the official README table's sizes (the config file says 389 of 773)
    "InfinityGAN-HR_patch197_full389": ("paper-hr-197", "paper-hr-197"),
    "InfinityGAN-UR": ("paper-ur", "paper-ur"),
    "StyleGAN2_NCI": ("stylegan2-nci", "stylegan2-nci"),
    "StyleGAN2_NCI_FCG": ("stylegan2-nci-fcg", "stylegan2-nci-fcg"),
}
# What a converter may drop: the unused constant input and noise buffers, blur kernels.
DROPPABLE = re.compile(r".*(const_z\.input|noises\.noise_\d+|\.kernel)")


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def _official_state(keys: dict, first: int) -> dict[str, torch.Tensor]:
    """Official-shaped state dict whose every entry is a distinct constant (first, first+1...),
    so that where each entry ends up after conversion can be read from the values."""
    return {
        key: torch.full(spec["shape"], float(first + i))
        for i, (key, spec) in enumerate(keys.items())
    }


def _check_every_entry_used(official: dict[str, torch.Tensor], module: torch.nn.Module) -> None:
    """Every official entry is dropped (and droppable) or is exactly one of our parameters, and
    every parameter of ours comes from one official entry."""
    kept = {}
    for key, value in official.items():
        if DROPPABLE.fullmatch(key):
            continue
        kept[float(value.flatten()[0])] = (key, value.numel())
    ours = {}
    for name, param in module.named_parameters():
        value = float(param.detach().flatten()[0])
        assert torch.all(param == value), f"{name} mixes official entries"
        assert value in kept, f"{name} comes from no official entry"
        assert value not in ours, f"{name} and {ours.get(value)} come from the same entry"
        assert param.numel() == kept[value][1], f"{name} vs {kept[value][0]}"
        ours[value] = name
    unused = sorted(key for value, (key, _) in kept.items() if value not in ours)
    assert not unused, f"official entries not converted: {unused}"


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def official(request):
    name = request.param
    data = _fixture(name)
    g_state = _official_state(data["generator"], 1)
    d_state = _official_state(data["discriminator"], 1 + len(g_state))
    return name, data, g_state, d_state


def test_converts_with_every_entry_used_and_official_parameter_counts(official):
    name, data, g_state, d_state = official
    preset, detected = CONFIGS[name]
    # Without a preset where detection finds the same one (all but IOF / IOP).
    G, D = from_official(g_state, d_state, preset=None if preset == detected else preset)
    assert G.config.name == preset and D is not None
    _check_every_entry_used(g_state, G)
    _check_every_entry_used(d_state, D)
    counts = data["parameter_counts"]
    assert sum(p.numel() for p in G.parameters()) == counts["generator"]["in_use"]
    assert sum(p.numel() for p in D.parameters()) == counts["discriminator"]["in_use"]
    assert counts["generator"]["unused_parameters"] == ["texture_synthesizer.const_z.input"]


def test_detected_from_the_state_dict_alone(official):
    name, _, g_state, d_state = official
    detected = CONFIGS[name][1]
    assert detect_preset(g_state, d_state) == detected
    assert detect_preset(g_state) == detected


def test_architecture_facts_match_the_official_hyper_parameters(official):
    name, data, g_state, d_state = official
    hp = data["hyper_parameters"]
    ts, ss, disc = hp["texture_synthesizer"], hp["structure_synthesizer"], hp["discriminator"]
    arch = official_architecture(g_state, d_state)
    assert arch.mapping_layers == hp["n_mlp"]
    assert arch.z_dim == arch.w_dim == hp["global_latent_dim"]
    assert arch.structure_layers == ss["ss_n_layers"]
    if ss["built"]:
        assert arch.structure_kernel == ss["kernel_size"]
        assert arch.structure_in_channels == ss["layer_in_channels"][0]
        assert arch.coord_channels == 3
    else:
        assert arch.structure_in_channels == hp["local_latent_dim"]
    assert arch.structure_channels == ts["input_channels"]
    assert arch.texture_convs == ts["num_convs"]
    assert arch.to_rgbs == len(ts["to_rgbs"])
    assert list(arch.texture_channels) == [c["out_ch"] for c in ts["convs"]]
    assert arch.blur_taps == len(ts["blur_kernel"])
    assert arch.d_from_rgb == disc["from_rgb_out_ch"]
    assert arch.d_blocks == len(disc["blocks"])
    assert arch.d_final_features == disc["final_linear_in"]
    assert arch.d_coord_head == (disc["coord_head_out"] or 0)


def test_presets_match_the_official_config_layer_for_layer(official):
    name, data, _, _ = official
    hp, forward = data["hyper_parameters"], data["training_forward"]
    ts, disc = hp["texture_synthesizer"], hp["discriminator"]
    config = get_preset(CONFIGS[name][0])
    assert (config.patch_size, config.full_size) == (hp["patch_size"], hp["full_size"])
    assert config.pre_resize == hp["extra_pre_resize"]
    assert config.mapping.num_layers == hp["n_mlp"]
    assert config.mapping.lr_mul == hp["mapping_lr_mul"]
    assert config.structure.local_dim == hp["local_latent_dim"]
    assert config.discriminator.coord_head == disc["use_coord_ac"]
    coords = hp["coordinates"]
    if coords is not None:  # the baselines have none
        assert config.coords.horizontal_period == coords["horizontal_period_latent_px"]
        assert config.coords.vertical_step == coords["vertical_step_preactivation"]
        assert config.coords.vertical_positions == coords["coord_vert_sample_size"]
    with torch.device("meta"):
        G = Generator(config)
        D = Discriminator(config.discriminator, config.patch_size)
    geo = G.geometry
    cells = ts["ts_input_size"]
    # per-layer sizes of the official training forward pass (forward hooks)
    assert geo.structure_in(cells) == forward["local_latent_shape"][-1]
    assert geo.texture_conv_sizes(cells) == [out for _, out, _ in forward["ts_convs_in_out"]]
    assert geo.rgb_sizes(cells) == [out for out, _ in forward["to_rgbs_in_out"]]
    assert geo.texture_out(cells) == forward["image_shape"][-1] == config.patch_size
    assert G.num_styles == ts["n_latent"]
    for conv, spec in zip(G.texture_synthesizer.convs, ts["convs"]):
        assert conv.conv.weight.shape[:2] == (spec["out_ch"], spec["in_ch"])
        assert conv.conv.upsample == spec["upsample"]
    for j, spec in enumerate(ts["to_rgbs"]):
        assert G.texture_synthesizer.rgb_style_index(j) == spec["tgt"]
        assert G.texture_synthesizer.to_rgbs[j].conv.weight.shape[1] == spec["in_ch"]
    widths = [D.from_rgb.conv.weight.shape[0]] + [b.conv2.conv.weight.shape[0] for b in D.blocks]
    assert widths == [c for c, _ in forward["d_stage_channels_sizes"]]
    assert D.final_size == disc["final_spatial_size"]
    assert (D.coord_linear is not None) == bool(disc["use_coord_ac"])


def test_maps_model_is_refused_with_what_was_found():
    data = _fixture("InfinityGAN_maps")
    g_state = {k: torch.zeros(v["shape"]) for k, v in data["generator"].items()}
    with pytest.raises(ConversionError) as err:
        from_official(g_state)
    message = str(err.value)
    assert "\n" not in message
    assert "matches no known architecture" in message
    assert "structure_in_channels=260" in message and "4 coordinate channels" in message


def test_foreign_state_dict_is_refused_in_one_line():
    with pytest.raises(ConversionError, match="not an official InfinityGAN generator") as err:
        detect_preset({"encoder.weight": torch.zeros(2, 2)})
    assert "\n" not in str(err.value)


def test_explicit_preset_overrides_detection_and_still_checks_shapes():
    data = _fixture("InfinityGAN-HR")
    g_state = {k: torch.zeros(v["shape"]) for k, v in data["generator"].items()}
    with pytest.raises(ConversionError, match="preset"):
        from_official(g_state, preset="paper-101")


def test_zero_padded_nci_layout_matches_the_official_forward():
    """The official StyleGAN2_NCI texture synthesizer (its construction loop and forward, at
    widths 16-8; scripts/make_nci_parity_fixture.py) and ours, converted from its weights, give
    the same image in float64: same layers, style slots, noise and skip upsampling."""
    import numpy as np

    from infinitygan.config import MappingConfig, ModelConfig, StructureConfig, TextureConfig

    data = dict(np.load(FIXTURES / "stylegan2_nci_small_parity.npz"))
    g_state = {k: torch.from_numpy(v) for k, v in data.items() if k.startswith("texture_")}
    style_dim = data["styles"].shape[-1]
    g_state["texture_synthesizer.mapping.1.weight"] = torch.zeros(style_dim, style_dim)
    g_state["texture_synthesizer.mapping.1.bias"] = torch.zeros(style_dim)
    config = ModelConfig(
        name="nci-small",
        mapping=MappingConfig(z_dim=style_dim, w_dim=style_dim, num_layers=1),
        structure=StructureConfig(local_dim=8, channels=8, num_layers=0),
        texture=TextureConfig(channels=(16, 16, 12, 12, 8), padding="zero"),
        patch_size=128,
        full_size=128,
        pre_resize=None,
    )
    G, _ = from_official(g_state, preset=config)
    G = G.double()
    noise = [torch.from_numpy(data[f"noise{i}"]).double() for i in range(G.num_convs)]
    with torch.no_grad():
        image = G.texture(
            torch.from_numpy(data["zl"]).double(), torch.from_numpy(data["styles"]).double(), noise
        )
    ref = torch.from_numpy(data["image"]).double()
    assert image.shape == ref.shape == (1, 3, 64, 96)
    assert G.geometry.texture_conv_sizes(2)[-1] == 64
    assert (image - ref).abs().max() < 1e-6 * ref.std()


@pytest.mark.parametrize("preset", ["paper-hr", "paper-ur"])
def test_hr_and_ur_layouts_tile_exactly_at_small_widths(preset):
    """The HR / UR layouts (six / seven texture pairs, 64 / 128 px per structure cell) with few
    channels: a region rendered in tiles equals the one-shot render."""
    import dataclasses

    from infinitygan import build_generator, generate_region
    from infinitygan.canvas import one_shot_region
    from infinitygan.config import TextureConfig

    official = get_preset(preset)
    tiny = get_preset("tiny")
    pairs = len(official.texture.channels)
    config = dataclasses.replace(
        official,
        name=f"{preset}-small",
        mapping=tiny.mapping,
        structure=tiny.structure,
        texture=TextureConfig(channels=(8,) * pairs),
        discriminator=tiny.discriminator,
    )
    G = build_generator(config, seed=1)
    with torch.no_grad():
        for conv in G.texture_synthesizer.convs:
            conv.noise.strength.fill_(0.3)
    assert G.geometry.scale == 2**pairs
    assert G.geometry.texture_out(11) == official.patch_size
    tiled = generate_region(G, 3, -50, 70, 90, 130, tile=48)
    assert tiled.shape == (3, 90, 130)
    assert (tiled - one_shot_region(G, 3, -50, 70, 90, 130)).abs().max() < 1e-4


def test_blur_kernel_size_tells_the_padding():
    """The same parameter shapes with 4-tap blur kernels are a zero-padded model: the
    padding-free stylegan2-nci-fcg is not picked for them."""
    data = _fixture("StyleGAN2_NCI_FCG")
    g_state = {k: torch.zeros(v["shape"]) for k, v in data["generator"].items()}
    assert detect_preset(g_state) == "stylegan2-nci-fcg"
    for key in g_state:
        if key.endswith(".kernel"):
            g_state[key] = torch.zeros(4, 4)
    with pytest.raises(ConversionError, match="blur_taps=4"):
        detect_preset(g_state)


def test_convert_cli_refuses_an_unknown_architecture_in_one_line(tmp_path):
    from click.testing import CliRunner

    from infinitygan.cli import main

    g_state = {
        "texture_synthesizer.mapping.1.weight": torch.zeros(8, 8),
        "texture_synthesizer.mapping.1.bias": torch.zeros(8),
        "texture_synthesizer.convs.0.conv.weight": torch.zeros(1, 4, 8, 3, 3),
    }
    ckpt = tmp_path / "odd.pth.tar"
    torch.save({"g_ema": g_state}, ckpt)
    out = tmp_path / "odd.safetensors"
    result = CliRunner().invoke(main, ["convert", str(ckpt), str(out)])
    assert result.exit_code != 0
    assert "matches no known architecture" in result.output
    assert "texture_convs=1" in result.output and "z_dim=8" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_hr_layout_trains_at_its_patch_size_with_small_widths():
    """One training step of the paper-hr layout (389-px patches of 773-px images, six texture
    pairs, a seven-block discriminator) with few channels: every loss term, all finite."""
    import dataclasses
    import math

    from infinitygan.config import DiscriminatorConfig, TextureConfig
    from infinitygan.train import RunConfig, TrainConfig, Trainer

    official, tiny = get_preset("paper-hr"), get_preset("tiny")
    model = dataclasses.replace(
        official,
        name="paper-hr-small",
        mapping=tiny.mapping,
        structure=tiny.structure,
        texture=TextureConfig(channels=(8,) * 6),
        discriminator=DiscriminatorConfig(channel_base=1024, channel_max=16, stddev_group=2),
    )
    run = RunConfig(
        model=model,
        train=TrainConfig(batch=2, r1_interval=1000, pl_interval=1000),
        total_steps=1,
        sample_seeds=(),
        deterministic=True,
    )
    trainer = Trainer(run, torch.device("cpu"))
    assert len(trainer.D.blocks) == 7 and trainer.coord_loss
    g = torch.Generator().manual_seed(0)
    stats = trainer.train_step((torch.rand(2, 3, 389, 389, generator=g) * 2 - 1, torch.zeros(2)))
    assert {"D/adv", "D/coord_real", "G/adv", "G/coord", "G/diversity"} <= set(stats)
    assert all(math.isfinite(v) for v in stats.values())
