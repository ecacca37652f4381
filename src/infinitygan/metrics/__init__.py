"""Evaluation metrics: FID/KID with offline TF-Inception features, ScaleInv FID, patch FID,
SWD, diversity, seam metrics, infinite-FID by distance, and a metric registry.

Images are ``[N, 3, H, W]`` tensors, float in ``[-1, 1]`` or uint8, or iterables of such batches.
This package does not import the model code; generators plug in through
``make_fakes(n, batch) -> iterator of [B, 3, H, W]``. See docs/metrics.md.
"""

from __future__ import annotations

from infinitygan.metrics.cache import (
    cached_real_stats,
    hash_files,
    hash_image_batches,
    load_stats,
    save_stats,
    stats_cache_key,
)
from infinitygan.metrics.diversity import feature_diversity, mean_pairwise_distance
from infinitygan.metrics.images import (
    ImageBatches,
    center_crop,
    iter_batches,
    random_patches,
    resize_antialiased,
    resize_lanczos_pil,
    to_float_images,
    to_pixel_values,
    to_uint8,
)
from infinitygan.metrics.inception import (
    INCEPTION_ENV_VAR,
    FeatureExtractor,
    InceptionFeatureExtractor,
    extract_features,
    find_inception_file,
    inception_available,
    iter_features,
    resize_bilinear_tf1,
)
from infinitygan.metrics.infinite import DistanceBin, frames_by_distance, infinite_fid_by_distance
from infinitygan.metrics.plots import plot_scaleinv
from infinitygan.metrics.registry import (
    MakeFakes,
    append_metric_jsonl,
    compute_metric,
    fake_stats,
    list_metrics,
    read_metric_jsonl,
    real_stats,
    register_metric,
)
from infinitygan.metrics.scaleinv import (
    scaleinv_eval_res,
    scaleinv_prepare,
    scaleinv_prepare_real,
    scaleinv_request_size,
)
from infinitygan.metrics.seams import psnr, seam_energy_ratio, tile_consistency
from infinitygan.metrics.stats import (
    FeatureStats,
    FrechetResult,
    KIDResult,
    accumulate_stats,
    fid_from_stats,
    frechet_distance,
    frechet_distance_terms,
    kernel_inception_distance,
    polynomial_mmd2,
)
from infinitygan.metrics.swd import (
    SWDResult,
    laplacian_pyramid,
    sliced_wasserstein,
    sliced_wasserstein_distance,
)

__all__ = [
    "INCEPTION_ENV_VAR",
    "DistanceBin",
    "FeatureExtractor",
    "FeatureStats",
    "FrechetResult",
    "ImageBatches",
    "InceptionFeatureExtractor",
    "KIDResult",
    "MakeFakes",
    "SWDResult",
    "accumulate_stats",
    "append_metric_jsonl",
    "cached_real_stats",
    "center_crop",
    "compute_metric",
    "extract_features",
    "fake_stats",
    "feature_diversity",
    "fid_from_stats",
    "find_inception_file",
    "frames_by_distance",
    "frechet_distance",
    "frechet_distance_terms",
    "hash_files",
    "hash_image_batches",
    "inception_available",
    "infinite_fid_by_distance",
    "iter_batches",
    "iter_features",
    "kernel_inception_distance",
    "laplacian_pyramid",
    "list_metrics",
    "load_stats",
    "mean_pairwise_distance",
    "plot_scaleinv",
    "polynomial_mmd2",
    "psnr",
    "random_patches",
    "read_metric_jsonl",
    "real_stats",
    "register_metric",
    "resize_antialiased",
    "resize_bilinear_tf1",
    "resize_lanczos_pil",
    "save_stats",
    "scaleinv_eval_res",
    "scaleinv_prepare",
    "scaleinv_prepare_real",
    "scaleinv_request_size",
    "seam_energy_ratio",
    "sliced_wasserstein",
    "sliced_wasserstein_distance",
    "stats_cache_key",
    "tile_consistency",
    "to_float_images",
    "to_pixel_values",
    "to_uint8",
]
