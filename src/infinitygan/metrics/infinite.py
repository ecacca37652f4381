"""Infinite-FID by distance (ALIS, Skorokhodov et al. 2021): quality far from the start.

One long canvas is cut into training-size frames at increasing horizontal distances from its left
edge; frames are grouped into distance bins and each bin is scored with FID against real images.
A generator that drifts or degrades far from the origin gets worse FID in the far bins.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from infinitygan.metrics.images import center_crop, check_images
from infinitygan.metrics.inception import FeatureExtractor
from infinitygan.metrics.stats import FeatureStats, frechet_distance

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistanceBin:
    """Frames whose left edge lies in ``[start, stop)`` px from the canvas start.

    Attributes:
        start: first frame offset in the bin (inclusive), px.
        stop: end of the bin (exclusive), px.
        offsets: left edges of the frames, px.
        frames: ``[K, 3, h, w]`` frames (same dtype as the canvas).
    """

    start: int
    stop: int
    offsets: tuple[int, ...]
    frames: torch.Tensor


def _bin_edges(bins: int | Sequence[int], last_offset: int) -> list[int]:
    if isinstance(bins, int):
        if bins <= 0:
            raise ValueError(f"bins must be positive, got {bins}")
        span = last_offset + 1
        return [round(i * span / bins) for i in range(bins + 1)]
    edges = [int(e) for e in bins]
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])) or edges[0] < 0:
        raise ValueError(f"bin edges must be >= 0 and strictly increasing, got {list(bins)}")
    return edges


def frames_by_distance(
    canvas: torch.Tensor,
    frame: int | tuple[int, int],
    bins: int | Sequence[int],
    stride: int | None = None,
) -> list[DistanceBin]:
    """Cut frames from a long canvas and group them by horizontal distance from its start.

    Frames are taken at offsets ``0, stride, 2 * stride, ...`` while they fit, vertically centred.

    Args:
        canvas: ``[3, H, W_long]`` (uint8 or float in ``[-1, 1]``).
        frame: frame side or ``(height, width)`` (the training size).
        bins: number of equal-width bins over the possible offsets ``[0, W_long - w]``, or explicit
            increasing bin edges in px (offsets outside ``[edges[0], edges[-1])`` are dropped).
        stride: step between frame offsets; default the frame width (non-overlapping frames).

    Returns:
        One :class:`DistanceBin` per bin, nearest first; a bin may hold no frames.

    Raises:
        ValueError: for a malformed canvas, a frame larger than the canvas, or bad bins/stride.
    """
    if not isinstance(canvas, torch.Tensor) or canvas.ndim != 3:
        raise ValueError(
            f"canvas must be one image [3, H, W], got {getattr(canvas, 'shape', type(canvas))}"
        )
    check_images(canvas[None], name="canvas")
    fh, fw = (frame, frame) if isinstance(frame, int) else frame
    _, height, width = canvas.shape
    if fh <= 0 or fw <= 0 or fh > height or fw > width:
        raise ValueError(f"frame {fh}x{fw} (HxW) does not fit in the {height}x{width} canvas")
    stride = fw if stride is None else stride
    if stride <= 0:
        raise ValueError(f"stride must be positive, got {stride}")
    strip = center_crop(canvas[None], (fh, width))[0]
    offsets = list(range(0, width - fw + 1, stride))
    edges = _bin_edges(bins, offsets[-1])
    result = []
    for start, stop in zip(edges, edges[1:]):
        inside = tuple(x for x in offsets if start <= x < stop)
        frames = (
            torch.stack([strip[:, :, x : x + fw] for x in inside])
            if inside
            else strip.new_zeros((0, 3, fh, fw))
        )
        result.append(DistanceBin(start, stop, inside, frames))
    return result


def infinite_fid_by_distance(
    canvases: Iterable[torch.Tensor],
    extractor: FeatureExtractor,
    real_stats: FeatureStats,
    frame: int | tuple[int, int],
    bins: Sequence[int],
    stride: int | None = None,
) -> list[dict[str, float | int]]:
    """FID per distance bin over many canvases (ALIS's infinite-FID, binned by distance).

    Args:
        canvases: long canvases ``[3, H, W_long]`` or batches ``[B, 3, H, W_long]`` of them.
        extractor: feature extractor for the frames.
        real_stats: statistics of real training-size images.
        frame: frame side or ``(height, width)``.
        bins: explicit increasing bin edges in px (fixed edges keep bins equal across canvases).
        stride: step between frame offsets (default: frame width).

    Returns:
        Per bin ``{"start", "stop", "num_frames", "fid"}``; ``fid`` is NaN for bins with fewer
        than 2 frames.
    """
    if isinstance(bins, int):
        raise ValueError("pass explicit bin edges in px so that the bins agree across canvases")
    edges = _bin_edges(bins, 0)
    per_bin: list[FeatureStats | None] = [None] * (len(edges) - 1)
    for item in canvases:
        for canvas in item if item.ndim == 4 else item[None]:
            for index, group in enumerate(frames_by_distance(canvas, frame, edges, stride)):
                if group.frames.shape[0] == 0:
                    continue
                with torch.no_grad():
                    features = extractor(group.frames).detach().to("cpu", torch.float64).numpy()
                if per_bin[index] is None:
                    per_bin[index] = FeatureStats(features.shape[1])
                per_bin[index].update(features)
    results: list[dict[str, float | int]] = []
    for (start, stop), stats in zip(zip(edges, edges[1:]), per_bin):
        count = 0 if stats is None else stats.count
        fid = float("nan")
        if stats is not None and count >= 2:
            fid = frechet_distance(real_stats.mean, real_stats.cov, stats.mean, stats.cov)
        results.append({"start": start, "stop": stop, "num_frames": count, "fid": fid})
    return results
