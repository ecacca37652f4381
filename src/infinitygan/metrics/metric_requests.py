"""What ``infinitygan eval --metrics`` accepts: metric names, ScaleInv scales, their parsing.

``fid,kid,patch-fid,scaleinv-fid@1,2,4,8,swd,...`` becomes a list of :class:`MetricRequest`;
each request's :attr:`~MetricRequest.record_name` is the registry metric that computes it and
names its records (``metric-<name>.jsonl``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

METRICS: dict[str, str] = {
    "fid": "fid",
    "kid": "kid",
    "patch-fid": "patch_fid",
    "scaleinv-fid": "scaleinv_fid",
    "swd": "swd",
    "diversity": "diversity",
    "infinite-fid": "infinite_fid",
    "seams": "seams",
}
"""Metric names accepted by :func:`parse_metrics` -> the record name (``metric-<name>.jsonl``)."""

DEFAULT_SCALES: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
"""Scales of a bare ``scaleinv-fid``."""

FEATURE_METRICS = frozenset(
    {"fid", "kid", "diversity", "patch-fid", "scaleinv-fid", "infinite-fid"}
)
"""Metrics that need the feature network (``swd`` and ``seams`` work on pixels)."""


def needs_features(metrics: Sequence[MetricRequest]) -> bool:
    """Whether any requested metric needs the feature network (the Inception weights)."""
    return any(m.name in FEATURE_METRICS for m in metrics)


@dataclass(frozen=True)
class MetricRequest:
    """One requested metric.

    Attributes:
        name: the metric, a key of :data:`METRICS` (e.g. ``"scaleinv-fid"``).
        scales: field-of-view multiples (``scaleinv-fid`` only).
    """

    name: str
    scales: tuple[float, ...] = ()

    @property
    def record_name(self) -> str:
        return METRICS[self.name]


def _parse_scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"scale {text!r} is not a number; write e.g. scaleinv-fid@1,2,4,8"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"scale {text!r} must be a positive number, e.g. scaleinv-fid@1,2,4,8")
    return value


def parse_metrics(text: str) -> list[MetricRequest]:
    """Parse ``fid,kid,patch-fid,scaleinv-fid@1,2,4,8,swd,...`` into requests.

    Numbers after ``scaleinv-fid@S`` are more scales of it. ``scaleinv-fid`` without ``@`` means
    scales 1, 2, 4, 8. Underscores work as hyphens; repeated metrics are merged.

    Raises:
        ValueError: for unknown names (the message lists the known ones), bad scales, or an empty
            list.
    """
    order: list[str] = []
    scales: dict[str, list[float]] = {}
    current: str | None = None
    for raw in text.split(","):
        token = raw.strip()
        if not token:
            continue
        name, at, first = token.partition("@")
        if not at and re.fullmatch(r"[-+0-9.eE]+", token):
            if current != "scaleinv-fid":
                raise ValueError(
                    f"{token!r} looks like a scale but follows no scaleinv-fid@...; write "
                    "scaleinv-fid@1,2,4,8"
                )
            scales["scaleinv-fid"].append(_parse_scale(token))
            continue
        key = name.strip().lower().replace("_", "-")
        if key not in METRICS:
            raise ValueError(f"unknown metric {name!r}; known metrics: {', '.join(METRICS)}")
        if at and key != "scaleinv-fid":
            raise ValueError(f"only scaleinv-fid takes @scales, got {token!r}")
        if key not in scales:
            order.append(key)
            scales[key] = []
        if at:
            scales[key].append(_parse_scale(first))
        elif key == "scaleinv-fid":
            scales[key].extend(DEFAULT_SCALES)
        current = key if at else None
    if not order:
        raise ValueError(f"no metric given; known metrics: {', '.join(METRICS)}")
    return [
        MetricRequest(k, tuple(sorted(set(scales[k]))) if k == "scaleinv-fid" else ())
        for k in order
    ]


def format_scale(scale: float) -> str:
    """``4.0 -> "4"``, ``1.5 -> "1.5"``."""
    return f"{scale:g}"
