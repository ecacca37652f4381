"""`infinitygan fuse`: one canvas, several global styles anchored over it and blended (§3.4)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from infinitygan.cli._common import (
    check_description_path,
    check_new_outputs,
    check_outputs,
    model_input,
    output_locks,
    sidecars,
    write_outputs,
)
from infinitygan.cli._group import main
from infinitygan.cli._models import load_model
from infinitygan.cli._options import (
    POSITION_HELP,
    description_output_options,
    out_option,
    pick_seeds,
    position_option,
    seed_options,
    size_option,
)


@main.command("fuse")
@click.argument("model")
@seed_options("Seeds of the styles, one anchor each, e.g. 3,8,21 (repeats allowed).", repeats=True)
@size_option()
@click.option(
    "--layout",
    default="horizontal",
    help="Where the styles sit: horizontal, vertical, grid, or points:P;P;... with each point P "
    "as x=X,y=Y or the bare Y,X (row first), in pixels of the output image, one per seed.",
)
@click.option(
    "--blend",
    type=click.IntRange(0, 1 << 24),
    default=None,
    help="Width in pixels of the transition between styles "
    "[default: half the distance between the two closest anchors].",
)
@click.option(
    "--blend-kernel",
    type=click.Choice(["box", "gaussian"]),
    default="box",
    help="Blur of the nearest-anchor map: box (mean, as the paper) or gaussian.",
)
@position_option(
    "--offset",
    "Move the default framing (centred on the horizon, from column 0) by " + POSITION_HELP + ".",
    default="0,0",
)
@click.option(
    "--wrap",
    is_flag=True,
    help="360-degree panorama: width = the model's period; anchors repeat with the period.",
)
@out_option("Output file: .png .jpg .webp, or .tif/.zarr/.dzi for any size.")
@description_output_options
def fuse_command(
    model: str,
    seed: int | None,
    seeds: list[int] | None,
    size: tuple[int, int],
    layout: str,
    blend: int | None,
    blend_kernel: str,
    offset: tuple[int, int],
    wrap: bool,
    out: Path,
    save_description: Path | None,
    precision: str,
    truncation: float,
    max_memory: int | None,
    chunk: int,
    resume: bool,
    device: str,
    force: bool,
) -> None:
    """Generate a canvas from MODEL whose global style changes smoothly between several seeds.

    Each seed's global latent is anchored at a point of the canvas; every pixel takes the style of
    its nearest anchor, blurred over --blend pixels, in the structure synthesizer and in every
    texture layer. Local latents and noise come from the first seed, so `fuse --seeds 7` is
    exactly `generate --seed 7`.

    Examples:

    \b
        infinitygan fuse landscapes --seeds 3,8,21 --size 4096x512 --out fused.png

    \b
        infinitygan fuse landscapes --seeds 1-4 --size 2048x2048 --layout grid --out g.jpg

    \b
        infinitygan fuse landscapes --seeds 5,9 --size 1024x512 --out p.png \\
            --layout "points:x=9,y=9;x=900,y=400"
    """
    from infinitygan.canvas import image_framing

    height, width = size
    seeds = pick_seeds(seed, seeds, default=None)
    top, left = image_framing(height, width)
    top, left = top + offset[0], left + offset[1]
    check_description_path(save_description)
    check_new_outputs(
        [("--out", out), ("--save-description", save_description)],
        [model_input(model)],
        force=force,
        resume=resume,
        companions=sidecars([out]),
    )
    check_outputs([out], height, width, extra=[save_description])
    G, _, sha = load_model(model, device)
    spec = _fusion_spec(
        G, model, sha, seeds, (top, left, height, width), layout, blend, blend_kernel, wrap
    )
    spec = replace(spec, precision=precision, truncation=truncation)
    anchors = spec.description.anchors
    shown = ", ".join(f"seed {a.seed} at ({a.y - top},{a.x - left})" for a in anchors)
    click.echo(f"anchors (image pixels): {shown}; blend {spec.description.blend} px")
    with output_locks([out]):
        write_outputs(
            G,
            [spec],
            [out],
            chunk=chunk,
            resume=resume,
            force=force,
            held=out,
            save_description=save_description,
            max_memory=max_memory,
        )


def _fusion_spec(G, model, sha, seeds, region, layout, blend, blend_kernel, wrap):  # noqa: ANN001,ANN202
    """The fused canvas of ``seeds`` over ``region``, or a click error naming the option."""
    from infinitygan.applications.description import ModelRef
    from infinitygan.applications.fusion import fusion_description
    from infinitygan.canvas import period_pixels
    from infinitygan.output import OutputSpec

    top, left, height, width = region
    if wrap and width != period_pixels(G):
        raise click.BadParameter(
            f"--wrap makes a canvas exactly one period wide: use --size "
            f"{period_pixels(G)}x{height} for this model",
            param_hint="--size",
        )
    try:
        description = fusion_description(
            seeds,
            height,
            width,
            top=top,
            left=left,
            layout=layout,
            blend=blend,
            blend_kernel=blend_kernel,
            model=ModelRef(str(model), sha),
            wrap=wrap,
        )
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--layout") from None
    return OutputSpec(description, region, command="fuse")
