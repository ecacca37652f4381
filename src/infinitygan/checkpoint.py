"""Self-describing generator files: safetensors weights with the JSON config embedded."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from infinitygan import __version__
from infinitygan._files import atomic_write
from infinitygan.config import ModelConfig
from infinitygan.latents import check_seed
from infinitygan.models import Generator
from infinitygan.presets import get_preset

FORMAT_NAME = "infinitygan-generator"
FORMAT_VERSION = 1
BUNDLED_DIR = Path(__file__).parent / "assets" / "models"


class CheckpointError(ValueError):
    """A generator file is missing, corrupted or from a newer format."""


def build_generator(preset: str | ModelConfig, seed: int = 0) -> Generator:
    """A freshly initialised generator of ``preset``; initialisation is keyed by ``seed``.

    Global RNG state is left untouched.
    """
    config = get_preset(preset) if isinstance(preset, str) else preset
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = Generator(config)
    return generator.eval()


def save_generator(
    generator: Generator, path: str | Path, *, half: bool = False, extra: dict | None = None
) -> Path:
    """Write ``generator`` to ``path`` (.safetensors) atomically, config and format embedded.

    Args:
        half: store weights as float16 (loading casts back to float32).
        extra: more JSON-serialisable metadata (e.g. training step).

    The file always carries the average style ``w_avg``: an unknown one is estimated first
    (:meth:`Generator.average_w`, deterministic), which also fills ``generator``'s buffer.
    """
    from safetensors.torch import save_file

    path = Path(path)
    generator.average_w()  # files always carry the average style (estimated if unknown)
    state = {
        k: (v.detach().to("cpu", torch.float16 if half else torch.float32)).contiguous()
        for k, v in generator.state_dict().items()
    }
    metadata = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "config": generator.config.to_json(),
        "software": f"infinitygan {__version__}",
        "extra": json.dumps(extra or {}),
    }
    return atomic_write(path, lambda tmp: save_file(state, tmp, metadata=metadata))


def resolve_model_folder(path: Path) -> tuple[Path, Path | None]:
    """The generator file of a training run folder (its latest snapshot's EMA generator) or of a
    snapshot folder, and the run folder (None for a snapshot folder).

    Raises:
        CheckpointError: the folder holds no complete snapshot.
    """
    from infinitygan.train.snapshots import G_EMA_FILE, latest_snapshot

    direct = path / G_EMA_FILE
    if direct.is_file():  # a snapshot folder
        return direct, None
    snap = latest_snapshot(path)
    if snap is None:
        raise CheckpointError(
            f"{path} is a folder without a complete training snapshot "
            f"(checkpoints/stepNNNNNNNN/{G_EMA_FILE}); give a run folder with a snapshot or "
            "a .safetensors generator file"
        )
    return snap.path / G_EMA_FILE, path


def resolve_model_path(name_or_path: str | Path) -> Path | str:
    """A file path, a training run or snapshot folder (resolved to its latest EMA generator file,
    see :func:`resolve_model_folder`), the name of a model bundled with the package, or
    ``random:PRESET[:SEED]`` (returned unchanged)."""
    if isinstance(name_or_path, str) and name_or_path.startswith(RANDOM_PREFIX):
        parse_random_spec(name_or_path)
        return name_or_path
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return resolve_model_folder(path)[0]
    if path.suffix == "" and not path.exists():
        bundled = BUNDLED_DIR / f"{name_or_path}.safetensors"
        if bundled.is_file():
            return bundled
        names = sorted(p.stem for p in BUNDLED_DIR.glob("*.safetensors"))
        raise CheckpointError(
            f"no model file {str(name_or_path)!r} and no bundled model of that name "
            f"(bundled: {', '.join(names) or 'none'})"
        )
    if not path.is_file():
        raise CheckpointError(f"no model file at {path}")
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    """The safetensors header metadata of a generator file (validated)."""
    from safetensors import safe_open

    path = resolve_model_path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as err:  # safetensors raises several error types
        raise CheckpointError(
            f"{path} is not a readable safetensors file ({err}); it may be truncated or corrupted"
        ) from None
    if meta.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{path} is not an infinitygan generator file (format {meta.get('format')!r}); "
            "official .pth.tar checkpoints must first go through `infinitygan convert`"
        )
    version = int(meta.get("format_version", "0"))
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} uses generator format {version}, newer than this infinitygan supports "
            f"({FORMAT_VERSION}); upgrade infinitygan"
        )
    return meta


def read_model_config(path: str | Path) -> ModelConfig:
    """The model config embedded in a generator file (validated; the weights are not read)."""
    meta = read_metadata(path)
    try:
        return ModelConfig.from_json(meta["config"])
    except (KeyError, ValueError) as err:
        raise CheckpointError(f"{path}: the embedded model config is invalid: {err}") from None


RANDOM_PREFIX = "random:"


def parse_random_spec(spec: str) -> tuple[str, int]:
    """``random:PRESET[:SEED]`` -> (preset, seed): an untrained model, for trying things out."""
    parts = spec[len(RANDOM_PREFIX) :].split(":")
    if len(parts) > 2 or not parts[0]:
        raise CheckpointError(f"{spec!r}: write random:PRESET or random:PRESET:SEED")
    try:
        seed = int(parts[1]) if len(parts) == 2 else 0
    except ValueError:
        raise CheckpointError(f"{spec!r}: the seed after the preset must be an integer") from None
    try:
        check_seed(seed, "the seed after the preset")
    except ValueError as err:
        raise CheckpointError(f"{spec!r}: {err}") from None
    return parts[0], seed


def check_finite(state: dict[str, torch.Tensor], where: str | Path) -> None:
    """Raise CheckpointError naming the first floating-point tensor holding NaN or Inf."""
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise CheckpointError(
                f"{where}: tensor {name!r} holds {bad} NaN/Inf value(s), so every image would be "
                "garbage; the weights are damaged (or training diverged): use an earlier snapshot "
                "or re-download the file"
            )


def with_w_avg(state: dict[str, torch.Tensor], module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``state`` of a generator file written before ``w_avg`` existed, completed with the
    module's "unknown" value, so that the average style is estimated when first needed
    (:meth:`Generator.average_w`). Other states are returned unchanged."""
    if isinstance(module, Generator) and "w_avg" not in state:
        state = {**state, "w_avg": module.w_avg.detach().cpu().clone()}
    return state


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> Generator:
    """Rebuild a generator from a file written by :func:`save_generator`, a bundled model name,
    or ``random:PRESET[:SEED]`` (an untrained model of that preset)."""
    from safetensors.torch import load_file

    if isinstance(path, str) and path.startswith(RANDOM_PREFIX):
        preset, seed = parse_random_spec(path)
        try:
            return build_generator(preset, seed).to(device)
        except ValueError as err:
            raise CheckpointError(str(err)) from None
    path = resolve_model_path(path)
    config = read_model_config(path)
    try:
        state = load_file(str(path))
    except Exception as err:
        raise CheckpointError(
            f"{path}: cannot read the weights ({err}); the file is corrupted"
        ) from None
    check_finite(state, path)
    generator = Generator(config)
    state = with_w_avg(state, generator)
    try:
        generator.load_state_dict({k: v.to(torch.float32) for k, v in state.items()})
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not match the embedded config: {err}") from None
    return generator.eval().to(device)


def model_hash(path: str | Path) -> str:
    """SHA-256 of a model file (recorded in sidecars so images can be regenerated)."""
    import hashlib

    digest = hashlib.sha256()
    resolved = resolve_model_path(path)
    if isinstance(resolved, str):  # random:PRESET[:SEED] is fully described by its name
        digest.update(resolved.encode())
        return digest.hexdigest()
    with open(resolved, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
