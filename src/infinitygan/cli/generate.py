"""`infinitygan generate`: render a canvas of any size to an image file, streamed tile by tile."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import click

from infinitygan.cli._common import (
    MANY_OUTPUTS,
    POSITION_HELP,
    check_new_outputs,
    check_output_count,
    chunk_option,
    device_option,
    finished_before,
    force_option,
    max_memory_option,
    model_input,
    output_locks,
    parse_offset,
    parse_size,
    pick_seeds,
    precision_option,
    resolve_device,
    resume_option,
    seed_options,
    trunc_option,
    warn_slow_precision,
)
from infinitygan.cli._group import main

GIGAPIXEL_LIMIT = 10_000_000_000
QUALITY_SUFFIXES = {".jpg", ".jpeg", ".webp", ".dzi", ".tif", ".tiff"}


def parse_bytes(text: str) -> int | None:
    """Parse ``512MB``, ``2GB``, ``1.5GiB`` or a plain byte count; ``auto`` gives None (the
    device's default: :func:`infinitygan.tiling.default_max_memory`)."""
    if text.strip().lower() == "auto":
        return None
    m = re.fullmatch(r"\s*([\d.]+)\s*([kKmMgGtT]?)(i?[bB])?\s*", text)
    if m is None:
        raise click.BadParameter(f"{text!r} is not a memory size; write e.g. 512MB or 4GB")
    value = float(m.group(1))
    factor = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2).lower()]
    size = int(value * factor)
    if size < (32 << 20):
        raise click.BadParameter(f"--max-memory {text} is too small; give at least 32MB")
    return size


def seed_path(out: Path, seed: int, many: bool) -> Path:
    """FILE for one seed, FILE-seed0007.ext when several seeds are generated."""
    if not many:
        return out
    suffixes = "".join(out.suffixes) if out.suffix in {".zarr", ".dzi"} else out.suffix
    stem = out.name[: len(out.name) - len(suffixes)] if suffixes else out.name
    return out.with_name(f"{stem}-seed{seed:04d}{suffixes}")


# Ranks meet at the end of each seed (rank 0 finalises the store once all are done), so a fast
# rank may wait for the slowest one's whole share of a long render.
GENERATION_TIMEOUT_S = 24 * 3600


def distributed_context(device_name: str) -> tuple[int, int]:
    """(rank, world_size) under torchrun, (0, 1) otherwise.

    Joins the process group (nccl on CUDA with GPU ``LOCAL_RANK`` as this rank's device, gloo on
    the CPU) with a timeout that fits long renders; the group is destroyed when the command ends.
    """
    from infinitygan.train.distributed import init_distributed, shutdown_distributed

    info = init_distributed(
        "cuda" if device_name.startswith("cuda") else "cpu", timeout_s=GENERATION_TIMEOUT_S
    )
    if info.enabled:
        click.get_current_context().call_on_close(shutdown_distributed)
    return info.rank, info.world_size


