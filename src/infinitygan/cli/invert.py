"""`infinitygan invert`: find the latents that reproduce an image at a place of the canvas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from infinitygan.cli._common import check_new_outputs, model_input, prepare_output
from infinitygan.cli._group import main
from infinitygan.cli._models import check_image_size, load_model, read_image, run_inversion
from infinitygan.cli._options import (
    FEATURE_LOSS_CHOICE,
    POSITION_HELP,
    SEED,
    device_option,
    force_option,
    position_option,
)


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
@position_option(
    "--at",
    "Canvas position of the image's top-left pixel: "
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
    at: tuple[int, int] | None,
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
    top, left = at if at is not None else default_position(h, w)
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
