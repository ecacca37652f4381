"""Write a canvas to any output format with the one sidecar schema that regenerates it.

Every command that renders a canvas to a file (``generate``, ``fuse``, ``outpaint``,
``inbetween``) describes what it draws as a :class:`OutputSpec` (a canvas description, the region,
the precision and truncation) and writes it with :func:`write_canvas`: the pixels are streamed
chunk by chunk through :func:`infinitygan.writers.open_canvas_writer` (any format, resumable,
atomic, several processes), and the sidecar ``FILE.json`` gets the same metadata for every command
(:func:`sidecar_metadata`, ``docs/output-formats.md``). :func:`regenerate` reads a sidecar, of
this schema or of the earlier ones, and writes the same image again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from infinitygan.applications.description import CanvasDescription, ModelRef
from infinitygan.models import Generator
from infinitygan.streaming import render_to_writer

Region = tuple[int, int, int, int]  # top, left, height, width (canvas pixels)


@dataclass(frozen=True)
class OutputSpec:
    """Everything that determines the pixels of a canvas output besides the model weights.

    Attributes:
        description: the canvas (seed, anchors, placements, edits, wrap) and, in ``model``, the
            generator it is drawn with (a path or bundled name as given, and its SHA-256; None
            only for in-memory use, where nothing can regenerate the file).
        region: ``(top, left, height, width)`` of the canvas that the file shows.
        precision: arithmetic of the render (see :func:`infinitygan.canvas.generate_region`).
        truncation: psi of the global styles (1: none).
        command: the command that wrote it (recorded in the sidecar).
    """

    description: CanvasDescription
    region: Region
    precision: str = "fp32"
    truncation: float = 1.0
    command: str = "generate"

    @property
    def is_bare(self) -> bool:
        """True for the plain canvas of one seed (no anchors, placements or edits): what
        ``generate`` writes, rendered by :func:`infinitygan.canvas.generate_region`."""
        d = self.description
        return not (d.anchors or d.placements or d.edits)

    def region_dict(self) -> dict[str, int]:
        top, left, height, width = self.region
        return {"top": top, "left": left, "height": height, "width": width}


def plain_spec(
    model: str,
    model_sha256: str,
    seed: int,
    region: Region,
    *,
    wrap: bool = False,
    precision: str = "fp32",
    truncation: float = 1.0,
) -> OutputSpec:
    """The :class:`OutputSpec` of ``generate``: seed ``seed``'s plain canvas of ``model``."""
    description = CanvasDescription(seed=seed, model=ModelRef(str(model), model_sha256), wrap=wrap)
    return OutputSpec(description, region, precision=precision, truncation=truncation)


def regenerate_line(spec: OutputSpec, name: str) -> str:
    """A shell command that writes the output ``name`` again (in its folder)."""
    d = spec.description
    if spec.is_bare and spec.command == "generate" and d.model is not None:
        top, left, height, width = spec.region
        from infinitygan.canvas import image_framing

        frame_top, frame_left = image_framing(height, width)
        trunc = f"--trunc {spec.truncation} " if spec.truncation != 1.0 else ""
        return (
            f"infinitygan generate {d.model.path} --size {width}x{height} --seed {d.seed} "
            f"--offset x={left - frame_left},y={top - frame_top}{' --wrap' if d.wrap else ''} "
            f"--precision {spec.precision} {trunc}--out {name}"
        )
    return (
        'python -c "from infinitygan.output import regenerate; '
        f"regenerate('{name}.json', '{name}')\""
    )


def sidecar_metadata(
    G: Generator, spec: OutputSpec, folder: str | os.PathLike[str], name: str
) -> dict[str, Any]:
    """The sidecar metadata of every canvas output (``docs/output-formats.md``, "Sidecar").

    Latents paths of placements are stored relative to ``folder`` (the output's folder) where
    possible; ``name`` is the output's file name, for the ``regenerate`` line.
    """
    from infinitygan import __version__
    from infinitygan.applications.outpaint import relative_placements

    d = spec.description
    return {
        "software": f"infinitygan {__version__}",
        "command": spec.command,
        "random_version": d.random_version,
        "model": d.model.path if d.model else None,
        "model_sha256": d.model.sha256 if d.model else None,
        "config": json.loads(G.config.to_json()),
        "seed": d.seed,
        "region": spec.region_dict(),
        "wrap": d.wrap,
        "precision": spec.precision,
        "truncation": spec.truncation,
        "description": relative_placements(d, Path(folder)).to_dict(),
        "regenerate": regenerate_line(spec, name),
    }


