"""Parsers and options shared by the command modules."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn

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


class SeedType(click.ParamType):
    """A seed: an integer that fits the signed 64-bit random keys (checked at parse time)."""

    name = "integer"

    def convert(self, value, param, ctx):  # noqa: ANN001 - click's signature
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


def parse_seeds(text: str) -> list[int]:
    """Parse ``"3"``, ``"0-7"`` or ``"1,4,9-11"`` into a list of seeds (order kept, no repeats).

    Every seed must fit the signed 64-bit random keys (``latents.check_seed``).
    """
    from infinitygan.latents import check_seed

    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(-?\d+)-(-?\d+)", part)
        try:
            if m:
                lo, hi = int(m.group(1)), int(m.group(2))
                for value in (lo, hi):
                    check_seed(value)
                if hi < lo:
                    raise click.BadParameter(f"seed range {part!r} runs backwards")
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(check_seed(int(part)))
        except click.BadParameter:
            raise
        except ValueError as err:
            if re.fullmatch(r"-?\d+(--?\d+)?", part):  # integers, out of range
                raise click.BadParameter(str(err)) from None
            raise click.BadParameter(f"{part!r} is not a seed; use e.g. 3, 0-7 or 1,4,9") from None
    if not seeds:
        raise click.BadParameter("no seeds given; use e.g. 3, 0-7 or 1,4,9")
    return list(dict.fromkeys(seeds))


def parse_offset(text: str, option: str = "--offset") -> tuple[int, int]:
    """Parse a canvas position, ``x=X,y=Y`` or the bare ``Y,X`` (row first), into ``(y, x)``.

    See :func:`infinitygan.spatial.parse_position` for the forms and the range.
    """
    from infinitygan.spatial import parse_position

    try:
        return parse_position(text)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint=option) from None


POSITION_HELP = "x=X,y=Y, or the bare Y,X (row first, unlike the WxH of --size), in canvas pixels"


def resolve_device(name: str | None, option: str = "--device") -> str:
    """Return the device to use: the given one, else cuda when available, else cpu.

    Accepted: ``auto``, ``cpu``, ``cuda`` and ``cuda:N`` for a visible device N; anything else
    (``mps``, ``meta``, ``cpu:1``, typos) is a click.BadParameter naming the choices.
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


