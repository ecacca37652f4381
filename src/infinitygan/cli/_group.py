"""The `infinitygan` click group. Command modules attach themselves to `main`."""

from __future__ import annotations

import logging

import click

from infinitygan import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="infinitygan")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """InfinityGAN: generate, train and evaluate infinite-pixel image generators.

    Run `infinitygan COMMAND --help` for the options of one command.
    """
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
