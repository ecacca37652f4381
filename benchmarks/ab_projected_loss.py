"""A/B of the projected discriminator's objective: hinge vs logistic, with and without R1 (JSON).

Usage:
    python benchmarks/ab_projected_loss.py [--steps 120] [--threads 1] [--variants all]

Trains ``landscapes-cpu`` on the bundled photos (``--data landscapes``) at batch 4 with the
bundled model's recipe (DiffAugment color,translation,cutout; no path length; diversity 0.1) for
``--steps`` steps per variant, same seed, and reports per variant: seconds per step (plain steps
and R1 steps apart), the last ticks' D logit gap and coordinate error, and two scores of the EMA
generator: the layout error (mean |row profile| difference to real patches at the top and bottom
vertical positions, as ``tests/test_train_learns.py``) and the patch SWD x1e3 (64 fakes vs 64
reals). The stylegan2 discriminator with the bundled recipe (R1 gamma 1, logistic) is the
reference row. Runs are short: differences within one seed's noise decide nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time

import torch

from infinitygan.data import DataConfig, open_dataset
from infinitygan.data.pipeline import make_loader
from infinitygan.metrics.swd import sliced_wasserstein_distance
from infinitygan.presets import get_preset
from infinitygan.train import RunConfig, TrainConfig, Trainer
from infinitygan.train.samples import generated_patches_at, row_profile

VARIANTS = {
    "stylegan2-logistic-r1": ("stylegan2", "logistic", 1.0),
    "projected-hinge-nor1": ("projected", "hinge", 0.0),
    "projected-hinge-r1": ("projected", "hinge", 1.0),
    "projected-logistic-nor1": ("projected", "logistic", 0.0),
    "projected-logistic-r1": ("projected", "logistic", 1.0),
}
SEEDS = tuple(range(8))


def real_profiles(dataset, count: int = 35) -> torch.Tensor:
    cfg = dataset.config
    p, x = cfg.patch_size, cfg.max_offset // 2
    fulls = torch.stack([dataset.full_image(i % len(dataset)) for i in range(count)])
    return torch.stack(
        [row_profile(fulls[:, :, y : y + p, x : x + p]) for y in (0, cfg.max_offset)]
    )


def scores(G, dataset, reals: torch.Tensor) -> dict[str, float]:
    v = G.config.coords.vertical_positions
    with torch.no_grad():
        fakes_tb = [generated_patches_at(G, SEEDS, k) for k in (0, v - 1)]
        layout = (torch.stack([row_profile(f) for f in fakes_tb]) - real_profiles(dataset)).abs()
        fakes = torch.cat([generated_patches_at(G, SEEDS, k) for k in range(0, v, v // 8 or 1)])
    fakes = fakes[: reals.shape[0]].clamp(-1, 1)
    swd = sliced_wasserstein_distance(reals[: fakes.shape[0]], fakes, min_res=8)
    return {"layout_error": float(layout.mean()), "swd_x1e3": swd.mean}


def run_variant(name: str, steps: int) -> dict:
    kind, loss, gamma = VARIANTS[name]
    model = get_preset("landscapes-cpu")
    model = dataclasses.replace(
        model, discriminator=dataclasses.replace(model.discriminator, kind=kind)
    )
    data_cfg = DataConfig(model.patch_size, model.full_size, model.pre_resize)
    dataset = open_dataset("landscapes", data_cfg, seed=0)
    train = TrainConfig(
        batch=4,
        pl_weight=0.0,
        r1_gamma=gamma,
        diversity_weight=0.1,
        augment="color,translation,cutout",
        loss=loss,
        seed=0,
    )
    trainer = Trainer(RunConfig(model=model, train=train, total_steps=steps), torch.device("cpu"))
    stream = make_loader(dataset, 4, seed=1234, start_step=0)
    reals = torch.cat([next(stream).patches for _ in range(16)])
    stream.close()
    stream = make_loader(dataset, 4, seed=0, start_step=0)
    plain, r1 = [], []
    history = []
    for _ in range(steps):
        batch = next(stream)
        t0 = time.perf_counter()
        stats = trainer.train_step((batch.patches, batch.labels))
        dt = time.perf_counter() - t0
        (r1 if "D/r1" in stats else plain).append(dt)
        history.append(stats)
    stream.close()
    tail = history[-20:]
    out = {
        "variant": name,
        "kind": kind,
        "loss": loss,
        "r1_gamma": gamma,
        "steps": steps,
        "sec_per_plain_step": statistics.median(plain[1:]) if len(plain) > 1 else None,
        "sec_per_r1_step": statistics.median(r1[1:]) if len(r1) > 1 else None,
        "logit_gap_last20": statistics.mean(s["D/real_logit"] - s["D/fake_logit"] for s in tail),
        "coord_real_last20": statistics.mean(s["D/coord_real"] for s in tail),
        "G_adv_last20": statistics.mean(s["G/adv"] for s in tail),
    }
    out.update(scores(trainer.G_ema, dataset, reals))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variants", default="all", help="comma list or 'all'")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = list(VARIANTS) if args.variants == "all" else args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    for name in names:
        print(json.dumps(run_variant(name, args.steps)), flush=True)


if __name__ == "__main__":
    main()