def prepare_output(path: Path | None, option: str | None = None, *, kind: str = "file") -> None:
    """Refuse, before any work, an output that cannot be written, and create its folder.

    Refused: a part of the folder path that is a file (``--out notes.txt/x.png``), a folder that
    cannot be created (no permission), and, by ``kind``, a ``"file"`` output that is an existing
    folder or a ``"folder"`` output that is an existing file (``"any"``: either may be replaced).

    Args:
        path: the output (None: nothing to check).
        option: the option that names it, for the message (None: a plain error).
        kind: ``"file"``, ``"folder"`` or ``"any"``.
    """
    if path is None:
        return
    if kind not in ("file", "folder", "any"):
        raise ValueError(f"kind must be 'file', 'folder' or 'any', got {kind!r}")

    def refuse(message: str) -> NoReturn:
        if option is None:
            raise click.ClickException(message)
        raise click.BadParameter(message, param_hint=option)

    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                refuse(
                    f"cannot write {path}: {parent} is not a folder (it is a file, not a folder); "
                    "choose another path"
                )
            break
    if kind == "file" and path.is_dir():
        refuse(f"cannot write {path}: it is a folder; give a file name")
    if kind == "folder" and path.exists() and not path.is_dir():
        refuse(f"{path} is a file, not a folder; give a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        refuse(f"cannot create the folder {path.parent}: {err.strerror or err}")


def seed_options(seeds_help: str):
    """``--seed N`` and ``--seeds LIST`` for the commands that make one output per seed.

    The two are aliases (``--seed 7`` is ``--seeds 7``); :func:`pick_seeds` reads them.
    """

    def decorate(command):
        command = click.option("--seeds", "seeds_text", default=None, help=seeds_help)(command)
        return click.option(
            "--seed", type=SEED, default=None, help="One seed (the same as --seeds N)."
        )(command)

    return decorate


def pick_seeds(
    seed: int | None, seeds_text: str | None, *, default: int | None = 0, parse=None
) -> list[int]:
    """The seeds of ``--seed``/``--seeds`` (see :func:`seed_options`); ``default`` when neither
    is given (None: one of them is required)."""
    if seed is not None and seeds_text is not None:
        raise click.UsageError("give --seed or --seeds, not both")
    if seeds_text is not None:
        return (parse or parse_seeds)(seeds_text)
    if seed is not None:
        return [seed]
    if default is None:
        raise click.UsageError("give the seeds: --seeds 3,8,21 (or --seed N for one)")
    return [default]


def warn_slow_precision(device: str, precision: str | None) -> None:
    """One line on stderr when fp16 is asked for on the CPU, where it is emulated and slow."""
    if precision == "fp16" and device.startswith("cpu"):
        click.echo(
            "warning: --precision fp16 on the CPU is emulated and about 5-10x slower than fp32; "
            "use fp32 on the CPU",
            err=True,
        )


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


def _truncation(ctx: click.Context, param: click.Parameter, value: float) -> float:
    from infinitygan.models.generator import check_truncation

    try:
        return check_truncation(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


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
    "--resume",
    is_flag=True,
    help="Continue an interrupted run with the same settings: finished files are kept, the "
    "others continue from FILE.partial (different settings are refused).",
)


def description_output_options(command):
    """The options shared by the commands that render a canvas description to a file.

    ``--save-description``, ``--precision``, ``--trunc`` (passed as ``truncation``),
    ``--max-memory`` (passed as ``max_memory_text``), ``--chunk``, ``--resume``, ``--device`` and
    ``--force``, in that order in ``--help``.
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


# ---------------------------------------------------------------------------------------------
# Output safety: existing files, outputs that are inputs, one writer per output, many outputs.
# The rule (docs/generation.md, "Existing files"): a command never replaces an existing file
# unless --force is given; --resume continues its own unfinished PATH.partial; no output may be
# one of the command's inputs or another of its outputs, --force or not.
# ---------------------------------------------------------------------------------------------

#: Runs that would write more output files than this need --yes.
MANY_OUTPUTS = 100

force_option = click.option(
    "--force",
    is_flag=True,
    help="Overwrite existing output files (without it, an existing output is refused).",
)

Labelled = tuple[str, Path | None]


def model_input(model: str) -> Labelled:
    """MODEL as an input to protect: its path, unless it names a bundled or random model."""
    return ("MODEL", None if model.startswith("random:") else Path(model))


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def check_new_outputs(
    outputs: Sequence[Labelled],
    inputs: Sequence[Labelled] = (),
    *,
    force: bool,
    resume: bool = False,
    companions: Sequence[Labelled] = (),
) -> None:
    """Refuse outputs that are inputs, that coincide, or that exist (without --force).

    Args:
        outputs: (option name, path) of every file the command will write; None entries are
            skipped.
        inputs: (argument name, path) of every file it reads.
        force: Whether existing outputs may be replaced.
        resume: Whether an interrupted run is being continued: its outputs may exist then (the
            run keeps the finished ones whose sidecar records the same settings, continues
            the unfinished ``PATH.partial`` ones, and refuses any other).
        companions: Files written along with the outputs (sidecars): they may not be an input
            or another output, but are replaced with their output.

    Raises:
        click.UsageError: for an output that is an input or another output.
        click.ClickException: for an existing output without ``force``.
    """
    given = [(label, path) for label, path in outputs if path is not None]
    written = given + [(label, path) for label, path in companions if path is not None]
    for label, path in written:
        for in_label, in_path in inputs:
            if in_path is not None and _same_file(path, in_path):
                raise click.UsageError(
                    f"{label} {path} is also the input {in_label}; writing it would replace "
                    "the input: choose another file name"
                )
    for i, (label, path) in enumerate(written):
        for other_label, other in written[:i]:
            if _same_file(path, other):
                raise click.UsageError(
                    f"{label} and {other_label} are the same file {path}; "
                    "give each output its own name"
                )
    if force or resume:
        return
    for label, path in given:
        if os.path.lexists(path):
            raise click.ClickException(
                f"{label} {path} already exists; pass --force to overwrite it, "
                "or choose another name"
            )


def check_output_count(count: int, yes: bool, what: str = "--seeds") -> None:
    """Refuse more than :data:`MANY_OUTPUTS` output files unless ``--yes`` is given."""
    if count > MANY_OUTPUTS and not yes:
        raise click.ClickException(
            f"{what} asks for {count:,} output files (more than {MANY_OUTPUTS}); "
            "pass --yes if you mean it, or give fewer seeds"
        )


def finished_before(
    path: Path, settings: dict, options: dict | None = None, *, force: bool = False
) -> bool:
    """Under --resume: whether ``path`` was finished by the interrupted run with these settings
    (then it is kept and skipped). An output made otherwise is a ClickException, or with
    ``force`` False (it is written again)."""
    from infinitygan.writers import is_finished

    try:
        done = is_finished(path, settings, options)
    except ValueError as err:
        if force:
            return False
        raise click.ClickException(str(err)) from None
    if done:
        click.echo(f"kept {path}: already finished with these settings")
    return done


@contextlib.contextmanager
def output_locks(paths: list[Path]) -> Iterator[None]:
    """Hold the write lock of every path (``PATH.lock``) for the block, or fail at once in one
    line when another process is writing one of them."""
    from infinitygan.writers import OutputBusyError, lock_output

    with contextlib.ExitStack() as stack:
        for path in paths:
            try:
                stack.enter_context(lock_output(path))
            except OutputBusyError as err:
                raise click.ClickException(str(err)) from None
        yield
