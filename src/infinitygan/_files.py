"""Atomic file writes: the one place that writes a file under a temporary name and renames it.

A reader sees either the old file or the complete new one, never a torn one, and an interrupted
write (an exception, a full disk, Ctrl-C) leaves no temporary file behind. Every file written here
gets the permissions an ordinary ``open(path, "w")`` would give it: 0666 minus the process umask
(0644 under the usual umask 022), unlike ``tempfile.mkstemp``'s owner-only 0600. The temporary
file is created with ``os.open(..., 0o666)``, so the kernel applies the umask, and that mode is
restored if the write replaced the file (safetensors >= 0.5 writes its own private temporary and
renames it); the umask is never read or changed, which would race with other threads.

Temporary names are hidden siblings ending in ``.tmp`` (``.NAME.PID-RANDOM.tmp``), in the target's
folder so the final ``os.replace`` stays on one file system. They never carry the target's
extension, so no folder scan for ``*.png`` or ``*.safetensors`` picks up a half-written file.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any


def temp_name(path: Path, tag: str = "tmp") -> Path:
    """A unique hidden sibling of ``path``: ``.NAME.PID-RANDOM.TAG`` (same folder, same disk)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.{tag}")


def atomic_write(
    path: str | os.PathLike[str], write: Callable[[Path], None], *, fsync: bool = False
) -> Path:
    """Fill a new temporary file beside ``path`` with ``write(tmp)``, then rename it to ``path``.

    ``write`` opens ``tmp`` by name (``open(tmp, "wb")``, ``Image.save(tmp, format=...)``,
    ``safetensors.save_file(..., tmp)``) and fills it. ``tmp`` ends in ``.tmp``, so a writer
    that picks the format from the name needs it given (``format="png"``), and one that appends
    its own extension (``np.save``, ``np.savez``) needs an open handle. The parent folder is
    created if needed.
    On any exception the temporary file is removed and the exception propagates; ``path`` is
    then untouched.

    Args:
        path: the file to write.
        write: fills the temporary file.
        fsync: flush the data to disk before the rename (files a crash must not lose: run state,
            caches that are costly to rebuild).

    Returns:
        ``path`` as a Path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    # O_EXCL: never reuse someone else's file; 0o666: the kernel applies the umask
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        try:
            mode = stat.S_IMODE(os.fstat(fd).st_mode)
            if mode & 0o600 != 0o600:  # a umask such as 0o277: we still need to write it
                os.chmod(tmp, mode | 0o600)
        finally:
            os.close(fd)
        write(tmp)
        if stat.S_IMODE(os.stat(tmp).st_mode) != mode:
            os.chmod(tmp, mode)  # see above, or the library replaced it with its own 0600 file
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, fsync: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data), fsync=fsync)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, fsync: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def atomic_write_json(
    path: str | os.PathLike[str], obj: Any, *, indent: int = 2, fsync: bool = False
) -> Path:
    """Write ``obj`` as JSON (sorted keys, ``indent``, final newline) to ``path`` atomically."""
    return atomic_write_text(
        path, json.dumps(obj, indent=indent, sort_keys=True) + "\n", fsync=fsync
    )
