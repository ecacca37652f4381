"""Output formats: which suffix means what, their options and their limits.

``check_output_path`` runs every check that can fail before any generation work starts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

logger = logging.getLogger(__name__)

#: Every file suffix the writers accept (lower case).
SUPPORTED_SUFFIXES: tuple[str, ...] = (
    ".png",
    ".jpg",
    ".jpeg",
    ".webp",
    ".tif",
    ".tiff",
    ".zarr",
    ".dzi",
)

_FORMAT_OF_SUFFIX = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".webp": "webp",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".zarr": "zarr",
    ".dzi": "dzi",
}

#: Formats assembled in memory and saved with Pillow at close.
IN_MEMORY_FORMATS = frozenset({"png", "jpeg", "webp"})

#: libjpeg refuses a side above 65500 (JPEG_MAX_DIMENSION), even though the header field holds
#: 65535; Pillow reports "broken data stream" for 65501..65535.
JPEG_MAX_SIDE = 65500
#: libwebp's limit per side.
WEBP_MAX_SIDE = 16383
#: Pillow/libpng keep the row count and sizes in 32-bit ints; stay below 2^31 pixels.
PNG_MAX_PIXELS = 2**31 - 1
#: Bytes of RAM per pixel to assemble and save an in-memory canvas: Pillow keeps RGB as RGBX
#: (4 bytes), plus a margin for the encoder (measured: 4.1 bytes/pixel for a 16384x4096 PNG).
IN_MEMORY_BYTES_PER_PIXEL = 5
#: Fraction of the currently available RAM an in-memory canvas may use.
IN_MEMORY_RAM_FRACTION = 0.8


@dataclass(frozen=True)
class _Option:
    """One format option: default, accepted type and either allowed values or a numeric range."""

    default: Any
    kind: type
    choices: tuple[Any, ...] | None = None
    low: int | None = None
    high: int | None = None


_OPTIONS: dict[str, dict[str, _Option]] = {
    "png": {"compress_level": _Option(6, int, low=0, high=9)},
    "jpeg": {
        "quality": _Option(95, int, low=1, high=100),
        "subsampling": _Option("4:2:0", str, choices=("4:4:4", "4:2:2", "4:2:0")),
    },
    "webp": {
        "quality": _Option(95, int, low=0, high=100),
        "lossless": _Option(False, bool),
        "method": _Option(4, int, low=0, high=6),
    },
    "tiff": {
        "compression": _Option("zlib", str, choices=("zlib", "lzma", "jpeg", "none")),
        "level": _Option(6, int, low=1, high=9),
        "quality": _Option(90, int, low=1, high=100),
        "pyramid": _Option(True, bool),
        "workers": _Option(0, int, low=0, high=64),
    },
    "zarr": {
        "compression": _Option("zstd", str, choices=("zstd", "none")),
        "level": _Option(3, int, low=1, high=22),
    },
    "dzi": {
        "tile_size": _Option(254, int, low=16, high=4096),
        "overlap": _Option(1, int, low=0, high=64),
        "tile_format": _Option("jpeg", str, choices=("jpeg", "png")),
        "quality": _Option(90, int, low=1, high=100),
    },
}

# Expected output bytes per raw canvas byte (H * W * 3), on the pessimistic side for generated
# natural images, so the disk check refuses before hours of generation rather than after.
_OUTPUT_RATIO = {
    "png": 0.75,
    "jpeg": 0.25,
    "webp": 0.25,
    ("tiff", "zlib"): 0.75,
    ("tiff", "lzma"): 0.75,
    ("tiff", "jpeg"): 0.25,
    ("tiff", "none"): 1.0,
    ("zarr", "zstd"): 0.75,
    ("zarr", "none"): 1.0,
    ("dzi", "jpeg"): 0.25,
    ("dzi", "png"): 0.75,
}


def format_of(path: str | os.PathLike[str]) -> str:
    """Name of the output format for ``path`` ("png", "jpeg", "webp", "tiff", "zarr" or "dzi").

    Raises:
        ValueError: for an unsupported extension; the message lists the supported ones.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in _FORMAT_OF_SUFFIX:
        raise ValueError(
            f"unsupported output extension {suffix or '(none)'!r} in {os.fspath(path)!r}; "
            f"supported: {', '.join(SUPPORTED_SUFFIXES)} (use .tif or .zarr for huge canvases)"
        )
    return _FORMAT_OF_SUFFIX[suffix]


