"""`infinitygan fuse`: one canvas, several global styles anchored over it and blended (§3.4)."""

from __future__ import annotations

from pathlib import Path

import click

from infinitygan.cli._common import (
    POSITION_HELP,
    check_new_outputs,
    description_output_options,
    model_input,
    output_locks,
    parse_offset,
    parse_seeds,
    parse_size,
    pick_seeds,
    seed_options,
)
from infinitygan.cli._group import main
from infinitygan.cli.invert import (
    check_description_path,
    check_outputs,
    load_model,
    write_outputs,
)


def parse_seed_list(text: str) -> list[int]:
    """Seeds in order, repeats kept (one anchor each): ``3,8,21``, ``0-3`` or ``5,5,9``."""
    seeds: list[int] = []
    for part in text.split(","):
        if part.strip():
            seeds.extend(parse_seeds(part))
    if not seeds:
        raise click.BadParameter("no seeds given; use e.g. 3,8,21", param_hint="--seeds")
    return seeds


@main.command("fuse")
@click.argument("model")
@seed_options("Seeds of the styles, one anchor each, e.g. 3,8,21 (repeats allowed).")
@click.option("--size", "size_text", required=True, help="Canvas size WIDTHxHEIGHT in pixels.")
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
@click.option(
    "--offset",
    "offset_text",
    default="0,0",
    help="Move the default framing (centred on the horizon, from column 0) by "
    + POSITION_HELP
    + ".",
)
@click.option(
    "--wrap",
    is_flag=True,
    help="360-degree panorama: width = the model's period; anchors repeat with the period.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Output file: .png .jpg .webp, or .tif/.zarr/.dzi for any size.",
)
@description_output_options
def fuse_command(
    model: str,
    seed: int | None,
    seeds_text: str | None,
    size_text: str,
    layout: str,
    blend: int | None,
    blend_kernel: str,
    offset_text: str,
    wrap: bool,
    out: Path,
    save_description: Path | None,
    precision: str,
    truncation: float,
    max_memory_text: str,
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
    from infinitygan.applications.description import ModelRef
    from infinitygan.applications.fusion import fusion_description
    from infinitygan.canvas import image_framing
    from infinitygan.cli.generate import parse_bytes

    height, width = parse_size(size_text)
    seeds = pick_seeds(seed, seeds_text, default=None, parse=parse_seed_list)
    dy, dx = parse_offset(offset_text)
    max_memory = parse_bytes(max_memory_text)
    top, left = image_framing(height, width)
    top, left = top + dy, left + dx
    from infinitygan.writers import sidecar_path

    check_description_path(save_description)
    check_new_outputs(
        [("--out", out), ("--save-description", save_description)],
        [model_input(model)],
        force=force,
        resume=resume,
        companions=[(f"the sidecar of {out.name}", sidecar_path(out))],
    )
    check_outputs([out], height, width, extra=[save_description])
    G, path, sha = load_model(model, device)
    from infinitygan.canvas import period_pixels

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
    anchors = ", ".join(f"seed {a.seed} at ({a.y - top},{a.x - left})" for a in description.anchors)
    click.echo(f"anchors (image pixels): {anchors}; blend {description.blend} px")
    with output_locks([out]):
        write_outputs(
            G,
            [description],
            [out],
            (top, left, height, width),
            chunk=chunk,
            resume=resume,
            precision=precision,
            truncation=truncation,
            max_memory=max_memory,
            command="fuse",
            save_description=save_description,
            force=force,
        )
