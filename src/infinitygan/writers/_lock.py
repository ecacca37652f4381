"""An exclusive lock per output, so that two processes never write (or resume) the same file.

``lock_output(PATH)`` holds ``fcntl.flock`` on ``PATH.lock`` (beside the output and its
``PATH.partial``) for as long as the ``with`` block runs, and deletes the lock file on the way
out. The operating system drops the lock when the process dies, even by ``kill -9``, so a lock
file left behind by a killed run never blocks the next one. On systems without ``fcntl``
(Windows) no lock is taken.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class OutputBusyError(ValueError):
    """Another process holds the lock of an output."""


def lock_path(path: str | os.PathLike[str]) -> Path:
    """The lock file of an output: ``PATH + ".lock"``."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        text = os.pread(fd, 32, 0).decode().strip()
        if text:
            return f" (pid {int(text)})"
    return ""


@contextlib.contextmanager
def lock_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the exclusive lock of output ``path`` for the duration of the block.

    Raises:
        OutputBusyError: at once (no waiting) when another process holds it.
    """
    where = lock_path(path)
    if fcntl is None:  # pragma: no cover - Windows
        yield where
        return
    while True:
        fd = os.open(where, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise OutputBusyError(
                f"another infinitygan process{holder} is writing {Path(path).name} right now "
                f"(it holds {where.name}); wait for it to finish, or write to another file"
            ) from None
        # The previous holder may have deleted the file between our open and flock: then we
        # locked an orphan, and must lock the file that is there now.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(where))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield where
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(where)
        os.close(fd)
