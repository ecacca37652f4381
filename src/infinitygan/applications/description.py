"""The canvas description: everything that defines an (edited, fused, outpainted) infinite canvas.

A :class:`CanvasDescription` is a small frozen value that, with the generator, determines every
pixel of an infinite canvas: the base seed (local latents and noise), optional fusion anchors
(global latents pinned to canvas points and blended), optional placements of inverted latents (an
inverted image pinned to a canvas position), and a list of regional edits. It round-trips through
JSON (``to_json`` / ``from_json``, versioned, strict) and is what
:func:`infinitygan.applications.render_region` renders and
:func:`infinitygan.applications.resample_region` extends.

All positions are canvas pixels ``(y, x)`` in the convention of :mod:`infinitygan.canvas`
(row 0 is the horizon; any integers).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from infinitygan.config import check_keys
from infinitygan.latents import RANDOM_VERSION

DESCRIPTION_FORMAT = "infinitygan-canvas"
DESCRIPTION_VERSION = 1
EDIT_KINDS = ("local", "noise", "style")
BLEND_KERNELS = ("box", "gaussian")
SIDES = "tblr"
DEFAULT_BLEND = 127


def _check_int(owner: str, name: str, value: Any, *, minimum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{owner}.{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{owner}.{name} must be >= {minimum}, got {value}")


def check_random_version(version: Any, what: str) -> None:
    """Raise ValueError unless ``version`` is this installation's canvas randomness version."""
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(f"{what}: random_version must be an integer, got {version!r}")
    if version > RANDOM_VERSION:
        raise ValueError(
            f"{what} uses canvas randomness version {version}, newer than this infinitygan "
            f"({RANDOM_VERSION}); upgrade infinitygan"
        )
    if version < RANDOM_VERSION:
        raise ValueError(
            f"{what} was made with canvas randomness version {version}; this infinitygan draws "
            f"version {RANDOM_VERSION}, so its seeds would give different images; render it with "
            "the infinitygan that wrote it, or set "
            f'"random_version": {RANDOM_VERSION} to accept the new images of the same seeds'
        )


@dataclass(frozen=True)
class ModelRef:
    """Which generator a description was made with.

    Attributes:
        path: a model file path or the name of a bundled model.
        sha256: SHA-256 of the model file (see :func:`infinitygan.checkpoint.model_hash`).
    """

    path: str
    sha256: str

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path:
            raise ValueError("ModelRef.path must be a non-empty string")
        if not isinstance(self.sha256, str) or len(self.sha256) != 64:
            raise ValueError(f"ModelRef.sha256 must be 64 hex digits, got {self.sha256!r}")

    @classmethod
    def of(cls, path_or_name: str | os.PathLike[str]) -> ModelRef:
        """Reference a model file or bundled name (hashes the file)."""
        from infinitygan.checkpoint import model_hash

        return cls(str(path_or_name), model_hash(path_or_name))


@dataclass(frozen=True)
class Anchor:
    """A global latent pinned to a canvas point for spatial style fusion.

    Attributes:
        y, x: canvas pixel of the anchor.
        seed: seed of its global latent (``infinitygan.latents.global_latent(seed, z_dim)``).
    """

    y: int
    x: int
    seed: int

    def __post_init__(self) -> None:
        for name in ("y", "x", "seed"):
            _check_int("Anchor", name, getattr(self, name))


