"""What the commands share besides options and outputs: models, images, inversion, devices.

Each helper turns library errors into one-line click errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from infinitygan.cli._options import resolve_device

# Ranks meet at the end of each seed (rank 0 finalises the store once all are done), so a fast
# rank may wait for the slowest one's whole share of a long render.
GENERATION_TIMEOUT_S = 24 * 3600


def warn_slow_precision(device: str, precision: str | None) -> None:
    """One line on stderr when fp16 is asked for on the CPU, where it is emulated and slow."""
    if precision == "fp16" and device.startswith("cpu"):
        click.echo(
            "warning: --precision fp16 on the CPU is emulated and about 5-10x slower than fp32; "
            "use fp32 on the CPU",
            err=True,
        )


def distributed_context(device_name: str) -> tuple[int, int]:
    """(rank, world_size) under torchrun, (0, 1) otherwise.

    Joins the process group (nccl on CUDA with GPU ``LOCAL_RANK`` as this rank's device, gloo on
    the CPU) with a timeout that fits long renders; the group is destroyed when the command ends.
    """
    from infinitygan.train.distributed import init_distributed, shutdown_distributed

    info = init_distributed(
        "cuda" if device_name.startswith("cuda") else "cpu", timeout_s=GENERATION_TIMEOUT_S
    )
    if info.enabled:
        click.get_current_context().call_on_close(shutdown_distributed)
    return info.rank, info.world_size


def load_model(model: str, device: str | None = None) -> tuple[Any, Path, str]:
    """(generator, model path, sha256) or a ClickException; the generator is moved to ``device``
    (a name from the ``--device`` option) unless it is None."""
    from infinitygan.checkpoint import (
        CheckpointError,
        load_generator,
        model_hash,
        resolve_model_path,
    )

    try:
        path = resolve_model_path(model)
        G = load_generator(path)
    except CheckpointError as err:
        raise click.ClickException(str(err)) from None
    if device is not None:
        G = G.to(resolve_device(device))
    return G, path, model_hash(path)


def read_image(path: Path, what: str = "IMAGE") -> Any:
    """Image [3, H, W] in [-1, 1] or a ClickException naming the problem."""
    from infinitygan.imageio import load_image

    try:
        return load_image(path)
    except (FileNotFoundError, ValueError) as err:
        raise click.ClickException(f"{what}: {err}") from None


def latents_for_image(path: Path, image: Any, what: str, *, strict: bool = False) -> Any:
    """Load a latents file meant for ``image`` ([3, H, W] in [-1, 1]).

    Another size is refused. Other pixels of the same size give a warning (the result shows
    the latents' own image, not ``what``), or an error with ``strict``.
    """
    from infinitygan.applications.inverted import InvertedLatents, image_digest
    from infinitygan.imageio import to_uint8

    try:
        latents = InvertedLatents.load(path)
    except (FileNotFoundError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    h, w = image.shape[-2:]
    if (latents.height, latents.width) != (h, w):
        raise click.ClickException(
            f"{path} holds a {latents.width}x{latents.height} image but {what} is {w}x{h}; "
            "pass the image that was inverted"
        )
    if latents.image_sha256 != image_digest(to_uint8(image)):
        message = (
            f"{path} was inverted from another image than {what} (same size, other pixels); "
            "the result shows the image stored in the latents file"
        )
        if strict:
            raise click.ClickException(
                f"{message}; to start over with {what}, delete {path} and the outputs' "
                ".partial folders"
            )
        click.echo(f"warning: {message}", err=True)
    return latents


def resumed_latents(
    path: Path,
    image: Any,
    what: str,
    position: tuple[int, int],
    *,
    steps: int,
    feature_loss: str,
) -> Any:
    """The latents an interrupted run wrote for ``image`` at canvas ``position`` with these
    inversion settings, reused by --resume instead of inverting again; a ClickException naming
    the difference when they were made otherwise."""
    from dataclasses import asdict

    from infinitygan.applications.inversion import InversionConfig
    from infinitygan.writers import settings_differences

    latents = latents_for_image(path, image, what, strict=True)
    wanted = {
        "position": list(position),
        "inversion": asdict(InversionConfig(steps=steps, feature_loss=feature_loss)),
    }
    found = {
        "position": [latents.top, latents.left],
        "inversion": latents.stats.get("config"),
    }
    diffs = settings_differences(json.loads(json.dumps(found)), json.loads(json.dumps(wanted)))
    if diffs:
        raise click.ClickException(
            f"--resume: {path} was inverted with {'; '.join(diffs)}; rerun with the settings "
            f"of the interrupted run, or delete {path.name} and the outputs' .partial folders "
            "to start over"
        )
    click.echo(f"note: --resume reuses {path} from the interrupted run")
    return latents


def check_image_size(G: Any, image: Any, what: str) -> None:
    """Refuse images too small to invert, with the size needed."""
    from infinitygan.applications.inversion import min_image_side

    h, w = image.shape[-2:]
    side = min_image_side(G)
    if h < side or w < side:
        raise click.ClickException(
            f"{what} is {w}x{h} px; inversion needs at least {side} px per side "
            f"({side // 2} px per structure cell, two cells); upscale it first"
        )


def run_inversion(
    G: Any,
    image: Any,
    top: int,
    left: int,
    *,
    steps: int,
    feature_loss: str,
    init_seed: int,
    sha256: str,
    label: str,
) -> Any:
    """Invert with a tqdm bar showing loss and PSNR; library errors become ClickExceptions."""
    from tqdm import tqdm

    from infinitygan.applications.inversion import InversionConfig, invert

    try:
        config = InversionConfig(steps=steps, feature_loss=feature_loss)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    bar = tqdm(total=steps, desc=f"inverting {label}", unit="step")

    def progress(step: int, total: int, values: dict[str, float]) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{values['loss']:.4f}", psnr=f"{values['psnr']:.2f}dB")

    try:
        latents = invert(
            G,
            image,
            top=top,
            left=left,
            config=config,
            init_seed=init_seed,
            model_sha256=sha256,
            progress=progress,
        )
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    finally:
        bar.close()
    return latents
