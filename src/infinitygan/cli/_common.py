"""Parsers and options shared by the command modules."""

from __future__ import annotations

import re
from pathlib import Path

import click

_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``WxH`` into ``(height, width)``.

    Raises:
        click.BadParameter: for anything that is not two positive integers joined by ``x``.
    """
    match = _SIZE_RE.match(text)
    if match is None:
        raise click.BadParameter(f"{text!r} is not a size; write WIDTHxHEIGHT, e.g. 1024x512")
    width, height = int(match.group(1)), int(match.group(2))
    if width <= 0 or height <= 0:
        raise click.BadParameter(f"size {text!r} must be positive in both directions")
    return height, width


def parse_seeds(text: str) -> list[int]:
    """Parse ``"3"``, ``"0-7"`` or ``"1,4,9-11"`` into a list of seeds (order kept, no repeats)."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(-?\d+)-(-?\d+)", part)
        try:
            if m:
                lo, hi = int(m.group(1)), int(m.group(2))
                if hi < lo:
                    raise click.BadParameter(f"seed range {part!r} runs backwards")
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(part))
        except ValueError as err:
            raise click.BadParameter(f"{part!r} is not a seed; use e.g. 3, 0-7 or 1,4,9") from err
    if not seeds:
        raise click.BadParameter("no seeds given; use e.g. 3, 0-7 or 1,4,9")
    return list(dict.fromkeys(seeds))


def parse_offset(text: str) -> tuple[int, int]:
    """Parse ``Y,X`` (integers, negative allowed) into ``(y, x)``."""
    parts = text.split(",")
    if len(parts) != 2:
        raise click.BadParameter(f"{text!r} is not an offset; write Y,X, e.g. -128,4096")
    try:
        return int(parts[0]), int(parts[1])
    except ValueError as err:
        raise click.BadParameter(f"{text!r} is not an offset; write Y,X with integers") from err


def resolve_device(name: str | None) -> str:
    """Return the device to use: the given one, else cuda when available, else cpu."""
    import torch

    if name is None or name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise click.ClickException(
            f"--device {name} was asked for but this PyTorch build sees no CUDA device; "
            "use --device cpu"
        )
    return name


device_option = click.option(
    "--device",
    default="auto",
    help="cpu, cuda, cuda:N or auto (cuda when available).",
)


# Options of the commands that render to an output file (generate, fuse, outpaint, inbetween).
precision_option = click.option(
    "--precision",
    type=click.Choice(["fp32", "tf32", "bf16", "fp16"]),
    default="fp32",
    help="fp32 (strict, exact tiling on every device), tf32 (CUDA tensor cores), bf16, fp16.",
)
max_memory_option = click.option(
    "--max-memory",
    "max_memory_text",
    default="auto",
    help="Activation memory budget per tile batch, e.g. 2GB (sets the tile size; auto: 2GB on "
    "the CPU, 8GB on CUDA).",
)
chunk_option = click.option(
    "--chunk",
    type=click.IntRange(64, 8192),
    default=1024,
    help="Output chunk side in pixels (the unit of streaming and resume).",
)
resume_option = click.option(
    "--resume", is_flag=True, help="Continue an interrupted run, skipping finished chunks."
)


def description_output_options(command):
    """The options shared by the commands that render a canvas description to a file.

    ``--save-description``, ``--precision``, ``--max-memory`` (passed as ``max_memory_text``),
    ``--chunk``, ``--resume`` and ``--device``, in that order in ``--help``.
    """
    decorators = (
        click.option(
            "--save-description",
            type=click.Path(path_type=Path),
            default=None,
            help="Also write the canvas description (JSON) here.",
        ),
        precision_option,
        max_memory_option,
        chunk_option,
        resume_option,
        device_option,
    )
    for decorator in reversed(decorators):
        command = decorator(command)
    return command
