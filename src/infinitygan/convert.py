"""Import official InfinityGAN checkpoints (hubert0527/infinityGAN) into our modules.

This is the only module that knows the official parameter names. Official checkpoints
(``*.pth.tar``) hold ``g``, ``d``, ``g_ema``, optimiser states and counters; weights are stored raw
(equalised-lr scales applied at run time), exactly as our layers store them, so conversion is a
rename plus dropping the unused constant input, noise buffers and blur-kernel buffers.

Every official model config converts (``configs/model/*.yaml`` of hubert0527/infinityGAN at
a9b45dd): InfinityGAN (preset ``paper-101``), -IOF and -IOP (same architecture: ``paper-iof``,
``paper-iop``), -HR (``paper-hr``; ``paper-hr-197`` at the official README's 197-of-389 sizes),
-UR (``paper-ur``) and the baselines StyleGAN2_NCI
(``stylegan2-nci``) and StyleGAN2_NCI_FCG (``stylegan2-nci-fcg``); InfinityGAN_maps (four
coordinate channels) does not. The architecture is detected from the state dict's keys and shapes
(:func:`detect_preset`); a preset given explicitly overrides it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import torch
from torch import Tensor

from infinitygan.config import ModelConfig
from infinitygan.models import Discriminator, Generator
from infinitygan.presets import PRESETS, get_preset

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


def _check_state(official: object, what: str) -> None:
    """Refuse what is not a state dict of finite tensors, naming the first bad entry."""
    if not isinstance(official, Mapping):
        raise ConversionError(
            f"{what}: expected a state dict (names to tensors), found a {type(official).__name__}"
        )
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


# Our buffers without an official counterpart (the official code has no truncation, so no mean
# latent): kept at their initial value ("unknown", see Generator.average_w).
_OURS_ONLY = ("w_avg",)


def _convert_state(
    official: Mapping[str, Tensor],
    module: torch.nn.Module,
    rules: list[tuple[str, str]],
    drop: re.Pattern[str],
    what: str,
) -> dict[str, Tensor]:
    ours = module.state_dict()
    converted: dict[str, Tensor] = {}
    unknown: list[str] = []
    for key, value in official.items():
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
    for key in _OURS_ONLY:  # official models carry no average style: estimated when used
        if key in ours and key not in converted:
            converted[key] = ours[key]
    missing = sorted(set(ours) - set(converted))
    if unknown or missing:
        raise ConversionError(
            f"{what}: the state dict does not match this preset "
            f"(unrecognised official keys: {unknown[:8]}{'...' if len(unknown) > 8 else ''}; "
            f"missing: {missing[:8]}{'...' if len(missing) > 8 else ''}). Is it an InfinityGAN "
            "g_ema/d state dict, and is the preset right?"
        )
    return converted


# Presets tried by detect_preset, in order: the official configs first (paper-101 before
# paper-iof and paper-iop, which share its architecture), then the project's own.
_OFFICIAL_PRESETS = (
    "paper-101",
    "paper-hr",
    "paper-hr-197",
    "paper-ur",
    "stylegan2-nci",
    "stylegan2-nci-fcg",
)


@dataclass(frozen=True)
class OfficialArchitecture:
    """What an official state dict's keys and shapes say about its model.

    Attributes:
        mapping_layers, z_dim, w_dim: the mapping network (depth, global latent, style width).
        structure_layers: structure-synthesizer layers (0: none, the baselines).
        structure_kernel: their kernel size (7 in every official config; 0 without layers).
        structure_in_channels: input channels of structure layer 0 (local latent + coordinates).
        coord_channels: coordinate channels (structure layer 1's input minus layer 0's output;
            0 without a second structure layer).
        structure_channels: width of the structure latent (the texture synthesizer's input).
        texture_convs, to_rgbs: texture convolutions and ToRGB layers.
        texture_channels: output width of every texture conv.
        blur_taps: taps of the texture upsampling blur (3: padding-free, 4: zero-padded
            StyleGAN2, 0: no blur-kernel buffers in the state dict).
        d_from_rgb, d_blocks, d_final_features, d_coord_head: discriminator from-RGB width,
            residual blocks, input width of the first final linear layer, coordinate-head
            outputs (0: none); all 0 without a discriminator state dict.
    """

    mapping_layers: int
    z_dim: int
    w_dim: int
    structure_layers: int
    structure_kernel: int
    structure_in_channels: int
    coord_channels: int
    structure_channels: int
    texture_convs: int
    to_rgbs: int
    texture_channels: tuple[int, ...]
    blur_taps: int
    d_from_rgb: int = 0
    d_blocks: int = 0
    d_final_features: int = 0
    d_coord_head: int = 0

    def describe(self) -> str:
        """One line naming every fact (for error messages)."""
        return ", ".join(f"{k}={v}" for k, v in asdict(self).items())


def _shape(state: Mapping[str, Tensor], key: str) -> tuple[int, ...] | None:
    value = state.get(key)
    return None if value is None else tuple(value.shape)


def _count(state: Mapping[str, Tensor], pattern: str) -> int:
    regex = re.compile(pattern)
    return len({m.group(1) for k in state if (m := regex.fullmatch(k))})


def _strip(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {k.removeprefix("module."): v for k, v in state.items()}


def official_architecture(
    g_state_dict: Mapping[str, Tensor], d_state_dict: Mapping[str, Tensor] | None = None
) -> OfficialArchitecture:
    """Read the architecture facts of an official ``g_ema`` (and ``d``) state dict.

    Raises:
        ConversionError: the state dict is not an official InfinityGAN generator (no mapping or
            texture synthesizer keys).
    """
    g = _strip(g_state_dict)
    ts = "texture_synthesizer."
    ss = "structure_synthesizer.implicit_model.conv_stack."
    mapping = _count(g, re.escape(ts) + r"mapping\.(\d+)\.weight")
    convs = _count(g, re.escape(ts) + r"convs\.(\d+)\.conv\.weight")
    first = _shape(g, f"{ts}mapping.1.weight")
    if mapping == 0 or convs == 0 or first is None or len(first) != 2:
        found = sorted(g)[:5]
        raise ConversionError(
            f"not an official InfinityGAN generator state dict: no texture_synthesizer.mapping / "
            f"texture_synthesizer.convs weights (first keys: {found}); pass the checkpoint's "
            "'g_ema' entry"
        )
    conv_shapes = [_shape(g, f"{ts}convs.{i}.conv.weight") or () for i in range(convs)]
    if any(len(shape) != 5 for shape in conv_shapes):
        raise ConversionError(
            "official texture conv weights must be 5-D [1, out, in, k, k], got "
            f"{[list(shape) for shape in conv_shapes]}"
        )
    structure_layers = _count(g, re.escape(ss) + r"(\d+)\.conv\.conv\.weight")
    ss0 = _shape(g, f"{ss}0.conv.conv.weight")
    ss1 = _shape(g, f"{ss}1.conv.conv.weight")
    blur = next(
        (
            tuple(v.shape)
            for k, v in g.items()
            if re.fullmatch(re.escape(ts) + r"convs\.\d+\.conv\.blur\.kernel", k)
        ),
        (0,),
    )
    arch = OfficialArchitecture(
        mapping_layers=mapping,
        z_dim=first[1],
        w_dim=first[0],
        structure_layers=structure_layers,
        structure_kernel=ss0[-1] if ss0 and structure_layers else 0,
        structure_in_channels=ss0[2] if ss0 and structure_layers else conv_shapes[0][2],
        coord_channels=ss1[2] - ss0[1] if ss0 and ss1 else 0,
        structure_channels=conv_shapes[0][2],
        texture_convs=convs,
        to_rgbs=_count(g, re.escape(ts) + r"to_rgbs\.(\d+)\.conv\.weight"),
        texture_channels=tuple(shape[1] for shape in conv_shapes),
        blur_taps=blur[0],
    )
    if d_state_dict is None:
        return arch
    d = _strip(d_state_dict)
    from_rgb = _shape(d, "convs.0.0.weight")
    final = _shape(d, "final_linear.0.weight")
    coord = _shape(d, "coord_linear.1.weight")
    if from_rgb is None or final is None:
        raise ConversionError(
            "not an official InfinityGAN discriminator state dict: no convs.0.0.weight / "
            f"final_linear.0.weight (first keys: {sorted(d)[:5]}); pass the checkpoint's 'd' entry"
        )
    return OfficialArchitecture(
        **{
            **asdict(arch),
            "d_from_rgb": from_rgb[0],
            "d_blocks": _count(d, r"convs\.(\d+)\.conv1\.0\.weight"),
            "d_final_features": final[1],
            "d_coord_head": coord[0] if coord else 0,
        }
    )


@cache
def _preset_shapes(name: str) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """Parameter shapes of the preset's generator and discriminator (built on the meta device,
    so no memory is allocated)."""
    config = get_preset(name)
    with torch.device("meta"):
        generator = Generator(config)
        discriminator = Discriminator(config.discriminator, config.patch_size)
    return (
        {k: tuple(v.shape) for k, v in generator.state_dict().items() if k not in _OURS_ONLY},
        {k: tuple(v.shape) for k, v in discriminator.state_dict().items()},
    )


def _official_shapes(
    official: Mapping[str, Tensor], rules: list[tuple[str, str]], drop: re.Pattern[str]
) -> dict[str, tuple[int, ...]] | None:
    """Our names and shapes for an official state dict (None when a key has no rule)."""
    shapes = {}
    for key, value in _strip(official).items():
        if drop.fullmatch(key):
            continue
        new = _rename(key, rules)
        if new is None:
            return None
        shape = tuple(value.shape)
        shapes[new] = shape[1:] if len(shape) == 5 and shape[0] == 1 else shape
    return shapes


def detect_preset(
    g_state_dict: Mapping[str, Tensor], d_state_dict: Mapping[str, Tensor] | None = None
) -> str:
    """The preset whose architecture has exactly the official state dicts' keys and shapes.

    Official configs are tried first: an InfinityGAN, -IOF or -IOP state dict gives
    ``paper-101`` (the three share their shapes; only their data settings differ, so pass
    ``paper-iof`` / ``paper-iop`` explicitly for those).

    Raises:
        ConversionError: no preset matches; the message names what the state dict holds.
    """
    arch = official_architecture(g_state_dict, d_state_dict)
    g_shapes = _official_shapes(g_state_dict, _G_RULES, _G_DROP)
    d_shapes = None if d_state_dict is None else _official_shapes(d_state_dict, _D_RULES, _D_DROP)
    names = list(_OFFICIAL_PRESETS) + [n for n in PRESETS if n not in _OFFICIAL_PRESETS]
    # The blur kernels (dropped by the conversion) still tell the padding: 3 taps padding-free,
    # 4 taps StyleGAN2's zero padding.
    padding = {3: "none", 4: "zero"}.get(arch.blur_taps)
    for name in names:
        ours_g, ours_d = _preset_shapes(name)
        if g_shapes != ours_g:
            continue
        if padding is not None and get_preset(name).texture.padding != padding:
            continue
        if d_state_dict is not None and d_shapes != ours_d:
            continue
        return name
    hint = ""
    if arch.coord_channels not in (0, 3):
        hint = (
            f" Its structure synthesizer takes {arch.coord_channels} coordinate channels; only "
            "the 3-channel encoding [tanh y, cos x, sin x] is supported (InfinityGAN_maps, "
            "with 4, is not)."
        )
    raise ConversionError(
        f"the state dict matches no known architecture (found {arch.describe()}); presets "
        f"compared: {', '.join(names)}. A model trained with another config converts with "
        "from_official(..., preset=ModelConfig(...))." + hint
    )


def from_official(
    g_ema_state_dict: Mapping[str, Tensor],
    d_state_dict: Mapping[str, Tensor] | None = None,
    preset: str | ModelConfig | None = None,
) -> tuple[Generator, Discriminator | None]:
    """Build our generator (and discriminator) from official state dicts.

    Args:
        g_ema_state_dict: the official ``g_ema`` (or ``g``) state dict.
        d_state_dict: the official ``d`` state dict, or None.
        preset: preset name or config the official model was trained with; None detects it
            from the state dicts (:func:`detect_preset`).

    Returns:
        ``(generator, discriminator_or_None)`` in eval mode, float32, on CPU; the generator's
        ``config.name`` is the preset's.

    Raises:
        ConversionError: when keys or shapes do not match the preset (or no preset matches).
    """
    _check_state(g_ema_state_dict, "generator")
    if d_state_dict is not None:
        _check_state(d_state_dict, "discriminator")
    if preset is None:
        preset = detect_preset(g_ema_state_dict, d_state_dict)
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
    path: str | Path, preset: str | None = None
) -> tuple[Generator, Discriminator | None]:
    """Load an official checkpoint file and convert its ``g_ema`` (and ``d``); ``preset=None``
    detects the architecture."""
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
