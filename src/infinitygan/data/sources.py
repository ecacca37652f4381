"""Image collections (folder, .zip, .tar/.tar.gz/.tgz), robust decoding to 8-bit RGB, start-up scan.

A collection is a flat, sorted list of entry names (POSIX paths relative to the folder or archive
root). The same images stored in a folder, a zip or a tar therefore get the same names and the same
order, so a dataset built on any of them yields identical samples.

Decoding rules (``decode_image``), applied to every image whatever its storage:

* EXIF orientation is applied (a portrait photo shot sideways is turned upright), because the
  vertical position of a patch is a training label.
* Greyscale (``1``, ``L``), palette (``P``), CMYK, YCbCr, LAB and HSV images are converted to RGB
  with Pillow's converters (Adobe-inverted CMYK JPEGs are handled by Pillow's decoder).
* 16-bit greyscale (``I;16*``, ``I``) is scaled to 8 bit as ``round(v / 257)``; Pillow already
  reduces 16-bit RGB PNGs to 8 bit when decoding.
* Transparency (an alpha channel, ``LA``/``RGBA``/``PA``, or a ``tRNS`` colour key) is
  **composited on white**: a transparent pixel becomes (255, 255, 255).

Archives are opened lazily, once per process (the handle is keyed by ``os.getpid()`` and dropped
when pickled), so a dataset can be used from forked or spawned DataLoader worker processes. A
compressed tar cannot be read at random positions, so it is decompressed once into a temporary
uncompressed tar (deleted when the source is garbage-collected or at exit) and read from there.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import tarfile
import tempfile
import weakref
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from infinitygan._files import atomic_write_text

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp")
"""File name endings (lower-case) treated as images. Anything else is skipped as not an image."""

SCAN_FILENAME = "dataset-scan.json"

# Skip reasons (the ``reason`` field of a SkippedEntry).
NOT_AN_IMAGE = "not an image"
UNREADABLE = "unreadable"
TRUNCATED = "truncated"
TOO_SMALL = "smaller than the patch"
REPEATED = "already scanned"
OUTSIDE = "link outside the folder"
SKIP_REASONS: tuple[str, ...] = (NOT_AN_IMAGE, UNREADABLE, TRUNCATED, TOO_SMALL, REPEATED, OUTSIDE)

_ZIP_SUFFIXES = (".zip",)
_TAR_PLAIN_SUFFIXES = (".tar",)
_TAR_COMPRESSED_SUFFIXES = (".tar.gz", ".tgz")


class DataError(ValueError):
    """A dataset cannot be used (nothing usable in it, an unknown format, a file that fails).

    Attributes:
        report: the scan report when the error comes from a scan, else None. It can still be
            written to a run folder with ``report.write(run_dir)``.
    """

    def __init__(self, message: str, report: ScanReport | None = None) -> None:
        super().__init__(message)
        self.report = report


class ImageDecodeError(DataError):
    """One entry could not be decoded. ``reason`` is one of ``SKIP_REASONS``."""

    def __init__(self, name: str, reason: str, detail: str) -> None:
        super().__init__(f"{name}: {reason} ({detail})")
        self.name = name
        self.reason = reason
        self.detail = detail


# --------------------------------------------------------------------------------------------
# Collections


class ImageSource:
    """A read-only collection of named files. Subclasses: folder, zip, tar.

    Attributes:
        path: the folder or archive path.
        kind: "folder", "zip" or "tar".
    """

    kind: str = ""

    def __init__(self, path: Path) -> None:
        self.path = path

    def names(self) -> list[str]:
        """All file names in the collection, sorted (POSIX paths relative to its root)."""
        raise NotImplementedError

    def read_bytes(self, name: str) -> bytes:
        """The content of one file. Raises OSError (e.g. FileNotFoundError) when it fails."""
        raise NotImplementedError

    def left_out(self) -> list[tuple[str, str, str]]:
        """``(name, reason, detail)`` of what the last :meth:`names` call did not list."""
        return []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"


class FolderSource(ImageSource):
    """All files below a folder, recursively (hidden files and folders included).

    Symbolic links are followed inside the folder, each real folder and file once: a link to a
    folder already scanned (a loop such as ``ln -s . a``) or to a file already listed is left out
    as ``REPEATED``, and a link that leads outside the folder as ``OUTSIDE``; see
    :meth:`left_out`.
    """

    kind = "folder"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._left_out: list[tuple[str, str, str]] = []

    def names(self) -> list[str]:
        root = Path(os.path.realpath(self.path))
        seen_dirs: dict[str, str] = {str(root): "."}
        seen_files: dict[str, str] = {}
        found: list[str] = []
        left_out: list[tuple[str, str, str]] = []

        def inside(real: str) -> bool:
            return real == str(root) or real.startswith(str(root) + os.sep)

        def first_visit(name: str, real: str, kind: str, seen: dict[str, str]) -> bool:
            """Whether to follow ``name`` (its real path ``real``): inside the folder and not
            seen before; otherwise it is recorded as left out."""
            if not inside(real):
                left_out.append((name, OUTSIDE, f"{kind} link to {real}"))
                return False
            if real in seen:
                left_out.append((name, REPEATED, f"the {kind} {seen[real]} (a link)"))
                return False
            seen[real] = name
            return True

        for dirpath, dirnames, filenames in os.walk(self.path, followlinks=True):
            rel = Path(dirpath).relative_to(self.path)
            dirnames[:] = [
                d
                for d in sorted(dirnames)
                if first_visit(
                    (rel / d).as_posix(),
                    os.path.realpath(os.path.join(dirpath, d)),
                    "folder",
                    seen_dirs,
                )
            ]
            for filename in sorted(filenames):
                name = (rel / filename).as_posix()
                real = os.path.realpath(os.path.join(dirpath, filename))
                if first_visit(name, real, "file", seen_files):
                    found.append(name)
        self._left_out = sorted(left_out)
        if left_out:
            logger.warning(
                "%s: %d link(s) not followed (loops, repeats or outside the folder), e.g. %s",
                self.path,
                len(left_out),
                f"{left_out[0][0]}: {left_out[0][1]}",
            )
        return sorted(found)

    def left_out(self) -> list[tuple[str, str, str]]:
        return list(self._left_out)

    def read_bytes(self, name: str) -> bytes:
        return (self.path / name).read_bytes()


class ZipSource(ImageSource):
    """Files in a .zip archive. The ZipFile is opened lazily, once per process."""

    kind = "zip"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._zip: zipfile.ZipFile | None = None
        self._pid = -1
        try:
            with zipfile.ZipFile(path) as zf:
                self._names = sorted(info.filename for info in zf.infolist() if not info.is_dir())
        except (zipfile.BadZipFile, OSError) as err:
            raise DataError(f"{path} is not a readable zip archive: {err}") from err

    def _handle(self) -> zipfile.ZipFile:
        if self._zip is None or self._pid != os.getpid():
            # A handle inherited through fork shares its file offset with the parent: never reuse.
            self._zip = zipfile.ZipFile(self.path)
            self._pid = os.getpid()
        return self._zip

    def names(self) -> list[str]:
        return list(self._names)

    def read_bytes(self, name: str) -> bytes:
        try:
            return self._handle().read(name)
        except (zipfile.BadZipFile, KeyError, EOFError) as err:
            raise OSError(f"cannot read {name!r} from {self.path}: {err}") from err

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_zip"] = None
        state["_pid"] = -1
        return state


def _remove_if_owner(path: str, owner_pid: int) -> None:
    # Forked workers inherit the finalizer; only the creating process may delete the file.
    if os.getpid() == owner_pid:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


class TarSource(ImageSource):
    """Files in a .tar (read in place) or .tar.gz/.tgz (decompressed once to a temporary .tar).

    Member offsets are indexed once; reading a member is one seek and one read on a file handle
    that is opened lazily, once per process.
    """

    kind = "tar"

    def __init__(self, path: Path, temp_dir: str | os.PathLike[str] | None = None) -> None:
        super().__init__(path)
        self._file: IO[bytes] | None = None
        self._pid = -1
        self._finalizer: weakref.finalize | None = None
        self._tar_path = path
        name = path.name.lower()
        try:
            if name.endswith(_TAR_COMPRESSED_SUFFIXES):
                self._tar_path = self._decompress(path, temp_dir)
            with tarfile.open(self._tar_path, mode="r:") as tf:
                self._members = {
                    _clean_member_name(m.name): (m.offset_data, m.size)
                    for m in tf.getmembers()
                    if m.isfile()
                }
        except (tarfile.TarError, OSError, EOFError) as err:
            raise DataError(f"{path} is not a readable tar archive: {err}") from err

    def _decompress(self, path: Path, temp_dir: str | os.PathLike[str] | None) -> Path:
        fd, tmp_name = tempfile.mkstemp(prefix="infinitygan-", suffix=".tar", dir=temp_dir)
        self._finalizer = weakref.finalize(self, _remove_if_owner, tmp_name, os.getpid())
        logger.info("decompressing %s to %s for random access", path, tmp_name)
        with os.fdopen(fd, "wb") as out, tarfile.open(path, mode="r:*") as tf:
            # tarfile exposes the decompressed stream as fileobj; copy it as it is.
            tf.fileobj.seek(0)  # type: ignore[union-attr]
            shutil.copyfileobj(tf.fileobj, out, length=1 << 20)  # type: ignore[arg-type]
        return Path(tmp_name)

    def _handle(self) -> IO[bytes]:
        if self._file is None or self._pid != os.getpid():
            self._file = open(self._tar_path, "rb")  # noqa: SIM115 - kept open for reuse
            self._pid = os.getpid()
        return self._file

    def names(self) -> list[str]:
        return sorted(self._members)

    def read_bytes(self, name: str) -> bytes:
        try:
            offset, size = self._members[name]
        except KeyError as err:
            raise FileNotFoundError(f"{name!r} is not in {self.path}") from err
        handle = self._handle()
        handle.seek(offset)
        data = handle.read(size)
        if len(data) != size:
            raise OSError(f"{self.path} ends inside {name!r} ({len(data)} of {size} bytes)")
        return data

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_file"] = None
        state["_pid"] = -1
        state["_finalizer"] = None  # the temporary file belongs to the creating process
        return state


def _clean_member_name(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name


def open_source(path: str | os.PathLike[str]) -> ImageSource:
    """Open a folder, .zip, .tar, .tar.gz or .tgz as an image collection.

    Raises:
        FileNotFoundError: when the path does not exist.
        DataError: when it is a file of another kind or an unreadable archive.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"dataset path {p} does not exist")
    if p.is_dir():
        return FolderSource(p)
    name = p.name.lower()
    if name.endswith(_ZIP_SUFFIXES):
        return ZipSource(p)
    if name.endswith(_TAR_PLAIN_SUFFIXES + _TAR_COMPRESSED_SUFFIXES):
        return TarSource(p)
    raise DataError(
        f"{p} is neither a folder nor an archive; give a folder of images or a "
        ".zip, .tar, .tar.gz or .tgz file"
    )


