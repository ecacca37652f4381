"""Diversity: mean pairwise distance between the features of a set (e.g. one image per seed).

Higher means more varied samples. With Inception features it is a cheap, offline stand-in for the
pairwise-LPIPS diversity used in the literature (LPIPS needs VGG/AlexNet weights that are not
available offline); numbers are only comparable with the same extractor and set size.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import torch

from infinitygan.metrics.images import ImageBatches
from infinitygan.metrics.inception import FeatureExtractor, extract_features

logger = logging.getLogger(__name__)

DistanceMetric = Literal["l2", "cosine"]


def mean_pairwise_distance(features: np.ndarray, metric: DistanceMetric = "l2") -> float:
    """Mean distance over all unordered pairs ``i < j`` of rows of ``features``.

    Args:
        features: ``[N, D]``, ``N >= 2``.
        metric: ``"l2"`` (Euclidean) or ``"cosine"`` (``1 - cos`` similarity).

    Raises:
        ValueError: for fewer than 2 rows, a non-2-D array or an unknown metric.
    """
    feats = torch.as_tensor(np.asarray(features, dtype=np.float64))
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise ValueError(f"need features [N, D] with N >= 2, got shape {tuple(feats.shape)}")
    if metric == "l2":
        dist = torch.cdist(feats, feats)
    elif metric == "cosine":
        unit = feats / feats.norm(dim=1, keepdim=True).clamp_min(1e-12)
        dist = 1.0 - unit @ unit.T
    else:
        raise ValueError(f"metric must be 'l2' or 'cosine', got {metric!r}")
    n = feats.shape[0]
    upper = torch.triu_indices(n, n, offset=1)
    return float(dist[upper[0], upper[1]].mean())


def feature_diversity(
    images: ImageBatches,
    extractor: FeatureExtractor,
    metric: DistanceMetric = "l2",
    batch_size: int = 32,
) -> float:
    """Mean pairwise feature distance of a set of images ``[N, 3, H, W]`` (``N >= 2``)."""
    return mean_pairwise_distance(
        extract_features(images, extractor, batch_size=batch_size), metric
    )
