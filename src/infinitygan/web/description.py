"""What the explorer's URLs say about a canvas, and the single rendering entry point.

A :class:`CanvasSpec` is the part of a canvas description that a URL may carry: the seed plus,
optionally, style-fusion anchors, box edits (regional re-drawing of local latents, noise or style)
and the fusion blend. The explorer puts it in every tile URL (the seed in the path, the rest as the
``desc`` query parameter) and in the shareable page URL, and renders every pixel through
:func:`render`. Placements of inverted images are deliberately not expressible: they name files,
and no URL may reach the file system.

Wire format of ``desc``: the URL-safe base64 (no padding) of compact JSON::

    {"anchors": [{"y": Y, "x": X, "seed": S}, ...],
     "edits": [{"top": T, "left": L, "height": H, "width": W,
                "what": "local" | "noise" | "style", "seed": S}, ...],
     "blend": B, "blend_kernel": "box" | "gaussian"}

Every key may be absent. Positions are canvas pixels (row 0 = horizon); an anchor pins the
global latent of ``seed`` to pixel ``(y, x)``; an edit re-draws ``what`` inside its box from
``seed``; ``blend`` is the fusion blur width in pixels. The fields mean what they mean in
:class:`infinitygan.applications.description.CanvasDescription`, which renders them. Every field
is validated here (types, ranges, list lengths, unknown keys), so a request never reaches the
model with a malformed description.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from infinitygan.canvas import DEFAULT_MAX_MEMORY, generate_region
from infinitygan.config import check_keys
from infinitygan.models import Generator

logger = logging.getLogger(__name__)

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
EDIT_KINDS = ("local", "noise", "style")
BLEND_KERNELS = ("box", "gaussian")
#: Fusion blur width when the URL names none (the library's default).
DEFAULT_BLEND = 127
MAX_BLEND = 4095


class DescriptionError(ValueError):
    """A canvas description (or one of its parts) is malformed or out of range."""


class UnsupportedDescription(DescriptionError):
    """A well-formed description asks for something this installation cannot render."""


@dataclass(frozen=True)
class Anchor:
    """A style-fusion anchor: the global latent of ``seed`` is pinned to canvas pixel (y, x)."""

    y: int
    x: int
    seed: int


@dataclass(frozen=True)
class BoxEdit:
    """Regional re-drawing of ``what`` ("local", "noise" or "style") from ``seed`` inside the box
    ``[top, top + height) x [left, left + width)`` of canvas pixels."""

    top: int
    left: int
    height: int
    width: int
    what: str
    seed: int


@dataclass(frozen=True)
class CanvasSpec:
    """Everything a URL can say about a canvas (the model is the server's).

    Attributes:
        seed: the canvas seed.
        anchors: style-fusion anchors (empty: ``seed``'s style everywhere).
        edits: box edits applied in order (later ones win where they overlap).
        blend: fusion blur width in pixels.
        blend_kernel: "box" or "gaussian".
    """

    seed: int
    anchors: tuple[Anchor, ...] = field(default_factory=tuple)
    edits: tuple[BoxEdit, ...] = field(default_factory=tuple)
    blend: int = DEFAULT_BLEND
    blend_kernel: str = "box"

    def __post_init__(self) -> None:
        check_seed(self.seed)
        if len(self.anchors) > MAX_ANCHORS:
            raise DescriptionError(f"at most {MAX_ANCHORS} anchors, got {len(self.anchors)}")
        if len(self.edits) > MAX_EDITS:
            raise DescriptionError(f"at most {MAX_EDITS} edits, got {len(self.edits)}")
        if isinstance(self.blend, bool) or not isinstance(self.blend, int):
            raise DescriptionError(f"blend must be an integer, got {self.blend!r}")
        if not 0 <= self.blend <= MAX_BLEND:
            raise DescriptionError(f"blend must lie in [0, {MAX_BLEND}], got {self.blend}")
        if self.blend_kernel not in BLEND_KERNELS:
            raise DescriptionError(
                f"blend_kernel must be one of {list(BLEND_KERNELS)}, got {self.blend_kernel!r}"
            )

    @property
    def is_plain(self) -> bool:
        """True when the canvas is exactly ``generate_region(G, seed, ...)``: no edits, and no
        anchor other than one carrying the canvas seed (the blend then changes nothing)."""
        if self.edits:
            return False
        return not self.anchors or (len(self.anchors) == 1 and self.anchors[0].seed == self.seed)

    def extras(self) -> dict[str, Any]:
        """The JSON object of everything but the seed (defaults left out)."""
        obj: dict[str, Any] = {}
        if self.anchors:
            obj["anchors"] = [{"y": a.y, "x": a.x, "seed": a.seed} for a in self.anchors]
        if self.edits:
            obj["edits"] = [
                {
                    "top": e.top,
                    "left": e.left,
                    "height": e.height,
                    "width": e.width,
                    "what": e.what,
                    "seed": e.seed,
                }
                for e in self.edits
            ]
        if self.blend != DEFAULT_BLEND:
            obj["blend"] = self.blend
        if self.blend_kernel != "box":
            obj["blend_kernel"] = self.blend_kernel
        return obj

    def extras_json(self) -> str:
        """Canonical compact JSON of :meth:`extras` (``""`` when there is nothing)."""
        obj = self.extras()
        return json.dumps(obj, separators=(",", ":"), sort_keys=True) if obj else ""

    def extras_id(self) -> str:
        """Short digest naming the anchors, edits and blend (``"plain"`` for a plain canvas);
        used in cache keys and cache directory names. Canvases with the same pixels for every
        seed share a digest only when plain."""
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


def spec_from_json(seed: int, obj: Any) -> CanvasSpec:
    """Validate the decoded JSON of the anchors, edits and blend and build the spec."""
    obj = check_keys(
        obj, {"anchors", "edits", "blend", "blend_kernel"}, "description", error=DescriptionError
    )
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
        a = check_keys(raw, {"y", "x", "seed"}, where, error=DescriptionError)
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
        e = check_keys(
            raw, {"top", "left", "height", "width", "what", "seed"}, where, error=DescriptionError
        )
        what = e.get("what")
        if what not in EDIT_KINDS:
            raise DescriptionError(
                f"{where}: field 'what' must be one of {list(EDIT_KINDS)}, got {what!r}"
            )
        top = _int_field(e, "top", where, lo, hi)
        left = _int_field(e, "left", where, lo, hi)
        height = _int_field(e, "height", where, 1, MAX_EDIT_SIDE)
        width = _int_field(e, "width", where, 1, MAX_EDIT_SIDE)
        if top + height > COORD_LIMIT or left + width > COORD_LIMIT:
            raise DescriptionError(f"{where}: the box reaches past the canvas limit {COORD_LIMIT}")
        seed_e = _int_field(e, "seed", where, -SEED_LIMIT, SEED_LIMIT)
        edits.append(BoxEdit(top, left, height, width, what, seed_e))
    blend = obj.get("blend", DEFAULT_BLEND)
    if "blend" in obj:
        blend = _int_field(obj, "blend", "description", 0, MAX_BLEND)
    kernel = obj.get("blend_kernel", "box")
    if kernel not in BLEND_KERNELS:
        raise DescriptionError(
            f"description: 'blend_kernel' must be one of {list(BLEND_KERNELS)}, got {kernel!r}"
        )
    return CanvasSpec(
        seed=seed, anchors=tuple(anchors), edits=tuple(edits), blend=blend, blend_kernel=kernel
    )


def encode_extras(spec: CanvasSpec) -> str:
    """The ``desc`` URL parameter of ``spec`` (``""`` when there is nothing but the seed)."""
    text = spec.extras_json()
    if not text:
        return ""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def parse_description(seed: int, desc: str | None) -> CanvasSpec:
    """Build a spec from a seed and the ``desc`` URL parameter (may be empty or None).

    Raises:
        DescriptionError: naming what is wrong with the parameter.
    """
    check_seed(seed)
    if not desc:
        return CanvasSpec(seed=seed)
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
    return spec_from_json(seed, obj)


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


# --------------------------------------------------------------------------------------------
# Rendering


def fusion_available() -> bool:
    """Whether this installation can render anchors and edits
    (:mod:`infinitygan.applications` with ``render_region``)."""
    try:
        from infinitygan.applications.description import CanvasDescription  # noqa: F401
        from infinitygan.applications.render import render_region  # noqa: F401
    except ImportError:
        return False
    return True


def to_library(spec: CanvasSpec) -> Any:
    """The :class:`infinitygan.applications.description.CanvasDescription` of ``spec``.

    Raises:
        UnsupportedDescription: when :mod:`infinitygan.applications` is not available.
    """
    try:
        from infinitygan.applications.description import Anchor as LibAnchor
        from infinitygan.applications.description import CanvasDescription
        from infinitygan.applications.description import Edit as LibEdit
    except ImportError as err:
        raise UnsupportedDescription(
            f"style-fusion anchors and box edits need infinitygan.applications ({err}); "
            "remove them from the description"
        ) from None
    return CanvasDescription(
        seed=spec.seed,
        anchors=tuple(LibAnchor(a.y, a.x, a.seed) for a in spec.anchors),
        edits=tuple(LibEdit(e.top, e.left, e.height, e.width, e.what, e.seed) for e in spec.edits),
        blend=spec.blend,
        blend_kernel=spec.blend_kernel,
    )


def check_renderable(spec: CanvasSpec) -> None:
    """Raise :class:`UnsupportedDescription` if :func:`render` cannot draw ``spec`` here."""
    if not spec.is_plain and not fusion_available():
        raise UnsupportedDescription(
            "style-fusion anchors and box edits are not supported by this installation "
            "(infinitygan.applications is missing); remove them from the description"
        )


def render(
    G: Generator,
    spec: CanvasSpec,
    top: int,
    left: int,
    height: int,
    width: int,
    *,
    device: str | torch.device | None = None,
    max_memory: int = DEFAULT_MAX_MEMORY,
    truncation: float = 1.0,
) -> Tensor:
    """Render canvas pixels ``[top, top+height) x [left, left+width)`` of ``spec``.

    This is the only place where the explorer turns a description into pixels: a plain canvas
    through :func:`infinitygan.canvas.generate_region`, anchors and edits through
    :func:`infinitygan.applications.render.render_region`.

    Args:
        G: the generator.
        spec: seed, anchors, edits and blend of the canvas.
        top, left: canvas position of the first pixel; any integers.
        height, width: region size in pixels (positive).
        device: where to compute (default: where ``G`` is).
        max_memory: activation budget per texture tile in bytes.
        truncation: psi (see :func:`infinitygan.canvas.generate_region`).

    Returns:
        Tensor [3, height, width], float32 on CPU, about [-1, 1].

    Raises:
        UnsupportedDescription: anchors or edits without :mod:`infinitygan.applications`.
    """
    if spec.is_plain:
        return generate_region(
            G,
            spec.seed,
            top,
            left,
            height,
            width,
            device=device,
            max_memory=max_memory,
            truncation=truncation,
        )
    try:
        from infinitygan.applications.render import render_region
    except ImportError as err:
        raise UnsupportedDescription(
            f"style-fusion anchors and box edits need infinitygan.applications ({err})"
        ) from None
    return render_region(
        G,
        to_library(spec),
        top,
        left,
        height,
        width,
        device=device,
        max_memory=max_memory,
        truncation=truncation,
    )
