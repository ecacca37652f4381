"""Import official InfinityGAN checkpoints (hubert0527/infinityGAN) into our modules.

This is the only module that knows the official parameter names. Official checkpoints
(``*.pth.tar``) hold ``g``, ``d``, ``g_ema``, optimiser states and counters; weights are stored raw
(equalised-lr scales applied at run time), exactly as our layers store them, so conversion is a
rename plus dropping the unused constant input, noise buffers and blur-kernel buffers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from infinitygan.config import ModelConfig
from infinitygan.models import Discriminator, Generator
from infinitygan.presets import get_preset

# (official pattern, our template); {n} groups are copied, {b} = block index - 1.
_G_RULES: list[tuple[str, str]] = [
    (
        r"structure_synthesizer\.implicit_model\.conv_stack\.(\d+)\.conv\.conv\.weight",
        "structure_synthesizer.layers.{0}.conv.weight",
    ),
    (
        r"structure_synthesizer\.implicit_model\.conv_stack\.(\d+)\.conv\.conv\.modulation\.(weight|bias)",
        "structure_synthesizer.layers.{0}.conv.affine.{1}",
    ),
    (
        r"structure_synthesizer\.implicit_model\.conv_stack\.(\d+)\.conv\.activate\.bias",
        "structure_synthesizer.layers.{0}.bias",
    ),
    (r"texture_synthesizer\.mapping\.(\d+)\.(weight|bias)", "mapping_network.layers.{0-1}.{1}"),
    (
        r"texture_synthesizer\.convs\.(\d+)\.conv\.weight",
        "texture_synthesizer.convs.{0}.conv.weight",
    ),
    (
        r"texture_synthesizer\.convs\.(\d+)\.conv\.modulation\.(weight|bias)",
        "texture_synthesizer.convs.{0}.conv.affine.{1}",
    ),
    (
        r"texture_synthesizer\.convs\.(\d+)\.noise\.weight",
        "texture_synthesizer.convs.{0}.noise.strength",
    ),
    (r"texture_synthesizer\.convs\.(\d+)\.activate\.bias", "texture_synthesizer.convs.{0}.bias"),
    (
        r"texture_synthesizer\.to_rgbs\.(\d+)\.conv\.weight",
        "texture_synthesizer.to_rgbs.{0}.conv.weight",
    ),
    (
        r"texture_synthesizer\.to_rgbs\.(\d+)\.conv\.modulation\.(weight|bias)",
        "texture_synthesizer.to_rgbs.{0}.conv.affine.{1}",
    ),
    (r"texture_synthesizer\.to_rgbs\.(\d+)\.bias", "texture_synthesizer.to_rgbs.{0}.bias"),
]
_G_DROP = re.compile(
    r"texture_synthesizer\.(const_z\.input|noises\.noise_\d+|convs\.\d+\.conv\.blur\.kernel"
    r"|to_rgbs\.\d+\.upsample\.kernel)"
)
_D_RULES: list[tuple[str, str]] = [
    (r"convs\.0\.0\.weight", "from_rgb.conv.weight"),
    (r"convs\.0\.1\.bias", "from_rgb.act_bias"),
    (r"convs\.(\d+)\.conv1\.0\.weight", "blocks.{0-1}.conv1.conv.weight"),
    (r"convs\.(\d+)\.conv1\.1\.bias", "blocks.{0-1}.conv1.act_bias"),
    (r"convs\.(\d+)\.conv2\.1\.weight", "blocks.{0-1}.conv2.conv.weight"),
    (r"convs\.(\d+)\.conv2\.2\.bias", "blocks.{0-1}.conv2.act_bias"),
    (r"convs\.(\d+)\.skip\.1\.weight", "blocks.{0-1}.skip.conv.weight"),
    (r"final_conv\.0\.weight", "final_conv.conv.weight"),
    (r"final_conv\.1\.bias", "final_conv.act_bias"),
    (r"(final_linear|coord_linear)\.(\d)\.(weight|bias)", "{0}.{1}.{2}"),
]
_D_DROP = re.compile(r"convs\.\d+\.(conv2|skip)\.0\.kernel")


class ConversionError(ValueError):
    """An official state dict does not match the requested preset."""


def _rename(key: str, rules: list[tuple[str, str]]) -> str | None:
    for pattern, template in rules:
        m = re.fullmatch(pattern, key)
        if m is None:
            continue
        groups = list(m.groups())
        out = template
        for i, g in enumerate(groups):
            minus_one = "{" + f"{i}-1" + "}"
            if minus_one in out:
                out = out.replace(minus_one, str(int(g) - 1))
            out = out.replace("{" + f"{i}" + "}", g)
        return out
    return None


def _convert_state(
    official: Mapping[str, Tensor],
    module: torch.nn.Module,
    rules: list[tuple[str, str]],
    drop: re.Pattern[str],
    what: str,
) -> dict[str, Tensor]:
    if not isinstance(official, Mapping):
        raise ConversionError(
            f"{what}: expected a state dict (names to tensors), found a {type(official).__name__}"
        )
    ours = module.state_dict()
    converted: dict[str, Tensor] = {}
    unknown: list[str] = []
    for key, value in official.items():
        if not isinstance(key, str) or not isinstance(value, Tensor):
            raise ConversionError(
                f"{what}: entry {key!r} is a {type(value).__name__}, not a named tensor; "
                "is it an InfinityGAN state dict?"
            )
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise ConversionError(
                f"{what}: official tensor {key!r} holds {bad} NaN/Inf value(s); the checkpoint "
                "is damaged (or its training diverged), so it is not converted"
            )
        key = key.removeprefix("module.")
        if drop.fullmatch(key):
            continue
        new = _rename(key, rules)
        if new is None or new not in ours:
            unknown.append(key)
            continue
        value = value.detach().to(torch.float32)
        target = ours[new]
        if value.ndim == target.ndim + 1 and value.shape[0] == 1:
            value = value[0]  # official modulated-conv weights carry a leading batch dim of 1
        if value.shape != target.shape:
            raise ConversionError(
                f"{what}: official {key} has shape {tuple(value.shape)} but this preset expects "
                f"{tuple(target.shape)} for {new}; convert with the preset the model was "
                "trained with"
            )
        converted[new] = value
    missing = sorted(set(ours) - set(converted))
    if unknown or missing:
        raise ConversionError(
            f"{what}: the state dict does not match this preset "
            f"(unrecognised official keys: {unknown[:8]}{'...' if len(unknown) > 8 else ''}; "
            f"missing: {missing[:8]}{'...' if len(missing) > 8 else ''}). Is it an InfinityGAN "
            "g_ema/d state dict, and is the preset right?"
        )
    return converted


def from_official(
    g_ema_state_dict: Mapping[str, Tensor],
    d_state_dict: Mapping[str, Tensor] | None = None,
    preset: str | ModelConfig = "paper-101",
) -> tuple[Generator, Discriminator | None]:
    """Build our generator (and discriminator) from official state dicts.

    Args:
        g_ema_state_dict: the official ``g_ema`` (or ``g``) state dict.
        d_state_dict: the official ``d`` state dict, or None.
        preset: preset name or config the official model was trained with.

    Returns:
        ``(generator, discriminator_or_None)`` in eval mode, float32, on CPU.

    Raises:
        ConversionError: when keys or shapes do not match the preset.
    """
    config = get_preset(preset) if isinstance(preset, str) else preset
    generator = Generator(config)
    generator.load_state_dict(
        _convert_state(g_ema_state_dict, generator, _G_RULES, _G_DROP, "generator")
    )
    generator.eval()
    discriminator = None
    if d_state_dict is not None:
        discriminator = Discriminator(config.discriminator, config.patch_size)
        discriminator.load_state_dict(
            _convert_state(d_state_dict, discriminator, _D_RULES, _D_DROP, "discriminator")
        )
        discriminator.eval()
    return generator, discriminator


def load_official_checkpoint(path: str | Path) -> dict:
    """Load an official ``.pth.tar`` without executing code from it.

    Uses ``torch.load(weights_only=True)``: tensors, containers and plain numbers only (plus
    numpy scalars, which official checkpoints use for ``best_fid``).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a checkpoint, or needs unrestricted unpickling.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    import numpy as np

    safe = [np.dtype, np.ndarray, type(np.dtype("float64")), type(np.dtype("float32"))]
    safe.append(np._core.multiarray.scalar if hasattr(np, "_core") else np.core.multiarray.scalar)
    safe.append(
        np._core.multiarray._reconstruct
        if hasattr(np, "_core")
        else np.core.multiarray._reconstruct
    )
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes); download or copy the checkpoint again")
    try:
        with torch.serialization.safe_globals(safe):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # re-raised with a clear message
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        if "unsupported global" not in str(err).lower():  # not a safety refusal
            raise ValueError(
                f"cannot read {path} as a PyTorch checkpoint ({type(err).__name__}: {message}); "
                "the file is truncated, damaged or of another kind"
            ) from None
        raise ValueError(
            f"cannot load {path} safely: {message}. Only plain tensor checkpoints are read "
            "(no unrestricted unpickling, which could run code from the file). Re-save the state "
            "dicts with torch.save({'g_ema': g_ema.state_dict(), 'd': d.state_dict()}) in a "
            "trusted environment and convert that file."
        ) from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds a {type(data).__name__}, not a checkpoint dict")
    return data


def convert_checkpoint(
    path: str | Path, preset: str = "paper-101"
) -> tuple[Generator, Discriminator | None]:
    """Load an official checkpoint file and convert its ``g_ema`` (and ``d``)."""
    data = load_official_checkpoint(path)
    if "g_ema" in data:
        g_state = data["g_ema"]
    elif "g" in data:
        g_state = data["g"]
    elif any(isinstance(k, str) and k.startswith("texture_synthesizer.") for k in data):
        g_state = data
    else:
        raise ValueError(
            f"{path} has no 'g_ema' or 'g' entry (keys: {sorted(map(str, data))[:10]}); "
            "is it an InfinityGAN checkpoint?"
        )
    return from_official(g_state, data.get("d"), preset)
