"""Training configuration: frozen dataclasses with a strict JSON round trip.

``TrainConfig`` holds the algorithm (losses, optimiser, schedule); ``RunConfig`` adds what a run
needs around it (model, data, device, output cadence). Both are written to the run folder as
``training_options.json`` and read back by ``--resume``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from infinitygan.config import ModelConfig, check_keys

Precision = Literal["fp32", "tf32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = ("fp32", "tf32", "bf16", "fp16")
PATH_LENGTH_MODES: tuple[str, ...] = ("stylegan2", "official")


@dataclass(frozen=True)
class TrainConfig:
    """Losses, optimiser and schedule (defaults: the paper model, reference-spec §5.3-5.5).

    Attributes:
        batch: global batch (all ranks together), even (diversity pairs).
        batch_gpu: samples per forward pass on one rank; ``batch / world_size`` when None. A
            smaller value accumulates gradients over several rounds (same result, less memory).
        lr: base Adam learning rate (0.002), scaled per network for lazy regularisation.
        beta2: base Adam beta2 (0.99); beta1 is 0.
        r1_gamma, r1_interval: R1 weight gamma (10) and lazy interval (16 steps).
        pl_weight, pl_interval: path-length weight (2) and lazy interval (4 steps).
        pl_batch_shrink: the path-length batch is ``batch_gpu // pl_batch_shrink`` (half).
        pl_decay: running-mean decay of the path length (0.01).
        pl_mode: path-length definition, "stylegan2" (sum over w_dim, mean over layers) or
            "official" (mean over both). See :func:`infinitygan.train.losses.path_lengths`.
        coord_weight: weight of the coordinate L1 loss for D (real and fake) and G (1).
        diversity_weight, diversity_eps: mode-seeking loss weight (1) and ratio epsilon.
        style_mixing: probability that a pair uses two global latents for the texture styles.
        ema_half_life_images: EMA half-life in images (5000 = official 0.5 ** (32/10000) at 16).
        ema_rampup: cap the half-life at ``ema_rampup * images_seen`` (None: never).
        seed: seeds initialisation, latents, coordinates, noise and the data order.
        augment: DiffAugment policy of every discriminator input, a comma list of ``color``,
            ``translation``, ``cutout`` (:mod:`infinitygan.train.augment`); "" = none (the
            paper's setting). Helps small datasets, where D otherwise memorises the reals.
        loss: adversarial loss, ``"logistic"`` (non-saturating, the paper's) or ``"hinge"``.
        d_warmup_kimg: train only the discriminator (G, G_ema and ``w_avg`` frozen, no G or
            path-length step) for the first this-many thousand images. 0 (the paper) = none.
            Meant for fine-tuning a generator with a fresh discriminator (``--init`` of a model
            without a discriminator file): a fresh D gives G useless gradients until it has
            learned what G's images look like.
    """

    batch: int = 16
    batch_gpu: int | None = None
    lr: float = 0.002
    beta2: float = 0.99
    r1_gamma: float = 10.0
    r1_interval: int = 16
    pl_weight: float = 2.0
    pl_interval: int = 4
    pl_batch_shrink: int = 2
    pl_decay: float = 0.01
    pl_mode: str = "stylegan2"
    coord_weight: float = 1.0
    diversity_weight: float = 1.0
    diversity_eps: float = 1e-5
    style_mixing: float = 0.9
    ema_half_life_images: float = 5000.0
    ema_rampup: float | None = 0.05
    seed: int = 0
    augment: str = ""
    loss: str = "logistic"
    d_warmup_kimg: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.batch, int) or self.batch < 2 or self.batch % 2:
            raise ValueError(
                "TrainConfig.batch must be an even integer >= 2 (diversity pairs), "
                f"got {self.batch}"
            )
        if self.batch_gpu is not None and (self.batch_gpu < 2 or self.batch_gpu % 2):
            raise ValueError(
                f"TrainConfig.batch_gpu must be an even integer >= 2, got {self.batch_gpu}"
            )
        for name in ("lr", "ema_half_life_images"):
            if getattr(self, name) <= 0:
                raise ValueError(f"TrainConfig.{name} must be > 0, got {getattr(self, name)}")
        for name in ("r1_gamma", "pl_weight", "coord_weight", "diversity_weight", "d_warmup_kimg"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("r1_interval", "pl_interval", "pl_batch_shrink"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be an integer >= 1")
        if not 0 <= self.style_mixing <= 1:
            raise ValueError(f"TrainConfig.style_mixing must be in [0, 1], got {self.style_mixing}")
        if not 0 <= self.beta2 < 1:
            raise ValueError(f"TrainConfig.beta2 must be in [0, 1), got {self.beta2}")
        from infinitygan.train.augment import parse_policy

        object.__setattr__(self, "augment", ",".join(parse_policy(self.augment)))
        if self.pl_mode not in PATH_LENGTH_MODES:
            raise ValueError(
                f"TrainConfig.pl_mode must be one of {PATH_LENGTH_MODES}, got {self.pl_mode!r}"
            )
        if not 0 <= self.seed <= 2**63 - 1:  # packed as a signed 64-bit integer
            raise ValueError(
                f"TrainConfig.seed must be from 0 to {2**63 - 1} (64 bits), got {self.seed}"
            )
        from infinitygan.train.losses import ADVERSARIAL_LOSSES

        if self.loss not in ADVERSARIAL_LOSSES:
            raise ValueError(
                f"TrainConfig.loss must be one of {', '.join(ADVERSARIAL_LOSSES)}, "
                f"got {self.loss!r}"
            )


@dataclass(frozen=True)
class InitSource:
    """The weights a fine-tuning run (``infinitygan train --init MODEL``) starts from.

    Recorded in ``training_options.json`` so that ``--resume`` of a run without a snapshot yet
    applies the same weights again (after checking that the files did not change). Paths are
    absolute; each file's SHA-256 is recorded beside it. See :mod:`infinitygan.train.init`.

    Attributes:
        model: MODEL as given (a bundled name, a generator file, a run or snapshot folder).
        generator: the file G's weights come from.
        generator_sha256: its SHA-256.
        generator_ema: the file G_ema's weights come from (``generator`` for a generator file).
        generator_ema_sha256: its SHA-256.
        discriminator: the file D's weights come from; None: D started from scratch (MODEL had
            no discriminator file).
        discriminator_sha256: its SHA-256 (None with ``discriminator``).
    """

    model: str
    generator: str
    generator_sha256: str
    generator_ema: str
    generator_ema_sha256: str
    discriminator: str | None = None
    discriminator_sha256: str | None = None

    def __post_init__(self) -> None:
        if (self.discriminator is None) != (self.discriminator_sha256 is None):
            raise ValueError(
                "InitSource.discriminator and InitSource.discriminator_sha256 are given together"
            )


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs: model, algorithm, data and output cadence.

    Attributes:
        model: the model configuration (a preset, resolved).
        train: the algorithm.
        data: ``"synthetic"`` or a folder / .zip / .tar path of images.
        total_steps: stop after this many optimisation steps (one step = one global batch).
        tick_every: steps between status lines / ``stats.jsonl`` records.
        snapshot_every: steps between checkpoints and sample grids (0: only at the end).
        keep_snapshots: how many snapshots to keep (oldest pruned first).
        device: "cpu", "cuda" or "cuda:N" (with torchrun each rank uses its local GPU).
        precision: arithmetic of the D and G steps: "fp32" (strict IEEE, also on CUDA), "tf32"
            (TF32 tensor cores on CUDA), "bf16" or "fp16" (autocast; fp16 with loss scaling).
            The command line defaults to bf16 on CUDA and fp32 on the CPU.
        channels_last: NHWC memory format for the networks and batches.
        compile: ``torch.compile`` the plain D and G steps (regularisation stays eager).
        deterministic: deterministic algorithms, no TF32, no cuDNN benchmark.
        workers: data-loader worker processes per rank.
        tensorboard: also write TensorBoard scalars (needs the ``tb`` extra).
        sample_seeds: canvas seeds of the sample grids (empty: no generated grids).
        init: the weights the run starts from (``--init``); None: freshly initialised networks.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: str = "synthetic"
    total_steps: int = 1000
    tick_every: int = 10
    snapshot_every: int = 500
    keep_snapshots: int = 3
    device: str = "cpu"
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    deterministic: bool = False
    workers: int = 0
    tensorboard: bool = False
    sample_seeds: tuple[int, ...] = tuple(range(8))
    init: InitSource | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "sample_seeds", tuple(int(s) for s in self.sample_seeds))
        for name in ("total_steps", "tick_every", "keep_snapshots"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"RunConfig.{name} must be an integer >= 1")
        if self.snapshot_every < 0:
            raise ValueError("RunConfig.snapshot_every must be >= 0")
        if self.precision not in PRECISIONS:
            raise ValueError(f"RunConfig.precision must be one of {PRECISIONS}")
        if self.workers < 0:
            raise ValueError("RunConfig.workers must be >= 0")

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["model"] = self.model.to_dict()
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Strict inverse of :meth:`to_dict` (unknown keys fail with their names)."""
        data = dict(data)
        check_keys(data, cls, "RunConfig")
        if "model" in data:
            data["model"] = ModelConfig.from_dict(data["model"])
        if "train" in data:
            check_keys(data["train"], TrainConfig, "RunConfig.train")
            data["train"] = TrainConfig(**data["train"])
        if "sample_seeds" in data:
            data["sample_seeds"] = tuple(data["sample_seeds"])
        if data.get("init") is not None:  # absent from runs written before --init existed
            check_keys(data["init"], InitSource, "RunConfig.init")
            data["init"] = InitSource(**data["init"])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        return cls.from_dict(json.loads(text))
