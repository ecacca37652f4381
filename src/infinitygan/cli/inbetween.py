"""`infinitygan inbetween`: join two images by a generated panorama that fuses their styles."""

from __future__ import annotations

from pathlib import Path

import click

from infinitygan.cli._common import (
    MANY_OUTPUTS,
    check_new_outputs,
    check_output_count,
    description_output_options,
    model_input,
    output_locks,
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
    load_model,
    output_paths,
    read_image,
    resumed_latents,
    run_inversion,
    write_outputs,
)


@main.command("inbetween")
@click.argument("model")
@click.argument("left_image", metavar="LEFT", type=click.Path(path_type=Path))
@click.argument("right_image", metavar="RIGHT", type=click.Path(path_type=Path))
@click.option("--width", type=click.IntRange(1, None), required=True, help="Output width (px).")
@seed_options("Seeds of the generated part, one output each: 0-3 or 1,4 (default 0).")
@click.option("--steps", type=click.IntRange(1, 100000), default=400, help="Inversion steps.")
@click.option(
    "--blend",
    type=click.IntRange(0, 1 << 24),
    default=None,
    help="Width of the style transition (px) [default: the gap between the images].",
)
@click.option("--blend-kernel", type=click.Choice(["box", "gaussian"]), default="box")
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
def inbetween_command(
    model: str,
    left_image: Path,
    right_image: Path,
    width: int,
    seed: int | None,
    seeds_text: str | None,
    steps: int,
    blend: int | None,
    blend_kernel: str,
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
    from infinitygan.applications.description import ModelRef
    from infinitygan.applications.inbetween import (
        inbetween_description,
        inbetween_layout,
        inbetween_sides,
    )
    from infinitygan.applications.outpaint import placement_for
    from infinitygan.cli.generate import parse_bytes

    seeds = pick_seeds(seed, seeds_text)
    check_output_count(len(seeds), yes)
    max_memory = parse_bytes(max_memory_text)
    paths = output_paths(out, seeds)
    stem = out.name.split(".")[0] or "inbetween"
    latents_paths = {
        name: out.with_name(f"{stem}.{name}.latents.safetensors") for name in ("left", "right")
    }
    check_description_path(save_description)
    targets = description_targets(save_description, paths)
    from infinitygan.writers import sidecar_path

    check_new_outputs(
        [("--out", p) for p in paths]
        + [(f"the {name.upper()} latents file", p) for name, p in latents_paths.items()]
        + [("--save-description", t) for t in targets],
        [model_input(model), ("LEFT", left_image), ("RIGHT", right_image)],
        force=force,
        resume=resume,
        companions=[(f"the sidecar of {p.name}", sidecar_path(p)) for p in paths],
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

    placements = {}
    with output_locks([out]):  # and write_outputs locks each seed's file
        for name, pos, path in (
            ("left", layout.left_pos, left_image),
            ("right", layout.right_pos, right_image),
        ):
            latents_path = latents_paths[name]
            if resume and latents_path.is_file():
                # The interrupted run's inversion: reuse it rather than invert again.
                latents = resumed_latents(
                    latents_path,
                    images[name],
                    name.upper(),
                    pos,
                    steps=steps,
                    feature_loss=feature_loss,
                )
            else:
                latents = run_inversion(
                    G,
                    images[name],
                    pos[0],
                    pos[1],
                    steps=steps,
                    feature_loss=feature_loss,
                    init_seed=0,
                    sha256=sha,
                    label=path.name,
                )
                latents.save(latents_path)
                click.echo(f"wrote {latents_path} (PSNR {latents.stats['psnr']:.2f} dB)")
            placements[name] = placement_for(
                latents_path.resolve(),
                latents,
                feather=feather,
                sides=inbetween_sides(layout, sizes[name], name),
            )
        blend_px = layout.gap if blend is None else blend
        descriptions = [
            inbetween_description(
                placements["left"],
                placements["right"],
                s,
                blend=blend_px,
                blend_kernel=blend_kernel,
                model=ModelRef(str(model), sha),
            )
            for s in seeds
        ]
        write_outputs(
            G,
            descriptions,
            paths,
            (layout.top, layout.left, layout.height, layout.width),
            chunk=chunk,
            resume=resume,
            precision=precision,
            truncation=truncation,
            max_memory=max_memory,
            command="inbetween",
            save_description=save_description,
            force=force,
        )