# --------------------------------------------------------------------------------------------
# Decoding


def is_image_name(name: str) -> bool:
    """True when the name ends in one of ``IMAGE_EXTENSIONS`` (case-insensitive)."""
    return name.lower().endswith(IMAGE_EXTENSIONS)


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow image to 8-bit RGB (alpha and colour keys composited on white).

    Args:
        image: a loaded Pillow image of any mode.

    Returns:
        An image of mode "RGB".
    """
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image
    if mode.startswith("I;16") or mode == "I":
        # 16-bit samples (Pillow decodes 16-bit greyscale PNG to I;16, older versions to I).
        values = np.asarray(image, dtype=np.float64)
        grey = np.clip(np.round(values / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if mode == "F":
        values = np.clip(np.round(np.asarray(image, dtype=np.float64)), 0, 255)
        return Image.fromarray(values.astype(np.uint8), mode="L").convert("RGB")
    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _webp_is_short(data: bytes) -> bool:
    # RIFF header: b"RIFF" + little-endian payload size + b"WEBP".
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return len(data) < int.from_bytes(data[4:8], "little") + 8
    return False


def decode_image(
    data: bytes, name: str = "<bytes>", *, draft_size: int | None = None
) -> Image.Image:
    """Decode image bytes to a fully loaded 8-bit RGB Pillow image (see the module docstring).

    Args:
        data: the encoded file content.
        name: used in error messages.
        draft_size: when given and the file is a JPEG, let the decoder shrink the image by a
            power of two (DCT scaling) while keeping both sides >= ``draft_size``. Much faster
            for big photos; pixel values differ slightly from a full decode.

    Returns:
        An RGB image, EXIF orientation applied.

    Raises:
        ImageDecodeError: with reason NOT_AN_IMAGE, TRUNCATED or UNREADABLE.
    """
    if not data:
        raise ImageDecodeError(name, UNREADABLE, "empty file")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as err:
        raise ImageDecodeError(name, NOT_AN_IMAGE, "Pillow cannot identify the data") from err
    except Exception as err:  # noqa: BLE001 - any decoder failure is a property of the file
        raise _classify(name, err, data) from err
    try:
        if draft_size is not None and image.format == "JPEG":
            image.draft("RGB", (draft_size, draft_size))
        image.load()
        image = ImageOps.exif_transpose(image)
        return to_rgb(image)
    except Exception as err:  # noqa: BLE001
        raise _classify(name, err, data) from err


def _classify(name: str, err: BaseException, data: bytes) -> ImageDecodeError:
    text = str(err) or type(err).__name__
    if _webp_is_short(data):
        return ImageDecodeError(name, TRUNCATED, f"shorter than its RIFF header says; {text}")
    if isinstance(err, EOFError) or "truncated" in text.lower():
        return ImageDecodeError(name, TRUNCATED, text)
    return ImageDecodeError(name, UNREADABLE, f"{type(err).__name__}: {text}")


# --------------------------------------------------------------------------------------------
# Scan


@dataclass(frozen=True)
class ImageEntry:
    """A usable image: its name in the collection and its size after EXIF orientation."""

    name: str
    height: int
    width: int


@dataclass(frozen=True)
class SkippedEntry:
    """A file left out of the dataset. ``reason`` is one of ``SKIP_REASONS``."""

    name: str
    reason: str
    detail: str


@dataclass(frozen=True)
class ScanReport:
    """Result of ``scan_images``.

    Attributes:
        source: the scanned path.
        kind: "folder", "zip" or "tar".
        min_size: the smallest accepted shorter side in pixels.
        used: usable images, in dataset order (sorted by name).
        skipped: files left out, with the reason.
    """

    source: str
    kind: str
    min_size: int
    used: tuple[ImageEntry, ...]
    skipped: tuple[SkippedEntry, ...] = field(default=())

    @property
    def found(self) -> int:
        """Number of files scanned."""
        return len(self.used) + len(self.skipped)

    def reason_counts(self) -> dict[str, int]:
        """Number of skipped files per reason."""
        return dict(Counter(s.reason for s in self.skipped))

    def summary(self) -> str:
        """One line: found / used / skipped by reason."""
        counts = ", ".join(f"{n} {r}" for r, n in sorted(self.reason_counts().items()))
        return (
            f"{self.source} ({self.kind}): {self.found} files found, {len(self.used)} used, "
            f"{len(self.skipped)} skipped" + (f" ({counts})" if counts else "")
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: source, kind, min_size, found, used, skipped (with reasons)."""
        return {
            "source": self.source,
            "kind": self.kind,
            "min_size": self.min_size,
            "found": self.found,
            "num_used": len(self.used),
            "num_skipped": len(self.skipped),
            "skipped_by_reason": self.reason_counts(),
            "used": [{"name": e.name, "height": e.height, "width": e.width} for e in self.used],
            "skipped": [
                {"name": s.name, "reason": s.reason, "detail": s.detail} for s in self.skipped
            ],
        }

    def write(self, run_dir: str | os.PathLike[str], filename: str = SCAN_FILENAME) -> Path:
        """Write the report as JSON into ``run_dir`` (atomically). Returns the file path."""
        return atomic_write_text(
            Path(run_dir) / filename, json.dumps(self.to_dict(), indent=1) + "\n"
        )


