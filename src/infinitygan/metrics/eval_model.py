"""The model side of the evaluation: what MODEL names, and the renderings each protocol needs.

:func:`load_eval_model` resolves a generator file, a run folder, a bundled name or
``random:PRESET[:SEED]`` into an :class:`EvalModel`, whose methods render the images the metric
protocols of docs/evaluation.md ask for (full images, training-position patches, ScaleInv
images, long canvases). :func:`validate_scales` refuses ScaleInv scales the model cannot serve.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from infinitygan.checkpoint import (
    BUNDLED_DIR,
    RANDOM_PREFIX,
    load_generator,
    model_hash,
    resolve_model_folder,
    resolve_model_path,
)
from infinitygan.metrics.metric_requests import format_scale
from infinitygan.metrics.scaleinv import scaleinv_eval_res, scaleinv_request_size
from infinitygan.models import Generator

logger = logging.getLogger(__name__)

MAX_SCALEINV_SIDE = 8192  # px: largest image a ScaleInv scale may ask the generator for


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
        truncation: psi of every rendering (1: none; see ``canvas.generate_region``).
    """

    def __init__(
        self, G: Generator, spec: str = "", hash: str | None = None, truncation: float = 1.0
    ) -> None:
        from infinitygan.models.generator import check_truncation

        self.truncation = check_truncation(truncation)
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

            return generate_whole_image(self.G, seed, height, width, truncation=self.truncation)
        from infinitygan.canvas import generate_image

        return generate_image(self.G, seed, height, width, truncation=self.truncation)

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
        return generate_region(self.G, seed, top, left, p, p, truncation=self.truncation)


def _state_hash(G: Generator) -> str:
    digest = hashlib.sha256()
    for key, value in sorted(G.state_dict().items()):
        if key == "w_avg":  # the truncation centre: evaluation renders untruncated (psi = 1)
            continue
        digest.update(key.encode())
        digest.update(value.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def load_eval_model(
    spec: str, device: str = "cpu", truncation: float = 1.0
) -> tuple[EvalModel, ResolvedModel]:
    """Load MODEL (see :func:`resolve_eval_model`) for evaluation on ``device`` (renderings at
    ``truncation``).

    Raises:
        CheckpointError: no usable model there.
    """
    resolved = resolve_eval_model(spec)
    G = load_generator(resolved.source, device=device)
    model = EvalModel(G, spec=spec, hash=model_hash(resolved.source), truncation=truncation)
    return model, resolved


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
