"""`infinitygan outpaint`: invert an image, place it on the canvas, generate around it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from infinitygan.cli._common import (
    MANY_OUTPUTS,
    check_description_path,
    check_new_outputs,
    check_output_count,
    check_outputs,
    description_targets,
    model_input,
    output_locks,
    output_paths,
    sidecars,
    write_outputs,
)
from infinitygan.cli._group import main
from infinitygan.cli._models import (
    check_image_size,
    latents_for_image,
    load_model,
    read_image,
    resumed_latents,
    run_inversion,
)
from infinitygan.cli._options import (
    EXTEND,
    FEATURE_LOSS_CHOICE,
    POSITION_HELP,
    description_output_options,
    feather_option,
    out_option,
    pick_seeds,
    position_option,
    seed_options,
    steps_option,
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
    "extension",
    type=EXTEND,
    required=True,
    help="Pixels to add per side: left:256,right:1024[,top:N,bottom:N].",
)
@seed_options("Seeds of the new content, one output each: 0-3 or 1,4 (default 0).")
@steps_option
@position_option(
    "--at",
    "Canvas position of the image's top-left pixel: "
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
@feather_option
@click.option("--feature-loss", type=FEATURE_LOSS_CHOICE, default="pyramid")
@out_option("Output file (one per seed, STEM-seedNNNN.EXT, when several).")
@description_output_options
@click.option("--yes", is_flag=True, help=f"Allow runs of over {MANY_OUTPUTS} output files.")
def outpaint_command(
    model: str,
    image: Path,
    extension: Any,
    seed: int | None,
    seeds: list[int] | None,
    steps: int,
    at: tuple[int, int] | None,
    latents_in: Path | None,
    save_latents: Path | None,
    feather: int,
    feature_loss: str,
    out: Path,
    save_description: Path | None,
    precision: str,
    truncation: float,
    max_memory: int | None,
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
    from infinitygan.applications.outpaint import outpaint_region

    seeds = pick_seeds(seed, seeds)
    check_output_count(len(seeds), yes)
    paths = output_paths(out, seeds)
    latents_out = None if latents_in is not None else save_latents or latents_path_for(out)
    if latents_out is not None and latents_out.suffix != ".safetensors":
        raise click.BadParameter(
            f"{latents_out} must end in .safetensors", param_hint="--save-latents"
        )
    check_description_path(save_description)
    check_new_outputs(
        [("--out", p) for p in paths]
        + [("--save-latents" if save_latents else "the latents file", latents_out)]
        + [("--save-description", t) for t in description_targets(save_description, paths)],
        [model_input(model), ("IMAGE", image), ("--latents", latents_in)],
        force=force,
        resume=resume,
        companions=sidecars(paths),
    )
    target = read_image(image)
    latents, latents_in, latents_out, (top, left) = _known_latents(
        target, latents_in, latents_out, at, resume, steps, feature_loss
    )
    region = outpaint_region(top, left, *target.shape[-2:], extension)
    extra = [latents_out, *description_targets(save_description, paths)]
    check_outputs(paths, region[2], region[3], extra=extra)
    G, _, sha = load_model(model, device)
    with output_locks([out]):  # and write_outputs locks each seed's file
        if latents_in is not None:
            try:
                latents.check_model(G)
            except ValueError as err:
                raise click.ClickException(f"--latents: {err}") from None
        else:
            latents = _invert(G, target, (top, left), latents_out, steps, feature_loss, sha, image)
        placement = _placement(latents_in or latents_out, latents, extension, feather)
        write_outputs(
            G,
            _outpaint_specs(model, sha, placement, seeds, region, precision, truncation),
            paths,
            chunk=chunk,
            resume=resume,
            force=force,
            held=out,
            save_description=save_description,
            max_memory=max_memory,
        )


def _known_latents(
    target: Any,
    latents_in: Path | None,
    latents_out: Path | None,
    at: tuple[int, int] | None,
    resume: bool,
    steps: int,
    feature_loss: str,
) -> tuple[Any, Path | None, Path | None, tuple[int, int]]:
    """(latents or None, the latents file read, the one to write, position of the image): the
    --latents file, or under --resume the interrupted run's inversion (then nothing is
    inverted), or None to invert at --at (default: centred on the horizon, column 0)."""
    from infinitygan.applications.outpaint import default_position

    if latents_in is not None:
        latents = latents_for_image(latents_in, target, "IMAGE")
        if at is not None:
            click.echo("note: --at is ignored with --latents (the latents keep their place)")
        return latents, latents_in, None, (latents.top, latents.left)
    position = at if at is not None else default_position(*target.shape[-2:])
    if resume and latents_out.is_file():
        # The interrupted run's inversion: reuse it rather than invert again.
        latents = resumed_latents(
            latents_out, target, "IMAGE", position, steps=steps, feature_loss=feature_loss
        )
        return latents, latents_out, None, position
    return None, None, latents_out, position


def _invert(
    G: Any,
    target: Any,
    position: tuple[int, int],
    latents_out: Path,
    steps: int,
    feature_loss: str,
    sha: str,
    image: Path,
) -> Any:
    """Invert IMAGE at ``position`` and save its latents to ``latents_out``."""
    check_image_size(G, target, "IMAGE")
    latents = run_inversion(
        G,
        target,
        *position,
        steps=steps,
        feature_loss=feature_loss,
        init_seed=0,
        sha256=sha,
        label=image.name,
    )
    latents.save(latents_out)
    click.echo(
        f"wrote {latents_out} (PSNR {latents.stats['psnr']:.2f} dB; reuse it with --latents)"
    )
    return latents


def _placement(path: Path, latents: Any, extension: Any, feather: int) -> Any:
    from infinitygan.applications.outpaint import placement_for

    return placement_for(path.resolve(), latents, feather=feather, sides=extension.sides)


def _outpaint_specs(
    model: str,
    sha: str,
    placement: Any,
    seeds: list[int],
    region: tuple[int, int, int, int],
    precision: str,
    truncation: float,
) -> list[Any]:
    """One canvas per seed: the inverted image placed, the rest drawn from the seed."""
    from infinitygan.applications.description import ModelRef
    from infinitygan.applications.outpaint import outpaint_description
    from infinitygan.output import OutputSpec

    return [
        OutputSpec(
            outpaint_description(placement, s, model=ModelRef(str(model), sha)),
            region,
            precision=precision,
            truncation=truncation,
            command="outpaint",
        )
        for s in seeds
    ]