def check_entry(
    source: ImageSource,
    name: str,
    min_size: int,
    *,
    draft_size: int | None = None,
    full_check: bool = True,
) -> ImageEntry:
    """Read and decode one entry; return its size, or raise ImageDecodeError (reason).

    With ``full_check=False`` only the header is read (no truncation check).
    """
    if not is_image_name(name):
        suffix = Path(name).suffix or "(none)"
        raise ImageDecodeError(name, NOT_AN_IMAGE, f"file extension {suffix}")
    try:
        data = source.read_bytes(name)
    except OSError as err:
        raise ImageDecodeError(name, UNREADABLE, f"{type(err).__name__}: {err}") from err
    if not data:
        raise ImageDecodeError(name, UNREADABLE, "empty file")
    # Header size first (a draft decode may shrink the decoded image).
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
            if _has_rotation(probe):
                width, height = height, width
    except UnidentifiedImageError as err:
        raise ImageDecodeError(name, NOT_AN_IMAGE, "Pillow cannot identify the data") from err
    except Exception as err:  # noqa: BLE001
        raise _classify(name, err, data) from err
    if min(height, width) < min_size:
        raise ImageDecodeError(
            name, TOO_SMALL, f"{width}x{height} px, shorter side below {min_size} px"
        )
    if full_check:
        decode_image(data, name, draft_size=draft_size)  # full decode: finds truncation
    return ImageEntry(name=name, height=height, width=width)


