"""Evaluation of generators: the glue between models, real images and :mod:`infinitygan.metrics`.

``infinitygan eval`` is a thin command over :func:`evaluate`. For every requested metric this
module builds the generated images the protocol asks for (docs/evaluation.md):

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

Fakes of seed ``seed + i`` are image ``i``; patch positions are keyed to ``(seed, i)``, so results
do not depend on the batch size. Every result is a dict (a *record*) appended to
``metric-<name>.jsonl`` with the model hash, N, mode, scale, seeds, time and software version.

The feature network is the TF-FID Inception
(:class:`~infinitygan.metrics.InceptionFeatureExtractor`). Tests and experiments replace it with
:func:`set_feature_extractor_factory`.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from infinitygan import __version__
from infinitygan.checkpoint import (
    BUNDLED_DIR,
    RANDOM_PREFIX,
    load_generator,
    model_hash,
    resolve_model_folder,
    resolve_model_path,
)
from infinitygan.metrics import (
    FeatureExtractor,
    FeatureStats,
    InceptionFeatureExtractor,
    append_metric_jsonl,
    compute_metric,
    fid_from_stats,
    hash_image_batches,
    kernel_inception_distance,
    mean_pairwise_distance,
    plot_scaleinv,
    psnr,
    read_metric_jsonl,
    real_stats,
    scaleinv_eval_res,
    scaleinv_prepare,
    scaleinv_prepare_real,
    scaleinv_request_size,
    seam_energy_ratio,
    sliced_wasserstein_distance,
    tile_consistency,
    to_uint8,
)
from infinitygan.models import Generator

logger = logging.getLogger(__name__)

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

SCALEINV_MODES: tuple[str, ...] = ("paper", "clean")
INFINITE_FRAMES = 8  # frames per long canvas
INFINITE_BINS = 4  # distance bins (2 frames each)
SEAM_CANVASES = 4  # canvases rendered twice for the seam metrics (or N, if smaller)
PLOT_FILE = "scaleinv.png"
MAX_SCALEINV_SIDE = 8192  # px: largest image a ScaleInv scale may ask the generator for

FEATURE_METRICS = frozenset(
    {"fid", "kid", "diversity", "patch-fid", "scaleinv-fid", "infinite-fid"}
)
"""Metrics that need the feature network (``swd`` and ``seams`` work on pixels)."""


def needs_features(metrics: Sequence[MetricRequest]) -> bool:
    """Whether any requested metric needs the feature network (the Inception weights)."""
    return any(m.name in FEATURE_METRICS for m in metrics)


ProgressFn = Callable[[str, int, int], None]
"""``progress(label, done, total)``, called as images are produced."""

ExtractorFactory = Callable[[str | None, str], FeatureExtractor]
"""``factory(inception_path_or_None, device) -> feature extractor``."""

_extractor_factory: ExtractorFactory | None = None


# ---------------------------------------------------------------------------------------------
# Feature network hook


def set_feature_extractor_factory(factory: ExtractorFactory | None) -> ExtractorFactory | None:
    """Replace the feature network used by :func:`make_feature_extractor` (and the CLI).

    The factory is called as ``factory(inception_path, device)`` and must return a callable
    ``[B, 3, H, W] -> [B, D]`` (float ``[-1, 1]`` or uint8 input). Give it a ``cache_id`` string
    attribute so that its real-image statistics never share a cache entry with Inception's. Tests
    use this to inject a small random network; ``None`` restores the Inception network.

    Returns:
        The previous factory (``None`` for the default).
    """
    global _extractor_factory
    previous = _extractor_factory
    _extractor_factory = factory
    return previous


def make_feature_extractor(inception: str | None = None, device: str = "cpu") -> FeatureExtractor:
    """The feature network: the installed hook, else the TF-FID Inception.

    Raises:
        FileNotFoundError: the Inception weights are not installed (the message says how).
    """
    if _extractor_factory is not None:
        return _extractor_factory(inception, device)
    return InceptionFeatureExtractor(inception, device=device)


def extractor_id(extractor: FeatureExtractor) -> str:
    """What identifies the extractor in records and cache keys."""
    return str(getattr(extractor, "cache_id", type(extractor).__name__))


# ---------------------------------------------------------------------------------------------
# Metric requests


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


# ---------------------------------------------------------------------------------------------
# Models


@dataclass(frozen=True)
class ResolvedModel:
    """Where a MODEL argument points.

    Attributes:
        spec: the argument as given.
        source: the generator file, or a ``random:PRESET[:SEED]`` spec.
        run_dir: the training run folder, when the argument was one.
        default_out: where records go by default (the run folder, or the model file's folder;
            ``None`` for bundled and random models).
    """

    spec: str
    source: Path | str
    run_dir: Path | None = None
    default_out: Path | None = None


def resolve_eval_model(spec: str | os.PathLike[str]) -> ResolvedModel:
    """Resolve a generator file, a run folder (its latest EMA generator), a snapshot folder, a
    bundled model name or ``random:PRESET[:SEED]``.

    Raises:
        CheckpointError: nothing usable there (the message says what was expected).
    """
    text = os.fspath(spec)
    path = Path(text).expanduser()
    if not text.startswith(RANDOM_PREFIX) and path.is_dir():
        source, run_dir = resolve_model_folder(path)
        return ResolvedModel(text, source, run_dir, path)
    resolved = resolve_model_path(text)
    if isinstance(resolved, str):
        return ResolvedModel(text, resolved, None, None)
    bundled = resolved.resolve().parent == BUNDLED_DIR.resolve()
    return ResolvedModel(text, resolved, None, None if bundled else resolved.parent)


def run_training_data(run_dir: Path) -> tuple[str, int] | None:
    """``(data, seed)`` of a training run folder (from its ``training_options.json``), if any."""
    from infinitygan.train.runs import OPTIONS_FILE

    path = run_dir / OPTIONS_FILE
    if not path.is_file():
        return None
    try:
        options = json.loads(path.read_text(encoding="utf-8"))
        return str(options["data"]), int(options["train"]["seed"])
    except (ValueError, KeyError, TypeError):
        logger.warning("%s is unreadable; not using its data settings", path)
        return None


def model_kind(G: Generator) -> str:
    """``"stylegan2-nci"`` (zero-padded), ``"stylegan2-nci-fcg"`` (padding-free, no structure
    synthesizer) or ``"infinitygan"``."""
    if G.geometry.padded:
        return "stylegan2-nci"
    if G.config.structure.num_layers == 0:
        return "stylegan2-nci-fcg"
    return "infinitygan"


def _point_key(*parts: int) -> int:
    digest = hashlib.blake2b(
        b"".join(int(p).to_bytes(8, "little", signed=True) for p in parts), digest_size=8
    )
    return int.from_bytes(digest.digest(), "little")


class EvalModel:
    """A generator with the renderings the protocols need.

    Args:
        G: the generator (its parameters' device is used).
        spec: how the model was named (recorded).
        hash: content hash of the model (recorded); default: hash of the weights in memory.
    """

    def __init__(self, G: Generator, spec: str = "", hash: str | None = None) -> None:
        self.G = G.eval()
        self.config = G.config
        self.geometry = G.geometry
        self.spec = spec or self.config.name
        self.hash = hash or _state_hash(G)

    @property
    def kind(self) -> str:
        return model_kind(self.G)

    @property
    def padded(self) -> bool:
        """True for the zero-padded StyleGAN2-NCI baseline (whole images only)."""
        return self.geometry.padded

    @property
    def full_size(self) -> int:
        return self.config.full_size

    @property
    def patch_size(self) -> int:
        return self.config.patch_size

    @property
    def real_res(self) -> int:
        """Resolution of the ScaleInv reals: ``pre_resize`` (128 for paper-101), else
        ``full_size`` (the baselines trained on whole 128-px images)."""
        return self.config.pre_resize or self.config.full_size

    def scaleinv_request(self, scale: float) -> int:
        """Side the ScaleInv protocol asks for at ``scale`` (197 s for paper-101, 128 s for NCI)."""
        return scaleinv_request_size(scale, self.real_res, self.full_size)

    def scaleinv_size(self, scale: float) -> int:
        """Side actually rendered: the request, or for NCI the next multiple of its cell size."""
        request = self.scaleinv_request(scale)
        if self.padded:
            return self.geometry.texture_out(self.geometry.texture_in(request))
        return request

    # -- renderings: all return [3, H, W] float32 CPU, about [-1, 1] -------------------------
    def render(self, seed: int, height: int, width: int) -> Tensor:
        """The ``height x width`` image of ``seed`` centred on the horizon (InfinityGAN framing);
        NCI renders an enlarged latent and centre-crops it."""
        if self.padded:
            from infinitygan.baselines import generate_whole_image

            return generate_whole_image(self.G, seed, height, width)
        from infinitygan.canvas import generate_image

        return generate_image(self.G, seed, height, width)

    def full_image(self, seed: int) -> Tensor:
        """``[3, full_size, full_size]``: the field of view of one training image."""
        return self.render(seed, self.full_size, self.full_size)

    def scaleinv_image(self, seed: int, scale: float) -> Tensor:
        """``[3, S, S]`` with ``S = scaleinv_size(scale)``: ``scale`` times the field of view."""
        size = self.scaleinv_size(scale)
        return self.render(seed, size, size)

    def patch_position(self, seed: int, index: int) -> tuple[int, int]:
        """Canvas ``(top, left)`` of training-like patch ``index`` of ``seed``.

        The window offset is one of the ``V`` training positions (uniform) plus a uniform
        integer jitter within one structure cell; the column is uniform over the period.
        """
        from infinitygan.canvas import period_pixels

        rng = np.random.default_rng(_point_key(0x50415443, seed, index))
        v = self.config.coords.vertical_positions
        scale = self.geometry.scale
        k = int(rng.integers(v))
        jitter = int(rng.integers(-(scale // 2), scale - scale // 2))
        top = scale * (k - v // 2) - self.patch_size // 2 + jitter
        left = int(rng.integers(period_pixels(self.G)))
        return top, left

    def patch(self, seed: int, index: int) -> Tensor:
        """Training-size patch ``[3, P, P]`` (NCI: the whole image, as it trains on those)."""
        if self.padded:
            return self.full_image(seed)
        from infinitygan.canvas import generate_region

        top, left = self.patch_position(seed, index)
        p = self.patch_size
        return generate_region(self.G, seed, top, left, p, p)


def _state_hash(G: Generator) -> str:
    digest = hashlib.sha256()
    for key, value in sorted(G.state_dict().items()):
        if key == "w_avg":  # the truncation centre: evaluation renders untruncated (psi = 1)
            continue
        digest.update(key.encode())
        digest.update(value.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def load_eval_model(spec: str, device: str = "cpu") -> tuple[EvalModel, ResolvedModel]:
    """Load MODEL (see :func:`resolve_eval_model`) for evaluation on ``device``.

    Raises:
        CheckpointError: no usable model there.
    """
    resolved = resolve_eval_model(spec)
    G = load_generator(resolved.source, device=device)
    return EvalModel(G, spec=spec, hash=model_hash(resolved.source)), resolved


# ---------------------------------------------------------------------------------------------
# Real images


@dataclass(frozen=True)
class RealImages:
    """The first ``count`` images of a dataset in one view, with their content hash.

    Attributes:
        spec: dataset name or path.
        size: side of the images (the view: centre square, optional pre-resize, resize).
        count: number of images.
        hash: SHA-256 of the images' dtype, shape and bytes.
        source: zero-argument callable returning a fresh iterator of ``[B, 3, size, size]``
            float batches in ``[-1, 1]`` (exact 8-bit values).
    """

    spec: str
    size: int
    count: int
    hash: str
    source: Callable[[], Iterator[Tensor]] = field(repr=False, compare=False)


def open_real_images(
    data: str,
    size: int,
    count: int,
    *,
    pre_resize: int | None,
    patch_size: int,
    data_seed: int = 0,
    batch: int = 32,
) -> RealImages:
    """The first ``count`` full images of ``data`` at ``size`` px (fewer if the dataset is
    smaller), hashed by content.

    Args:
        data: a dataset name (``synthetic``, ``landscapes``) or a folder/.zip/.tar path.
        size: output side (the ``full_size`` of the training view, or the ScaleInv real
            resolution with ``pre_resize=None``).
        count: images wanted.
        pre_resize: LANCZOS resize of the centre square before ``size`` (as in training).
        patch_size: the model's patch size (only validates the data config).
        data_seed: content seed of procedural sources (the training ``--seed``).
        batch: images per yielded batch.

    Raises:
        FileNotFoundError, DataError: the dataset cannot be opened.
    """
    from infinitygan.data import DataConfig, open_dataset

    config = DataConfig(
        patch_size=min(patch_size, size), full_size=size, pre_resize=pre_resize, use_hflip=False
    )
    dataset = open_dataset(data, config, seed=data_seed)
    count = min(count, len(dataset))

    def source() -> Iterator[Tensor]:
        for start in range(0, count, batch):
            stop = min(count, start + batch)
            yield torch.stack([dataset.full_image(i) for i in range(start, stop)])

    return RealImages(data, size, count, hash_image_batches(source), source)


# ---------------------------------------------------------------------------------------------
# Options and records


@dataclass(frozen=True)
class EvalOptions:
    """Settings of one evaluation.

    Attributes:
        num: generated images per metric (N): patches for patch FID, frames per distance bin
            for infinite FID.
        num_reals: real images (default: ``num``); capped by the dataset size.
        modes: ScaleInv preprocessing modes (``paper`` and/or ``clean``).
        batch: images per feature-extractor call.
        seed: fakes use canvas seeds ``seed, seed + 1, ...``; also seeds patch draws and KID/SWD.
        data_seed: content seed of procedural datasets (the training seed).
        cache_dir: real-statistics cache (``None``: no cache).
        label: free text stored in every record (e.g. a benchmark series name).
    """

    num: int = 500
    num_reals: int | None = None
    modes: tuple[str, ...] = ("paper",)
    batch: int = 16
    seed: int = 0
    data_seed: int = 0
    cache_dir: Path | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        if self.num < 2:
            raise ValueError(f"the number of generated images must be at least 2, got {self.num}")
        if self.num_reals is not None and self.num_reals < 2:
            raise ValueError(f"the number of real images must be at least 2, got {self.num_reals}")
        if self.batch < 1:
            raise ValueError(f"batch must be positive, got {self.batch}")
        if not self.modes or any(m not in SCALEINV_MODES for m in self.modes):
            raise ValueError(f"modes must be from {SCALEINV_MODES}, got {self.modes}")


def default_cache_dir() -> Path:
    """``$INFINITYGAN_CACHE/fid-stats``, else ``$XDG_CACHE_HOME/infinitygan/fid-stats`` (or
    ``~/.cache/infinitygan/fid-stats``)."""
    root = os.environ.get("INFINITYGAN_CACHE")
    if root:
        return Path(root).expanduser() / "fid-stats"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(xdg).expanduser() / "infinitygan" / "fid-stats"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class _Progress:
    def __init__(self, progress: ProgressFn | None, label: str, total: int) -> None:
        self.progress, self.label, self.total, self.done = progress, label, total, 0
        self.step(0)

    def step(self, count: int = 1) -> None:
        self.done += count
        if self.progress is not None:
            self.progress(self.label, self.done, self.total)


def _real_progress(progress: ProgressFn | None, label: str, total: int):
    """Adapts ``progress(label, done, total)`` to the features' ``(done, total)`` callback (not
    called at all when the statistics come from the cache)."""
    if progress is None:
        return None
    return lambda done, _total=None: progress(label, done, total)


def validate_scales(model: EvalModel, scales: Sequence[float]) -> None:
    """Check that every scale gives whole pixels for this model.

    Raises:
        ValueError: naming the bad scale and the model's real resolution.
    """
    for scale in scales:
        try:
            scaleinv_eval_res(scale, model.real_res)
        except ValueError:
            raise ValueError(
                f"scale {format_scale(scale)} gives {model.real_res} * {format_scale(scale)} = "
                f"{model.real_res * scale:g} px at this model's real resolution "
                f"({model.real_res} px); use scales s with {model.real_res} * s a whole number, "
                "e.g. 1,2,4,8"
            ) from None
        side = model.scaleinv_size(scale) if scale > 0 else 0
        if side > MAX_SCALEINV_SIDE:
            largest = MAX_SCALEINV_SIDE // model.full_size
            raise ValueError(
                f"scale {format_scale(scale)} asks the model for {side}x{side} px images "
                f"(about {side * side * 12 / 2**30:.0f} GiB each as floats); scales up to "
                f"{largest} ({MAX_SCALEINV_SIDE} px) are supported for this model"
            )


# ---------------------------------------------------------------------------------------------
# The evaluation


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
        metrics: from :func:`parse_metrics`.
        extractor: feature network (:func:`make_feature_extractor`); may be None when no
            metric needs it (:func:`needs_features`: ``swd`` and ``seams`` only).
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
    cache_dir = options.cache_dir
    out = Path(out_dir) if out_dir is not None else None
    base = {
        "model": model.spec,
        "model_name": model.config.name,
        "model_kind": model.kind,
        "model_hash": model.hash,
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

    def emit(record: dict[str, Any], seconds: float | None = None) -> None:
        full = {**record, **{k: v for k, v in base.items() if k not in record}}
        full.setdefault("time", _now())
        if seconds is not None:
            full.setdefault("seconds", round(seconds, 3))
        records.append(full)
        if out is not None and "skipped" not in full:
            append_metric_jsonl(out, full)
        if on_record is not None:
            on_record(full)

    full_reals: RealImages | None = None
    if names & {"fid", "kid", "swd", "patch-fid", "infinite-fid"}:
        full_reals = open_real_images(
            data,
            model.full_size,
            num_reals,
            pre_resize=model.config.pre_resize,
            patch_size=model.patch_size,
            data_seed=options.data_seed,
            batch=options.batch,
        )
        _check_reals(full_reals)

    if names & {"fid", "kid", "diversity", "swd"}:
        _full_image_metrics(model, full_reals, names, extractor, options, cache_dir, emit, progress)
    if "patch-fid" in names:
        assert full_reals is not None
        _patch_fid(model, full_reals, extractor, options, cache_dir, emit, progress)
    if "scaleinv-fid" in names:
        small_reals = open_real_images(
            data,
            model.real_res,
            num_reals,
            pre_resize=None,
            patch_size=model.patch_size,
            data_seed=options.data_seed,
            batch=options.batch,
        )
        _check_reals(small_reals)
        for scale in scales:
            _scaleinv(model, small_reals, scale, extractor, options, cache_dir, emit, progress)
        if out is not None:
            plot_model_scaleinv(out, model.hash)
    if "infinite-fid" in names:
        assert full_reals is not None
        _infinite_fid(model, full_reals, extractor, options, cache_dir, emit, progress)
    if "seams" in names:
        _seams(model, options, emit, progress)
    return records


def _check_reals(reals: RealImages) -> None:
    if reals.count < 2:
        raise ValueError(f"dataset {reals.spec!r} has {reals.count} image(s); FID needs at least 2")


def _stats_of(
    batches: Iterator[Tensor], extractor: FeatureExtractor, keep_features: bool
) -> FeatureStats:
    stats: FeatureStats | None = None
    for images in batches:
        with torch.no_grad():
            features = extractor(images).detach().to("cpu", torch.float64).numpy()
        if stats is None:
            stats = FeatureStats(features.shape[1], keep_features=keep_features)
        stats.update(features)
    assert stats is not None
    return stats


def _batched(render: Callable[[int], Tensor], count: int, batch: int, bar: _Progress):
    for start in range(0, count, batch):
        images = []
        for i in range(start, min(count, start + batch)):
            images.append(render(i))
            bar.step()
        yield torch.stack(images)


_AS_GIVEN = {"preprocess": "as_given"}  # same protocol as the registry's fid/kid/infinite_fid


def _full_image_metrics(
    model: EvalModel,
    reals: RealImages | None,
    names: set[str],
    extractor: FeatureExtractor,
    options: EvalOptions,
    cache_dir: Path | None,
    emit: Callable[..., None],
    progress: ProgressFn | None,
) -> None:
    """fid, kid, diversity and swd from one set of full-size fakes."""
    start = time.perf_counter()
    n = options.num
    label = "/".join(sorted(names & {"fid", "kid", "diversity", "swd"}))
    bar = _Progress(progress, f"{label}: {n} images of {model.full_size} px", n)
    need_features = bool(names & {"fid", "kid", "diversity"})
    keep_pixels = "swd" in names
    pixels: list[Tensor] = []

    def batches() -> Iterator[Tensor]:
        for images in _batched(lambda i: model.full_image(options.seed + i), n, options.batch, bar):
            if keep_pixels:
                pixels.append(to_uint8(images))
            yield images

    if need_features:
        fakes = _stats_of(batches(), extractor, keep_features=True)
    else:
        for _ in batches():
            pass
    generated = time.perf_counter() - start
    info = {"size": model.full_size, "num_fakes": n}
    rstats = None
    if reals is not None and names & {"fid", "kid"}:
        t0 = time.perf_counter()
        rstats = real_stats(
            reals.source,
            extractor,
            protocol=_AS_GIVEN,
            cache_dir=cache_dir,
            dataset_hash=reals.hash,
            keep_features="kid" in names,
            batch=options.batch,
            progress=_real_progress(progress, f"real features: {reals.count} images", reals.count),
        )
        generated += time.perf_counter() - t0
        info.update(num_reals=rstats.count, data_hash=reals.hash)
    if "fid" in names:
        assert rstats is not None
        emit({"metric": "fid", "fid": fid_from_stats(rstats, fakes), **info}, generated)
    if "kid" in names:
        assert rstats is not None
        t0 = time.perf_counter()
        kid = kernel_inception_distance(
            rstats.features, fakes.features, subset_size=1000, seed=options.seed
        )
        record = {
            "metric": "kid",
            "kid_mean": kid.mean,
            "kid_std": kid.std,
            "subset_size": kid.subset_size,
            "num_subsets": kid.num_subsets,
            **info,
        }
        emit(record, generated + time.perf_counter() - t0)
    if "diversity" in names:
        t0 = time.perf_counter()
        value = mean_pairwise_distance(fakes.features, "l2")
        record = {
            "metric": "diversity",
            "diversity": value,
            "distance": "l2",
            "size": model.full_size,
            "num_fakes": n,
        }
        emit(record, generated + time.perf_counter() - t0)
    if "swd" in names:
        assert reals is not None
        t0 = time.perf_counter()
        result = sliced_wasserstein_distance(reals.source, torch.cat(pixels), seed=options.seed)
        record = {
            "metric": "swd",
            "swd_mean": result.mean,
            "swd_per_level": list(result.per_level),
            "resolutions": [list(r) for r in result.resolutions],
            "size": model.full_size,
            "num_fakes": n,
            "num_reals": reals.count,
            "data_hash": reals.hash,
        }
        emit(record, generated + time.perf_counter() - t0)


def _patch_fid(
    model: EvalModel,
    reals: RealImages,
    extractor: FeatureExtractor,
    options: EvalOptions,
    cache_dir: Path | None,
    emit: Callable[..., None],
    progress: ProgressFn | None,
) -> None:
    n, p = options.num, model.patch_size
    bar = _Progress(progress, f"patch-fid: {n} patches of {p} px", n)

    def make_fakes(count: int, batch: int) -> Iterator[Tensor]:
        return _batched(lambda i: model.patch(options.seed + i, i), count, batch, bar)

    record = compute_metric(
        "patch_fid",
        make_fakes=make_fakes,
        real=reals.source,
        extractor=extractor,
        num_fakes=n,
        patch_size=p,
        patches_per_image=1,
        seed=options.seed,
        batch=options.batch,
        cache_dir=cache_dir,
        dataset_hash=reals.hash,
    )
    record.update(
        num_fakes=record["num_fake_patches"],
        num_reals=record["num_real_patches"],
        fake_patches="training positions" if not model.padded else "whole images",
        data_hash=reals.hash,
    )
    emit(record)


def _scaleinv(
    model: EvalModel,
    reals: RealImages,
    scale: float,
    extractor: FeatureExtractor,
    options: EvalOptions,
    cache_dir: Path | None,
    emit: Callable[..., None],
    progress: ProgressFn | None,
) -> None:
    """ScaleInv FID at one scale, every mode from the same generated images."""
    start = time.perf_counter()
    n, modes = options.num, options.modes
    real_res, full = model.real_res, model.full_size
    request, size = model.scaleinv_request(scale), model.scaleinv_size(scale)
    bar = _Progress(
        progress,
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
            cache_dir=cache_dir,
            dataset_hash=reals.hash,
            batch=options.batch,
            progress=_real_progress(
                progress, f"real features ({mode}): {reals.count} images", reals.count
            ),
        )
        record = {
            "metric": "scaleinv_fid",
            "fid": fid_from_stats(rstats, fakes[mode]),
            "scale": scale,
            "mode": mode,
            "real_res": real_res,
            "full_size": full,
            "request_size": request,
            "generated_size": size,
            "num_fakes": fakes[mode].count,
            "num_reals": rstats.count,
            "data_hash": reals.hash,
        }
        emit(record, seconds + time.perf_counter() - t0)


def _infinite_fid(
    model: EvalModel,
    reals: RealImages,
    extractor: FeatureExtractor,
    options: EvalOptions,
    cache_dir: Path | None,
    emit: Callable[..., None],
    progress: ProgressFn | None,
) -> None:
    frame = model.full_size
    per_bin = INFINITE_FRAMES // INFINITE_BINS
    canvases = math.ceil(options.num / per_bin)
    width = INFINITE_FRAMES * frame
    bar = _Progress(progress, f"infinite-fid: {canvases} canvases of {frame}x{width} px", canvases)

    def make_fakes(count: int, batch: int) -> Iterator[Tensor]:
        return _batched(lambda i: model.render(options.seed + i, frame, width), count, batch, bar)

    record = compute_metric(
        "infinite_fid",
        make_fakes=make_fakes,
        real=reals.source,
        extractor=extractor,
        num_canvases=canvases,
        frame=frame,
        bins=[b * per_bin * frame for b in range(INFINITE_BINS + 1)],
        batch=1,
        cache_dir=cache_dir,
        dataset_hash=reals.hash,
    )
    record.update(
        num_fakes=sum(b["num_frames"] for b in record["bins"]),
        frame=frame,
        canvas_width=width,
        data_hash=reals.hash,
    )
    emit(record)


def _seams(
    model: EvalModel, options: EvalOptions, emit: Callable[..., None], progress: ProgressFn | None
) -> None:
    if model.padded:
        emit(
            {
                "metric": "seams",
                "skipped": "the zero-padded StyleGAN2-NCI baseline renders only whole images; "
                "there are no tiles to compare",
            }
        )
        return
    from infinitygan.canvas import generate_region, image_framing, one_shot_region

    start = time.perf_counter()
    count = min(options.num, SEAM_CANVASES)
    size, tile = 2 * model.full_size, model.patch_size
    top, left = image_framing(size, size)
    bar = _Progress(progress, f"seams: {count} canvases of {size} px, tiled and one-shot", count)
    diffs, psnrs, ratios, reference = [], [], [], []
    for i in range(count):
        seed = options.seed + i
        tiled = generate_region(model.G, seed, top, left, size, size, tile=tile)
        whole = one_shot_region(model.G, seed, top, left, size, size)
        diffs.append(tile_consistency(tiled, whole))
        psnrs.append(psnr(tiled, whole))
        ratios.append(seam_energy_ratio(tiled, tile))
        reference.append(seam_energy_ratio(whole, tile))
        bar.step()
    record = {
        "metric": "seams",
        "max_abs_diff": max(diffs),
        "min_psnr": min(psnrs),
        "seam_energy_ratio": float(np.mean(ratios)),
        "seam_energy_ratio_one_shot": float(np.mean(reference)),
        "canvas_size": size,
        "tile_size": tile,
        "num_fakes": count,
    }
    emit(record, time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------
# Reporting


def plot_model_scaleinv(out_dir: str | os.PathLike[str], hash: str) -> Path | None:
    """Redraw ``<out_dir>/scaleinv.png`` from the ScaleInv records of the model ``hash``.

    The latest record per (data, mode, N, scale) is plotted, one line per (data, mode, N).

    Returns:
        The PNG path, or ``None`` when there are no records to plot.
    """
    path = Path(out_dir) / "metric-scaleinv_fid.jsonl"
    if not path.is_file():
        return None
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for record in read_metric_jsonl(path):
        if record.get("model_hash") != hash or record.get("fid") is None:
            continue
        key = (record.get("data"), record.get("mode"), record.get("num"), record.get("scale"))
        latest[key] = record
    if not latest:
        return None
    datas = {k[0] for k in latest}
    points = []
    for (data, mode, num, _), record in latest.items():
        label = f"{mode}, N={num}" + (f", {data}" if len(datas) > 1 else "")
        points.append({"scale": record["scale"], "fid": record["fid"], "label": label})
    name = next(iter(latest.values())).get("model_name", "model")
    return plot_scaleinv(points, Path(out_dir) / PLOT_FILE, title=f"ScaleInv FID: {name}")


def format_record(record: Mapping[str, Any]) -> str:
    """One human-readable line per record, with N beside every number."""
    metric = record.get("metric", "?")
    if "skipped" in record:
        return f"{metric}: skipped ({record['skipped']})"
    if metric == "fid":
        return (
            f"fid: {record['fid']:.2f}  (N={record['num_fakes']} fakes vs "
            f"{record['num_reals']} reals, {record['size']} px)"
        )
    if metric == "kid":
        return (
            f"kid: {record['kid_mean']:.5f} +- {record['kid_std']:.5f}  (N={record['num_fakes']} "
            f"fakes vs {record['num_reals']} reals, subsets of {record['subset_size']})"
        )
    if metric == "patch_fid":
        return (
            f"patch-fid: {record['fid']:.2f}  (N={record['num_fakes']} patches of "
            f"{record['patch_size']} px vs {record['num_reals']} real patches)"
        )
    if metric == "scaleinv_fid":
        return (
            f"scaleinv-fid@{format_scale(record['scale'])} [{record['mode']}]: "
            f"{record['fid']:.2f}  (N={record['num_fakes']} fakes of "
            f"{record['generated_size']} px -> {record['real_res']} px vs "
            f"{record['num_reals']} reals)"
        )
    if metric == "swd":
        levels = ", ".join(f"{v:.1f}" for v in record["swd_per_level"])
        return (
            f"swd: {record['swd_mean']:.2f} x1e-3 (levels {levels})  (N={record['num_fakes']} "
            f"fakes vs {record['num_reals']} reals)"
        )
    if metric == "diversity":
        return (
            f"diversity: {record['diversity']:.3f}  (mean pairwise L2 of features, "
            f"N={record['num_fakes']} seeds)"
        )
    if metric == "infinite_fid":
        parts = []
        for b in record["bins"]:
            fid = "n/a" if b["fid"] is None or not math.isfinite(b["fid"]) else f"{b['fid']:.2f}"
            parts.append(f"{b['start']}-{b['stop']} px: {fid} (N={b['num_frames']})")
        return f"infinite-fid: {'; '.join(parts)}  (vs {record['num_reals']} reals)"
    if metric == "seams":
        return (
            f"seams: max |tiled - one-shot| = {record['max_abs_diff']:.2e}, PSNR >= "
            f"{record['min_psnr']:.1f} dB, seam energy ratio {record['seam_energy_ratio']:.3f} "
            f"(one-shot {record['seam_energy_ratio_one_shot']:.3f})  (N={record['num_fakes']} "
            f"canvases of {record['canvas_size']} px, tiles of {record['tile_size']} px)"
        )
    return json.dumps(dict(record))


__all__ = [
    "DEFAULT_SCALES",
    "METRICS",
    "EvalModel",
    "EvalOptions",
    "MetricRequest",
    "RealImages",
    "ResolvedModel",
    "default_cache_dir",
    "evaluate",
    "extractor_id",
    "format_record",
    "format_scale",
    "load_eval_model",
    "make_feature_extractor",
    "needs_features",
    "model_kind",
    "open_real_images",
    "parse_metrics",
    "plot_model_scaleinv",
    "resolve_eval_model",
    "run_training_data",
    "set_feature_extractor_factory",
    "validate_scales",
]
