"""One optimisation step of InfinityGAN: D step, lazy R1, G step, lazy path length, EMA.

The :class:`Trainer` owns the networks, the optimisers and the per-step state (path-length mean,
images seen) and nothing else: data, files and logging live in :mod:`infinitygan.train.loop`.

Randomness. Every random draw of a step (global/local latents, coordinates, style-mixing choices,
noise maps, path-length directions) comes from a ``torch.Generator`` seeded by
``(seed, step, phase, round)``, where a *round* is one forward pass of ``batch_gpu`` samples and
its index runs over the whole global batch (``rank * rounds + round``). A step therefore does not
depend on history (exact resume: there is no generator state to save), nor on how the global
batch is split over ranks and rounds. Latents, noise maps and path-length directions are drawn on
the training device by a generator there (no host-to-device copies); the training coordinates
and the augmentation parameters (a few numbers per sample) by a CPU generator of the same key.
On the CPU both are one generator.

Host syncs. The phases leave their loss terms on the device; :meth:`Trainer.train_step` checks
them for NaN/inf and converts them to numbers once per step. A non-finite term stops training
(:class:`NonFiniteLossError`) at the end of that step, before anything is written. With fp16,
a non-finite term of a loss-scaled phase is an overflow: the GradScaler skipped that update and
lowered its scale, the step goes on (``fp16/skipped`` in the statistics).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import logging
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from infinitygan.checkpoint import build_generator
from infinitygan.coords import sample_training_coords
from infinitygan.data.pipeline import DataConfig, label_per_px
from infinitygan.models import Generator, build_discriminator
from infinitygan.runtime import FP32_MATH, PRECISIONS, math_mode
from infinitygan.train import losses
from infinitygan.train.augment import augment, parse_policy
from infinitygan.train.config import RunConfig
from infinitygan.train.distributed import (
    DistInfo,
    all_reduce_gradients,
    all_reduce_max,
    all_reduce_sum,
)

logger = logging.getLogger(__name__)

RealRound = tuple[Tensor, Tensor, Tensor]
"""One round's reals: patches [g, 3, P, P], labels [g], label slopes [g] (per px of shift)."""