def _has_rotation(image: Image.Image) -> bool:
    try:
        return image.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    except Exception:  # noqa: BLE001 - a broken EXIF block is not worth rejecting the file
        return False


def scan_source(
    source: ImageSource, min_size: int, *, fast: bool = True, full_check: bool = True
) -> ScanReport:
    """Scan an opened collection (see ``scan_images``); never raises for individual files."""
    used: list[ImageEntry] = []
    skipped: list[SkippedEntry] = []
    for name in source.names():
        try:
            entry = check_entry(
                source, name, min_size, draft_size=1 if fast else None, full_check=full_check
            )
            used.append(entry)
        except ImageDecodeError as err:
            skipped.append(SkippedEntry(name=name, reason=err.reason, detail=err.detail))
    skipped.extend(SkippedEntry(name, reason, detail) for name, reason, detail in source.left_out())
    report = ScanReport(
        source=str(source.path),
        kind=source.kind,
        min_size=min_size,
        used=tuple(used),
        skipped=tuple(skipped),
    )
    logger.info("dataset scan: %s", report.summary())
    if skipped:
        logger.warning("%s (the list is in %s in the run folder)", report.summary(), SCAN_FILENAME)
    for s in skipped:
        logger.debug("skipping %s: %s (%s)", s.name, s.reason, s.detail)
    return report