def resume_settings(spec: OutputSpec, folder: str | os.PathLike[str]) -> dict[str, Any]:
    """What a resume (and a kept finished output) must match: everything that determines the
    pixels. The plain canvas records its seed and wrap, a described one its whole description
    (the forms of the partial files of earlier versions, which therefore resume)."""
    from infinitygan.applications.outpaint import relative_placements
    from infinitygan.latents import RANDOM_VERSION

    d = spec.description
    sha = d.model.sha256 if d.model else None
    if spec.is_bare:
        settings: dict[str, Any] = {
            "model_sha256": sha,
            "random_version": RANDOM_VERSION,
            "seed": d.seed,
            "region": spec.region_dict(),
            "wrap": d.wrap,
            "precision": spec.precision,
        }
    else:
        described = relative_placements(d, Path(folder)).to_dict()
        described.pop("model", None)
        settings = {
            "model_sha256": sha,
            "description": described,
            "region": spec.region_dict(),
            "precision": spec.precision,
        }
    if spec.truncation != 1.0:  # absent at psi = 1, so partial files of earlier versions resume
        settings["truncation"] = spec.truncation
    return settings


def canvas_renderer(
    G: Generator,
    spec: OutputSpec,
    *,
    max_memory: int | None = None,
    tile_batch: int = 1,
    compile: bool = False,
) -> Callable[[int, int, int, int], Any]:
    """A region renderer ``(top, left, height, width) -> Tensor [3, H, W]`` of ``spec``'s canvas
    for :func:`infinitygan.streaming.render_to_writer`.

    The plain canvas is :func:`infinitygan.canvas.generate_region` (a zero-padded baseline: one
    whole-image pass of the region, see :func:`whole_image_renderer`); a described one is
    :func:`infinitygan.applications.render_region`.
    """
    d = spec.description
    if G.geometry.padded:
        if not spec.is_bare or d.wrap:
            raise ValueError(
                f"{G.config.name} is a zero-padded baseline without a canvas: it renders only "
                "plain, unwrapped images"
            )
        return whole_image_renderer(G, d.seed, *spec.region, spec.truncation)
    if spec.is_bare:
        from infinitygan.streaming import plain_renderer

        return plain_renderer(
            G,
            d.seed,
            wrap=d.wrap,
            precision=spec.precision,
            max_memory=max_memory,
            tile_batch=tile_batch,
            compile=compile,
            truncation=spec.truncation,
        )
    if compile:
        raise ValueError("compile applies to plain canvases only")
    from infinitygan.applications.fusion import description_renderer

    return description_renderer(
        G,
        d,
        precision=spec.precision,
        max_memory=max_memory,
        tile_batch=tile_batch,
        truncation=spec.truncation,
    )


def whole_image_renderer(
    G: Generator, seed: int, top: int, left: int, height: int, width: int, truncation: float = 1.0
) -> Callable[[int, int, int, int], Any]:
    """A region renderer over one whole-image pass of the zero-padded baseline: the image framed
    at ``(top, left)`` is computed on the first call (never, if a resumed file is complete)."""
    from infinitygan.baselines import generate_whole_image

    cache = {}

    def render(y: int, x: int, h: int, w: int):  # noqa: ANN202
        if "image" not in cache:
            cache["image"] = generate_whole_image(G, seed, height, width, truncation=truncation)
        return cache["image"][:, y - top : y - top + h, x - left : x - left + w]

    return render