PHASE_D, PHASE_R1, PHASE_G, PHASE_PL = 1, 2, 3, 4
PHASE_AUGMENT = 16  # added to a phase: the key of that phase's augmentation draws
FP16_MIN_SCALE = 2.0**-14  # a GradScaler scale this low means fp16 overflows every step


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or infinite; the run stops before any optimiser update with it.

    Attributes:
        term: the name of the loss term (e.g. "G/adv").
        step: the optimisation step (0-based) at which it happened.
    """

    def __init__(self, term: str, step: int) -> None:
        super().__init__(f"loss term {term} is not finite at step {step}")
        self.term = term
        self.step = step


def step_generator(
    seed: int, step: int, phase: int, round_id: int, device: str | torch.device = "cpu"
) -> torch.Generator:
    """A generator on ``device`` keyed by ``(seed, step, phase, round_id)``."""
    digest = hashlib.blake2b(struct.pack("<qqqq", seed, step, phase, round_id), digest_size=8)
    return torch.Generator(device=device).manual_seed(
        int.from_bytes(digest.digest(), "little") >> 1
    )


@dataclass
class FakeInputs:
    """Inputs of one generated round (all on the training device).

    Attributes:
        z_global: [N, 2, z_dim]; slot 0 drives the structure and the styles before ``inject``,
            slot 1 the styles from ``inject`` on (style mixing).
        z_local: [N, local_dim, L, L], L = 35 for paper-101.
        coords: [N, 3, L, L] training coordinates.
        labels: [N] vertical position of ``coords`` (the coordinate-loss target).
        inject: [N] first style layer taken from slot 1 (``num_styles``: no mixing).
        noise: one map [N, 1, s_i, s_i] per texture conv.
    """

    z_global: Tensor
    z_local: Tensor
    coords: Tensor
    labels: Tensor
    inject: Tensor
    noise: list[Tensor]


def sample_fake_inputs(
    G: Generator,
    n: int,
    generator: torch.Generator,
    *,
    style_mixing: float,
    paired: bool,
    device: torch.device,
    memory_format: torch.memory_format = torch.contiguous_format,
    coords_generator: torch.Generator | None = None,
) -> FakeInputs:
    """Draw the inputs of ``n`` training samples.

    Tensors are drawn on ``generator``'s device; the training coordinates (float64 arithmetic
    on a few numbers per sample) with ``coords_generator``, a CPU generator (default:
    ``generator``, which must then be a CPU one). One CPU generator for both draws what earlier
    versions drew.

    With ``paired`` (n even), samples ``2k`` and ``2k + 1`` share z_global (both slots), the
    coordinates, their label and the style-mixing choice, and differ in z_local and noise: the
    pairs of the diversity loss. Style mixing is decided per pair with probability
    ``style_mixing``, the crossover layer uniform in ``1 .. num_styles - 1``.
    """
    cfg = G.config
    geo = G.geometry
    if paired and n % 2:
        raise ValueError(f"paired sampling needs an even count, got {n}")
    groups = n // 2 if paired else n
    host = coords_generator if coords_generator is not None else generator
    if host.device.type != "cpu":
        raise ValueError("sample_fake_inputs: the coordinates need a CPU coords_generator")
    cells = geo.structure_size_for_output(cfg.patch_size, exact=True)
    size = geo.structure_in(cells)
    on = generator.device
    z_global = torch.randn(groups, 2, cfg.mapping.z_dim, generator=generator, device=on)
    mix = torch.rand(groups, generator=generator, device=on) < style_mixing
    cross = torch.randint(1, G.num_styles, (groups,), generator=generator, device=on)
    inject = torch.where(mix, cross, torch.full_like(cross, G.num_styles))
    coords, labels = sample_training_coords(groups, size, cfg.coords, host)
    coords, labels = coords.to(on), labels.to(on)
    if paired:
        z_global, inject, coords, labels = (
            t.repeat_interleave(2, dim=0) for t in (z_global, inject, coords, labels)
        )
    z_local = torch.randn(n, cfg.structure.local_dim, size, size, generator=generator, device=on)
    noise = [
        torch.randn(n, 1, s, s, generator=generator, device=on)
        for s in geo.texture_conv_sizes(cells)
    ]

    def dev(t: Tensor) -> Tensor:
        t = t.to(device, non_blocking=True)
        return t.contiguous(memory_format=memory_format) if t.ndim == 4 else t

    return FakeInputs(
        z_global=dev(z_global),
        z_local=dev(z_local),
        coords=dev(coords),
        labels=dev(labels),
        inject=dev(inject),
        noise=[dev(m) for m in noise],
    )


def mix_styles(w: Tensor, inject: Tensor, num_styles: int) -> Tensor:
    """Per-layer styles [N, num_styles, w_dim] from w [N, 2, w_dim]: layers ``< inject`` take
    slot 0, the others slot 1."""
    layer = torch.arange(num_styles, device=w.device)
    take_first = (layer[None, :] < inject[:, None])[..., None]
    return torch.where(take_first, w[:, 0:1], w[:, 1:2])


@dataclass
class GeneratorFns:
    """The callables used to run the generator's parts (eager modules or compiled wrappers)."""

    mapping: Callable[[Tensor], Tensor]
    structure: Callable[[Tensor, Tensor, Tensor], Tensor]
    texture: Callable[..., Tensor]


def render(fns: GeneratorFns, inputs: FakeInputs, num_styles: int) -> tuple[Tensor, Tensor, Tensor]:
    """Generate one round. Returns (images [N, 3, P, P], structure [N, C, S, S], styles
    [N, num_styles, w_dim])."""
    n = inputs.z_global.shape[0]
    structure = fns.structure(inputs.z_global[:, 0], inputs.z_local, inputs.coords)
    w = fns.mapping(inputs.z_global.flatten(0, 1)).view(n, 2, -1)
    styles = mix_styles(w, inputs.inject, num_styles)
    images = fns.texture(structure, styles, inputs.noise)
    return images, structure, styles


