"""Outputs of the commands: checks before any work, file names, locks, and writing canvases.

The rule (docs/generation.md, "Existing files"): a command never replaces an existing file unless
--force is given; --resume continues its own unfinished PATH.partial; no output may be one of the
command's inputs or another of its outputs, --force or not.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

# cli/eval.py takes these from here.
from infinitygan.cli._options import SEED, device_option, resolve_device  # noqa: F401

if TYPE_CHECKING:
    from infinitygan.output import OutputSpec


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


#: Runs that would write more output files than this need --yes.
MANY_OUTPUTS = 100

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
    path: Path, settings: dict, options: dict | None = None, force: bool = False
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


# ---------------------------------------------------------------------------------------------
# Canvas outputs (generate, fuse, outpaint, inbetween).
# ---------------------------------------------------------------------------------------------


def seed_path(out: Path, seed: int, many: bool) -> Path:
    """FILE for one seed, FILE-seed0007.ext when several seeds are generated."""
    if not many:
        return out
    suffixes = "".join(out.suffixes) if out.suffix in {".zarr", ".dzi"} else out.suffix
    stem = out.name[: len(out.name) - len(suffixes)] if suffixes else out.name
    return out.with_name(f"{stem}-seed{seed:04d}{suffixes}")


def output_paths(out: Path, seeds: list[int]) -> list[Path]:
    """One output per seed: ``out`` itself, or ``STEM-seedNNNN.EXT`` when there are several."""
    return [seed_path(out, s, len(seeds) > 1) for s in seeds]


def sidecars(paths: Sequence[Path]) -> list[Labelled]:
    """The sidecars written with canvas outputs, as companions for :func:`check_new_outputs`."""
    from infinitygan.writers import sidecar_path

    return [(f"the sidecar of {p.name}", sidecar_path(p)) for p in paths]


def check_outputs(
    paths: list[Path],
    height: int,
    width: int,
    *,
    extra: Sequence[Path | None] = (),
    options: dict[str, Any] | None = None,
) -> None:
    """Fail early (before any work) for outputs that cannot be written.

    ``paths`` are canvas outputs (format, size, ``options``, disk space and folder checked);
    ``extra`` are the other files the command writes (see :func:`prepare_output`).
    """
    from infinitygan.writers import check_output_path

    for p in paths:
        if not p.parent.exists():
            prepare_output(p, kind="any")  # creates the folder, or says why it cannot
        try:
            check_output_path(p, height, width, options=options)
        except ValueError as err:
            raise click.ClickException(str(err)) from None
    for p in extra:
        prepare_output(p)


def description_targets(save_description: Path | None, paths: list[Path]) -> list[Path]:
    """Where ``--save-description`` writes: the path itself, or ``STEM.canvas.json`` beside
    each output when there are several."""
    if save_description is None:
        return []
    if len(paths) == 1:
        return [save_description]
    return [save_description.with_name(f"{p.stem}.canvas.json") for p in paths]


def check_description_path(save_description: Path | None) -> None:
    """``--save-description`` must name a .json file."""
    if save_description is not None and save_description.suffix.lower() != ".json":
        raise click.BadParameter(
            f"{save_description} is not a .json file name; the canvas description is JSON",
            param_hint="--save-description",
        )


def write_outputs(
    G: Any,
    specs: Sequence[OutputSpec],
    paths: Sequence[Path],
    *,
    chunk: int,
    resume: bool,
    force: bool,
    held: Path | None = None,
    save_description: Path | None = None,
    rank: int = 0,
    world_size: int = 1,
    **write_kwargs: Any,
) -> None:
    """Write each canvas to its path with :func:`infinitygan.output.write_canvas`, with a
    progress bar and a line per file; errors in one line.

    Each path is locked while it is written, except ``held`` (whose lock the caller holds) and
    under torchrun (the ranks share one store). Under --resume a finished output made with the
    same settings is kept. ``write_kwargs`` go to ``write_canvas`` (``options``, ``max_memory``,
    ``tile_batch``, ``compile``).
    """
    from infinitygan.cli._models import warn_slow_precision
    from infinitygan.output import resume_settings

    if specs:
        warn_slow_precision(str(next(G.parameters()).device), specs[0].precision)
    targets = description_targets(save_description, list(paths))
    options = write_kwargs.get("options")
    for i, (spec, path) in enumerate(zip(specs, paths)):
        settings = resume_settings(spec, path.parent)
        lock = world_size == 1 and path != held
        with output_locks([path] if lock else []):
            kept = resume and world_size == 1 and finished_before(path, settings, options, force)
            if not kept:
                _write_one(G, spec, path, chunk, resume, rank, world_size, write_kwargs)
        if targets:
            from infinitygan.applications.outpaint import relative_placements

            relative_placements(spec.description, targets[i].parent).save(targets[i])
            click.echo(f"wrote {targets[i]}")


def _write_one(
    G: Any,
    spec: OutputSpec,
    path: Path,
    chunk: int,
    resume: bool,
    rank: int,
    world_size: int,
    write_kwargs: dict[str, Any],
) -> None:
    from tqdm import tqdm

    from infinitygan.output import write_canvas

    bar = tqdm(total=None, unit="chunk", desc=path.name, disable=rank > 0)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(1)

    try:
        stats = write_canvas(
            G,
            path,
            spec,
            chunk=chunk,
            resume=resume,
            progress=progress,
            rank=rank,
            world_size=world_size,
            **write_kwargs,
        )
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        raise click.ClickException(str(err)) from None
    finally:
        bar.close()  # an error message then starts on a line of its own
    if rank == 0:
        _, _, height, width = spec.region
        click.echo(
            f"wrote {path} ({width}x{height}, {stats['chunks_rendered']} chunks rendered, "
            f"{stats['chunks_skipped']} resumed, {stats['seconds']:.1f} s)"
        )
