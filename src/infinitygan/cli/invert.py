"""`infinitygan invert`: find the latents that reproduce an image at a place of the canvas.

Also holds the helpers the other application commands share (model and image loading, inversion
with a progress bar, writing a described canvas).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from infinitygan.cli._common import (
    POSITION_HELP,
    SEED,
    device_option,
    parse_offset,
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


def check_outputs(paths: list[Path], height: int, width: int) -> None:
    """Fail early (before any work) for outputs that cannot be written."""
    from infinitygan.writers import check_output_path

    for p in paths:
        if not p.parent.exists():
            try:
                p.parent.mkdir(parents=True)
            except OSError as err:
                raise click.ClickException(f"cannot create the folder {p.parent}: {err}") from None
        try:
            check_output_path(p, height, width)
        except ValueError as err:
            raise click.ClickException(str(err)) from None


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
) -> None:
    """Render each description's region to its path with a progress bar (sidecar included)."""
    from tqdm import tqdm

    from infinitygan import __version__
    from infinitygan.applications.outpaint import relative_placements
    from infinitygan.applications.output import write_description

    top, left, height, width = region
    warn_slow_precision(str(next(G.parameters()).device), precision)
    for desc, path in zip(descriptions, paths):
        stored = relative_placements(desc, path.parent)
        metadata = {
            "software": f"infinitygan {__version__}",
            "command": command,
            "description": stored.to_dict(),
            "region": {"top": top, "left": left, "height": height, "width": width},
            "precision": precision,
        }
        bar = tqdm(total=None, unit="chunk", desc=path.name)

        def progress(done: int, total: int, bar=bar) -> None:
            bar.total = total
            bar.update(1)

        try:
            stats = write_description(
                G,
                desc,
                path,
                top,
                left,
                height,
                width,
                chunk=chunk,
                metadata=metadata,
                resume=resume,
                progress=progress,
                precision=precision,
                max_memory=max_memory,
            )
        except (ValueError, FileNotFoundError) as err:
            raise click.ClickException(str(err)) from None
        finally:
            bar.close()
        click.echo(f"wrote {path} ({width}x{height}, {stats['seconds']:.1f} s)")
        if save_description is not None:
            target = save_description
            if len(paths) > 1:
                target = save_description.with_name(f"{path.stem}.canvas.json")
            relative_placements(desc, target.parent).save(target)
            click.echo(f"wrote {target}")


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
    from infinitygan.applications.render import render_region
    from infinitygan.imageio import save_image

    desc = outpaint_description(placement_for(path, latents, paste=False), seed=0)
    with torch.no_grad():
        rec = render_region(G, desc, latents.top, latents.left, latents.height, latents.width)
    save_image(rec, preview)
    click.echo(f"wrote {preview} (reconstruction)")
