"""`infinitygan outpaint`: invert an image, place it on the canvas, generate around it."""

from __future__ import annotations

from pathlib import Path

import click

from infinitygan.cli._common import (
    MANY_OUTPUTS,
    POSITION_HELP,
    check_new_outputs,
    check_output_count,
    description_output_options,
    model_input,
    output_locks,
    parse_offset,
    pick_seeds,
    seed_options,
)
from infinitygan.cli._group import main
from infinitygan.cli.invert import (
    FEATURE_LOSS_CHOICE,
    check_description_path,
    check_image_size,
    check_outputs,
    description_targets,
    latents_for_image,
    load_model,
    output_paths,
    read_image,
    resumed_latents,
    run_inversion,
    write_outputs,
)


def latents_path_for(out: Path) -> Path:
    """Default latents file of an output: ``STEM.latents.safetensors`` beside it."""
    stem = out.name.split(".")[0] or "outpaint"
    return out.with_name(f"{stem}.latents.safetensors")


@main.command("outpaint")
@click.argument("model")
@click.argument("image", type=click.Path(path_type=Path))
@click.option(
    "--extend",
    "extend_text",
    required=True,
    help="Pixels to add per side: left:256,right:1024[,top:N,bottom:N].",
)
@seed_options("Seeds of the new content, one output each: 0-3 or 1,4 (default 0).")
@click.option("--steps", type=click.IntRange(1, 100000), default=400, help="Inversion steps.")
@click.option(
    "--at",
    "at_text",
    default=None,
    help="Canvas position of the image's top-left pixel: "
    + POSITION_HELP
    + " (default: centred on the horizon, column 0).",
)
@click.option(
    "--latents",
    "latents_in",
    type=click.Path(path_type=Path),
    default=None,
    help="Reuse a latents file from `invert` (or an earlier outpaint) instead of inverting.",
)
@click.option(
    "--save-latents",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write the inverted latents [default: OUT stem + .latents.safetensors].",
)
@click.option("--feather", type=click.IntRange(0, None), default=16, help="Border blend (px).")
@click.option("--feature-loss", type=FEATURE_LOSS_CHOICE, default="pyramid")
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Output file (one per seed, STEM-seedNNNN.EXT, when several).",
)
@description_output_options
@click.option("--yes", is_flag=True, help=f"Allow runs of over {MANY_OUTPUTS} output files.")
def outpaint_command(
    model: str,
    image: Path,
    extend_text: str,
    seed: int | None,
    seeds_text: str | None,
    steps: int,
    at_text: str | None,
    latents_in: Path | None,
    save_latents: Path | None,
    feather: int,
    feature_loss: str,
    out: Path,
    save_description: Path | None,
    precision: str,
    truncation: float,
    max_memory_text: str,
    chunk: int,
    resume: bool,
    device: str,
    force: bool,
    yes: bool,
) -> None:
    """Extend IMAGE beyond its borders with MODEL.

    The image is inverted at its place on the canvas (any size works: the canvas is addressed
    per pixel, nothing is padded or cropped), its latents are placed there automatically, and the
    larger region is generated around it. The inverted style covers the canvas; each seed draws
    other local latents and noise outside the image, so seeds give different completions. The
    original pixels are kept, blended into the generated ones over --feather px at the extended
    sides.

    Examples:

    \b
        infinitygan outpaint landscapes photo.png --extend left:256,right:1024 --out wide.png

    \b
        infinitygan outpaint landscapes photo.png --extend top:128,bottom:64 --seeds 0-3 --out t.png

    \b
        infinitygan outpaint landscapes p.png --latents p.safetensors --extend right:99 --out m.png
    """
    from infinitygan.applications.description import ModelRef
    from infinitygan.applications.outpaint import (
        default_position,
        outpaint_description,
        outpaint_region,
        parse_extend,
        placement_for,
    )
    from infinitygan.cli.generate import parse_bytes

    try:
        extension = parse_extend(extend_text)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--extend") from None
    seeds = pick_seeds(seed, seeds_text)
    check_output_count(len(seeds), yes)
    max_memory = parse_bytes(max_memory_text)
    paths = output_paths(out, seeds)
    latents_out = None if latents_in is not None else save_latents or latents_path_for(out)
    if latents_out is not None and latents_out.suffix != ".safetensors":
        raise click.BadParameter(
            f"{latents_out} must end in .safetensors", param_hint="--save-latents"
        )
    check_description_path(save_description)
    from infinitygan.writers import sidecar_path

    check_new_outputs(
        [("--out", p) for p in paths]
        + [("--save-latents" if save_latents else "the latents file", latents_out)]
        + [("--save-description", t) for t in description_targets(save_description, paths)],
        [model_input(model), ("IMAGE", image), ("--latents", latents_in)],
        force=force,
        resume=resume,
        companions=[(f"the sidecar of {p.name}", sidecar_path(p)) for p in paths],
    )
    target = read_image(image)
    h, w = target.shape[-2:]
    if latents_in is not None:
        latents = latents_for_image(latents_in, target, "IMAGE")
        if at_text:
            click.echo("note: --at is ignored with --latents (the latents keep their place)")
        top, left = latents.top, latents.left
    else:
        top, left = parse_offset(at_text, "--at") if at_text else default_position(h, w)
        if resume and latents_out.is_file():
            # The interrupted run's inversion: reuse it rather than invert again.
            latents = resumed_latents(
                latents_out, target, "IMAGE", (top, left), steps=steps, feature_loss=feature_loss
            )
            latents_in, latents_out = latents_out, None
    region = outpaint_region(top, left, h, w, extension)
    check_outputs(
        paths,
        region[2],
        region[3],
        extra=[latents_out, *description_targets(save_description, paths)],
    )
    G, _, sha = load_model(model, device)
    with output_locks([out]):  # and write_outputs locks each seed's file
        if latents_in is not None:
            try:
                latents.check_model(G)
            except ValueError as err:
                raise click.ClickException(f"--latents: {err}") from None
            latents_path = latents_in
        else:
            check_image_size(G, target, "IMAGE")
            latents = run_inversion(
                G,
                target,
                top,
                left,
                steps=steps,
                feature_loss=feature_loss,
                init_seed=0,
                sha256=sha,
                label=image.name,
            )
            latents_path = latents_out
            latents.save(latents_path)
            click.echo(
                f"wrote {latents_path} (PSNR {latents.stats['psnr']:.2f} dB; reuse it with "
                "--latents)"
            )
        placement = placement_for(
            latents_path.resolve(), latents, feather=feather, sides=extension.sides
        )
        descriptions = [
            outpaint_description(placement, s, model=ModelRef(str(model), sha)) for s in seeds
        ]
        write_outputs(
            G,
            descriptions,
            paths,
            region,
            chunk=chunk,
            resume=resume,
            precision=precision,
            truncation=truncation,
            max_memory=max_memory,
            command="outpaint",
            save_description=save_description,
            force=force,
        )
