"""Evaluation of generators: :func:`evaluate` runs the requested metric protocols on one model.

``infinitygan eval`` is a thin command over :func:`evaluate`. For every requested metric the
protocol of :mod:`infinitygan.metrics.protocols` builds the generated images docs/evaluation.md
describes and gets the number from the metric registry:

* ``fid``, ``kid``, ``diversity``, ``swd``: full-size images (``generate_image`` at the model's
  ``full_size``, 197 px for paper-101, 128 px for StyleGAN2-NCI) against the dataset's full images
  (the training view: centre square, optional pre-resize, resize to ``full_size``). One set of
  fakes serves all four metrics.
* ``patch-fid``: training-size patches cut from the canvas at training positions: the vertical
  window offset is drawn uniformly from the ``V`` training positions plus a uniform sub-cell jitter,
  the horizontal position uniformly over the coordinate period. Reals are uniform random
  training-size crops of the full images (the training crop distribution).
* ``scaleinv-fid@s``: images covering ``s`` times the training field of view
  (``scaleinv_request_size``; StyleGAN2-NCI renders a larger latent with ``generate_whole_image``),
  shrunk to the real resolution in ``paper`` or ``clean`` mode, against the dataset images resized
  once to the real resolution (``pre_resize``, else ``full_size``). Several modes share one set of
  generated images.
* ``infinite-fid``: long horizontal canvases (8 frames of ``full_size``), frames grouped into 4
  distance bins of 2 frames each, FID per bin against the full images.
* ``seams``: a ``2 * full_size`` square rendered in tiles of ``patch_size`` and in one pass; the
  largest difference, the PSNR and the seam energy ratio on the tile grid.

Fakes of seed ``seed + i`` are image ``i``; patch positions are keyed to ``(seed, i)``, so the
fakes do not depend on the batch size (the reals' random patch-FID crops do). Every result is a
record: the registry's result (:func:`~infinitygan.metrics.registry.compute_metric`: ``metric``,
the numbers, ``seconds``, ``time``), the protocol's context (sizes, data hash) and the provenance
added here (model hash, N, seeds, software version...), appended to ``metric-<name>.jsonl``.

The feature network is the TF-FID Inception
(:class:`~infinitygan.metrics.InceptionFeatureExtractor`). Tests and experiments replace it with
:func:`~infinitygan.metrics.extractor.set_feature_extractor_factory`.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from infinitygan import __version__
from infinitygan.metrics import protocols
from infinitygan.metrics.eval_model import EvalModel, validate_scales
from infinitygan.metrics.extractor import extractor_id
from infinitygan.metrics.inception import FeatureExtractor
from infinitygan.metrics.metric_requests import FEATURE_METRICS, MetricRequest, needs_features
from infinitygan.metrics.options import EvalOptions
from infinitygan.metrics.protocols import ProgressFn
from infinitygan.metrics.real_images import RealImages, open_real_images, require_reals
from infinitygan.metrics.registry import append_metric_jsonl
from infinitygan.metrics.report import plot_model_scaleinv


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def evaluate(
    model: EvalModel,
    data: str,
    metrics: Sequence[MetricRequest],
    *,
    extractor: FeatureExtractor | None,
    options: EvalOptions = EvalOptions(),
    out_dir: str | os.PathLike[str] | None = None,
    progress: ProgressFn | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Compute ``metrics`` for ``model`` against ``data``; append each record to ``out_dir``.

    Args:
        model: the generator to evaluate.
        data: real images: ``synthetic``, ``landscapes`` or a folder/.zip/.tar path.
        metrics: from :func:`~infinitygan.metrics.metric_requests.parse_metrics`.
        extractor: feature network (:func:`~infinitygan.metrics.extractor.make_feature_extractor`);
            may be None when no metric needs it (:func:`~infinitygan.metrics.metric_requests.
            needs_features`: ``swd`` and ``seams`` only).
        options: N, modes, seeds, batch, cache.
        out_dir: folder of the ``metric-<name>.jsonl`` files and ``scaleinv.png`` (``None``:
            nothing written).
        progress: called as ``progress(label, done, total)`` while images are produced.
        on_record: called with each record as soon as it is complete.

    Returns:
        The records, in the order computed. A metric that does not apply to the model (seams of
        the zero-padded NCI baseline) yields a record with a ``"skipped"`` reason, not written.

    Raises:
        ValueError: bad scales for this model, or too few images.
        FileNotFoundError, DataError: the dataset cannot be opened.
    """
    names = {m.name for m in metrics}
    if extractor is None and needs_features(metrics):
        raise ValueError(
            f"{', '.join(sorted(names & FEATURE_METRICS))} need(s) the feature network; "
            "pass an extractor"
        )
    scales = sorted({s for m in metrics for s in m.scales})
    validate_scales(model, scales)
    num_reals = options.num_reals or options.num
    out = Path(out_dir) if out_dir is not None else None
    base = {
        "model": model.spec,
        "model_name": model.config.name,
        "model_kind": model.kind,
        "model_hash": model.hash,
        "truncation": model.truncation,
        "data": data,
        "data_seed": options.data_seed,
        "num": options.num,
        "seed": options.seed,
        "batch": options.batch,
        "extractor": None if extractor is None else extractor_id(extractor),
        "software": f"infinitygan {__version__}",
        "torch": torch.__version__,
        "device": str(next(model.G.parameters()).device),
    }
    if options.label is not None:
        base["label"] = options.label
    records: list[dict[str, Any]] = []

    def emit(record: dict[str, Any], spent: float) -> None:
        full = {**record, **{k: v for k, v in base.items() if k not in record}}
        full.setdefault("time", _now())
        if "seconds" in full:  # plus the shared rendering and features, outside the registry
            full["seconds"] = round(full["seconds"] + spent, 3)
        records.append(full)
        if out is not None and "skipped" not in full:
            append_metric_jsonl(out, full)
        if on_record is not None:
            on_record(full)

    def reals_at(size: int, pre_resize: int | None) -> RealImages:
        reals = open_real_images(
            data,
            size,
            num_reals,
            pre_resize=pre_resize,
            patch_size=model.patch_size,
            data_seed=options.data_seed,
            batch=options.batch,
        )
        require_reals(reals)
        return reals

    run = protocols.EvalRun(model, extractor, options, emit, progress)
    full_reals: RealImages | None = None
    if names & {"fid", "kid", "swd", "patch-fid", "infinite-fid"}:
        full_reals = reals_at(model.full_size, model.config.pre_resize)

    if names & protocols.FULL_IMAGE_METRICS:
        protocols.full_image_metrics(run, full_reals, names)
    if "patch-fid" in names:
        assert full_reals is not None
        protocols.patch_fid(run, full_reals)
    if "scaleinv-fid" in names:
        small_reals = reals_at(model.real_res, None)
        for scale in scales:
            protocols.scaleinv_fid(run, small_reals, scale)
        if out is not None:
            plot_model_scaleinv(out, model.hash)
    if "infinite-fid" in names:
        assert full_reals is not None
        protocols.infinite_fid(run, full_reals)
    if "seams" in names:
        protocols.seams(run)
    return records
