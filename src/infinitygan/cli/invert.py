"""`infinitygan invert`: find the latents that reproduce an image at a place of the canvas.

Also holds the helpers the other application commands share (model and image loading, inversion
with a progress bar, writing a described canvas).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from infinitygan.cli._common import (
    POSITION_HELP,
    SEED,
    check_new_outputs,
    device_option,
    finished_before,
    force_option,
    model_input,
    output_locks,
    parse_offset,
    prepare_output,
    resolve_device,
    warn_slow_precision,
)
from infinitygan.cli._group import main

FEATURE_LOSS_CHOICE = click.Choice(["pyramid", "inception", "lpips", "none"])


def load_model(model: str, device: str) -> tuple[Any, Path, str]:
    """(generator on ``device``, model path, sha256) or a ClickException."""
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
    return G.to(resolve_device(device)), path, model_hash(path)


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


def output_paths(out: Path, seeds: list[int]) -> list[Path]:
    """One output per seed: ``out`` itself, or ``STEM-seedNNNN.EXT`` when there are several."""
    from infinitygan.cli.generate import seed_path

    return [seed_path(out, s, len(seeds) > 1) for s in seeds]


def check_outputs(
    paths: list[Path], height: int, width: int, *, extra: Sequence[Path | None] = ()
) -> None:
    """Fail early (before any work) for outputs that cannot be written.

    ``paths`` are canvas outputs (format, size, disk space and folder checked); ``extra`` are
    the other files the command writes (see :func:`~infinitygan.cli._common.prepare_output`).
    """
    from infinitygan.writers import check_output_path

    for p in paths:
        prepare_output(p, kind="any")  # a zarr output is a folder
        try:
            check_output_path(p, height, width)
        except ValueError as err:
            raise click.ClickException(str(err)) from None
    for p in extra:
        prepare_output(p)


def check_image_output(path: Path | None, what: str) -> None:
    """Refuse, before any work, an image file name that Pillow cannot write."""
    if path is None:
        return
    from PIL import Image

    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        raise click.BadParameter(
            f"{path}: {path.suffix or 'no extension'} is not an image format that can be "
            "written; use .png, .jpg or .webp",
            param_hint=what,
        )


def description_targets(save_description: Path | None, paths: list[Path]) -> list[Path]:
    """Where ``--save-description`` writes: the path itself, or ``STEM.canvas.json`` beside
    each output when there are several."""
    if save_description is None:
        return []
    if len(paths) == 1:
        return [save_description]
    return [save_description.with_name(f"{p.stem}.canvas.json") for p in paths]


def check_description_path(save_description: Path | None) -> None:
    """``--save-description`` must name a .json file."""
    if save_description is not None and save_description.suffix.lower() != ".json":
        raise click.BadParameter(
            f"{save_description} is not a .json file name; the canvas description is JSON",
            param_hint="--save-description",
        )


def write_outputs(
    G: Any,
    descriptions: list[Any],
    paths: list[Path],
    region: tuple[int, int, int, int],
    *,
    chunk: int,
    resume: bool,
    precision: str,
    max_memory: int,
    command: str,
    save_description: Path | None = None,
    force: bool = False,
    truncation: float = 1.0,
) -> None:
    """Render each description's region to its path with a progress bar (sidecar included).
    ``truncation`` is psi of :func:`~infinitygan.applications.scene.render_region`.

    The caller holds the lock of ``--out`` (see :func:`output_locks`); with several paths each
    is locked while it is written.
    """
    from infinitygan import __version__
    from infinitygan.applications.outpaint import relative_placements

    top, left, height, width = region
    warn_slow_precision(str(next(G.parameters()).device), precision)
    targets = description_targets(save_description, paths)
    for i, (desc, path) in enumerate(zip(descriptions, paths)):
        stored = relative_placements(desc, path.parent)
        described = stored.to_dict()
        model = described.pop("model", None)
        # Everything that determines the pixels: a resume with other values is refused.
        settings = {
            "model_sha256": model["sha256"] if model else None,
            "description": described,
            "region": {"top": top, "left": left, "height": height, "width": width},
            "precision": precision,
        }
        if truncation != 1.0:  # absent at psi = 1, so partial files of earlier versions resume
            settings["truncation"] = truncation
        # The caller holds the lock of --out; several seeds' files are locked one by one.
        with output_locks([path] if len(paths) > 1 else []):
            if not (resume and finished_before(path, settings, force=force)):
                metadata = {
                    "software": f"infinitygan {__version__}",
                    "command": command,
                    "description": stored.to_dict(),
                    "region": settings["region"],
                    "precision": precision,
                    "truncation": truncation,
                }
                _write_one(
                    G,
                    desc,
                    path,
                    region,
                    chunk=chunk,
                    metadata=metadata,
                    resume=resume,
                    settings=settings,
                    precision=precision,
                    max_memory=max_memory,
                    truncation=truncation,
                )
        if targets:
            target = targets[i]
            relative_placements(desc, target.parent).save(target)
            click.echo(f"wrote {target}")


def _write_one(
    G: Any,
    description: Any,
    path: Path,
    region: tuple[int, int, int, int],
    **kwargs: Any,
) -> None:
    """Render one description's region to ``path`` with a progress bar; errors in one line."""
    from tqdm import tqdm

    from infinitygan.applications.output import write_description

    top, left, height, width = region
    bar = tqdm(total=None, unit="chunk", desc=path.name)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(1)

    try:
        stats = write_description(
            G, description, path, top, left, height, width, progress=progress, **kwargs
        )
    except (ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from None
    finally:
        bar.close()
    click.echo(f"wrote {path} ({width}x{height}, {stats['seconds']:.1f} s)")


@main.command("invert")
@click.argument("model")
@click.argument("image", type=click.Path(path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Latents file to write (.safetensors).",
)
@click.option("--steps", type=click.IntRange(1, 100000), default=400, help="Optimisation steps.")
@click.option(
    "--at",
    "at_text",
    default=None,
    help="Canvas position of the image's top-left pixel: "
    + POSITION_HELP
    + " (default: centred on the horizon, column 0).",
)
@click.option("--seed", "init_seed", type=SEED, default=0, help="Seed of the initial latents.")
@click.option(
    "--feature-loss",
    type=FEATURE_LOSS_CHOICE,
    default="pyramid",
    help="Loss besides pixel L2: multi-scale pixel/gradient (offline), TF-FID Inception "
    "(needs infinitygan[fid]), LPIPS (needs the lpips package), or none.",
)
@click.option(
    "--preview",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the reconstruction (as the canvas renders it) to this image file.",
)
@device_option
@force_option
def invert_command(
    model: str,
    image: Path,
    out: Path,
    steps: int,
    at_text: str | None,
    init_seed: int,
    feature_loss: str,
    preview: Path | None,
    device: str,
    force: bool,
) -> None:
    """Invert IMAGE with MODEL: optimise global and local latents, per-layer styles and noise
    so that the canvas reproduces the image at a chosen place.

    The latents file records the canvas cells it covers, so `outpaint --latents`, `inbetween`
    and canvas descriptions can place it on canvases of any size without inverting again.

    Examples:

    \b
        infinitygan invert landscapes photo.png --out photo.latents.safetensors

    \b
        infinitygan invert my.safetensors photo.png --at x=2048,y=-128 --out p.safetensors
    """
    from infinitygan.applications.outpaint import default_position

    if out.suffix != ".safetensors":
        raise click.BadParameter("the latents file must end in .safetensors", param_hint="--out")
    check_image_output(preview, "--preview")
    check_new_outputs(
        [("--out", out), ("--preview", preview)],
        [model_input(model), ("IMAGE", image)],
        force=force,
    )
    prepare_output(out, "--out")
    prepare_output(preview, "--preview")
    G, _, sha = load_model(model, device)
    target = read_image(image)
    check_image_size(G, target, "IMAGE")
    h, w = target.shape[-2:]
    top, left = parse_offset(at_text, "--at") if at_text else default_position(h, w)
    latents = run_inversion(
        G,
        target,
        top,
        left,
        steps=steps,
        feature_loss=feature_loss,
        init_seed=init_seed,
        sha256=sha,
        label=image.name,
    )
    latents.save(out)
    click.echo(
        f"wrote {out}: {w}x{h} image at canvas (y={top}, x={left}), "
        f"PSNR {latents.stats['psnr']:.2f} dB after {steps} steps"
    )
    if preview is not None:
        _write_preview(G, out, latents, preview)


def _write_preview(G: Any, path: Path, latents: Any, preview: Path) -> None:
    import torch

    from infinitygan.applications.outpaint import outpaint_description, placement_for
    from infinitygan.applications.scene import render_region
    from infinitygan.imageio import save_image

    desc = outpaint_description(placement_for(path, latents, paste=False), seed=0)
    with torch.no_grad():
        rec = render_region(G, desc, latents.top, latents.left, latents.height, latents.width)
    save_image(rec, preview)
    click.echo(f"wrote {preview} (reconstruction)")