def scan_images(
    path: str | os.PathLike[str] | ImageSource,
    min_size: int,
    *,
    fast: bool = True,
    full_check: bool = True,
) -> ScanReport:
    """Scan a folder (recursively), .zip or .tar/.tar.gz/.tgz and classify every file.

    Every file with an image extension is read and fully decoded, so truncated and corrupt
    files are found at start-up. Reasons for skipping: ``"not an image"`` (other extension or
    data Pillow cannot identify), ``"unreadable"`` (I/O or decoder error, empty file),
    ``"truncated"``, ``"smaller than the patch"`` (shorter side < ``min_size``).

    Args:
        path: the collection, or an already opened ``ImageSource``.
        min_size: smallest accepted shorter side in pixels (normally the patch size).
        fast: decode JPEGs with DCT scaling (1/8 size). The whole entropy-coded stream is still
            read, so truncation is still detected, at a fraction of the cost.
        full_check: decode every image (finds truncated and corrupt files). False reads headers
            only: much faster for very large collections; a broken file then surfaces during
            training, where the dataset logs it and substitutes the next image.

    Returns:
        The report (usable entries in dataset order, skipped ones with reasons).

    Raises:
        FileNotFoundError: the path does not exist.
        DataError: not a folder/zip/tar, or no usable image at all. The message says what was
            scanned and why everything was skipped; ``err.report`` holds the report.
    """
    if min_size < 1:
        raise ValueError(f"min_size must be >= 1, got {min_size}")
    source = path if isinstance(path, ImageSource) else open_source(path)
    report = scan_source(source, min_size, fast=fast, full_check=full_check)
    if not report.used:
        raise DataError(_nothing_usable_message(report), report=report)
    return report


def _nothing_usable_message(report: ScanReport) -> str:
    if report.found == 0:
        return (
            f"no usable images in {report.source} ({report.kind}): it contains no files. "
            f"Give a folder or archive of JPEG, PNG or WebP images."
        )
    examples = "; ".join(f"{s.name}: {s.reason} ({s.detail})" for s in report.skipped[:5])
    more = f"; and {len(report.skipped) - 5} more" if len(report.skipped) > 5 else ""
    counts = ", ".join(f"{n} {r}" for r, n in sorted(report.reason_counts().items()))
    return (
        f"no usable images in {report.source} ({report.kind}): {report.found} files scanned, "
        f"all skipped ({counts}). {examples}{more}. Provide JPEG, PNG or WebP images whose "
        f"shorter side is at least {report.min_size} px."
    )
