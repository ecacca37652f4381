"""`infinitygan inbetween`: join two images by a generated panorama that fuses their styles."""

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
    load_model,
    read_image,
    resumed_latents,
    run_inversion,
)
from infinitygan.cli._options import (
    FEATURE_LOSS_CHOICE,
    description_output_options,
    feather_option,
    out_option,
    pick_seeds,
    seed_options,
    steps_option,
)


@main.command("inbetween")
@click.argument("model")
@click.argument("left_image", metavar="LEFT", type=click.Path(path_type=Path))
@click.argument("right_image", metavar="RIGHT", type=click.Path(path_type=Path))
@click.option("--width", type=click.IntRange(1, None), required=True, help="Output width (px).")
@seed_options("Seeds of the generated part, one output each: 0-3 or 1,4 (default 0).")
@steps_option
@click.option(
    "--blend",
    type=click.IntRange(0, 1 << 24),
    default=None,
    help="Width of the style transition (px) [default: the gap between the images].",
)
@click.option("--blend-kernel", type=click.Choice(["box", "gaussian"]), default="box")
@feather_option
@click.option("--feature-loss", type=FEATURE_LOSS_CHOICE, default="pyramid")
@out_option("Output file (one per seed, STEM-seedNNNN.EXT, when several).")
@description_output_options
@click.option("--yes", is_flag=True, help=f"Allow runs of over {MANY_OUTPUTS} output files.")
def inbetween_command(
    model: str,
    left_image: Path,
    right_image: Path,
    width: int,
    seed: int | None,
    seeds: list[int] | None,
    steps: int,
    blend: int | None,
    blend_kernel: str,
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
    """Put LEFT and RIGHT at the two ends of a --width px strip and generate the panorama
    between them with MODEL.

    Both images are inverted where they will sit, their latents placed there, and their styles
    fused across the gap. Images of different heights are centred vertically in a strip as tall
    as the taller one (the rest is generated). The inverted latents are written beside the output
    (STEM.left.latents.safetensors, STEM.right.latents.safetensors).

    Example:

    \b
        infinitygan inbetween landscapes a.png b.png --width 2048 --seeds 0-2 --out joined.png
    """
    from infinitygan.applications.inbetween import inbetween_layout

    seeds = pick_seeds(seed, seeds)
    check_output_count(len(seeds), yes)
    paths = output_paths(out, seeds)
    stem = out.name.split(".")[0] or "inbetween"
    latents_paths = {
        name: out.with_name(f"{stem}.{name}.latents.safetensors") for name in ("left", "right")
    }
    check_description_path(save_description)
    targets = description_targets(save_description, paths)
    check_new_outputs(
        [("--out", p) for p in paths]
        + [(f"the {name.upper()} latents file", p) for name, p in latents_paths.items()]
        + [("--save-description", t) for t in targets],
        [model_input(model), ("LEFT", left_image), ("RIGHT", right_image)],
        force=force,
        resume=resume,
        companions=sidecars(paths),
    )
    images = {"left": read_image(left_image, "LEFT"), "right": read_image(right_image, "RIGHT")}
    sizes = {name: (int(img.shape[1]), int(img.shape[2])) for name, img in images.items()}
    try:
        layout = inbetween_layout(sizes["left"], sizes["right"], width)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--width") from None
    check_outputs(paths, layout.height, layout.width, extra=[*latents_paths.values(), *targets])
    G, _, sha = load_model(model, device)
    for name, img in images.items():
        check_image_size(G, img, name.upper())
    if sizes["left"][0] != sizes["right"][0]:
        click.echo(
            f"note: the images have different heights; the strip is {layout.height} px tall and "
            "the shorter image is centred vertically (generated above and below)"
        )
    with output_locks([out]):  # and write_outputs locks each seed's file
        how = dict(resume=resume, steps=steps, feature_loss=feature_loss, feather=feather, sha=sha)
        placements = {
            name: _placement(G, name, images[name], path, latents_paths[name], layout, **how)
            for name, path in (("left", left_image), ("right", right_image))
        }
        specs = _inbetween_specs(
            model, sha, placements, seeds, layout, blend, blend_kernel, precision, truncation
        )
        write_outputs(
            G,
            specs,
            paths,
            chunk=chunk,
            resume=resume,
            force=force,
            held=out,
            save_description=save_description,
            max_memory=max_memory,
        )


def _placement(
    G: Any,
    name: str,
    image: Any,
    image_path: Path,
    latents_path: Path,
    layout: Any,
    *,
    resume: bool,
    steps: int,
    feature_loss: str,
    feather: int,
    sha: str,
) -> Any:
    """The placed latents of the ``name`` ("left" or "right") image: inverted where it sits and
    saved to ``latents_path``, or under --resume the interrupted run's inversion."""
    from infinitygan.applications.inbetween import inbetween_sides
    from infinitygan.applications.outpaint import placement_for

    pos = layout.left_pos if name == "left" else layout.right_pos
    if resume and latents_path.is_file():
        # The interrupted run's inversion: reuse it rather than invert again.
        latents = resumed_latents(
            latents_path, image, name.upper(), pos, steps=steps, feature_loss=feature_loss
        )
    else:
        latents = run_inversion(
            G,
            image,
            pos[0],
            pos[1],
            steps=steps,
            feature_loss=feature_loss,
            init_seed=0,
            sha256=sha,
            label=image_path.name,
        )
        latents.save(latents_path)
        click.echo(f"wrote {latents_path} (PSNR {latents.stats['psnr']:.2f} dB)")
    sides = inbetween_sides(layout, (int(image.shape[1]), int(image.shape[2])), name)
    return placement_for(latents_path.resolve(), latents, feather=feather, sides=sides)


def _inbetween_specs(
    model: str,
    sha: str,
    placements: dict[str, Any],
    seeds: list[int],
    layout: Any,
    blend: int | None,
    blend_kernel: str,
    precision: str,
    truncation: float,
) -> list[Any]:
    """One canvas per seed: both images placed, their styles fused across the gap."""
    from infinitygan.applications.description import ModelRef
    from infinitygan.applications.inbetween import inbetween_description
    from infinitygan.output import OutputSpec

    region = (layout.top, layout.left, layout.height, layout.width)
    blend_px = layout.gap if blend is None else blend
    return [
        OutputSpec(
            inbetween_description(
                placements["left"],
                placements["right"],
                s,
                blend=blend_px,
                blend_kernel=blend_kernel,
                model=ModelRef(str(model), sha),
            ),
            region,
            precision=precision,
            truncation=truncation,
            command="inbetween",
        )
        for s in seeds
    ]
