"""Canvas descriptions and the single rendering entry point of the web explorer.

A *canvas description* says which canvas a tile belongs to: the seed plus, optionally, style-fusion
anchors and box edits (regional re-drawing of local latents, noise or style). The explorer puts a
description in every tile URL (the seed in the path, the rest as the ``desc`` query parameter) and
in the shareable page URL, and renders every pixel through :func:`render`.

Wire format of ``desc``: the URL-safe base64 (no padding) of compact JSON::

    {"anchors": [{"y": Y, "x": X, "seed": S}, ...],
     "edits": [{"op": "local" | "noise" | "style",
                "top": T, "left": L, "height": H, "width": W, "seed": S}, ...]}

Both lists may be absent or empty. Positions are canvas pixels (row 0 = horizon); an anchor places
the global latent of ``seed`` at pixel ``(y, x)``; an edit re-draws its ``op`` inside the box from
``seed``. Every field is validated here (types, ranges, list lengths, unknown keys), so a request
never reaches the model with a malformed description.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from infinitygan.canvas import DEFAULT_MAX_MEMORY, generate_region
from infinitygan.models import Generator

logger = logging.getLogger(__name__)

#: Canvas pixel coordinates the explorer accepts lie in ``[-COORD_LIMIT, COORD_LIMIT)``
#: (about a billion pixels in every direction from the origin).
COORD_LIMIT = 1 << 30
#: Seeds are integers with ``abs(seed) <= SEED_LIMIT`` (exact in JavaScript numbers).
SEED_LIMIT = (1 << 53) - 1
#: Longest accepted ``desc`` query parameter (characters of base64).
MAX_DESC_CHARS = 4096
MAX_ANCHORS = 16
MAX_EDITS = 64
#: Largest side of an edit box in pixels.
MAX_EDIT_SIDE = 1 << 16
EDIT_OPS = ("local", "noise", "style")


class DescriptionError(ValueError):
    """A canvas description (or one of its parts) is malformed or out of range."""


class UnsupportedDescription(DescriptionError):
    """A well-formed description asks for something this build cannot render yet."""


@dataclass(frozen=True)
class Anchor:
    """A style-fusion anchor: the global latent of ``seed`` is centred at canvas pixel (y, x)."""

    y: int
    x: int
    seed: int


@dataclass(frozen=True)
class BoxEdit:
    """Regional re-drawing: ``op`` ("local", "noise" or "style") from ``seed`` inside the box
    ``[top, top + height) x [left, left + width)`` of canvas pixels."""

    op: str
    top: int
    left: int
    height: int
    width: int
    seed: int


@dataclass(frozen=True)
class CanvasDescription:
    """Everything that decides the pixels of a canvas, apart from the model.

    Attributes:
        seed: the canvas seed.
        anchors: style-fusion anchors (empty: one style everywhere).
        edits: box edits applied in order (empty: no edits).
    """

    seed: int
    anchors: tuple[Anchor, ...] = field(default_factory=tuple)
    edits: tuple[BoxEdit, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        check_seed(self.seed)
        if len(self.anchors) > MAX_ANCHORS:
            raise DescriptionError(f"at most {MAX_ANCHORS} anchors, got {len(self.anchors)}")
        if len(self.edits) > MAX_EDITS:
            raise DescriptionError(f"at most {MAX_EDITS} edits, got {len(self.edits)}")

    @property
    def is_plain(self) -> bool:
        """True when the description is just a seed (no anchors, no edits)."""
        return not self.anchors and not self.edits

    def extras_json(self) -> str:
        """Canonical compact JSON of the anchors and edits (``""`` for a plain description)."""
        if self.is_plain:
            return ""
        obj: dict[str, Any] = {}
        if self.anchors:
            obj["anchors"] = [{"y": a.y, "x": a.x, "seed": a.seed} for a in self.anchors]
        if self.edits:
            obj["edits"] = [
                {
                    "op": e.op,
                    "top": e.top,
                    "left": e.left,
                    "height": e.height,
                    "width": e.width,
                    "seed": e.seed,
                }
                for e in self.edits
            ]
        return json.dumps(obj, separators=(",", ":"), sort_keys=True)

    def extras_id(self) -> str:
        """Short digest naming the anchors and edits (``"plain"`` when there are none); used in
        cache keys and cache directory names."""
        if self.is_plain:
            return "plain"
        return hashlib.sha256(self.extras_json().encode()).hexdigest()[:16]


def check_seed(seed: Any) -> int:
    """Return ``seed`` if it is an int within ``[-SEED_LIMIT, SEED_LIMIT]``.

    Raises:
        DescriptionError: otherwise.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise DescriptionError(f"seed must be an integer, got {seed!r}")
    if abs(seed) > SEED_LIMIT:
        raise DescriptionError(f"seed must lie within +-{SEED_LIMIT}, got {seed}")
    return seed


