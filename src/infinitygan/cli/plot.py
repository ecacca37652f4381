"""`infinitygan plot`: loss curves of a training run from its stats.jsonl."""

from __future__ import annotations

from pathlib import Path

import click

from infinitygan.cli._common import check_parent_folder
from infinitygan.cli._group import main


@main.command("plot")
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="PNG to write (default RUN_DIR/loss-curves.png).",
)
@click.option("--smooth", type=click.IntRange(min=1), default=1, help="Moving average (ticks).")
def plot_command(run_dir: Path, out: Path | None, smooth: int) -> None:
    """Draw the loss terms of a training run against kimg.

    \b
    Example:
      infinitygan plot runs/00000-tiny-synthetic-b4 --smooth 5
    """
    from infinitygan.train.plot import plot_stats

    if out is not None:
        check_parent_folder(out, "--out")

    try:
        path = plot_stats(run_dir, out, smooth=smooth)
    except (FileNotFoundError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(str(path))