def _in_math_mode(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a Trainer phase in the trainer's float32 math mode."""

    @functools.wraps(method)
    def wrapper(self: Trainer, *args: Any, **kwargs: Any) -> Any:
        with self._math():
            return method(self, *args, **kwargs)

    return wrapper


class Trainer:
    """Networks, optimisers and the step logic of one rank.

    Args:
        run: the run configuration.
        device: the training device of this rank.
        dist_info: rank and world size.
    """

    def __init__(self, run: RunConfig, device: torch.device, dist_info: DistInfo = DistInfo()):
        self.run = run
        self.cfg = run.train
        self.device = device
        self.dist = dist_info
        tc = run.train
        world = dist_info.world_size
        if tc.batch % world:
            raise ValueError(f"--batch {tc.batch} is not divisible by the {world} processes")
        self.batch_rank = tc.batch // world
        self.batch_gpu = tc.batch_gpu or self.batch_rank
        if self.batch_rank % self.batch_gpu or self.batch_gpu % 2:
            raise ValueError(
                f"batch per process ({self.batch_rank}) must be a multiple of batch_gpu "
                f"({self.batch_gpu}), and batch_gpu must be even (diversity pairs)"
            )
        group = min(self.batch_gpu, run.model.discriminator.stddev_group)
        if run.model.discriminator.kind == "stylegan2" and self.batch_gpu % group:
            raise ValueError(
                f"batch_gpu {self.batch_gpu} must be divisible by the discriminator's "
                f"minibatch-stddev group {group}"
            )
        self.rounds = self.batch_rank // self.batch_gpu
        self.share = 1.0 / (world * self.rounds)
        self.pl_batch = max(1, self.batch_gpu // tc.pl_batch_shrink)
        self.memory_format = torch.channels_last if run.channels_last else torch.contiguous_format
        self.autocast_dtype = PRECISIONS[run.precision]
        # float32 math of every phase: strict IEEE for fp32 (and for deterministic runs), TF32
        # for tf32; under bf16/fp16 what autocast leaves in float32 follows the user's setting.
        self.fp32_math = FP32_MATH.get(run.precision, "ieee" if run.deterministic else None)
        self._pending: list[tuple[list[str], Tensor, bool]] = []

        # Baselines without a structure synthesizer (StyleGAN2-NCI, -NCI-FCG) take no
        # coordinates: no coordinate loss, no diversity loss, no latent pairs.
        self.has_structure = run.model.structure.num_layers > 0
        self.augment_policy = parse_policy(tc.augment)
        # Label change per pixel of vertical content shift: reals are labelled by the crop row
        # (2 / (F - P) per px, or a zoomed view's own slope that its batch carries), fakes by
        # the window row in structure cells (2 / (V - 1) per cell).
        sizes = DataConfig(run.model.patch_size, run.model.full_size, run.model.pre_resize)
        self.real_label_per_px = label_per_px(sizes)
        self.G = build_generator(run.model, seed=tc.seed).to(device)
        positions = max(run.model.coords.vertical_positions - 1, 1)
        self.fake_label_per_px = 2.0 / (positions * self.G.geometry.scale)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(tc.seed + 1)
            D = build_discriminator(run.model.discriminator, run.model.patch_size)
        self.D = D.to(device)
        # The coordinate loss needs coordinates (a structure synthesizer) and D's coordinate head
        # (the official baselines' and maps model's discriminators have none).
        self.coord_loss = self.has_structure and D.coord_linear is not None
        if run.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.G.train()
        self.D.train()

        lr_g, betas_g = losses.lazy_adam_hyperparams(tc.lr, tc.beta2, tc.pl_interval)
        lr_d, betas_d = losses.lazy_adam_hyperparams(tc.lr, tc.beta2, tc.r1_interval)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=lr_g, betas=betas_g, eps=1e-8)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=lr_d, betas=betas_d, eps=1e-8)
        self.d_loss, self.g_loss = losses.adversarial_losses(tc.loss)
        fp16 = run.precision == "fp16"
        self.scaler_G = torch.amp.GradScaler(device.type, enabled=fp16)
        self.scaler_D = torch.amp.GradScaler(device.type, enabled=fp16)
        self.pl_mean = torch.zeros((), dtype=torch.float32, device=device)
        self.step = 0
        self.images_seen = 0
        self.cpu_seconds = 0.0  # CPU time of the training process, over all resumes

        self.eager = GeneratorFns(
            mapping=self.G.mapping_network,
            structure=self.G.structure_synthesizer,
            texture=self.G.texture_synthesizer,
        )
        self.fast = self.eager
        self.D_fast: Callable[[Tensor], tuple[Tensor, Tensor | None]] = self.D
        if run.compile:
            # Compiled wrappers share the parameters; state dicts stay those of the plain modules.
            self.fast = GeneratorFns(
                mapping=torch.compile(self.G.mapping_network),
                structure=torch.compile(self.G.structure_synthesizer),
                texture=torch.compile(self.G.texture_synthesizer),
            )
            self.D_fast = torch.compile(self.D)

    # ------------------------------------------------------------------ helpers
    @property
    def lr_G(self) -> float:
        return float(self.opt_G.param_groups[0]["lr"])

    @property
    def lr_D(self) -> float:
        return float(self.opt_D.param_groups[0]["lr"])

    def _autocast(self) -> Any:
        return torch.autocast(
            self.device.type,
            dtype=self.autocast_dtype,
            enabled=self.run.precision in ("bf16", "fp16"),
        )

    def _math(self) -> Any:
        return math_mode(self.device, self.fp32_math)

    def _round_ids(self) -> list[int]:
        return [self.dist.rank * self.rounds + r for r in range(self.rounds)]

    def _generators(
        self, step: int, phase: int, round_id: int
    ) -> tuple[torch.Generator, torch.Generator]:
        """(device generator, CPU generator) of one key; one generator on the CPU."""
        gen = step_generator(self.cfg.seed, step, phase, round_id, self.device)
        if self.device.type == "cpu":
            return gen, gen
        return gen, step_generator(self.cfg.seed, step, phase, round_id)

    def _sample(self, step: int, phase: int, round_id: int, n: int, paired: bool) -> FakeInputs:
        gen, host = self._generators(step, phase, round_id)
        return sample_fake_inputs(
            self.G,
            n,
            gen,
            style_mixing=self.cfg.style_mixing,
            paired=paired,
            device=self.device,
            memory_format=self.memory_format,
            coords_generator=host,
        )

    def _augment(
        self, images: Tensor, labels: Tensor | None, per_px: float | Tensor, gen: torch.Generator
    ) -> tuple[Tensor, Tensor | None]:
        """DiffAugment ``images`` (identity without a policy); vertical labels move with the
        content by ``per_px`` per pixel (one slope, or one per sample)."""
        if not self.augment_policy:
            return images, labels
        out, dy = augment(images, self.augment_policy, gen)
        out = out.contiguous(memory_format=self.memory_format)
        if labels is not None:
            labels = labels - dy.to(labels.device, labels.dtype) * per_px
        return out, labels

    def _augment_generator(self, step: int, phase: int, round_id: int) -> torch.Generator:
        return step_generator(self.cfg.seed, step, PHASE_AUGMENT + phase, round_id)

    def _watch(self, terms: dict[str, Tensor], scaled: bool) -> None:
        """Remember which of ``terms`` are NaN/inf (on the device: no host sync); ``scaled``:
        the phase's update goes through a GradScaler (fp16), which skips non-finite updates."""
        bad = torch.stack([~torch.isfinite(t.detach().float()) for t in terms.values()])
        self._pending.append((list(terms), bad, scaled and self.run.precision == "fp16"))

    def check_finite(self, step: int) -> set[str]:
        """Check the terms watched since the last call (one host sync, all ranks together).

        Returns:
            The non-finite terms whose updates the fp16 GradScaler skipped.

        Raises:
            NonFiniteLossError: for the first other non-finite term (on every rank), or when
                the fp16 loss scale collapsed (non-finite every step).
        """
        if not self._pending:
            return set()
        pending, self._pending = self._pending, []
        flags = all_reduce_max(torch.cat([bad for _, bad, _ in pending]).float(), self.dist)
        skipped: set[str] = set()
        for flag, (name, scaled) in zip(
            flags.tolist(), [(n, sc) for names, _, sc in pending for n in names]
        ):
            if not flag:
                continue
            if not scaled:
                raise NonFiniteLossError(name, step)
            skipped.add(name)
        for scaler in (self.scaler_G, self.scaler_D):
            if skipped and scaler.is_enabled() and scaler.get_scale() < FP16_MIN_SCALE:
                raise NonFiniteLossError(sorted(skipped)[0], step)
        return skipped

    def _optimiser_step(
        self, module: nn.Module, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler
    ) -> None:
        params = [p for p in module.parameters()]
        all_reduce_gradients(params, self.dist)
        scaler.step(opt)
        scaler.update()

    # ------------------------------------------------------------------ phases
    @_in_math_mode
    def d_step(self, step: int, reals: list[RealRound]) -> dict[str, Tensor]:
        """Adversarial loss (``train.loss``) on reals and fakes plus the coordinate L1 on both (D
        updated; no coordinate L1 for models without a structure synthesizer or D coordinate
        head)."""
        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        stats: dict[str, Tensor] = {}
        for (patches, labels, slopes), round_id in zip(reals, self._round_ids()):
            inputs = self._sample(step, PHASE_D, round_id, self.batch_gpu, self.has_structure)
            gen = self._augment_generator(step, PHASE_D, round_id)
            fake_labels = inputs.labels
            with self._autocast():
                with torch.no_grad():
                    fakes, _, _ = render(self.fast, inputs, self.G.num_styles)
                    fakes, fake_labels = self._augment(
                        fakes, fake_labels, self.fake_label_per_px, gen
                    )
                    patches, labels = self._augment(patches, labels, slopes, gen)
                fake_logits, fake_coord = self.D_fast(fakes.detach())
                real_logits, real_coord = self.D_fast(patches)
            terms = {"D/adv": self.d_loss(real_logits, fake_logits)}
            if self.coord_loss:
                assert real_coord is not None and fake_coord is not None
                terms["D/coord_real"] = losses.coord_loss(real_coord, labels)
                terms["D/coord_fake"] = losses.coord_loss(fake_coord, fake_labels)
            self._watch(terms, scaled=True)
            total = terms["D/adv"]
            if self.coord_loss:
                total = total + self.cfg.coord_weight * (
                    terms["D/coord_real"] + terms["D/coord_fake"]
                )
            self.scaler_D.scale(total * self.share).backward()
            _accumulate(stats, terms, self.rounds)
            _accumulate(
                stats,
                {"D/real_logit": real_logits.mean(), "D/fake_logit": fake_logits.mean()},
                self.rounds,
            )
        self._optimiser_step(self.D, self.opt_D, self.scaler_D)
        return stats

    @_in_math_mode
    def r1_step(self, step: int, reals: list[RealRound]) -> dict[str, Tensor]:
        """Lazy R1 on reals, weight ``gamma / 2 * interval`` (fp32, eager)."""
        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        stats: dict[str, Tensor] = {}
        weight = losses.r1_loss_weight(self.cfg.r1_gamma, self.cfg.r1_interval)
        for (patches, _, _), round_id in zip(reals, self._round_ids()):
            x = patches.detach().float().requires_grad_(True)
            seen, _ = self._augment(x, None, 0.0, self._augment_generator(step, PHASE_R1, round_id))
            logits, _ = self.D(seen)
            r1 = losses.r1_penalty(logits, x)
            self._watch({"D/r1": r1}, scaled=False)
            (r1 * weight * self.share).backward()
            _accumulate(stats, {"D/r1": r1}, self.rounds)
        self._optimiser_step(self.D, self.opt_D, _NO_SCALER)
        return stats

    @_in_math_mode
    def g_step(self, step: int) -> dict[str, Tensor]:
        """Adversarial loss (``train.loss``), coordinate L1 and the diversity loss (G updated; only
        the adversarial loss for models without a structure synthesizer, no coordinate L1 without
        D's coordinate head)."""
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        stats: dict[str, Tensor] = {}
        w_sum: Tensor | float = 0.0
        w_count = 0
        for round_id in self._round_ids():
            inputs = self._sample(step, PHASE_G, round_id, self.batch_gpu, self.has_structure)
            gen = self._augment_generator(step, PHASE_G, round_id)
            with self._autocast():
                images, structure, styles = render(self.fast, inputs, self.G.num_styles)
                images, labels = self._augment(images, inputs.labels, self.fake_label_per_px, gen)
                logits, coord = self.D_fast(images)
            w_sum = w_sum + styles[:, 0].detach().float().sum(0)  # slot 0: w of z_global[:, 0]
            w_count += styles.shape[0]
            terms = {"G/adv": self.g_loss(logits)}
            if self.coord_loss:
                assert coord is not None
                terms["G/coord"] = losses.coord_loss(coord, labels)
            if self.has_structure:
                terms["G/diversity"] = losses.diversity_loss(
                    inputs.z_local, structure, self.cfg.diversity_eps
                )
            self._watch(terms, scaled=True)
            total = terms["G/adv"]
            if self.coord_loss:
                total = total + self.cfg.coord_weight * terms["G/coord"]
            if self.has_structure:
                total = total + self.cfg.diversity_weight * terms["G/diversity"]
            self.scaler_G.scale(total * self.share).backward()
            _accumulate(stats, terms, self.rounds)
        self._optimiser_step(self.G, self.opt_G, self.scaler_G)
        self._track_w_avg(w_sum, w_count)
        return stats

    @torch.no_grad()
    def _track_w_avg(self, w_sum: Tensor, count: int) -> None:
        """StyleGAN2's average-style tracking: ``w_avg`` moves toward the batch mean of w (all
        ranks' batches, so ranks stay equal); G_ema takes it with the other buffers."""
        total = torch.cat([w_sum, w_sum.new_tensor([float(count)])])
        total = all_reduce_sum(total, self.dist)
        self.G.track_w_avg(total[:-1] / total[-1])

    @_in_math_mode
    def pl_step(self, step: int) -> dict[str, Tensor]:
        """Lazy path-length regularisation on ``pl_batch`` samples per round (fp32, eager)."""
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        lengths_all = []
        for round_id in self._round_ids():
            gen, host = self._generators(step, PHASE_PL, round_id)
            inputs = sample_fake_inputs(
                self.G,
                self.pl_batch,
                gen,
                style_mixing=self.cfg.style_mixing,
                paired=False,
                device=self.device,
                memory_format=self.memory_format,
                coords_generator=host,
            )
            images, _, styles = render(self.eager, inputs, self.G.num_styles)
            direction = losses.path_length_noise(images, gen).to(self.device)
            lengths_all.append(losses.path_lengths(images, styles, direction, self.cfg.pl_mode))
        # The running mean moves with the mean length of the whole global batch, as in a
        # single-process run of the same batch.
        total = torch.stack([lengths.detach().sum() for lengths in lengths_all]).sum()
        count = torch.tensor(
            float(sum(lengths.numel() for lengths in lengths_all)), device=self.device
        )
        summed = all_reduce_sum(torch.stack([total, count]), self.dist)
        self.pl_mean = losses.update_path_length_mean(
            self.pl_mean, summed[0] / summed[1], self.cfg.pl_decay
        )
        weight = self.cfg.pl_weight * self.cfg.pl_interval
        stats: dict[str, Tensor] = {}
        for lengths in lengths_all:
            penalty = losses.path_length_penalty(lengths, self.pl_mean)
            self._watch({"G/path_length": penalty}, scaled=False)
            (penalty * weight * self.share).backward()
            _accumulate(stats, {"G/path_length": penalty, "G/pl_length": lengths.mean()}, 1)
        for key in stats:
            stats[key] /= len(lengths_all)
        self._optimiser_step(self.G, self.opt_G, _NO_SCALER)
        return stats

    @torch.no_grad()
    def update_ema(self) -> float:
        """Move G_ema towards G; returns the decay used."""
        beta = losses.ema_beta(
            self.cfg.batch, self.cfg.ema_half_life_images, self.cfg.ema_rampup, self.images_seen
        )
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.lerp_(p.detach(), 1.0 - beta)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)
        return beta

    def real_rounds(self, reals: tuple[Tensor, ...]) -> list[RealRound]:
        """This rank's real batch as the rounds ``d_step`` and ``r1_step`` take.

        Args:
            reals: ``(patches [b, 3, P, P], labels [b])`` or ``(patches, labels, label_slopes
                [b])`` (a ``PatchBatch``); without slopes every label moves by the plain
                ``2 / (F - P)`` per pixel of augmented shift.
        """
        if len(reals) not in (2, 3):
            raise ValueError(f"expected (patches, labels[, label_slopes]), got {len(reals)} items")
        patches, labels = reals[0], reals[1]
        if patches.shape[0] != self.batch_rank:
            raise ValueError(
                f"expected {self.batch_rank} real patches per process, got {patches.shape[0]}"
            )
        patches = patches.to(self.device, non_blocking=True).contiguous(
            memory_format=self.memory_format
        )
        labels = labels.to(self.device, non_blocking=True)
        if len(reals) == 3:
            slopes = reals[2].to(self.device, torch.float32, non_blocking=True)
        else:
            slopes = torch.full_like(labels, self.real_label_per_px, dtype=torch.float32)
        g = self.batch_gpu
        return [
            (patches[i * g : (i + 1) * g], labels[i * g : (i + 1) * g], slopes[i * g : (i + 1) * g])
            for i in range(self.rounds)
        ]

    @property
    def in_d_warmup(self) -> bool:
        """True while only D trains (``train.d_warmup_kimg``; counted in images seen)."""
        return self.images_seen < self.cfg.d_warmup_kimg * 1000

    def train_step(self, reals: tuple[Tensor, ...]) -> dict[str, float]:
        """One full step on this rank's real batch (see ``real_rounds``): D (and R1 on its
        interval), then G (and path length on its interval) and the EMA, unless in the D warm-up.

        Returns:
            Loss terms of this rank averaged over its rounds (lazy terms only when they ran).
        """
        rounds = self.real_rounds(reals)
        step = self.step
        terms = self.d_step(step, rounds)
        if self.cfg.r1_gamma > 0 and step % self.cfg.r1_interval == 0:
            terms.update(self.r1_step(step, rounds))
        beta = 1.0  # G_ema stays put while G does
        if not self.in_d_warmup:
            terms.update(self.g_step(step))
            if self.cfg.pl_weight > 0 and step % self.cfg.pl_interval == 0:
                terms.update(self.pl_step(step))
            beta = self.update_ema()
        skipped = self.check_finite(step)  # the step's one host sync (and the stats below)
        names = [k for k in terms if k not in skipped]
        values = torch.stack([terms[k].float() for k in names]).tolist() if names else []
        stats = dict(zip(names, values))
        if self.run.precision == "fp16":  # logits of a skipped (overflowed) step: not logged
            stats = {k: v for k, v in stats.items() if math.isfinite(v)}
            stats["fp16/skipped"] = float(len(skipped) > 0)
        stats["ema_beta"] = beta
        self.step = step + 1
        self.images_seen += self.cfg.batch
        return stats

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything but the weights (those go to safetensors): loadable weights-only."""
        cuda_rng = None
        if self.device.type == "cuda":
            cuda_rng = torch.cuda.get_rng_state(self.device)
        return {
            "step": self.step,
            "images_seen": self.images_seen,
            "cpu_seconds": self.cpu_seconds,
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "scaler_G": self.scaler_G.state_dict(),
            "scaler_D": self.scaler_D.state_dict(),
            "pl_mean": self.pl_mean.detach().cpu(),
            "rng_torch": torch.get_rng_state(),
            "rng_cuda": cuda_rng,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.images_seen = int(state["images_seen"])
        self.cpu_seconds = float(state.get("cpu_seconds", 0.0))  # absent before 2026-12
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        if state.get("scaler_G"):
            self.scaler_G.load_state_dict(state["scaler_G"])
        if state.get("scaler_D"):
            self.scaler_D.load_state_dict(state["scaler_D"])
        self.pl_mean = state["pl_mean"].to(self.device, torch.float32)
        torch.set_rng_state(state["rng_torch"])
        if state.get("rng_cuda") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng_cuda"], self.device)


class _NoScaler:
    """GradScaler stand-in for the fp32 regularisation steps."""

    def step(self, opt: torch.optim.Optimizer) -> None:
        opt.step()

    def update(self) -> None:
        return None


_NO_SCALER: Any = _NoScaler()


def _accumulate(stats: dict[str, Tensor], terms: dict[str, Tensor], rounds: int) -> None:
    """Add ``terms / rounds`` to ``stats`` on the device (no host sync)."""
    for key, value in terms.items():
        value = value.detach().float() / rounds
        stats[key] = stats[key] + value if key in stats else value
