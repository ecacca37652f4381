"""Fine-tuning: a training run that starts from a trained model (``infinitygan train --init``).

MODEL is one of

* a training run folder (its latest complete snapshot) or a snapshot folder: G, G_ema and D from
  its ``generator``, ``generator_ema`` and ``discriminator`` files;
* a generator file ``X.safetensors`` or the name of a bundled model: G and G_ema both from it
  (the average style ``w_avg`` included), D from its companion discriminator file
  (:func:`discriminator_file_for`) when there is one, otherwise from scratch (a warning, and
  ``InitSource.discriminator`` is None in ``training_options.json``).

The run takes MODEL's architecture (the model config embedded in its generator file, which
includes the discriminator's); every weight file must fit it exactly, and a preset or
discriminator setting that changes what the weights need is an error. The optimisers, the
step counter, the images seen and the path-length mean start fresh, in a new run folder.
:func:`resolve_init` checks everything before a run folder is made; :func:`apply_init` loads
the weights into a new run's networks (and again when a run without a snapshot is resumed,
after checking that the files did not change).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from infinitygan.checkpoint import (
    BUNDLED_DIR,
    RANDOM_PREFIX,
    CheckpointError,
    model_hash,
    read_model_config,
    resolve_model_folder,
    resolve_model_path,
)
from infinitygan.config import ModelConfig
from infinitygan.models import Generator, build_discriminator
from infinitygan.presets import get_preset
from infinitygan.train.config import InitSource
from infinitygan.train.snapshots import (
    D_FILE,
    G_FILE,
    load_module_weights,
    read_discriminator_config,
    read_weights,
    weights_mismatch,
)

logger = logging.getLogger(__name__)

DISCRIMINATOR_SUFFIX = ".discriminator.safetensors"
BUNDLED_DISCRIMINATOR_DIR = BUNDLED_DIR / "discriminators"


def discriminator_file_for(generator: str | Path) -> Path:
    """Where the discriminator trained with a generator file is shipped: ``X.discriminator
    .safetensors`` beside ``X.safetensors``; for a bundled model ``NAME``,
    ``assets/models/discriminators/NAME.safetensors`` (a subfolder, so that it is not listed as a
    bundled model)."""
    generator = Path(generator)
    if generator.resolve().parent == BUNDLED_DIR.resolve():
        return BUNDLED_DISCRIMINATOR_DIR / generator.name
    stem = generator.name.removesuffix(".safetensors")
    return generator.with_name(stem + DISCRIMINATOR_SUFFIX)


@dataclasses.dataclass(frozen=True)
class _Files:
    generator: Path
    generator_ema: Path
    discriminator: Path | None


def _source_files(spec: str) -> _Files:
    """The weight files of MODEL (absolute paths)."""
    if spec.startswith(RANDOM_PREFIX):
        raise CheckpointError(
            f"--init {spec}: an untrained model has no weights to start from; use --preset "
            "for a run from scratch"
        )
    path = Path(spec).expanduser()
    if path.is_dir():
        g_ema, _ = resolve_model_folder(path)
        snapshot = g_ema.parent
        missing = [name for name in (G_FILE, D_FILE) if not (snapshot / name).is_file()]
        if missing:
            raise CheckpointError(f"{snapshot}: the snapshot has no {' or '.join(missing)}")
        return _Files((snapshot / G_FILE).resolve(), g_ema.resolve(), (snapshot / D_FILE).resolve())
    generator = Path(resolve_model_path(spec)).resolve()
    companion = discriminator_file_for(generator)
    return _Files(generator, generator, companion.resolve() if companion.is_file() else None)


def _check_preset(spec: str, model: ModelConfig, preset: str) -> None:
    """Refuse a ``--preset`` whose architecture is not MODEL's (the name aside)."""
    wanted = dataclasses.replace(get_preset(preset), name=model.name)
    if wanted != model:
        fields = [
            f.name
            for f in dataclasses.fields(model)
            if getattr(wanted, f.name) != getattr(model, f.name)
        ]
        raise CheckpointError(
            f"--preset {preset} conflicts with --init {spec} (a {model.name} model): they differ "
            f"in {', '.join(fields)}; leave out --preset, the run takes the model's architecture"
        )