@dataclass(frozen=True)
class Placement:
    """Inverted latents (a file written by :func:`infinitygan.applications.invert`) on the canvas.

    The file's local latents, noise and styles are placed so that the inverted image's top-left
    pixel lands on canvas pixel ``(y, x)``. The shift from where the image was inverted must be a
    multiple of the model's cell size (16 px) on both axes. The placement's styles take part in
    style fusion as an anchor at the centre of the image.

    Attributes:
        latents: path of the latents file (relative paths are resolved against the description
            file's folder by :meth:`CanvasDescription.load`).
        sha256: SHA-256 of the latents file ("" to skip the check).
        y, x: canvas pixel of the inverted image's top-left corner.
        paste: show the original image over its footprint (the inverted reconstruction is
            generated underneath and shows through a feathered border).
        feather: width in pixels of the linear blend from the original image to the generated
            pixels at the footprint border.
        feather_sides: which sides of the footprint get the feather ("t", "b", "l", "r"); sides not
            listed show the original image up to the border.
    """

    latents: str
    sha256: str
    y: int
    x: int
    paste: bool = True
    feather: int = 16
    feather_sides: str = SIDES

    def __post_init__(self) -> None:
        if not isinstance(self.latents, str) or not self.latents:
            raise ValueError("Placement.latents must be a file path")
        if not isinstance(self.sha256, str) or len(self.sha256) not in (0, 64):
            raise ValueError("Placement.sha256 must be 64 hex digits or empty")
        for name in ("y", "x"):
            _check_int("Placement", name, getattr(self, name))
        _check_int("Placement", "feather", self.feather, minimum=0)
        if not isinstance(self.paste, bool):
            raise ValueError("Placement.paste must be true or false")
        if not isinstance(self.feather_sides, str) or set(self.feather_sides) - set(SIDES):
            raise ValueError(
                "Placement.feather_sides must use the letters t, b, l, r; "
                f"got {self.feather_sides!r}"
            )


