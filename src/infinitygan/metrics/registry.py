"""Metric registry: named metrics returning dicts, appended to ``metric-<name>.jsonl``.

A metric is a function taking keyword arguments and returning a JSON-serialisable dict. The
generator side is a callable ``make_fakes(n, batch) -> iterator of [B, 3, H, W]`` so that any model
(or a test double) can be plugged in; real images are an
:data:`~infinitygan.metrics.images.ImageBatches` or precomputed
:class:`~infinitygan.metrics.stats.FeatureStats`. The feature metrics (``fid``, ``kid``,
``scaleinv_fid``, ``diversity``) also take the fakes' precomputed ``FeatureStats`` in place of
``make_fakes``, so that one set of generated images can serve several metrics.

Example (``generate`` stands for whatever produces ``[B, 3, H, W]`` images from seeds)::

    size = scaleinv_request_size(4)  # 788 px for the paper model

    def make_fakes(n, batch):
        for start in range(0, n, batch):
            yield generate(seeds=range(start, min(n, start + batch)), height=size, width=size)

    result = compute_metric(
        "scaleinv_fid", make_fakes=make_fakes, real=real_images, num_fakes=10_000, scale=4,
        extractor=InceptionFeatureExtractor(), cache_dir=".fid-cache",
    )
    append_metric_jsonl(run_dir, {**result, "checkpoint": str(ckpt)})
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from infinitygan.metrics.cache import cached_real_stats, hash_image_batches, require_reusable
from infinitygan.metrics.diversity import DistanceMetric, mean_pairwise_distance
from infinitygan.metrics.images import ImageBatches, iter_batches, random_patches
from infinitygan.metrics.inception import FeatureExtractor, ProgressCallback, iter_features
from infinitygan.metrics.infinite import infinite_fid_by_distance
from infinitygan.metrics.scaleinv import (
    ScaleInvMode,
    scaleinv_prepare,
    scaleinv_prepare_real,
    scaleinv_request_size,
)
from infinitygan.metrics.seams import psnr, seam_energy_ratio, tile_consistency
from infinitygan.metrics.stats import FeatureStats, fid_from_stats, kernel_inception_distance
from infinitygan.metrics.swd import sliced_wasserstein_distance

logger = logging.getLogger(__name__)

MakeFakes = Callable[[int, int], Iterator[torch.Tensor]]
"""``make_fakes(n, batch)`` yields batches ``[B, 3, H, W]`` (B <= batch) totalling at least n."""

Fakes = MakeFakes | FeatureStats
"""Generated images as ``make_fakes``, or their precomputed (already preprocessed) statistics."""

MakePairs = Callable[[int], Iterator[tuple[torch.Tensor, torch.Tensor]]]
"""``make_pairs(n)`` yields ``n`` pairs ``(tiled, one_shot)`` of ``[3, H, W]`` renders."""

MetricFn = Callable[..., dict[str, Any]]
Preprocess = Callable[[torch.Tensor], torch.Tensor]

_METRICS: dict[str, MetricFn] = {}

# Real images used without preprocessing share one cache entry across fid, kid and infinite_fid;
# kid's entry also keeps the raw features, so it serves the other two as well.
AS_GIVEN: dict[str, Any] = {"preprocess": "as_given"}
"""The ``protocol`` of real images used without preprocessing (the cache entry they share)."""


def register_metric(name: str) -> Callable[[MetricFn], MetricFn]:
    """Decorator registering ``fn`` under ``name`` for :func:`compute_metric`.

    Raises:
        ValueError: if the name is already taken.
    """

    def decorate(fn: MetricFn) -> MetricFn:
        if name in _METRICS:
            raise ValueError(f"metric {name!r} is already registered")
        _METRICS[name] = fn
        return fn

    return decorate


def list_metrics() -> list[str]:
    """Names of the registered metrics, sorted."""
    return sorted(_METRICS)


def compute_metric(name: str, **kwargs: Any) -> dict[str, Any]:
    """Run the metric ``name`` and return its result dict.

    The result gets ``"metric"`` (the name), ``"seconds"`` (wall time) and ``"time"`` (UTC ISO
    timestamp) added.

    Raises:
        ValueError: for an unknown metric name or a metric that does not return a dict.
    """
    if name not in _METRICS:
        raise ValueError(
            f"unknown metric {name!r}; registered metrics: {', '.join(list_metrics())}"
        )
    start = time.perf_counter()
    result = _METRICS[name](**kwargs)
    if not isinstance(result, dict):
        raise ValueError(f"metric {name!r} returned {type(result).__name__}, expected a dict")
    return {
        "metric": name,
        **result,
        "seconds": round(time.perf_counter() - start, 3),
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _json_ready(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def append_metric_jsonl(path: str | os.PathLike[str], record: Mapping[str, Any]) -> Path:
    """Append ``record`` as one JSON line to ``<path>/metric-<record["metric"]>.jsonl``.

    The line is written with a single ``write`` on a file opened with ``O_APPEND`` and then
    fsynced, so concurrent writers never interleave partial lines. Non-finite floats become
    ``null``.

    Args:
        path: run directory (created if missing).
        record: result dict with a ``"metric"`` key, e.g. from :func:`compute_metric`.

    Returns:
        Path of the JSONL file.

    Raises:
        ValueError: if ``record`` has no usable ``"metric"`` name.
    """
    name = record.get("metric")
    if not isinstance(name, str) or not name or "/" in name or os.sep in name:
        raise ValueError(f"record needs a 'metric' name usable in a file name, got {name!r}")
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"metric-{name}.jsonl"
    line = (json.dumps(_json_ready(dict(record)), sort_keys=False, allow_nan=False) + "\n").encode()
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(f"short write to {target}: {written} of {len(line)} bytes")
        os.fsync(fd)
    finally:
        os.close(fd)
    return target


def read_metric_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read all records of a ``metric-<name>.jsonl`` file."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


# ---------------------------------------------------------------------------------------------
# Shared plumbing of the built-in metrics.


def _map_source(source: ImageBatches, preprocess: Preprocess | None, batch: int) -> ImageBatches:
    if preprocess is None:
        return source
    return lambda: (preprocess(b) for b in iter_batches(source, batch))


def _fakes(make_fakes: MakeFakes, num: int, batch: int, preprocess: Preprocess | None):
    def generate() -> Iterator[torch.Tensor]:
        produced = 0
        for images in make_fakes(num, batch):
            images = images[: num - produced]
            produced += images.shape[0]
            yield preprocess(images) if preprocess is not None else images
            if produced >= num:
                return
        raise ValueError(f"make_fakes({num}, {batch}) produced only {produced} images")

    if num <= 0:
        raise ValueError(f"the number of fakes must be positive, got {num}")
    return generate


def real_stats(
    real: ImageBatches | FeatureStats,
    extractor: FeatureExtractor,
    *,
    preprocess: Preprocess | None = None,
    protocol: Mapping[str, Any] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    dataset_hash: str | None = None,
    keep_features: bool = False,
    num_reals: int | None = None,
    batch: int = 32,
    progress: ProgressCallback | None = None,
) -> FeatureStats:
    """Statistics of real images, optionally preprocessed and cached.

    ``real`` may already be :class:`FeatureStats` (returned as is). The cache key hashes the raw
    images (before ``preprocess``) and includes ``protocol``, which must describe ``preprocess``.
    """
    if isinstance(real, FeatureStats):
        if keep_features and not real.keep_features:
            raise ValueError("this metric needs raw real features; pass images or kept features")
        return real
    if cache_dir is not None and dataset_hash is None:
        require_reusable(real)
        dataset_hash = hash_image_batches(real)
    return cached_real_stats(
        _map_source(real, preprocess, batch),
        extractor,
        cache_dir,
        protocol or {},
        dataset_hash=dataset_hash,
        keep_features=keep_features,
        batch_size=batch,
        max_items=num_reals,
        progress=progress,
    )


def fake_stats(
    make_fakes: MakeFakes,
    extractor: FeatureExtractor,
    num_fakes: int,
    *,
    batch: int = 32,
    preprocess: Preprocess | None = None,
    keep_features: bool = False,
    progress: ProgressCallback | None = None,
) -> FeatureStats:
    """Streaming statistics of ``num_fakes`` generated images."""
    stats: FeatureStats | None = None
    source = _fakes(make_fakes, num_fakes, batch, preprocess)
    for batch_features in iter_features(
        source, extractor, batch_size=batch, progress=progress, total=num_fakes
    ):
        if stats is None:
            stats = FeatureStats(batch_features.shape[1], keep_features=keep_features)
        stats.update(batch_features)
    assert stats is not None  # _fakes raises when nothing is produced
    return stats


def _fake_side(
    make_fakes: Fakes,
    extractor: FeatureExtractor,
    num_fakes: int | None,
    *,
    batch: int,
    preprocess: Preprocess | None = None,
    keep_features: bool = False,
    progress: ProgressCallback | None = None,
) -> FeatureStats:
    """The fakes' statistics: given (``num_fakes`` must then be ``None`` or their count), or
    computed from ``make_fakes`` with :func:`fake_stats`."""
    if isinstance(make_fakes, FeatureStats):
        if keep_features and not make_fakes.keep_features:
            raise ValueError("this metric needs raw fake features; pass images or kept features")
        if num_fakes is not None and num_fakes != make_fakes.count:
            raise ValueError(
                f"num_fakes={num_fakes} but the given fake statistics hold {make_fakes.count}"
            )
        return make_fakes
    if num_fakes is None:
        raise ValueError("num_fakes is required when make_fakes generates the images")
    return fake_stats(
        make_fakes,
        extractor,
        num_fakes,
        batch=batch,
        preprocess=preprocess,
        keep_features=keep_features,
        progress=progress,
    )


# ---------------------------------------------------------------------------------------------
# Built-in metrics.


@register_metric("fid")
def fid_metric(
    *,
    make_fakes: Fakes,
    real: ImageBatches | FeatureStats,
    extractor: FeatureExtractor,
    num_fakes: int | None = None,
    batch: int = 32,
    num_reals: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    dataset_hash: str | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """FID of ``num_fakes`` generated images against real images (both used as given)."""
    reals = real_stats(
        real,
        extractor,
        protocol=AS_GIVEN,
        cache_dir=cache_dir,
        dataset_hash=dataset_hash,
        num_reals=num_reals,
        batch=batch,
    )
    fakes = _fake_side(make_fakes, extractor, num_fakes, batch=batch, progress=progress)
    return {"fid": fid_from_stats(reals, fakes), "num_fakes": fakes.count, "num_reals": reals.count}


@register_metric("kid")
def kid_metric(
    *,
    make_fakes: Fakes,
    real: ImageBatches | FeatureStats,
    extractor: FeatureExtractor,
    num_fakes: int | None = None,
    batch: int = 32,
    num_reals: int | None = None,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    dataset_hash: str | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """KID (mean and std over subsets) of generated against real images."""
    reals = real_stats(
        real,
        extractor,
        protocol=AS_GIVEN,
        cache_dir=cache_dir,
        dataset_hash=dataset_hash,
        keep_features=True,
        num_reals=num_reals,
        batch=batch,
    )
    fakes = _fake_side(
        make_fakes, extractor, num_fakes, batch=batch, keep_features=True, progress=progress
    )
    kid = kernel_inception_distance(
        reals.features, fakes.features, num_subsets=num_subsets, subset_size=subset_size, seed=seed
    )
    return {
        "kid_mean": kid.mean,
        "kid_std": kid.std,
        "subset_size": kid.subset_size,
        "num_subsets": kid.num_subsets,
        "num_fakes": fakes.count,
        "num_reals": reals.count,
    }


@register_metric("patch_fid")
def patch_fid_metric(
    *,
    make_fakes: MakeFakes,
    real: ImageBatches,
    extractor: FeatureExtractor,
    num_fakes: int,
    patch_size: int | tuple[int, int],
    patches_per_image: int = 1,
    seed: int = 0,
    batch: int = 32,
    num_reals: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    dataset_hash: str | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """FID on random training-size patches cut from real and generated images.

    ``num_fakes`` counts generated images; each gives ``patches_per_image`` patches, as does each
    real image. Patch positions are drawn from generators seeded with ``seed`` (reals) and
    ``seed + 1`` (fakes).
    """
    real_gen = torch.Generator().manual_seed(seed)
    fake_gen = torch.Generator().manual_seed(seed + 1)
    reals = real_stats(
        real,
        extractor,
        preprocess=lambda x: random_patches(x, patch_size, patches_per_image, real_gen),
        protocol={
            "preprocess": "random_patches",
            "patch_size": patch_size,
            "patches_per_image": patches_per_image,
            "seed": seed,
            "batch": batch,
        },
        cache_dir=cache_dir,
        dataset_hash=dataset_hash,
        num_reals=None if num_reals is None else num_reals * patches_per_image,
        batch=batch,
    )
    fakes = fake_stats(
        make_fakes,
        extractor,
        num_fakes,
        batch=batch,
        preprocess=lambda x: random_patches(x, patch_size, patches_per_image, fake_gen),
        progress=progress,
    )
    return {
        "fid": fid_from_stats(reals, fakes),
        "patch_size": patch_size,
        "num_fake_patches": fakes.count,
        "num_real_patches": reals.count,
    }


@register_metric("scaleinv_fid")
def scaleinv_fid_metric(
    *,
    make_fakes: Fakes,
    real: ImageBatches | FeatureStats,
    extractor: FeatureExtractor,
    num_fakes: int | None = None,
    scale: float,
    real_res: int = 128,
    full_size: int = 197,
    mode: ScaleInvMode = "paper",
    batch: int = 32,
    num_reals: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    dataset_hash: str | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """ScaleInv FID (InfinityGAN): generated images of ``scale`` x the field of view, shrunk.

    ``make_fakes`` must yield images of at least ``scaleinv_request_size(scale, real_res,
    full_size)`` px per side (or be their statistics after ``scaleinv_prepare``). Reals are whole
    images, resized to ``real_res`` as ``mode`` says.
    """
    request = scaleinv_request_size(scale, real_res, full_size)
    reals = real_stats(
        real,
        extractor,
        preprocess=lambda x: scaleinv_prepare_real(x, real_res, mode),
        protocol={"preprocess": "scaleinv_real", "real_res": real_res, "mode": mode},
        cache_dir=cache_dir,
        dataset_hash=dataset_hash,
        num_reals=num_reals,
        batch=batch,
    )
    fakes = _fake_side(
        make_fakes,
        extractor,
        num_fakes,
        batch=batch,
        preprocess=lambda x: scaleinv_prepare(x, scale, real_res, full_size, mode),
        progress=progress,
    )
    return {
        "fid": fid_from_stats(reals, fakes),
        "scale": scale,
        "mode": mode,
        "real_res": real_res,
        "full_size": full_size,
        "request_size": request,
        "num_fakes": fakes.count,
        "num_reals": reals.count,
    }


@register_metric("swd")
def swd_metric(
    *,
    make_fakes: MakeFakes,
    real: ImageBatches,
    num_fakes: int,
    batch: int = 32,
    nhoods_per_image: int = 128,
    seed: int = 0,
) -> dict[str, Any]:
    """Multi-scale sliced Wasserstein distance (x1e3) between generated and real images."""
    fakes = torch.cat(list(_fakes(make_fakes, num_fakes, batch, None)()))
    result = sliced_wasserstein_distance(real, fakes, nhoods_per_image=nhoods_per_image, seed=seed)
    return {
        "swd_mean": result.mean,
        "swd_per_level": list(result.per_level),
        "resolutions": [list(r) for r in result.resolutions],
        "num_fakes": fakes.shape[0],
    }


@register_metric("diversity")
def diversity_metric(
    *,
    make_fakes: Fakes,
    extractor: FeatureExtractor,
    num_fakes: int | None = None,
    batch: int = 32,
    distance: DistanceMetric = "l2",
) -> dict[str, Any]:
    """Mean pairwise feature distance of ``num_fakes`` generated images (e.g. one per seed)."""
    if isinstance(make_fakes, FeatureStats):
        stats = _fake_side(make_fakes, extractor, num_fakes, batch=batch, keep_features=True)
        features = stats.features
    else:
        if num_fakes is None:
            raise ValueError("num_fakes is required when make_fakes generates the images")
        batches = list(iter_features(_fakes(make_fakes, num_fakes, batch, None), extractor))
        features = np.concatenate(batches)
    return {
        "diversity": mean_pairwise_distance(features, distance),
        "distance": distance,
        "num_fakes": features.shape[0],
    }


@register_metric("infinite_fid")
def infinite_fid_metric(
    *,
    make_fakes: MakeFakes,
    real: ImageBatches | FeatureStats,
    extractor: FeatureExtractor,
    num_canvases: int,
    frame: int | tuple[int, int],
    bins: Sequence[int],
    stride: int | None = None,
    batch: int = 1,
    num_reals: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    dataset_hash: str | None = None,
) -> dict[str, Any]:
    """FID per horizontal distance bin of frames cut from long canvases (ALIS's infinite FID).

    ``make_fakes(num_canvases, batch)`` yields long canvases ``[B, 3, H, W_long]``; real images
    should be at the frame size already.
    """
    reals = real_stats(
        real,
        extractor,
        protocol=AS_GIVEN,
        cache_dir=cache_dir,
        dataset_hash=dataset_hash,
        num_reals=num_reals,
        batch=32,
    )
    canvases = _fakes(make_fakes, num_canvases, batch, None)()
    per_bin = infinite_fid_by_distance(canvases, extractor, reals, frame, bins, stride)
    return {"bins": per_bin, "num_canvases": num_canvases, "num_reals": reals.count}


@register_metric("seams")
def seams_metric(*, make_pairs: MakePairs, num_canvases: int, tile: int) -> dict[str, Any]:
    """Seams of tiled rendering: each canvas rendered in ``tile``-px tiles and in one pass.

    Reports the largest difference and the lowest PSNR over the canvases, and the mean seam
    energy ratio on the tile grid, of the tiled renders and (for reference) of the one-shot ones.
    """
    if num_canvases <= 0:
        raise ValueError(f"the number of canvases must be positive, got {num_canvases}")
    diffs, psnrs, ratios, reference = [], [], [], []
    for tiled, whole in make_pairs(num_canvases):
        diffs.append(tile_consistency(tiled, whole))
        psnrs.append(psnr(tiled, whole))
        ratios.append(seam_energy_ratio(tiled, tile))
        reference.append(seam_energy_ratio(whole, tile))
    if len(diffs) != num_canvases:
        raise ValueError(f"make_pairs({num_canvases}) produced {len(diffs)} pairs")
    return {
        "max_abs_diff": max(diffs),
        "min_psnr": min(psnrs),
        "seam_energy_ratio": float(np.mean(ratios)),
        "seam_energy_ratio_one_shot": float(np.mean(reference)),
        "tile_size": tile,
        "num_fakes": num_canvases,
    }