@main.command("generate")
@click.argument("model")
@click.option("--size", "size_text", required=True, help="Canvas size WIDTHxHEIGHT in pixels.")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Output file: .png .jpg .webp (fits in memory), .tif/.tiff, .zarr, .dzi (any size).",
)
@seed_options("Canvas seeds, one output each: 0-7 or 1,4,9 (default 0).")
@click.option(
    "--offset",
    "offset_text",
    default="0,0",
    help="Move the default framing (centred on the horizon, from column 0) by "
    + POSITION_HELP
    + ", e.g. x=4096,y=-128.",
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
    size_text: str,
    out: Path,
    seed: int | None,
    seeds_text: str | None,
    offset_text: str,
    wrap: bool,
    precision: str,
    truncation: float,
    device: str,
    max_memory_text: str,
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

        infinitygan generate landscapes --size 4096x1024 --out pano.png

        infinitygan generate model.safetensors --size 65536x8192 --seeds 0-3 --out big.tif

        infinitygan generate landscapes --size 2224x512 --wrap --out pano360.jpg

    Under `torchrun --nproc_per_node K -m infinitygan generate ... --out big.zarr` the chunks are
    shared out over all ranks, each writing its own chunks of one zarr store.

    An existing output is never replaced without --force; --resume continues the unfinished
    FILE.partial of an interrupted run with the same settings (anything else is refused).
    """
    import torch

    from infinitygan.baselines import generate_whole_image
    from infinitygan.canvas import image_framing, period_pixels
    from infinitygan.checkpoint import (
        CheckpointError,
        load_generator,
        model_hash,
        resolve_model_path,
    )
    from infinitygan.streaming import estimate_seconds, plain_renderer, render_to_writer
    from infinitygan.writers import check_output_path

    height, width = parse_size(size_text)
    dy, dx = parse_offset(offset_text)
    seeds = pick_seeds(seed, seeds_text)
    device_name = resolve_device(device)
    max_memory = parse_bytes(max_memory_text)
    if max_memory is None:
        import torch

        from infinitygan.tiling import default_max_memory

        max_memory = default_max_memory(torch.device(resolve_device(device)))
    if height * width > GIGAPIXEL_LIMIT and not yes:
        raise click.ClickException(
            f"{width}x{height} is {height * width / 1e9:.1f} gigapixels; pass --yes if you mean it"
        )
    check_output_count(len(seeds), yes)
    options = quality_options(out, quality)
    paths = [seed_path(out, s, len(seeds) > 1) for s in seeds]
    if not dry_run:
        from infinitygan.writers import sidecar_path

        check_new_outputs(
            [("--out", p) for p in paths],
            [model_input(model)],
            force=force,
            resume=resume,
            companions=[(f"the sidecar of {p.name}", sidecar_path(p)) for p in paths],
        )
    try:
        model_path = resolve_model_path(model)
        G = load_generator(model_path)
    except CheckpointError as err:
        raise click.ClickException(str(err)) from None
    padded = G.geometry.padded
    if padded:
        _check_whole_image_options(G, model, height, width, wrap, (dy, dx), precision, max_memory)
    if wrap and width != period_pixels(G):
        raise click.BadParameter(
            f"--wrap makes a canvas exactly one period wide: use --size "
            f"{period_pixels(G)}x{height} for this model",
            param_hint="--size",
        )
    if not out.parent.exists():
        try:
            out.parent.mkdir(parents=True)
        except OSError as err:
            raise click.ClickException(
                f"cannot create the output folder {out.parent}: {err}"
            ) from None
    for p in paths:
        try:
            check_output_path(p, height, width, options=options)
        except ValueError as err:
            raise click.ClickException(str(err)) from None

    device_name = resolve_device(device)
    rank, world = distributed_context(device_name)
    if world > 1 and padded:
        raise click.ClickException(
            f"{G.config.name} is a zero-padded baseline that renders whole images in one pass; "
            "run it in a single process (without torchrun)"
        )
    if world > 1 and out.suffix != ".zarr":
        raise click.ClickException(
            "distributed generation writes one .zarr store; use --out X.zarr"
        )
    warn_slow_precision(device_name, precision)
    if world > 1 and device_name.startswith("cuda"):
        device_name = f"cuda:{int(os.environ.get('LOCAL_RANK', rank))}"
    G = G.to(device_name)
    top, left = image_framing(height, width)
    top, left = top + dy, left + dx
    gen_kwargs = dict(
        wrap=wrap,
        precision=precision,
        max_memory=max_memory,
        tile_batch=tile_batch,
        compile=use_compile,
        truncation=truncation,
    )

    if dry_run:
        from infinitygan.tiling import plan_tiles, plan_tiling

        chunks = plan_tiles(height, width, chunk)
        if padded:  # one pass over the whole image; time it at a small size
            tile = max(height, width)
            seconds = estimate_seconds(
                lambda t, l, h, w: generate_whole_image(G, seeds[0], h, w, truncation=truncation),
                128,
                height * width,
            )
        else:
            tile, _ = plan_tiling(G, max_memory, precision, None, tile_batch)
            seconds = estimate_seconds(
                plain_renderer(G, seeds[0], **gen_kwargs), chunk, height * width
            )
        plan = {
            "canvas": {"height": height, "width": width, "top": top, "left": left, "wrap": wrap},
            "seeds": seeds,
            "truncation": truncation,
            "outputs": [str(p) for p in paths],
            "chunks": len(chunks),
            "chunk": chunk,
            "tile": tile,
            "max_memory_bytes": max_memory,
            "estimated_seconds_per_seed": round(seconds, 1),
            "device": device_name,
        }
        click.echo(json.dumps(plan, indent=2))
        return

    from tqdm import tqdm

    from infinitygan import __version__
    from infinitygan.latents import RANDOM_VERSION

    digest = model_hash(model_path)
    trunc_flag = f"--trunc {truncation} " if truncation != 1.0 else ""
    for s, path in zip(seeds, paths):
        metadata = {
            "software": f"infinitygan {__version__}",
            "random_version": RANDOM_VERSION,
            "model": str(model),
            "model_sha256": digest,
            "config": json.loads(G.config.to_json()),
            "seed": s,
            "region": {"top": top, "left": left, "height": height, "width": width},
            "wrap": wrap,
            "precision": precision,
            "truncation": truncation,
            "regenerate": f"infinitygan generate {model} --size {width}x{height} --seed {s} "
            f"--offset x={dx},y={dy}{' --wrap' if wrap else ''} --precision {precision} "
            f"{trunc_flag}--out {path.name}",
        }
        # Everything that determines the pixels: a resume with other values is refused.
        settings = {
            "model_sha256": digest,
            "random_version": RANDOM_VERSION,
            "seed": s,
            "region": metadata["region"],
            "wrap": wrap,
            "precision": precision,
        }
        if truncation != 1.0:  # absent at psi = 1, so partial files of earlier versions resume
            settings["truncation"] = truncation
        if resume and world == 1 and finished_before(path, settings, options, force=force):
            continue
        # Under torchrun every rank opens the one zarr store with resume=True: creation is
        # race-free (one rename wins, the others attach) and an interrupted store is continued.
        # A single process holds the output's lock, so that no second process joins it.
        with output_locks([path] if world == 1 else []):
            writer = _open_writer(
                path, height, width, chunk, metadata, resume or world > 1, options, settings
            )
            bar = tqdm(total=None, unit="chunk", desc=f"seed {s}", disable=rank > 0)

            def progress(done: int, total: int, bar=bar) -> None:
                bar.total = total
                bar.update(1)

            if padded:
                render = whole_image_renderer(G, s, top, left, height, width, truncation)
            else:
                render = plain_renderer(G, s, **gen_kwargs)
            try:
                with torch.no_grad():
                    stats = render_to_writer(
                        render,
                        writer,
                        top,
                        left,
                        height,
                        width,
                        chunk=chunk,
                        rank=rank,
                        world_size=world,
                        progress=progress,
                    )
            finally:
                bar.close()  # an error message then starts on a line of its own
            if world > 1:
                import torch.distributed as dist

                if rank > 0:
                    writer.close(finalize=False)  # rank 0 finalises once every rank is done
                dist.barrier()
            if rank == 0:
                writer.close()
                click.echo(
                    f"wrote {path} ({width}x{height}, {stats['chunks_rendered']} chunks rendered, "
                    f"{stats['chunks_skipped']} resumed, {stats['seconds']:.1f} s)"
                )
            if world > 1:
                dist.barrier()


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


def whole_image_renderer(
    G, seed: int, top: int, left: int, height: int, width: int, truncation: float = 1.0
):
    """A region renderer over one whole-image pass of the zero-padded baseline: the image framed
    at ``(top, left)`` is computed on the first call (never, if a resumed file is complete)."""
    from infinitygan.baselines import generate_whole_image

    cache = {}

    def render(y: int, x: int, h: int, w: int):
        if "image" not in cache:
            cache["image"] = generate_whole_image(G, seed, height, width, truncation=truncation)
        return cache["image"][:, y - top : y - top + h, x - left : x - left + w]

    return render


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


def _open_writer(path, height, width, chunk, metadata, resume, options, settings):
    from infinitygan.writers import open_canvas_writer

    try:
        return open_canvas_writer(
            path,
            height,
            width,
            chunk=chunk,
            metadata=metadata,
            resume=resume,
            options=options,
            settings=settings,
        )
    except (ValueError, FileExistsError) as err:
        raise click.ClickException(str(err)) from None