def _int_field(obj: dict[str, Any], name: str, where: str, lo: int, hi: int) -> int:
    if name not in obj:
        raise DescriptionError(f"{where}: missing field {name!r}")
    value = obj[name]
    if not isinstance(value, int) or isinstance(value, bool):
        raise DescriptionError(f"{where}: field {name!r} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise DescriptionError(f"{where}: field {name!r} must lie in [{lo}, {hi}], got {value}")
    return value


def _check_keys(obj: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise DescriptionError(f"{where} must be a JSON object")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise DescriptionError(f"{where}: unknown field(s) {unknown}; allowed: {sorted(allowed)}")
    return obj


def description_from_json(seed: int, obj: Any) -> CanvasDescription:
    """Validate the decoded JSON of the anchors and edits and build the description."""
    obj = _check_keys(obj, {"anchors", "edits"}, "description")
    anchors_raw = obj.get("anchors", [])
    edits_raw = obj.get("edits", [])
    if not isinstance(anchors_raw, list) or not isinstance(edits_raw, list):
        raise DescriptionError("description: 'anchors' and 'edits' must be lists")
    if len(anchors_raw) > MAX_ANCHORS:
        raise DescriptionError(f"at most {MAX_ANCHORS} anchors, got {len(anchors_raw)}")
    if len(edits_raw) > MAX_EDITS:
        raise DescriptionError(f"at most {MAX_EDITS} edits, got {len(edits_raw)}")
    lo, hi = -COORD_LIMIT, COORD_LIMIT - 1
    anchors = []
    for i, raw in enumerate(anchors_raw):
        where = f"anchors[{i}]"
        a = _check_keys(raw, {"y", "x", "seed"}, where)
        anchors.append(
            Anchor(
                y=_int_field(a, "y", where, lo, hi),
                x=_int_field(a, "x", where, lo, hi),
                seed=_int_field(a, "seed", where, -SEED_LIMIT, SEED_LIMIT),
            )
        )
    edits = []
    for i, raw in enumerate(edits_raw):
        where = f"edits[{i}]"
        e = _check_keys(raw, {"op", "top", "left", "height", "width", "seed"}, where)
        op = e.get("op")
        if op not in EDIT_OPS:
            raise DescriptionError(
                f"{where}: field 'op' must be one of {list(EDIT_OPS)}, got {op!r}"
            )
        top = _int_field(e, "top", where, lo, hi)
        left = _int_field(e, "left", where, lo, hi)
        height = _int_field(e, "height", where, 1, MAX_EDIT_SIDE)
        width = _int_field(e, "width", where, 1, MAX_EDIT_SIDE)
        if top + height > COORD_LIMIT or left + width > COORD_LIMIT:
            raise DescriptionError(f"{where}: the box reaches past the canvas limit {COORD_LIMIT}")
        edits.append(
            BoxEdit(
                op=op,
                top=top,
                left=left,
                height=height,
                width=width,
                seed=_int_field(e, "seed", where, -SEED_LIMIT, SEED_LIMIT),
            )
        )
    return CanvasDescription(seed=seed, anchors=tuple(anchors), edits=tuple(edits))


def encode_extras(description: CanvasDescription) -> str:
    """The ``desc`` URL parameter of ``description`` (``""`` for a plain description)."""
    text = description.extras_json()
    if not text:
        return ""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def parse_description(seed: int, desc: str | None) -> CanvasDescription:
    """Build a description from a seed and the ``desc`` URL parameter (may be empty or None).

    Raises:
        DescriptionError: naming what is wrong with the parameter.
    """
    check_seed(seed)
    if not desc:
        return CanvasDescription(seed=seed)
    if len(desc) > MAX_DESC_CHARS:
        raise DescriptionError(
            f"desc is {len(desc)} characters long; at most {MAX_DESC_CHARS} are accepted"
        )
    if not desc.isascii() or not all(c.isalnum() or c in "-_" for c in desc):
        raise DescriptionError("desc must be URL-safe base64 (letters, digits, '-' and '_')")
    try:
        raw = base64.urlsafe_b64decode(desc + "=" * (-len(desc) % 4))
        obj = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError) as err:
        raise DescriptionError(f"desc is not base64 of JSON: {err}") from None
    return description_from_json(seed, obj)


def check_renderable(description: CanvasDescription) -> None:
    """Raise :class:`UnsupportedDescription` if :func:`render` cannot draw ``description``.

    Style-fusion anchors and box edits need library functions that this build does not have; the
    description format and its validation are in place so that only :func:`render` changes when
    they arrive.
    """
    if description.anchors:
        raise UnsupportedDescription(
            "style-fusion anchors are not supported by this version of infinitygan; "
            "remove 'anchors' from the description"
        )
    if description.edits:
        raise UnsupportedDescription(
            "box edits are not supported by this version of infinitygan; "
            "remove 'edits' from the description"
        )


def render(
    G: Generator,
    description: CanvasDescription,
    top: int,
    left: int,
    height: int,
    width: int,
    *,
    device: str | torch.device | None = None,
    max_memory: int = DEFAULT_MAX_MEMORY,
) -> Tensor:
    """Render canvas pixels ``[top, top+height) x [left, left+width)`` of ``description``.

    This is the only place where the explorer turns a description into pixels.

    Args:
        G: the generator.
        description: seed, anchors and edits of the canvas.
        top, left: canvas position of the first pixel; any integers.
        height, width: region size in pixels (positive).
        device: where to compute (default: where ``G`` is).
        max_memory: activation budget per texture tile in bytes.

    Returns:
        Tensor [3, height, width], float32 on CPU, about [-1, 1].

    Raises:
        UnsupportedDescription: for anchors or edits (see :func:`check_renderable`).
    """
    check_renderable(description)
    return generate_region(
        G, description.seed, top, left, height, width, device=device, max_memory=max_memory
    )
