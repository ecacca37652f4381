"""What each metric of ``infinitygan eval`` generates, computed through the metric registry.

One function per protocol of docs/evaluation.md. Each renders the fakes its metric asks for from
an :class:`~infinitygan.metrics.eval_model.EvalModel`, takes the reals from
:class:`~infinitygan.metrics.real_images.RealImages`, and gets every number from
:func:`~infinitygan.metrics.registry.compute_metric`: the registry holds the one definition of
each metric. Where one set of renders serves several metrics (fid, kid, diversity and swd; the
ScaleInv modes), the fakes' feature statistics are computed once and handed to the registry
metrics in place of ``make_fakes``. Each record (the registry's result plus the protocol's
context: sizes, data hash) goes to ``emit``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from infinitygan.metrics.eval_model import EvalModel
from infinitygan.metrics.images import to_uint8
from infinitygan.metrics.inception import FeatureExtractor, ProgressCallback
from infinitygan.metrics.metric_requests import format_scale
from infinitygan.metrics.options import EvalOptions
from infinitygan.metrics.real_images import RealImages
from infinitygan.metrics.registry import AS_GIVEN, compute_metric, fake_stats, real_stats
from infinitygan.metrics.scaleinv import scaleinv_prepare, scaleinv_prepare_real
from infinitygan.metrics.stats import FeatureStats

INFINITE_FRAMES = 8  # frames per long canvas
INFINITE_BINS = 4  # distance bins (2 frames each)
SEAM_CANVASES = 4  # canvases rendered twice for the seam metrics (or N, if smaller)

FULL_IMAGE_METRICS = frozenset({"fid", "kid", "diversity", "swd"})
"""The metrics that share one set of full-size fakes."""

ProgressFn = Callable[[str, int, int], None]
"""``progress(label, done, total)``, called as images are produced."""

Emit = Callable[[dict[str, Any], float], None]
"""``emit(record, seconds)``: a finished record and the seconds spent on it outside
:func:`~infinitygan.metrics.registry.compute_metric` (shared rendering and features)."""


@dataclass(frozen=True)
class EvalRun:
    """What the protocols of one evaluation share.

    Attributes:
        model: the generator evaluated.
        extractor: the feature network (``None`` when only pixel metrics run).
        options: N, modes, seeds, batch, cache.
        emit: receives each finished record.
        progress: called as ``progress(label, done, total)`` while images are produced.
    """

    model: EvalModel
    extractor: FeatureExtractor | None
    options: EvalOptions
    emit: Emit
    progress: ProgressFn | None = None

    def features(self) -> FeatureExtractor:
        """The feature network (:func:`~infinitygan.metrics.evaluator.evaluate` has checked that
        the metrics which need one have one)."""
        assert self.extractor is not None
        return self.extractor

    def bar(self, label: str, total: int) -> _Progress:
        """Progress of ``total`` images under ``label``."""
        return _Progress(self.progress, label, total)

    def real_progress(self, label: str, total: int) -> ProgressCallback | None:
        """The real features' ``(done, total)`` callback, reporting as ``progress(label, done,
        total)`` (not called at all when the statistics come from the cache)."""
        progress = self.progress
        if progress is None:
            return None
        return lambda done, _total=None: progress(label, done, total)


class _Progress:
    def __init__(self, progress: ProgressFn | None, label: str, total: int) -> None:
        self.progress, self.label, self.total, self.done = progress, label, total, 0
        self.step(0)

    def step(self, count: int = 1) -> None:
        self.done += count
        if self.progress is not None:
            self.progress(self.label, self.done, self.total)


def _batched(
    render: Callable[[int], Tensor], count: int, batch: int, bar: _Progress
) -> Iterator[Tensor]:
    for start in range(0, count, batch):
        images = []
        for i in range(start, min(count, start + batch)):
            images.append(render(i))
            bar.step()
        yield torch.stack(images)


def full_image_metrics(run: EvalRun, reals: RealImages | None, names: set[str]) -> None:
    """fid, kid, diversity and swd (those of ``names``) from one set of full-size fakes."""
    model, options, extractor = run.model, run.options, run.extractor
    cache_dir, emit = options.cache_dir, run.emit
    start = time.perf_counter()
    n = options.num
    label = "/".join(sorted(names & FULL_IMAGE_METRICS))
    bar = run.bar(f"{label}: {n} images of {model.full_size} px", n)
    pixels: list[Tensor] = []  # uint8 fakes for swd

    def render(count: int, batch: int) -> Iterator[Tensor]:
        for images in _batched(lambda i: model.full_image(options.seed + i), n, options.batch, bar):
            if "swd" in names:
                pixels.append(to_uint8(images))
            yield images

    fakes: FeatureStats | None = None
    if names & {"fid", "kid", "diversity"}:
        assert extractor is not None
        fakes = fake_stats(render, extractor, n, batch=options.batch, keep_features=True)
    else:
        for _ in render(n, options.batch):
            pass
    generated = time.perf_counter() - start
    context: dict[str, Any] = {"size": model.full_size}
    rstats: FeatureStats | None = None
    if reals is not None and names & {"fid", "kid"}:
        assert extractor is not None
        t0 = time.perf_counter()
        rstats = real_stats(
            reals.source,
            extractor,
            protocol=AS_GIVEN,
            cache_dir=cache_dir,
            dataset_hash=reals.hash,
            keep_features="kid" in names,
            batch=options.batch,
            progress=run.real_progress(f"real features: {reals.count} images", reals.count),
        )
        generated += time.perf_counter() - t0
    if reals is not None:
        context["data_hash"] = reals.hash
    if "fid" in names:
        record = compute_metric("fid", make_fakes=fakes, real=rstats, extractor=extractor)
        emit({**record, **context}, generated)
    if "kid" in names:
        record = compute_metric(
            "kid",
            make_fakes=fakes,
            real=rstats,
            extractor=extractor,
            subset_size=1000,
            seed=options.seed,
        )
        emit({**record, **context}, generated)
    if "diversity" in names:
        record = compute_metric("diversity", make_fakes=fakes, extractor=extractor, distance="l2")
        emit({**record, "size": model.full_size}, generated)
    if "swd" in names:
        assert reals is not None
        record = compute_metric(
            "swd",
            make_fakes=lambda count, batch: iter(pixels),
            real=reals.source,
            num_fakes=n,
            batch=options.batch,
            seed=options.seed,
        )
        emit({**record, **context, "num_reals": reals.count}, generated)


def patch_fid(run: EvalRun, reals: RealImages) -> None:
    """Patch FID: N training-size patches at training positions (NCI: whole images) against one
    uniform random training-size crop of each real full image."""
    model, options = run.model, run.options
    n, p = options.num, model.patch_size
    bar = run.bar(f"patch-fid: {n} patches of {p} px", n)

    def make_fakes(count: int, batch: int) -> Iterator[Tensor]:
        return _batched(lambda i: model.patch(options.seed + i, i), count, batch, bar)

    record = compute_metric(
        "patch_fid",
        make_fakes=make_fakes,
        real=reals.source,
        extractor=run.features(),
        num_fakes=n,
        patch_size=p,
        patches_per_image=1,
        seed=options.seed,
        batch=options.batch,
        cache_dir=options.cache_dir,
        dataset_hash=reals.hash,
    )
    record.update(
        num_fakes=record["num_fake_patches"],
        num_reals=record["num_real_patches"],
        fake_patches="training positions" if not model.padded else "whole images",
        data_hash=reals.hash,
    )
    run.emit(record, 0.0)


def scaleinv_fid(run: EvalRun, reals: RealImages, scale: float) -> None:
    """ScaleInv FID at one scale, every mode of ``options.modes`` from the same generated images."""
    model, options, extractor = run.model, run.options, run.features()
    start = time.perf_counter()
    n, modes = options.num, options.modes
    real_res, full = model.real_res, model.full_size
    size = model.scaleinv_size(scale)
    bar = run.bar(
        f"scaleinv-fid@{format_scale(scale)} ({','.join(modes)}): {n} images of {size} px",
        n,
    )
    fakes: dict[str, FeatureStats] = {}
    pending: dict[str, list[Tensor]] = {mode: [] for mode in modes}

    def flush(mode: str) -> None:
        if not pending[mode]:
            return
        with torch.no_grad():
            features = extractor(torch.cat(pending[mode])).detach().to("cpu", torch.float64)
        if mode not in fakes:
            fakes[mode] = FeatureStats(features.shape[1])
        fakes[mode].update(features.numpy())
        pending[mode] = []

    for i in range(n):
        image = model.scaleinv_image(options.seed + i, scale)[None]
        for mode in modes:
            pending[mode].append(scaleinv_prepare(image, scale, real_res, full, mode))
            if len(pending[mode]) >= options.batch:
                flush(mode)
        bar.step()
    for mode in modes:
        flush(mode)
    seconds = time.perf_counter() - start
    for mode in modes:
        t0 = time.perf_counter()
        rstats = real_stats(
            reals.source,
            extractor,
            preprocess=lambda x, m=mode: scaleinv_prepare_real(x, real_res, m),
            protocol={"preprocess": "scaleinv_real", "real_res": real_res, "mode": mode},
            cache_dir=options.cache_dir,
            dataset_hash=reals.hash,
            batch=options.batch,
            progress=run.real_progress(
                f"real features ({mode}): {reals.count} images", reals.count
            ),
        )
        spent = seconds + time.perf_counter() - t0
        record = compute_metric(
            "scaleinv_fid",
            make_fakes=fakes[mode],
            real=rstats,
            extractor=extractor,
            scale=scale,
            real_res=real_res,
            full_size=full,
            mode=mode,
        )
        record.update(generated_size=size, data_hash=reals.hash)
        run.emit(record, spent)


def infinite_fid(run: EvalRun, reals: RealImages) -> None:
    """FID per distance bin of frames cut from long canvases (about N frames per bin)."""
    model, options = run.model, run.options
    frame = model.full_size
    per_bin = INFINITE_FRAMES // INFINITE_BINS
    canvases = math.ceil(options.num / per_bin)
    width = INFINITE_FRAMES * frame
    bar = run.bar(f"infinite-fid: {canvases} canvases of {frame}x{width} px", canvases)

    def make_fakes(count: int, batch: int) -> Iterator[Tensor]:
        return _batched(lambda i: model.render(options.seed + i, frame, width), count, batch, bar)

    record = compute_metric(
        "infinite_fid",
        make_fakes=make_fakes,
        real=reals.source,
        extractor=run.features(),
        num_canvases=canvases,
        frame=frame,
        bins=[b * per_bin * frame for b in range(INFINITE_BINS + 1)],
        batch=1,
        cache_dir=options.cache_dir,
        dataset_hash=reals.hash,
    )
    record.update(
        num_fakes=sum(b["num_frames"] for b in record["bins"]),
        frame=frame,
        canvas_width=width,
        data_hash=reals.hash,
    )
    run.emit(record, 0.0)


def seams(run: EvalRun) -> None:
    """Tiled against one-shot renders of min(N, 4) canvases of twice the full size."""
    model, options = run.model, run.options
    if model.padded:
        reason = (
            "the zero-padded StyleGAN2-NCI baseline renders only whole images; "
            "there are no tiles to compare"
        )
        run.emit({"metric": "seams", "skipped": reason}, 0.0)
        return
    from infinitygan.canvas import generate_region, image_framing, one_shot_region

    count = min(options.num, SEAM_CANVASES)
    size, tile = 2 * model.full_size, model.patch_size
    top, left = image_framing(size, size)
    bar = run.bar(f"seams: {count} canvases of {size} px, tiled and one-shot", count)

    def make_pairs(count: int) -> Iterator[tuple[Tensor, Tensor]]:
        for i in range(count):
            seed = options.seed + i
            tiled = generate_region(model.G, seed, top, left, size, size, tile=tile)
            yield tiled, one_shot_region(model.G, seed, top, left, size, size)
            bar.step()

    record = compute_metric("seams", make_pairs=make_pairs, num_canvases=count, tile=tile)
    run.emit({**record, "canvas_size": size}, 0.0)