def write_canvas(
    G: Generator,
    path: str | os.PathLike[str],
    spec: OutputSpec,
    *,
    chunk: int = 1024,
    options: dict[str, Any] | None = None,
    resume: bool = False,
    progress: Callable[[int, int], None] | None = None,
    rank: int = 0,
    world_size: int = 1,
    max_memory: int | None = None,
    tile_batch: int = 1,
    compile: bool = False,
    metadata: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Render ``spec``'s region to ``path`` in any format, with the sidecar ``PATH.json``.

    The format follows the extension (PNG, JPEG, WebP, TIFF, zarr, DZI: see
    :func:`infinitygan.writers.open_canvas_writer`, which ``options`` are passed to); chunks are
    rendered one at a time, so memory stays bounded for any size. The sidecar metadata is
    :func:`sidecar_metadata` (keys of ``metadata`` are added to it, replacing those of the same
    name), and the writer records :func:`resume_settings` (or ``settings``) so that ``resume=True``
    continues only an interrupted write of the same canvas.

    Under ``world_size > 1`` (``torch.distributed`` initialised) every rank calls this with its
    ``rank``: each renders its share of the chunks into one store (opened with resume, which is
    race-free), and rank 0 finalises the file once all are done.

    Returns:
        The statistics of :func:`infinitygan.streaming.render_to_writer`.
    """
    import torch

    from infinitygan.writers import open_canvas_writer

    path = Path(path)
    meta = {**sidecar_metadata(G, spec, path.parent, path.name), **(metadata or {})}
    top, left, height, width = spec.region
    writer = open_canvas_writer(
        path,
        height,
        width,
        chunk=chunk,
        metadata=meta,
        resume=resume or world_size > 1,
        options=options,
        settings=resume_settings(spec, path.parent) if settings is None else settings,
    )
    render = canvas_renderer(G, spec, max_memory=max_memory, tile_batch=tile_batch, compile=compile)
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
                world_size=world_size,
                progress=progress,
            )
    except BaseException:
        writer.close(finalize=False)
        raise
    if world_size > 1:
        import torch.distributed as dist

        if rank > 0:
            writer.close(finalize=False)  # rank 0 finalises once every rank is done
        dist.barrier()
    if rank == 0:
        writer.close()
    if world_size > 1:
        dist.barrier()
    return stats


def read_sidecar(path: str | os.PathLike[str]) -> tuple[OutputSpec, dict[str, Any]]:
    """The :class:`OutputSpec` a sidecar (``FILE.json``) records, and its ``canvas`` entry
    (format, chunk, options).

    Reads this schema and the earlier two (``generate``'s without a description, the described
    commands' without the model name, seed and wrap at the top). Latents paths are resolved
    against the sidecar's folder.

    Raises:
        FileNotFoundError: no such sidecar.
        ValueError: not a canvas sidecar, or one that does not name its model.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no sidecar at {path}")
    try:
        data = json.loads(path.read_text())
        meta, canvas = data["metadata"], data["canvas"]
        region = meta["region"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not the sidecar of a canvas output ({err})") from None
    if "description" in meta:
        description = CanvasDescription.from_dict(meta["description"])
    else:  # generate, before sidecars held the description
        description = CanvasDescription(
            seed=meta["seed"],
            wrap=bool(meta.get("wrap", False)),
            random_version=meta.get("random_version", 1),
        )
    if description.model is None and meta.get("model") and meta.get("model_sha256"):
        description = replace(description, model=ModelRef(meta["model"], meta["model_sha256"]))
    placements = tuple(
        replace(p, latents=str(path.parent / p.latents)) if not Path(p.latents).is_absolute() else p
        for p in description.placements
    )
    spec = OutputSpec(
        replace(description, placements=placements),
        (region["top"], region["left"], region["height"], region["width"]),
        precision=meta.get("precision", "fp32"),
        truncation=meta.get("truncation", 1.0),
        command=meta.get("command", "generate"),
    )
    return spec, canvas


def regenerate(
    sidecar: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    G: Generator | None = None,
    device: str | None = None,
    max_memory: int | None = None,
) -> dict[str, Any]:
    """Write the image a sidecar describes again, to ``out`` (any format).

    The model is loaded from the path or name the sidecar records (relative paths against the
    current folder, as the ``regenerate`` line is run) unless ``G`` is given, and its SHA-256
    must match. With the same format the output has the same pixels; the chunk and the format
    options are the recorded ones when ``out`` has the recorded format.

    Raises:
        ValueError: the sidecar names no model, or the model's hash differs.
    """
    from infinitygan.checkpoint import load_generator, model_hash

    spec, canvas = read_sidecar(sidecar)
    ref = spec.description.model
    if G is None:
        if ref is None:
            raise ValueError(f"{sidecar} does not name its model; pass G")
        digest = model_hash(ref.path)
        if digest != ref.sha256:
            raise ValueError(
                f"{ref.path} is not the model {sidecar} was made with (SHA-256 {digest[:12]}..., "
                f"not {ref.sha256[:12]}...)"
            )
        G = load_generator(ref.path)
    if device is not None:
        G = G.to(device)
    from infinitygan.writers._formats import format_of

    same_format = format_of(out) == canvas.get("format")
    return write_canvas(
        G,
        out,
        spec,
        chunk=int(canvas.get("chunk", 1024)),
        options=canvas.get("options") if same_format else None,
        max_memory=max_memory,
    )
