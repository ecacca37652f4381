"""What the explorer's URLs say about a canvas: the ``desc`` parameter and its limits.

A tile URL names its canvas by the seed (in the path) and, optionally, style-fusion anchors, box
edits (regional re-drawing of local latents, noise or style) and the fusion blend (the ``desc``
query parameter); the shareable page URL carries the same. :func:`parse_description` reads them
straight into the library's :class:`infinitygan.applications.description.CanvasDescription`,
which :func:`infinitygan.applications.scene.render_region` renders. Placements of inverted images
are deliberately not expressible: they name files, and no URL may reach the file system.

Wire format of ``desc``: the URL-safe base64 (no padding) of compact JSON::

    {"anchors": [{"y": Y, "x": X, "seed": S}, ...],
     "edits": [{"top": T, "left": L, "height": H, "width": W,
                "what": "local" | "noise" | "style", "seed": S}, ...],
     "blend": B, "blend_kernel": "box" | "gaussian"}

Every key may be absent. The fields are those of
:class:`~infinitygan.applications.description.Anchor`,
:class:`~infinitygan.applications.description.Edit` and
:class:`~infinitygan.applications.description.CanvasDescription`. This module adds only what a URL
must not exceed (lengths, nesting, counts, coordinate and seed ranges) and names the offending
field of the JSON, so a request never reaches the model with a malformed description.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict
from typing import Any

from infinitygan.applications.description import (
    BLEND_KERNELS,
    DEFAULT_BLEND,
    EDIT_KINDS,
    Anchor,
    CanvasDescription,
    Edit,
)
from infinitygan.config import check_keys

#: Canvas pixel coordinates the explorer accepts lie in ``[-COORD_LIMIT, COORD_LIMIT)``
#: (about a billion pixels in every direction from the origin).
COORD_LIMIT = 1 << 30
#: Seeds are integers with ``abs(seed) <= SEED_LIMIT`` (exact in JavaScript numbers).
SEED_LIMIT = (1 << 53) - 1
#: Longest accepted ``desc`` query parameter (characters of base64).
MAX_DESC_CHARS = 4096
#: Deepest nesting of JSON arrays and objects in ``desc`` (a valid description nests 3 deep);
#: checked before parsing, so deeply nested input cannot exhaust the parser's recursion.
MAX_DESC_DEPTH = 8
MAX_ANCHORS = 16
MAX_EDITS = 64
#: Largest side of an edit box in pixels.
MAX_EDIT_SIDE = 1 << 16
MAX_BLEND = 4095
_DESCRIPTION_KEYS = ("anchors", "edits", "blend", "blend_kernel")


class DescriptionError(ValueError):
    """A canvas description (or one of its parts) is malformed or out of range."""


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


def _choice_field(obj: dict[str, Any], name: str, where: str, choices: tuple[str, ...]) -> str:
    value = obj.get(name)
    if value not in choices:
        raise DescriptionError(
            f"{where}: field {name!r} must be one of {list(choices)}, got {value!r}"
        )
    return value


def description_from_json(seed: int, obj: Any) -> CanvasDescription:
    """Validate the decoded JSON of the anchors, edits and blend against the URL limits and
    build the canvas description of ``seed``.

    Raises:
        DescriptionError: naming the field that is wrong.
    """
    check_seed(seed)
    obj = check_keys(obj, _DESCRIPTION_KEYS, "description", error=DescriptionError)
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
        a = check_keys(raw, Anchor, where, error=DescriptionError)
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
        e = check_keys(raw, Edit, where, error=DescriptionError)
        what = _choice_field(e, "what", where, EDIT_KINDS)
        top = _int_field(e, "top", where, lo, hi)
        left = _int_field(e, "left", where, lo, hi)
        height = _int_field(e, "height", where, 1, MAX_EDIT_SIDE)
        width = _int_field(e, "width", where, 1, MAX_EDIT_SIDE)
        if top + height > COORD_LIMIT or left + width > COORD_LIMIT:
            raise DescriptionError(f"{where}: the box reaches past the canvas limit {COORD_LIMIT}")
        seed_e = _int_field(e, "seed", where, -SEED_LIMIT, SEED_LIMIT)
        edits.append(Edit(top, left, height, width, what, seed_e))
    blend = DEFAULT_BLEND
    if "blend" in obj:
        blend = _int_field(obj, "blend", "description", 0, MAX_BLEND)
    kernel = "box"
    if "blend_kernel" in obj:
        kernel = _choice_field(obj, "blend_kernel", "description", BLEND_KERNELS)
    return CanvasDescription(
        seed=seed, anchors=tuple(anchors), edits=tuple(edits), blend=blend, blend_kernel=kernel
    )


def extras(description: CanvasDescription) -> dict[str, Any]:
    """The JSON object of everything but the seed (defaults left out): what ``desc`` carries.

    Raises:
        DescriptionError: the description has placements or wraps, which a URL cannot say.
    """
    if description.placements or description.wrap:
        raise DescriptionError("placements and wrapped canvases cannot be written in a URL")
    obj: dict[str, Any] = {}
    if description.anchors:
        obj["anchors"] = [asdict(a) for a in description.anchors]
    if description.edits:
        obj["edits"] = [asdict(e) for e in description.edits]
    if description.blend != DEFAULT_BLEND:
        obj["blend"] = description.blend
    if description.blend_kernel != "box":
        obj["blend_kernel"] = description.blend_kernel
    return obj


def extras_json(description: CanvasDescription) -> str:
    """Canonical compact JSON of :func:`extras` (``""`` when there is nothing)."""
    obj = extras(description)
    return json.dumps(obj, separators=(",", ":"), sort_keys=True) if obj else ""


def extras_id(description: CanvasDescription) -> str:
    """Short digest naming the anchors, edits and blend (``"plain"`` for a plain canvas); used
    in cache keys and cache directory names. Canvases with the same pixels for every seed share
    a digest only when plain."""
    if description.is_plain:
        return "plain"
    return hashlib.sha256(extras_json(description).encode()).hexdigest()[:16]


def encode_extras(description: CanvasDescription) -> str:
    """The ``desc`` URL parameter of ``description`` (``""`` when there is nothing but the
    seed)."""
    text = extras_json(description)
    if not text:
        return ""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def parse_description(seed: int, desc: str | None) -> CanvasDescription:
    """Build the description of a seed and the ``desc`` URL parameter (may be empty or None).

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
        text = base64.urlsafe_b64decode(desc + "=" * (-len(desc) % 4)).decode("utf-8")
    except ValueError as err:  # binascii.Error and UnicodeDecodeError
        raise DescriptionError(f"desc is not base64 of JSON: {err}") from None
    depth = json_depth(text)
    if depth > MAX_DESC_DEPTH:
        raise DescriptionError(
            f"desc nests JSON arrays and objects {depth} deep; at most {MAX_DESC_DEPTH} levels "
            "are accepted"
        )
    try:
        obj = json.loads(text)
    except ValueError as err:
        raise DescriptionError(f"desc is not base64 of JSON: {err}") from None
    return description_from_json(seed, obj)


def json_depth(text: str) -> int:
    """Deepest nesting of arrays and objects in JSON ``text`` (brackets inside strings ignored).

    A linear scan without recursion, so that it can bound the depth before :func:`json.loads`
    (whose recursion a few thousand ``[`` exhaust). Malformed text gets a depth too; parsing
    then reports what is wrong with it.
    """
    depth = deepest = 0
    in_string = escaped = False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest
