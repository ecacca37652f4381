"""Patch FID and ScaleInv FID of generators against the bundled landscape photos, in one JSON.

Usage::

    python scripts/eval_bundled_model.py landscapes random:landscapes-cpu:0 \
        --num 500 --scales 1,2,4 --out runs/bundled-eval.json

Each MODEL is anything ``infinitygan eval`` accepts (a .safetensors file, a run folder, a bundled
name, or ``random:PRESET[:SEED]`` for an untrained model). For each one this runs the evaluation
of::

    infinitygan eval MODEL --data landscapes --metrics patch-fid,scaleinv-fid@S,... --mode paper \
        --num N --seed SEED --batch B

through the same code (:func:`infinitygan.metrics.evaluate`, hence the metric registry), so the
numbers are the command's, with its definitions (docs/metrics.md, "Patch FID"; docs/evaluation.md).
``--out`` collects them per model as ``{"num_fakes", "num_reals", "patch_fid",
"scaleinv_fid@S"}``; ``--records DIR`` also appends the full records to ``DIR/metric-*.jsonl``.

``--floor`` also scores the reals against themselves: the registry's ``patch_fid`` with the real
full images in place of the fakes, i.e. independent random crops (seed + 1) of the same images
against the reals' crops (seed), the lowest value patch FID can reach with this data and N. (The
ScaleInv reals are whole images, the same on both sides, so ScaleInv FID has no such floor.)

Before 2026-12-02 this script had its own definitions (training-style samples against training
patches; ScaleInv against random views of the photos). Its older numbers, quoted in
docs/bundled-model.md, are not comparable with the current ones.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import torch

from infinitygan._files import atomic_write_json
from infinitygan.metrics import (
    EvalModel,
    EvalOptions,
    compute_metric,
    evaluate,
    format_record,
    load_eval_model,
    make_feature_extractor,
    open_real_images,
    parse_metrics,
)
from infinitygan.metrics.inception import FeatureExtractor

logger = logging.getLogger("eval_bundled_model")
DATA = "landscapes"


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """``patch_fid`` and ``scaleinv_fid@S`` of one model's records, with N."""
    summary: dict[str, Any] = {}
    for record in records:
        if record["metric"] == "patch_fid":
            summary["patch_fid"] = record["fid"]
        elif record["metric"] == "scaleinv_fid":
            summary[f"scaleinv_fid@{record['scale']:g}"] = record["fid"]
        summary.setdefault("num_fakes", record["num_fakes"])
        summary.setdefault("num_reals", record["num_reals"])
    return summary


def patch_fid_floor(
    model: EvalModel, extractor: FeatureExtractor, options: EvalOptions
) -> dict[str, Any]:
    """Patch FID of the reals against themselves (independent crops of the same images)."""
    reals = open_real_images(
        DATA,
        model.full_size,
        options.num_reals or options.num,
        pre_resize=model.config.pre_resize,
        patch_size=model.patch_size,
        batch=options.batch,
    )
    record = compute_metric(
        "patch_fid",
        make_fakes=lambda count, batch: reals.source(),
        real=reals.source,
        extractor=extractor,
        num_fakes=reals.count,
        patch_size=model.patch_size,
        seed=options.seed,
        batch=options.batch,
        cache_dir=options.cache_dir,
        dataset_hash=reals.hash,
    )
    return {
        "num_fakes": record["num_fake_patches"],
        "num_reals": record["num_real_patches"],
        "patch_fid": record["fid"],
        "note": f"crops (seed {options.seed + 1}) of the real images against crops (seed "
        f"{options.seed}) of the same images",
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--num", type=int, default=500, help="N fakes and up to N reals")
    parser.add_argument("--scales", default="1,2,4", help='ScaleInv scales, or "none"')
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=16, help="images per feature batch")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, required=True, help="results JSON (updated per model)")
    parser.add_argument(
        "--records", type=Path, default=None, help="also append metric-*.jsonl here"
    )
    parser.add_argument(
        "--floor", action="store_true", help="also score the reals: patch FID's attainable floor"
    )
    parser.add_argument("--cache", type=Path, default=None, help="real-statistics cache folder")
    args = parser.parse_args(argv)
    metrics = "patch-fid" if args.scales == "none" else f"patch-fid,scaleinv-fid@{args.scales}"
    requests = parse_metrics(metrics)
    options = EvalOptions(
        num=args.num, batch=args.batch, seed=args.seed, modes=("paper",), cache_dir=args.cache
    )
    extractor = make_feature_extractor(device=args.device)
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.is_file() else {}

    for index, name in enumerate(args.models):
        model, _ = load_eval_model(name, device=args.device)
        if index == 0 and args.floor:
            with torch.no_grad():
                results["reals"] = patch_fid_floor(model, extractor, options)
            logger.info("floor (reals vs reals): %s", results["reals"])
        records = evaluate(
            model,
            DATA,
            requests,
            extractor=extractor,
            options=options,
            out_dir=args.records,
            on_record=lambda record: logger.info("%s", format_record(record)),
        )
        results[name] = summarise(records)
        atomic_write_json(args.out, results)
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    print(json.dumps(main(), indent=2))
