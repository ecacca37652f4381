"""Evaluation metrics: FID/KID with offline TF-Inception features, ScaleInv FID, patch FID,
SWD, diversity, seam metrics, infinite-FID by distance, a metric registry, and the evaluation of
generators (``infinitygan eval``) on top of it.

Images are ``[N, 3, H, W]`` tensors, float in ``[-1, 1]`` or uint8, or iterables of such batches.
The metric modules do not use the model code; generators plug in through
``make_fakes(n, batch) -> iterator of [B, 3, H, W]``. The evaluation modules (``eval_model``,
``real_images``, ``protocols``, ``evaluator``, with ``metric_requests``, ``options``,
``extractor`` and ``report``) connect models and datasets to the registry. See docs/metrics.md
and docs/evaluation.md.
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
from infinitygan.metrics.eval_model import (
    MAX_SCALEINV_SIDE,
    EvalModel,
    ResolvedModel,
    load_eval_model,
    model_kind,
    resolve_eval_model,
    run_training_data,
    validate_scales,
)
from infinitygan.metrics.evaluator import evaluate
from infinitygan.metrics.extractor import (
    extractor_id,
    make_feature_extractor,
    set_feature_extractor_factory,
)
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
from infinitygan.metrics.metric_requests import (
    DEFAULT_SCALES,
    FEATURE_METRICS,
    METRICS,
    MetricRequest,
    format_scale,
    needs_features,
    parse_metrics,
)
from infinitygan.metrics.options import SCALEINV_MODES, EvalOptions, default_cache_dir
from infinitygan.metrics.plots import plot_scaleinv
from infinitygan.metrics.real_images import RealImages, open_real_images
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
from infinitygan.metrics.report import PLOT_FILE, format_record, plot_model_scaleinv
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
    "DEFAULT_SCALES",
    "FEATURE_METRICS",
    "INCEPTION_ENV_VAR",
    "MAX_SCALEINV_SIDE",
    "METRICS",
    "PLOT_FILE",
    "SCALEINV_MODES",
    "DistanceBin",
    "EvalModel",
    "EvalOptions",
    "FeatureExtractor",
    "FeatureStats",
    "FrechetResult",
    "ImageBatches",
    "InceptionFeatureExtractor",
    "KIDResult",
    "MakeFakes",
    "MetricRequest",
    "RealImages",
    "ResolvedModel",
    "SWDResult",
    "accumulate_stats",
    "append_metric_jsonl",
    "cached_real_stats",
    "center_crop",
    "compute_metric",
    "default_cache_dir",
    "evaluate",
    "extract_features",
    "extractor_id",
    "fake_stats",
    "feature_diversity",
    "fid_from_stats",
    "find_inception_file",
    "format_record",
    "format_scale",
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
    "load_eval_model",
    "load_stats",
    "make_feature_extractor",
    "mean_pairwise_distance",
    "model_kind",
    "needs_features",
    "open_real_images",
    "parse_metrics",
    "plot_model_scaleinv",
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
    "resolve_eval_model",
    "run_training_data",
    "save_stats",
    "scaleinv_eval_res",
    "scaleinv_prepare",
    "scaleinv_prepare_real",
    "scaleinv_request_size",
    "seam_energy_ratio",
    "set_feature_extractor_factory",
    "sliced_wasserstein",
    "sliced_wasserstein_distance",
    "stats_cache_key",
    "tile_consistency",
    "to_float_images",
    "to_pixel_values",
    "to_uint8",
    "validate_scales",
]