@dataclass(frozen=True)
class Edit:
    """A regional resampling: redraw ``what`` inside a box of canvas pixels from ``seed``.

    * ``"local"``: local latents of the structure cells whose centre lies in the box;
    * ``"noise"``: every texture layer's noise at grid points that lie in the box;
    * ``"style"``: the global style (structure and texture) inside the box, blended in over the
      description's blend width *inside* the box (nothing outside the box is restyled).

    Attributes:
        top, left, height, width: the box in canvas pixels.
        what: "local", "noise" or "style".
        seed: the seed the new values are drawn from (position-keyed like the base canvas).
    """

    top: int
    left: int
    height: int
    width: int
    what: str
    seed: int

    def __post_init__(self) -> None:
        for name in ("top", "left", "seed"):
            _check_int("Edit", name, getattr(self, name))
        for name in ("height", "width"):
            _check_int("Edit", name, getattr(self, name), minimum=1)
        if self.what not in EDIT_KINDS:
            raise ValueError(f"Edit.what must be one of {EDIT_KINDS}, got {self.what!r}")

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(top, left, height, width)``."""
        return (self.top, self.left, self.height, self.width)


@dataclass(frozen=True)
class CanvasDescription:
    """A complete, reproducible definition of an infinite canvas (see the module docstring).

    Attributes:
        seed: base seed: local latents and noise everywhere (unless placed or edited), and the
            global latent when there are no anchors and no placements.
        model: the generator the description was made with (optional for in-memory use).
        anchors: fusion anchors; with none (and no placements) the whole canvas uses ``seed``'s
            global latent.
        blend: width in pixels of the fusion blur (window ``2 * (blend // 2) + 1``; 0 or 1 give
            a hard nearest-anchor assignment). Also the inner blend of style edits.
        blend_kernel: "box" (mean, as the official default) or "gaussian" (sigma = window / 6).
        placements: inverted latents on the canvas.
        edits: regional resamplings, applied in order (later ones win where they overlap).
        wrap: horizontally periodic canvas (360-degree panoramas), as in ``generate_region``.
        version: format version of the description.
        random_version: the canvas randomness version (:data:`infinitygan.latents.RANDOM_VERSION`)
            that turns its seeds into latents and noise; a file without it was written under
            version 1. Only the current version can be rendered.
    """

    seed: int
    model: ModelRef | None = None
    anchors: tuple[Anchor, ...] = ()
    blend: int = DEFAULT_BLEND
    blend_kernel: str = "box"
    placements: tuple[Placement, ...] = ()
    edits: tuple[Edit, ...] = ()
    wrap: bool = False
    version: int = field(default=DESCRIPTION_VERSION)
    random_version: int = field(default=RANDOM_VERSION)

    def __post_init__(self) -> None:
        _check_int("CanvasDescription", "seed", self.seed)
        _check_int("CanvasDescription", "blend", self.blend, minimum=0)
        if self.blend_kernel not in BLEND_KERNELS:
            raise ValueError(
                f"blend_kernel must be one of {BLEND_KERNELS}, got {self.blend_kernel!r}"
            )
        if self.version != DESCRIPTION_VERSION:
            raise ValueError(
                f"canvas description version {self.version} is not supported (this infinitygan "
                f"reads version {DESCRIPTION_VERSION}); upgrade infinitygan"
            )
        check_random_version(self.random_version, "canvas description")
        if not isinstance(self.wrap, bool):
            raise ValueError("CanvasDescription.wrap must be true or false")
        for name, kind in (("anchors", Anchor), ("placements", Placement), ("edits", Edit)):
            value = tuple(getattr(self, name))
            object.__setattr__(self, name, value)
            for item in value:
                if not isinstance(item, kind):
                    raise ValueError(f"CanvasDescription.{name} must hold {kind.__name__} items")
        if self.model is not None and not isinstance(self.model, ModelRef):
            raise ValueError("CanvasDescription.model must be a ModelRef or None")

    # -- derived ---------------------------------------------------------------------------
    @property
    def is_plain(self) -> bool:
        """True when the canvas is exactly ``generate_region(G, seed, ...)``."""
        if self.placements or self.edits:
            return False
        return not self.anchors or (len(self.anchors) == 1 and self.anchors[0].seed == self.seed)

    def with_edit(self, edit: Edit) -> CanvasDescription:
        """A copy with ``edit`` appended."""
        return replace(self, edits=self.edits + (edit,))

    # -- JSON ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (with the format name)."""
        data = asdict(self)
        data["anchors"] = [asdict(a) for a in self.anchors]
        data["placements"] = [asdict(p) for p in self.placements]
        data["edits"] = [asdict(e) for e in self.edits]
        return {"format": DESCRIPTION_FORMAT, **data}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CanvasDescription:
        """Strict inverse of :meth:`to_dict` (unknown keys and newer versions are errors)."""
        if not isinstance(data, dict):
            raise ValueError("a canvas description must be a JSON object")
        data = dict(data)
        fmt = data.pop("format", None)
        if fmt != DESCRIPTION_FORMAT:
            raise ValueError(
                f"not a canvas description (format {fmt!r}, expected {DESCRIPTION_FORMAT!r})"
            )
        version = data.get("version", DESCRIPTION_VERSION)
        if isinstance(version, int) and version > DESCRIPTION_VERSION:
            raise ValueError(
                f"canvas description version {version} is newer than this infinitygan supports "
                f"({DESCRIPTION_VERSION}); upgrade infinitygan"
            )
        check_keys(data, cls, "canvas description")
        data.setdefault("random_version", 1)  # written before randomness was versioned
        model = data.get("model")
        if model is not None:
            check_keys(model, ModelRef, "model")
            data["model"] = ModelRef(**model)
        for name, kind in (("anchors", Anchor), ("placements", Placement), ("edits", Edit)):
            items = data.get(name, [])
            if not isinstance(items, list):
                raise ValueError(f"{name} must be a list")
            for item in items:
                check_keys(item, kind, name)
            data[name] = tuple(kind(**item) for item in items)
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> CanvasDescription:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"canvas description is not valid JSON: {err}") from None
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the description as JSON, atomically."""
        from infinitygan._files import atomic_write_text

        return atomic_write_text(Path(path), self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CanvasDescription:
        """Read a description; relative latents paths are resolved against its folder."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no canvas description at {path}")
        desc = cls.from_json(path.read_text())
        placements = tuple(
            replace(p, latents=str((path.parent / p.latents).resolve()))
            if not Path(p.latents).is_absolute()
            else p
            for p in desc.placements
        )
        return replace(desc, placements=placements)
