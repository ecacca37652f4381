"""`infinitygan plot`: loss curves of a training run from its stats.jsonl."""

from __future__ import annotations

from pathlib import Path

import click

from infinitygan.cli._common import check_new_outputs, prepare_output
from infinitygan.cli._group import main
from infinitygan.cli._options import force_option


@main.command("plot")
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="PNG to write (default RUN_DIR/loss-curves.png, redrawn on every call).",
)
@click.option("--smooth", type=click.IntRange(min=1), default=1, help="Moving average (ticks).")
@force_option
def plot_command(run_dir: Path, out: Path | None, smooth: int, force: bool) -> None:
    """Draw the loss terms of a training run against kimg.

    The default output belongs to the run and is redrawn each time; an existing --out file is
    replaced only with --force.

    \b
    Example:
      infinitygan plot runs/00000-tiny-synthetic-b4 --smooth 5
    """
    from infinitygan.train.plot import plot_stats

    if out is not None:
        prepare_output(out, "--out")

        check_new_outputs(
            [("--out", out)], [("RUN_DIR/stats.jsonl", run_dir / "stats.jsonl")], force=force
        )
    try:
        path = plot_stats(run_dir, out, smooth=smooth)
    except (FileNotFoundError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(str(path))
