"""Caching of real-image feature statistics.

A cache entry is keyed by a content hash of the dataset plus the protocol parameters (resize mode,
resolution, sample count, feature extractor identity, torch version ...), so changing any image or
any parameter misses. Entries are ``.npz`` files written atomically and flushed to disk
(:func:`infinitygan._files.atomic_write`), so concurrent writers never leave a torn file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from infinitygan._files import atomic_write
from infinitygan.metrics.images import ImageBatches, iter_batches
from infinitygan.metrics.inception import FeatureExtractor, ProgressCallback, iter_features
from infinitygan.metrics.stats import FeatureStats

logger = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = 1


def is_reusable(source: ImageBatches) -> bool:
    """Whether ``source`` can be read more than once (tensor, sequence or callable)."""
    return isinstance(source, torch.Tensor | Sequence) or callable(source)


def require_reusable(source: ImageBatches) -> None:
    """Raise ValueError if ``source`` is a one-shot iterator that would need two passes."""
    if not is_reusable(source):
        raise ValueError(
            "a one-shot iterator cannot be both hashed and read; pass a tensor, a list, a "
            "zero-argument callable returning a fresh iterable, or dataset_hash="
        )


def hash_image_batches(source: ImageBatches, batch_size: int = 256) -> str:
    """SHA-256 of the images' content (shape, dtype and values, in order).

    Args:
        source: images (see :data:`~infinitygan.metrics.images.ImageBatches`); pass a tensor or a
            zero-argument callable if the same source is read again later.
        batch_size: batch size of the traversal (does not change the hash).

    Returns:
        Hex digest; equal sources give equal digests regardless of how they are batched.
    """
    digest = hashlib.sha256()
    for batch in iter_batches(source, batch_size):
        batch = batch.detach().to("cpu").contiguous()
        for image in batch:
            digest.update(f"{str(image.dtype)}{tuple(image.shape)}".encode())
            digest.update(image.numpy().tobytes())
    return digest.hexdigest()


def hash_files(
    paths: Iterable[str | os.PathLike[str]], root: str | os.PathLike[str] | None = None
) -> str:
    """SHA-256 over the bytes of files (sorted by path) and their paths relative to ``root``.

    Raises:
        FileNotFoundError: if a path does not exist.
    """
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        name = path.relative_to(root) if root is not None else path
        digest.update(str(name).encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def stats_cache_key(dataset_hash: str, protocol: Mapping[str, Any]) -> str:
    """Cache key from the dataset hash and the protocol parameters (JSON-serialisable)."""
    payload = json.dumps(
        {"version": CACHE_FORMAT_VERSION, "dataset": dataset_hash, "protocol": dict(protocol)},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def save_stats(path: str | os.PathLike[str], stats: FeatureStats, meta: Mapping[str, Any]) -> None:
    """Write statistics (and kept features, as float32) to ``path`` (``.npz``) atomically."""
    arrays: dict[str, np.ndarray] = {
        "mean": stats.mean,
        "cov": stats.cov,
        "count": np.array(stats.count, dtype=np.int64),
        "meta": np.array(json.dumps(dict(meta), sort_keys=True, default=str)),
    }
    if stats.keep_features:
        arrays["features"] = stats.features.astype(np.float32)
    atomic_write(path, lambda tmp: _savez(tmp, arrays), fsync=True)


def _savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as handle:  # a handle: np.savez would append ".npz" to a name
        np.savez(handle, **arrays)


def load_stats(path: str | os.PathLike[str]) -> tuple[FeatureStats, dict[str, Any]]:
    """Read statistics written by :func:`save_stats`.

    Returns:
        The statistics (with ``features`` if they were saved) and the metadata dict.
    """
    with np.load(path, allow_pickle=False) as data:
        features = data["features"] if "features" in data.files else None
        stats = FeatureStats.from_moments(data["mean"], data["cov"], int(data["count"]), features)
        meta = json.loads(str(data["meta"]))
    return stats, meta


def cached_real_stats(
    source: ImageBatches,
    extractor: FeatureExtractor,
    cache_dir: str | os.PathLike[str] | None,
    protocol: Mapping[str, Any],
    *,
    dataset_hash: str | None = None,
    keep_features: bool = False,
    batch_size: int = 32,
    max_items: int | None = None,
    progress: ProgressCallback | None = None,
) -> FeatureStats:
    """Feature statistics of real images, loaded from or stored in ``cache_dir``.

    The key combines ``dataset_hash`` (by default :func:`hash_image_batches` of ``source``, which
    reads the source once more) with ``protocol``, ``max_items``, the extractor's ``cache_id``
    attribute (its class name otherwise) and the torch version.

    Args:
        source: real images. With the default hashing, pass a tensor or a zero-argument callable
            returning a fresh iterable, because the source is read twice on a miss.
        extractor: feature extractor.
        cache_dir: directory of the ``real-stats-<key>.npz`` files; ``None`` disables caching.
        protocol: JSON-serialisable parameters that changed the images (resolution, resize, ...).
        dataset_hash: precomputed content hash (e.g. :func:`hash_files` of the dataset files).
        keep_features: keep the raw features too (needed for KID).
        batch_size: images per extractor call.
        max_items: use only the first ``max_items`` images.
        progress: progress callback of the feature extraction.

    Raises:
        ValueError: if ``source`` is a one-shot iterator while the hash must be computed from it.
    """

    def compute() -> FeatureStats:
        stats: FeatureStats | None = None
        for batch_features in iter_features(
            source, extractor, batch_size=batch_size, max_items=max_items, progress=progress
        ):
            if stats is None:
                stats = FeatureStats(batch_features.shape[1], keep_features=keep_features)
            stats.update(batch_features)
        if stats is None:
            raise ValueError("no real images to compute statistics from; the source was empty")
        return stats

    if cache_dir is None:
        return compute()
    if dataset_hash is None:
        require_reusable(source)
        dataset_hash = hash_image_batches(source)
    full_protocol = {
        **dict(protocol),
        "max_items": max_items,
        "extractor": getattr(extractor, "cache_id", type(extractor).__name__),
        "torch": torch.__version__,
    }
    key = stats_cache_key(dataset_hash, full_protocol)
    path = Path(cache_dir) / f"real-stats-{key}.npz"
    if path.is_file():
        stats, meta = load_stats(path)
        if not keep_features or stats.keep_features:
            logger.info("real statistics cache hit: %s (%d images)", path, stats.count)
            return stats
        logger.info("cache entry %s has no raw features; recomputing", path)
    stats = compute()
    save_stats(path, stats, {"dataset": dataset_hash, "protocol": full_protocol})
    logger.info("real statistics cached in %s (%d images)", path, stats.count)
    return stats