def normalize_options(fmt: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """Fill in defaults and validate the format options.

    Args:
        fmt: Format name from :func:`format_of`.
        options: User options (may be None or partial).

    Returns:
        A complete options dict (every known key, sorted).

    Raises:
        ValueError: for an unknown key, a wrong type or a value out of range.
    """
    spec = _OPTIONS[fmt]
    options = dict(options or {})
    unknown = sorted(set(options) - set(spec))
    if unknown:
        raise ValueError(
            f"unknown {fmt} option(s) {unknown}; known {fmt} options: "
            + ", ".join(f"{k} (default {v.default!r})" for k, v in spec.items())
        )
    out: dict[str, Any] = {}
    for key, opt in sorted(spec.items()):
        value = options.get(key, opt.default)
        ok_type = isinstance(value, opt.kind) and (opt.kind is bool or not isinstance(value, bool))
        if not ok_type:
            raise ValueError(f"{fmt} option {key!r} must be {opt.kind.__name__}, got {value!r}")
        if opt.choices is not None and value not in opt.choices:
            raise ValueError(
                f"{fmt} option {key!r} must be one of {list(opt.choices)}, got {value!r}"
            )
        if opt.low is not None and opt.high is not None and not opt.low <= value <= opt.high:
            raise ValueError(
                f"{fmt} option {key!r} must be in [{opt.low}, {opt.high}], got {value!r}"
            )
        out[key] = value
    if fmt == "tiff" and out["compression"] == "jpeg":
        try:
            import imagecodecs  # noqa: F401
        except ImportError as err:
            raise ValueError(
                "TIFF compression 'jpeg' needs the 'imagecodecs' package: "
                "pip install 'infinitygan[tiff-jpeg]' (or pip install imagecodecs), "
                "or use compression 'zlib' (the default)"
            ) from err
    return out


def estimate_disk_bytes(fmt: str, height: int, width: int, options: dict[str, Any]) -> int:
    """Pessimistic estimate of the peak disk use of a write: scratch chunks plus the output.

    Args:
        fmt: Format name.
        height: Canvas height.
        width: Canvas width.
        options: Normalised options (see :func:`normalize_options`).

    Returns:
        Bytes needed on the target's file system at the moment the output is written.
    """
    raw = height * width * 3
    if fmt == "zarr":
        # The store is its own scratch; chunks at the edges are stored padded to full size.
        return int(raw * _OUTPUT_RATIO[("zarr", options["compression"])] * 1.1) + 2**20
    # Scratch: raw .npy chunks (level 0), plus the 2x pyramid (about 1/3 more) while finalising.
    pyramid = fmt == "dzi" or (fmt == "tiff" and options["pyramid"])
    scratch = raw * (4 / 3 if pyramid else 1.0)
    key: Any = fmt if fmt in IN_MEMORY_FORMATS else (fmt, options.get("compression"))
    if fmt == "dzi":
        key = ("dzi", options["tile_format"])
    output = raw * _OUTPUT_RATIO[key] * (4 / 3 if pyramid else 1.0)
    return int(scratch + output) + 2**20


def _check_directory(directory: Path) -> None:
    if not directory.exists():
        raise ValueError(f"output directory {str(directory)!r} does not exist; create it first")
    if not directory.is_dir():
        raise ValueError(f"output directory {str(directory)!r} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".infinitygan-write-probe-")
    except OSError as err:
        raise ValueError(
            f"cannot write in output directory {str(directory)!r} ({err.strerror or err}); "
            "choose a directory you can write to"
        ) from err
    os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(probe)


def used_bytes(root: Path) -> int:
    """Bytes the files under ``root`` take (0 when it does not exist; links not followed)."""
    if not root.is_dir() or root.is_symlink():
        return root.stat().st_size if root.is_file() and not root.is_symlink() else 0
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def check_output_path(
    path: str | os.PathLike[str],
    height: int,
    width: int,
    *,
    options: dict[str, Any] | None = None,
    check_disk: bool = True,
) -> None:
    """Check, before any work, that a ``height`` x ``width`` canvas can be written to ``path``.

    Checks the extension, the output directory (exists, is writable), the format's size limits
    (JPEG <= 65500 px per side, WebP <= 16383 px per side, PNG/JPEG/WebP < 2^31 pixels and small
    enough to assemble in the available RAM) and the free disk space for the estimated output.
    The chunks an unfinished write already holds in ``PATH.partial`` are credited, so resuming
    after a full disk needs only the space of what is left.

    Args:
        path: Target path; its extension picks the format.
        height: Canvas height in pixels.
        width: Canvas width in pixels.
        options: Format options (validated too; they change the disk estimate).
        check_disk: Whether to check the free disk space.

    Raises:
        ValueError: naming the problem and what to do instead.
    """
    path = Path(path)
    fmt = format_of(path)
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"canvas {name} must be a positive integer, got {value!r}")
    opts = normalize_options(fmt, options)
    if path.is_dir() and fmt not in ("zarr",):
        raise ValueError(f"output path {str(path)!r} is an existing directory; give a file name")
    directory = path.parent
    _check_directory(directory)

    pixels = height * width
    size = f"{width}x{height} (WxH)"
    if fmt == "jpeg" and max(height, width) > JPEG_MAX_SIDE:
        raise ValueError(
            f"a {size} canvas is too large for JPEG (at most {JPEG_MAX_SIDE} pixels per side); "
            "use .tif (tiled BigTIFF, compression 'jpeg' if you want JPEG tiles) or .zarr"
        )
    if fmt == "webp" and max(height, width) > WEBP_MAX_SIDE:
        raise ValueError(
            f"a {size} canvas is too large for WebP (at most {WEBP_MAX_SIDE} pixels per side); "
            "use .tif or .zarr instead"
        )
    if fmt in IN_MEMORY_FORMATS:
        if pixels > PNG_MAX_PIXELS:
            raise ValueError(
                f"a {size} canvas ({pixels:,} pixels) is too large for {fmt.upper()} (at most "
                f"{PNG_MAX_PIXELS:,} pixels, and most decoders refuse far less); use .tif or .zarr"
            )
        need = pixels * IN_MEMORY_BYTES_PER_PIXEL
        available = psutil.virtual_memory().available
        if need > IN_MEMORY_RAM_FRACTION * available:
            raise ValueError(
                f"a {size} canvas needs about {_human(need)} of RAM to be saved as "
                f"{fmt.upper()} (assembled in memory), but only {_human(available)} is "
                "available; use .tif or .zarr, which are written in bounded memory"
            )
    if check_disk:
        from infinitygan.writers._store import scratch_path

        done = used_bytes(scratch_path(path))
        need = max(0, estimate_disk_bytes(fmt, height, width, opts) - done)
        free = shutil.disk_usage(directory).free
        if need > free:
            started = f" besides the {_human(done)} already written" if done else ""
            raise ValueError(
                f"not enough free disk space in {str(directory)!r} for a {size} {fmt} canvas: "
                f"about {_human(need)} more needed (scratch chunks plus output{started}), "
                f"{_human(free)} free; free some space, pick another directory or a smaller canvas"
            )
    logger.debug("output %s (%s, %s) passed the checks", path, fmt, size)
