"""Command-line interface: `infinitygan COMMAND ...`.

Each command lives in its own module and attaches itself to the group in `_group`; importing
the module registers it. Add new command modules to the import list below.
"""

from __future__ import annotations

# Command modules (import registers the command).
from infinitygan.cli import convert as _convert  # noqa: E402,F401
from infinitygan.cli import eval as _eval  # noqa: E402,F401
from infinitygan.cli import fuse as _fuse  # noqa: E402,F401
from infinitygan.cli import generate as _generate  # noqa: E402,F401
from infinitygan.cli import inbetween as _inbetween  # noqa: E402,F401
from infinitygan.cli import invert as _invert  # noqa: E402,F401
from infinitygan.cli import outpaint as _outpaint  # noqa: E402,F401
from infinitygan.cli import plot as _plot  # noqa: E402,F401
from infinitygan.cli import prepare as _prepare  # noqa: E402,F401
from infinitygan.cli import serve as _serve  # noqa: E402,F401
from infinitygan.cli import train as _train  # noqa: E402,F401
from infinitygan.cli._group import main

__all__ = ["main"]
