"""`infinitygan generate`: render a canvas of any size to an image file, streamed tile by tile."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from infinitygan.cli._common import (
    MANY_OUTPUTS,
    check_new_outputs,
    check_output_count,
    check_outputs,
    model_input,
    output_paths,
    sidecars,
    write_outputs,
)
from infinitygan.cli._group import main
from infinitygan.cli._models import distributed_context, load_model
from infinitygan.cli._options import (
    POSITION_HELP,
    chunk_option,
    device_option,
    force_option,
    max_memory_option,
    out_option,
    pick_seeds,
    position_option,
    precision_option,
    resume_option,
    seed_options,
    size_option,
    trunc_option,
)

GIGAPIXEL_LIMIT = 10_000_000_000
QUALITY_SUFFIXES = {".jpg", ".jpeg", ".webp", ".dzi", ".tif", ".tiff"}


@main.command("generate")
@click.argument("model")
@size_option()
@out_option("Output file: .png .jpg .webp (fits in memory), .tif/.tiff, .zarr, .dzi (any size).")
@seed_options("Canvas seeds, one output each: 0-7 or 1,4,9 (default 0).")
@position_option(
    "--offset",
    "Move the default framing (centred on the horizon, from column 0) by "
    + POSITION_HELP
    + ", e.g. x=4096,y=-128.",
    default="0,0",
)
@click.option(
    "--wrap",
    is_flag=True,
    help="360-degree panorama: width = the model's period, left and right edges join seamlessly.",
)
@precision_option
@trunc_option
@device_option
@max_memory_option
@chunk_option
@click.option(
    "--dry-run", is_flag=True, help="Print the plan and a time estimate; generate nothing."
)
@resume_option
@click.option(
    "--yes",
    is_flag=True,
    help=f"Allow canvases over {GIGAPIXEL_LIMIT // 10**9} gigapixels and runs of over "
    f"{MANY_OUTPUTS} files.",
)
@force_option
@click.option(
    "--quality",
    type=click.IntRange(1, 100),
    default=None,
    help="JPEG/WebP quality; for .tif it makes the tiles JPEG-compressed (needs imagecodecs), "
    "for .dzi it sets the JPEG tile quality.",
)
@click.option(
    "--tile-batch",
    type=click.IntRange(1, 256),
    default=1,
    help="Render this many equal tiles per call (pays on GPUs).",
)
@click.option(
    "--compile",
    "use_compile",
    is_flag=True,
    help="torch.compile the texture synthesizer (slow first call, then faster).",
)
def generate_command(
    model: str,
    size: tuple[int, int],
    out: Path,
    seed: int | None,
    seeds: list[int] | None,
    offset: tuple[int, int],
    wrap: bool,
    precision: str,
    truncation: float,
    device: str,
    max_memory: int | None,
    chunk: int,
    dry_run: bool,
    resume: bool,
    yes: bool,
    force: bool,
    quality: int | None,
    tile_batch: int,
    use_compile: bool,
) -> None:
    """Generate a canvas of any size from MODEL: a .safetensors file, a training run folder
    (its latest EMA generator), a bundled model name or random:PRESET[:SEED].

    Examples:

    \b
        infinitygan generate landscapes --size 4096x1024 --out pano.png

    \b
        infinitygan generate model.safetensors --size 65536x8192 --seeds 0-3 --out big.tif

    \b
        infinitygan generate landscapes --size 2224x512 --wrap --out pano360.jpg

    Under `torchrun --nproc_per_node K -m infinitygan generate ... --out big.zarr` the chunks are
    shared out over all ranks, each writing its own chunks of one zarr store.

    An existing output is never replaced without --force; --resume continues the unfinished
    FILE.partial of an interrupted run with the same settings (anything else is refused).
    """
    from infinitygan.canvas import image_framing
    from infinitygan.output import plain_spec

    height, width = size
    seeds = pick_seeds(seed, seeds)
    if height * width > GIGAPIXEL_LIMIT and not yes:
        raise click.ClickException(
            f"{width}x{height} is {height * width / 1e9:.1f} gigapixels; pass --yes if you mean it"
        )
    check_output_count(len(seeds), yes)
    options = quality_options(out, quality)
    paths = output_paths(out, seeds)
    if not dry_run:
        check_new_outputs(
            [("--out", p) for p in paths],
            [model_input(model)],
            force=force,
            resume=resume,
            companions=sidecars(paths),
        )
    G, _, digest = load_model(model)
    max_memory = _memory_budget(max_memory, device)
    _check_canvas(G, model, size, wrap, offset, precision, max_memory)
    check_outputs(paths, height, width, options=options)
    rank, world = distributed_context(device)
    _check_distributed(G, out, world)
    if world > 1 and device.startswith("cuda"):
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', rank))}"
    G = G.to(device)
    top, left = image_framing(height, width)
    region = (top + offset[0], left + offset[1], height, width)
    specs = [
        plain_spec(model, digest, s, region, wrap=wrap, precision=precision, truncation=truncation)
        for s in seeds
    ]
    render_kwargs = dict(max_memory=max_memory, tile_batch=tile_batch, compile=use_compile)
    if dry_run:
        plan = _plan(G, specs, paths, chunk, device, render_kwargs)
        click.echo(json.dumps(plan, indent=2))
        return
    write_outputs(
        G,
        specs,
        paths,
        chunk=chunk,
        resume=resume,
        force=force,
        rank=rank,
        world_size=world,
        options=options,
        **render_kwargs,
    )


def _memory_budget(max_memory: int | None, device: str) -> int:
    """``--max-memory``, or the device's default for ``auto``."""
    if max_memory is not None:
        return max_memory
    import torch

    from infinitygan.tiling import default_max_memory

    return default_max_memory(torch.device(device))