def _check_fits(module: nn.Module, path: Path, what: str, hint: str = "") -> None:
    """Refuse a weight file that does not fit ``module`` (built on the meta device)."""
    optional = ("w_avg",) if isinstance(module, Generator) else ()  # files from before w_avg
    problem = weights_mismatch(module, read_weights(path), optional)
    if problem is not None:
        raise CheckpointError(
            f"{path}: the {what} weights do not fit the run's model: {problem}{hint}"
        )


def resolve_init(
    spec: str, *, preset: str | None = None, discriminator: dict[str, Any] | None = None
) -> tuple[InitSource, ModelConfig]:
    """The files ``--init MODEL`` loads and the run's model config, all checked.

    Args:
        spec: MODEL (see the module docstring).
        preset: ``--preset``, when given: it must describe MODEL's architecture.
        discriminator: ``--set discriminator.FIELD=VALUE`` overrides; with a discriminator file
            they must keep the shapes of its weights.

    Returns:
        ``(source, model)``: what :func:`apply_init` loads (paths and SHA-256 of the files) and
        the model config of the run.

    Raises:
        CheckpointError: MODEL is missing or unreadable, or its weights do not fit the model the
            settings ask for (the message names the conflict).
    """
    files = _source_files(spec)
    model = read_model_config(files.generator_ema)
    if files.generator != files.generator_ema and read_model_config(files.generator) != model:
        raise CheckpointError(
            f"{files.generator} and {files.generator_ema} embed different model configs"
        )
    if files.discriminator is not None:
        _, d_patch = read_discriminator_config(files.discriminator)
        if d_patch != model.patch_size:
            raise CheckpointError(
                f"{files.discriminator}: a discriminator of {d_patch}-px patches, but "
                f"{spec} generates {model.patch_size}-px patches"
            )
    if preset is not None:
        _check_preset(spec, model, preset)
    if discriminator:
        d_config = dataclasses.replace(model.discriminator, **discriminator)
        model = dataclasses.replace(model, discriminator=d_config)
    with torch.device("meta"):  # shapes only: nothing is allocated or initialised
        G = Generator(model)
    for path in dict.fromkeys((files.generator, files.generator_ema)):
        _check_fits(G, path, "generator")
    if files.discriminator is not None:
        with torch.device("meta"):
            D = build_discriminator(model.discriminator, model.patch_size)
        hint = ""
        if discriminator:
            settings = ", ".join(f"DiscriminatorConfig.{k}" for k in sorted(discriminator))
            hint = f" (changed by {settings})"
        _check_fits(D, files.discriminator, "discriminator", hint)
    d_file = files.discriminator
    source = InitSource(
        model=spec,
        generator=str(files.generator),
        generator_sha256=model_hash(files.generator),
        generator_ema=str(files.generator_ema),
        generator_ema_sha256=model_hash(files.generator_ema),
        discriminator=None if d_file is None else str(d_file),
        discriminator_sha256=None if d_file is None else model_hash(d_file),
    )
    return source, model


def apply_init(source: InitSource, G: Generator, G_ema: Generator, D: nn.Module) -> None:
    """Load the weights recorded in ``source`` into a run's networks, in place and exactly
    (half-precision files are cast to float32).

    Raises:
        CheckpointError: a file is gone or changed since :func:`resolve_init` hashed it.
    """
    files = [
        (source.generator, source.generator_sha256),
        (source.generator_ema, source.generator_ema_sha256),
    ]
    if source.discriminator is not None and source.discriminator_sha256 is not None:
        files.append((source.discriminator, source.discriminator_sha256))
    for path, digest in files:
        if not Path(path).is_file():
            raise CheckpointError(f"the run starts from {path}, which is gone; restore it")
        if model_hash(path) != digest:
            raise CheckpointError(
                f"{path} changed since the run started from it (SHA-256 {digest[:12]}... "
                "recorded); restore that file or start a new run"
            )
    load_module_weights(G, Path(source.generator))
    load_module_weights(G_ema, Path(source.generator_ema))
    if source.discriminator is not None:
        load_module_weights(D, Path(source.discriminator))
        logger.info(
            "initialised G from %s, G_ema from %s, D from %s",
            source.generator,
            source.generator_ema,
            source.discriminator,
        )
    else:
        logger.info("initialised G and G_ema from %s", source.generator)
        logger.warning(
            "%s has no discriminator file (%s): the discriminator starts from scratch "
            "(--set train.d_warmup_kimg=16 trains it alone before G moves; docs/training.md)",
            source.model,
            discriminator_file_for(source.generator),
        )
