"""Click parameter types and the options the commands share.

Every option that needs parsing (sizes, canvas positions, seeds and seed lists, memory sizes,
devices, outpainting extensions) has a :class:`click.ParamType` here, so a command receives
parsed values and a bad one is refused before the command body runs, in one line naming the
option.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")

POSITION_HELP = "x=X,y=Y, or the bare Y,X (row first, unlike the WxH of --size), in canvas pixels"


class SizeType(click.ParamType):
    """``WIDTHxHEIGHT`` -> ``(height, width)``, both positive.

    Args:
        min_side: the smallest side allowed (pixels).
        max_pixels: the most pixels allowed (None: no limit).
    """

    name = "WxH"

    def __init__(self, min_side: int = 1, max_pixels: int | None = None) -> None:
        self.min_side = min_side
        self.max_pixels = max_pixels

    def convert(self, value, param, ctx):  # noqa: ANN001,ANN201 - click's signature
        if isinstance(value, tuple):
            return value
        match = _SIZE_RE.match(str(value))
        if match is None:
            self.fail(f"{value!r} is not a size; write WIDTHxHEIGHT, e.g. 1024x512", param, ctx)
        width, height = int(match.group(1)), int(match.group(2))
        if width <= 0 or height <= 0:
            self.fail(f"size {value!r} must be positive in both directions", param, ctx)
        if height < self.min_side or width < self.min_side:
            self.fail(f"{value!r}: each side must be at least {self.min_side} px", param, ctx)
        if self.max_pixels is not None and height * width > self.max_pixels:
            self.fail(
                f"{value!r} is {height * width:,} pixels; the limit is {self.max_pixels:,} per "
                "image",
                param,
                ctx,
            )
        return height, width


SIZE = SizeType()


class ParsedType(click.ParamType):
    """Text parsed by a library function, ``"module:function"``, that raises a ValueError with
    the message to show (imported on first use, so that ``--help`` stays fast)."""

    def __init__(self, name: str, parser: str) -> None:
        self.name = name
        self.parser = parser

    def convert(self, value, param, ctx):  # noqa: ANN001,ANN201 - click's signature
        import importlib

        if not isinstance(value, str):
            return value  # parsed already (a default)
        module, function = self.parser.split(":")
        try:
            return getattr(importlib.import_module(module), function)(value)
        except ValueError as err:
            self.fail(str(err), param, ctx)


#: A canvas position, ``x=X,y=Y`` or the bare ``Y,X`` (row first), -> ``(y, x)``; see
#: :func:`infinitygan.spatial.parse_position` for the forms and the range.
POSITION = ParsedType("POSITION", "infinitygan.spatial:parse_position")


class SeedType(click.ParamType):
    """A seed: an integer that fits the signed 64-bit random keys (checked at parse time)."""

    name = "integer"

    def convert(self, value, param, ctx):  # noqa: ANN001,ANN201 - click's signature
        from infinitygan.latents import check_seed

        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            try:
                number = int(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not an integer seed", param, ctx)
        try:
            return check_seed(number)
        except ValueError as err:
            self.fail(str(err), param, ctx)


SEED = SeedType()


def _seeds_of_part(part: str) -> list[int]:
    """The seeds of one comma-separated part: ``3`` or the range ``0-7`` (ValueError if bad)."""
    from infinitygan.latents import check_seed

    m = re.fullmatch(r"(-?\d+)-(-?\d+)", part)
    try:
        if m is None:
            return [check_seed(int(part))]
        lo, hi = int(m.group(1)), int(m.group(2))
        for value in (lo, hi):
            check_seed(value)
    except ValueError as err:
        if re.fullmatch(r"-?\d+(--?\d+)?", part):  # integers, out of range
            raise ValueError(str(err)) from None
        raise ValueError(f"{part!r} is not a seed; use e.g. 3, 0-7 or 1,4,9") from None
    if hi < lo:
        raise ValueError(f"seed range {part!r} runs backwards")
    return list(range(lo, hi + 1))


class SeedsType(click.ParamType):
    """``"3"``, ``"0-7"`` or ``"1,4,9-11"`` -> a list of seeds.

    Every seed must fit the signed 64-bit random keys (``latents.check_seed``).

    Args:
        repeats: keep repeated seeds in order (one fusion anchor each); otherwise the list has
            no repeats (one output each).
    """

    name = "SEEDS"

    def __init__(self, repeats: bool = False) -> None:
        self.repeats = repeats

    def convert(self, value, param, ctx):  # noqa: ANN001,ANN201 - click's signature
        if isinstance(value, list):
            return value
        seeds: list[int] = []
        try:
            for part in str(value).split(","):
                if part.strip():
                    seeds.extend(_seeds_of_part(part.strip()))
        except ValueError as err:
            self.fail(str(err), param, ctx)
        if not seeds:
            example = "3,8,21" if self.repeats else "3, 0-7 or 1,4,9"
            self.fail(f"no seeds given; use e.g. {example}", param, ctx)
        return seeds if self.repeats else list(dict.fromkeys(seeds))


SEEDS = SeedsType()
SEED_LIST = SeedsType(repeats=True)


class MemoryType(click.ParamType):
    """``512MB``, ``2GB``, ``1.5GiB`` or a plain byte count -> bytes (at least 32 MiB);
    ``auto`` -> None (the device's default: :func:`infinitygan.tiling.default_max_memory`)."""

    name = "BYTES"

    def convert(self, value, param, ctx):  # noqa: ANN001,ANN201 - click's signature
        if value is None or isinstance(value, int):
            return value
        text = str(value)
        if text.strip().lower() == "auto":
            return None
        m = re.fullmatch(r"\s*([\d.]+)\s*([kKmMgGtT]?)(i?[bB])?\s*", text)
        if m is None or m.group(1).count(".") > 1:
            self.fail(f"{text!r} is not a memory size; write e.g. 512MB or 4GB", param, ctx)
        factor = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
        size = int(float(m.group(1)) * factor[m.group(2).lower()])
        if size < (32 << 20):
            self.fail(f"{text} is too small; give at least 32MB", param, ctx)
        return size


MEMORY = MemoryType()


def resolve_device(name: str | None, option: str = "--device") -> str:
    """Return the device to use: the given one, else cuda when available, else cpu.

    Accepted: ``auto``, ``cpu``, ``cuda`` and ``cuda:N`` for a visible device N; anything else
    (``mps``, ``meta``, ``cpu:1``, typos) is a click.BadParameter naming the choices. A resolved
    name resolves to itself.
    """
    import torch

    if name is None or name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    text = name.strip().lower()
    match = re.fullmatch(r"(cpu|cuda)(?::(\d+))?", text)
    if match is None or (match.group(1) == "cpu" and match.group(2) not in (None, "0")):
        raise click.BadParameter(
            f"{name!r} is not a device infinitygan runs on; use cpu, cuda, cuda:N or auto",
            param_hint=option,
        )
    if match.group(1) == "cpu":
        return "cpu"
    if not torch.cuda.is_available():
        raise click.BadParameter(
            f"{name} was asked for but this PyTorch build sees no CUDA device; use cpu",
            param_hint=option,
        )
    if match.group(2) is not None:
        index, count = int(match.group(2)), torch.cuda.device_count()
        if index >= count:
            raise click.BadParameter(
                f"{name}: only {count} CUDA device(s) are visible (cuda:0 to cuda:{count - 1})",
                param_hint=option,
            )
        return f"cuda:{index}"
    return "cuda"


class DeviceType(click.ParamType):
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` -> the device name to use
    (:func:`resolve_device`)."""

    name = "DEVICE"

    def convert(self, value, param, ctx):  # noqa: ANN001,ANN201 - click's signature
        try:
            return resolve_device(None if value is None else str(value))
        except click.BadParameter as err:
            self.fail(err.message, param, ctx)


DEVICE = DeviceType()


#: ``left:256,right:1024[,top:N,bottom:N]`` -> an outpainting
#: :class:`~infinitygan.applications.outpaint.Extension`.
EXTEND = ParsedType("SIDES", "infinitygan.applications.outpaint:parse_extend")


def _truncation(ctx: click.Context, param: click.Parameter, value: float) -> float:
    from infinitygan.models.generator import check_truncation

    try:
        return check_truncation(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


# ---------------------------------------------------------------------------------------------
# Options shared by several commands.
# ---------------------------------------------------------------------------------------------


def seed_options(seeds_help: str, *, repeats: bool = False):  # noqa: ANN201 - a decorator
    """``--seed N`` and ``--seeds LIST`` for the commands that make one output per seed
    (``repeats``: one fusion anchor per seed, repeats kept).

    The two are aliases (``--seed 7`` is ``--seeds 7``); :func:`pick_seeds` reads them.
    """

    def decorate(command):  # noqa: ANN001,ANN202
        command = click.option(
            "--seeds", type=SEED_LIST if repeats else SEEDS, default=None, help=seeds_help
        )(command)
        return click.option(
            "--seed", type=SEED, default=None, help="One seed (the same as --seeds N)."
        )(command)

    return decorate


def pick_seeds(seed: int | None, seeds: list[int] | None, *, default: int | None = 0) -> list[int]:
    """The seeds of ``--seed``/``--seeds`` (see :func:`seed_options`); ``default`` when neither
    is given (None: one of them is required)."""
    if seed is not None and seeds is not None:
        raise click.UsageError("give --seed or --seeds, not both")
    if seeds is not None:
        return seeds
    if seed is not None:
        return [seed]
    if default is None:
        raise click.UsageError("give the seeds: --seeds 3,8,21 (or --seed N for one)")
    return [default]


def size_option(help_text: str = "Canvas size WIDTHxHEIGHT in pixels."):  # noqa: ANN201
    """A required ``--size WxH``, passed as ``size`` = ``(height, width)``."""
    return click.option("--size", "size", type=SIZE, required=True, help=help_text)


def position_option(name: str, help_text: str, default: str | None = None):  # noqa: ANN201
    """A canvas position option (``--offset``, ``--at``), passed as ``(y, x)`` or None."""
    dest = name.lstrip("-").replace("-", "_")
    return click.option(name, dest, type=POSITION, default=default, help=help_text)


def out_option(help_text: str):  # noqa: ANN201
    """The required ``--out`` file."""
    return click.option("--out", required=True, type=click.Path(path_type=Path), help=help_text)


device_option = click.option(
    "--device",
    type=DEVICE,
    default="auto",
    help="cpu, cuda, cuda:N or auto (cuda when available).",
)

force_option = click.option(
    "--force",
    is_flag=True,
    help="Overwrite existing output files (without it, an existing output is refused).",
)

# Options of the commands that render to an output file (generate, fuse, outpaint, inbetween).
precision_option = click.option(
    "--precision",
    type=click.Choice(["fp32", "tf32", "bf16", "fp16"]),
    default="fp32",
    help="fp32 (strict, exact tiling on every device), tf32 (CUDA tensor cores), bf16, fp16.",
)
trunc_option = click.option(
    "--trunc",
    "truncation",
    type=float,
    default=1.0,
    show_default=True,
    callback=_truncation,
    help="Truncation psi in [0, 2]: styles move toward the model's average style (1: none, the "
    "paper's behaviour; 0.7: more typical, less varied images).",
)
max_memory_option = click.option(
    "--max-memory",
    "max_memory",
    type=MEMORY,
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
    "--resume",
    is_flag=True,
    help="Continue an interrupted run with the same settings: finished files are kept, the "
    "others continue from FILE.partial (different settings are refused).",
)

# Options of the commands that invert images (invert, outpaint, inbetween).
FEATURE_LOSS_CHOICE = click.Choice(["pyramid", "inception", "lpips", "none"])
steps_option = click.option(
    "--steps", type=click.IntRange(1, 100000), default=400, help="Inversion steps."
)
feather_option = click.option(
    "--feather", type=click.IntRange(0, None), default=16, help="Border blend (px)."
)


def description_output_options(command: Any) -> Any:
    """The options shared by the commands that render a canvas description to a file.

    ``--save-description``, ``--precision``, ``--trunc`` (passed as ``truncation``),
    ``--max-memory`` (passed as ``max_memory``, bytes or None), ``--chunk``, ``--resume``,
    ``--device`` and ``--force``, in that order in ``--help``.
    """
    decorators = (
        click.option(
            "--save-description",
            type=click.Path(path_type=Path),
            default=None,
            help="Also write the canvas description (JSON) here.",
        ),
        precision_option,
        trunc_option,
        max_memory_option,
        chunk_option,
        resume_option,
        device_option,
        force_option,
    )
    for decorator in reversed(decorators):
        command = decorator(command)
    return command
