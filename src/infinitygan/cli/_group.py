"""The `infinitygan` click group. Command modules attach themselves to `main`."""

from __future__ import annotations

import errno
import logging

import click

from infinitygan import __version__


def describe_os_error(err: OSError) -> str:
    """One line for a failed file operation: what failed, on which path, and what to do."""
    where = f" {err.filename}" if err.filename else ""
    if err.errno == errno.ENOSPC:
        return (
            f"no space left on the device while writing{where}; free some space or write "
            "elsewhere (an interrupted generation continues with --resume)"
        )
    if err.errno == errno.EEXIST:
        return f"cannot create the folder{where}: it exists as a file, not a folder"
    if err.errno == errno.ENOTDIR:
        return f"cannot use{where}: a part of the path is a file, not a folder"
    if err.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied:{where}; choose a place you can write to"
    if err.errno == errno.EROFS:
        return f"read-only file system:{where}; write elsewhere"
    reason = err.strerror or str(err) or type(err).__name__
    return f"{reason}:{where}" if where else reason


class _Group(click.Group):
    """Turns an OSError escaping a command (full disk, a file where a folder should be, no
    permission) into one line on stderr and exit status 1, instead of a traceback."""

    def invoke(self, ctx: click.Context):  # noqa: ANN201 - click's signature
        try:
            return super().invoke(ctx)
        except OSError as err:
            if err.errno == errno.EPIPE:  # click handles a closed stdout itself
                raise
            raise click.ClickException(describe_os_error(err)) from None


@click.group(
    cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "show_default": True}
)
@click.version_option(__version__, prog_name="infinitygan")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """InfinityGAN: generate, train and evaluate infinite-pixel image generators.

    Run `infinitygan COMMAND --help` for the options of one command.
    """
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
