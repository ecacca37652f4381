"""Memorisation check: each generated training-size image next to its nearest real views.

Usage:
    python scripts/nearest_reals.py MODEL [--data landscapes] [--seeds 0-7] [--out FILE.png]
        [--trunc PSI]

For every seed, the canvas of one training field of view (``full_size`` px, as ``infinitygan
eval``'s fid renders it) is compared with every real view of ``--data`` at the same size, in
TF-Inception pool features (the FID features; the ``fid`` extra) and in pixels (mean squared
error). Prints one JSON object (per seed: the nearest real view's index and distances, and the
ratio of the nearest feature distance to the median one) and writes a grid: a row per seed with
the sample, then its nearest views by features and by pixels. A copy of a real view shows up as
a nearest distance far below the others (a ratio near 0).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from infinitygan import metrics
from infinitygan.canvas import generate_image
from infinitygan.checkpoint import load_generator
from infinitygan.cli._options import SEEDS
from infinitygan.data import DataConfig, open_dataset
from infinitygan.imageio import save_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("--data", default="landscapes")
    parser.add_argument("--seeds", default="0-7", type=lambda text: SEEDS.convert(text, None, None))
    parser.add_argument("--trunc", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=Path("nearest-reals.png"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    G = load_generator(args.model)
    cfg = G.config
    data = open_dataset(
        args.data, DataConfig(cfg.patch_size, cfg.full_size, cfg.pre_resize), seed=0
    )
    reals = torch.stack([data.full_image(i) for i in range(len(data))])
    seeds = args.seeds
    with torch.no_grad():
        fakes = torch.stack(
            [
                generate_image(G, s, cfg.full_size, cfg.full_size, truncation=args.trunc)
                for s in seeds
            ]
        ).clamp(-1, 1)
    extractor = metrics.make_feature_extractor(None, device="cpu")

    def features(images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([extractor(b) for b in images.split(32)]).double()

    feats_real, feats_fake = features(reals), features(fakes)
    d_feat = torch.cdist(feats_fake, feats_real)
    d_pix = ((fakes[:, None] - reals[None]) ** 2).mean(dim=(2, 3, 4))
    rows, report = [], []
    for i, seed in enumerate(seeds):
        nf, npx = int(d_feat[i].argmin()), int(d_pix[i].argmin())
        report.append(
            {
                "seed": seed,
                "nearest_by_features": nf,
                "feature_distance": round(float(d_feat[i, nf]), 3),
                "median_feature_distance": round(float(d_feat[i].median()), 3),
                "nearest_to_median": round(float(d_feat[i, nf] / d_feat[i].median()), 3),
                "nearest_by_pixels": npx,
                "pixel_mse": round(float(d_pix[i, npx]), 4),
            }
        )
        rows.append(torch.cat([fakes[i], reals[nf], reals[npx]], dim=2))
    grid = torch.cat(rows, dim=1)
    save_image(grid, args.out)
    reals_to_reals = torch.cdist(feats_real, feats_real)
    reals_to_reals.fill_diagonal_(float("inf"))
    print(
        json.dumps(
            {
                "model": args.model,
                "data": args.data,
                "num_real_views": len(data),
                "truncation": args.trunc,
                "median_nearest_real_to_real_feature_distance": round(
                    float(reals_to_reals.min(dim=1).values.median()), 3
                ),
                "seeds": report,
                "grid": str(args.out),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