def _check_canvas(
    G: Any,
    model: str,
    size: tuple[int, int],
    wrap: bool,
    offset: tuple[int, int],
    precision: str,
    max_memory: int,
) -> None:
    """Refuse --wrap at another width than the model's period, and the options the zero-padded
    baseline cannot honour."""
    from infinitygan.canvas import period_pixels

    height, width = size
    if G.geometry.padded:
        _check_whole_image_options(G, model, height, width, wrap, offset, precision, max_memory)
    if wrap and width != period_pixels(G):
        raise click.BadParameter(
            f"--wrap makes a canvas exactly one period wide: use --size "
            f"{period_pixels(G)}x{height} for this model",
            param_hint="--size",
        )


def _check_distributed(G: Any, out: Path, world: int) -> None:
    """Under torchrun: refuse the whole-image baseline and outputs other than one zarr store."""
    if world > 1 and G.geometry.padded:
        raise click.ClickException(
            f"{G.config.name} is a zero-padded baseline that renders whole images in one pass; "
            "run it in a single process (without torchrun)"
        )
    if world > 1 and out.suffix != ".zarr":
        raise click.ClickException(
            "distributed generation writes one .zarr store; use --out X.zarr"
        )


def _plan(
    G: Any, specs: list[Any], paths: list[Path], chunk: int, device: str, render_kwargs: dict
) -> dict[str, Any]:
    """The --dry-run plan: canvas, outputs, chunks, tile and a time estimate for one seed."""
    from infinitygan.baselines import generate_whole_image
    from infinitygan.output import canvas_renderer
    from infinitygan.streaming import estimate_seconds
    from infinitygan.tiling import plan_tiles, plan_tiling

    spec = specs[0]
    top, left, height, width = spec.region
    max_memory = render_kwargs["max_memory"]
    if G.geometry.padded:  # one pass over the whole image; time it at a small size
        tile = max(height, width)
        seconds = estimate_seconds(
            lambda t, l, h, w: generate_whole_image(
                G, spec.description.seed, h, w, truncation=spec.truncation
            ),
            128,
            height * width,
        )
    else:
        tile, _ = plan_tiling(G, max_memory, spec.precision, None, render_kwargs["tile_batch"])
        seconds = estimate_seconds(canvas_renderer(G, spec, **render_kwargs), chunk, height * width)
    return {
        "canvas": {
            "height": height,
            "width": width,
            "top": top,
            "left": left,
            "wrap": spec.description.wrap,
        },
        "seeds": [s.description.seed for s in specs],
        "truncation": spec.truncation,
        "outputs": [str(p) for p in paths],
        "chunks": len(plan_tiles(height, width, chunk)),
        "chunk": chunk,
        "tile": tile,
        "max_memory_bytes": max_memory,
        "estimated_seconds_per_seed": round(seconds, 1),
        "device": device,
    }


def _check_whole_image_options(G, model, height, width, wrap, offset, precision, max_memory):
    """The zero-padded baseline has no canvas: refuse what needs one, and sizes over budget."""
    from infinitygan.baselines import whole_image_bytes

    name = G.config.name
    if wrap:
        raise click.BadParameter(
            f"{model} ({name}) is a zero-padded baseline without coordinates or a canvas, so it "
            "cannot wrap around; use a padding-free model for 360-degree panoramas",
            param_hint="--wrap",
        )
    if offset != (0, 0):
        raise click.BadParameter(
            f"{model} ({name}) is a zero-padded baseline: it renders whole images from an "
            "enlarged input latent and has no canvas to move on; drop --offset",
            param_hint="--offset",
        )
    from infinitygan.runtime import activation_bytes

    need = whole_image_bytes(G, height, width, activation_bytes(precision))
    if need > max_memory:
        raise click.ClickException(
            f"{model} ({name}) is a zero-padded baseline that renders the whole {width}x{height} "
            f"image in one pass, which needs about {need / 2**30:.1f} GiB; raise --max-memory "
            "or ask for a smaller --size"
        )


def quality_options(out: Path, quality: int | None) -> dict | None:
    """The writer options for ``--quality``, or a BadParameter for a format without it.

    JPEG and WebP take it as their quality; .tif writes JPEG-compressed tiles of that quality
    (which needs the imagecodecs package); .dzi uses it for its JPEG tiles.
    """
    if quality is None:
        return None
    suffix = out.suffix.lower()
    if suffix not in QUALITY_SUFFIXES:
        raise click.BadParameter(
            f"--quality applies to {', '.join(sorted(QUALITY_SUFFIXES))} outputs, not "
            f"{suffix or 'a name without extension'}",
            param_hint="--quality",
        )
    if suffix in (".tif", ".tiff"):
        try:
            import imagecodecs  # noqa: F401
        except ImportError:
            raise click.BadParameter(
                "for .tif, --quality writes JPEG-compressed tiles, which needs the imagecodecs "
                "package: pip install 'infinitygan[tiff-jpeg]'; or drop --quality for lossless "
                "zlib tiles",
                param_hint="--quality",
            ) from None
        return {"compression": "jpeg", "quality": quality}
    return {"quality": quality}
