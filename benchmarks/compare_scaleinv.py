"""The paper's ScaleInv claim in miniature: InfinityGAN vs StyleGAN2-NCI vs StyleGAN2-NCI-FCG.

Usage:
    python benchmarks/compare_scaleinv.py [--data synthetic] [--kimg 2.4 | --cpu-seconds 900]
        [--batch 8] [--num 300] [--scales 1,2,4,8] [--modes paper,clean] [--threads 1]
        [--out benchmarks/results/scaleinv] [--images docs/images]

Trains ``tiny`` (InfinityGAN), ``tiny-nci`` and ``tiny-nci-fcg`` one after the other in this
process with equal budgets, then computes ScaleInv FID at every scale for each (both
preprocessing modes from the same generated images), prints a JSON summary and draws one plot per
mode. Two kinds of budget:

* ``--kimg K``: the SAME number of training images (equal iterations at equal batch, as the paper
  compares its models);
* ``--cpu-seconds S``: the SAME CPU time of training (``time.process_time`` of this process, so
  other jobs on a shared machine do not count): each model trains in segments until its CPU
  time reaches S, so cheaper models see more images. The steps reached are reported.

Wall-clock and CPU seconds of every training run are measured and reported next to the budget.

Everything is resumable: a run whose last snapshot reached the budget is not retrained (an
interrupted one continues exactly from its snapshot), and an existing ScaleInv record of the same
model, N, scale and mode is reused. Records go to
``<out>/<data>/<preset>/metric-scaleinv_fid.jsonl`` (``infinitygan eval`` format) and the summary
to ``<out>/<data>/summary.json``.

Threads: on a shared 2-core machine one thread per process is several times faster than two
(oversubscription); ``--threads`` sets ``torch.set_num_threads``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _peak import machine  # noqa: E402

from infinitygan import metrics as ev  # noqa: E402
from infinitygan.checkpoint import load_generator, model_hash  # noqa: E402
from infinitygan.data import DataConfig, open_dataset  # noqa: E402
from infinitygan.metrics import read_metric_jsonl, scaleinv_prepare  # noqa: E402
from infinitygan.presets import get_preset  # noqa: E402
from infinitygan.train import RunConfig, TrainConfig, training_loop  # noqa: E402
from infinitygan.train.snapshots import G_EMA_FILE, latest_snapshot  # noqa: E402

logger = logging.getLogger("compare_scaleinv")

PRESETS = ("tiny", "tiny-nci", "tiny-nci-fcg")
LABELS = {
    "tiny": "InfinityGAN (tiny)",
    "tiny-nci": "StyleGAN2-NCI (tiny-nci)",
    "tiny-nci-fcg": "StyleGAN2-NCI-FCG (tiny-nci-fcg)",
}
BUDGET_FILE = "budget.json"


def _load_budget(run_dir: Path) -> dict[str, Any]:
    path = run_dir / BUDGET_FILE
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"wall_seconds": 0.0, "cpu_seconds": 0.0, "sessions": []}


def _safe_name(data: str) -> str:
    """A file-name-safe label of a data spec (a path like ``/data/photos.zip`` -> ``photos``)."""
    name = Path(data).name if ("/" in data or os.sep in data) else data
    name = name.split(".")[0] if "." in name else name
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "data"


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _run_config(preset: str, data: str, steps: int, batch: int, seed: int) -> RunConfig:
    return RunConfig(
        model=get_preset(preset),
        train=TrainConfig(batch=batch, seed=seed),
        data=data,
        total_steps=steps,
        tick_every=25,
        snapshot_every=50,
        keep_snapshots=2,
        device="cpu",
        sample_seeds=(),
    )


def _train_segment(
    preset: str, data: str, run_dir: Path, steps: int, batch: int, seed: int, budget: dict
) -> int:
    """Train (or continue) one model up to ``steps``; adds the time to ``budget``."""
    run = _run_config(preset, data, steps, batch, seed)
    model = run.model
    dataset = open_dataset(
        data,
        DataConfig(
            patch_size=model.patch_size, full_size=model.full_size, pre_resize=model.pre_resize
        ),
        seed=seed,
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    wall0, cpu0 = time.perf_counter(), time.process_time()
    result = training_loop(run, run_dir, dataset, resume=True)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    budget["wall_seconds"] += wall
    budget["cpu_seconds"] += cpu
    budget["sessions"].append(
        {
            "steps": [result.start_step, result.step],
            "wall_seconds": round(wall, 1),
            "cpu_seconds": round(cpu, 1),
            "load_average_1min_at_start": load,
        }
    )
    _write_json(run_dir / BUDGET_FILE, budget)
    return result.step


def train(preset: str, data: str, run_dir: Path, steps: int, batch: int, seed: int) -> dict:
    """Train (or finish training) one model for ``steps`` steps; returns its budget record."""
    budget = _load_budget(run_dir)
    snap = latest_snapshot(run_dir)
    if snap is not None and snap.step >= steps:
        logger.info("%s: trained already (step %d)", preset, snap.step)
        return budget
    step = _train_segment(preset, data, run_dir, steps, batch, seed, budget)
    logger.info(
        "%s: trained to step %d in %.0f s wall, %.0f s CPU",
        preset,
        step,
        budget["wall_seconds"],
        budget["cpu_seconds"],
    )
    return budget


def train_for_cpu_seconds(
    preset: str, data: str, run_dir: Path, seconds: float, batch: int, seed: int
) -> dict:
    """Train one model until its training CPU time reaches ``seconds`` (segments of steps sized
    from the measured CPU time per step; a segment ends with a snapshot); returns its budget
    record with the steps reached."""
    budget = _load_budget(run_dir)
    snap = latest_snapshot(run_dir)
    step = snap.step if snap is not None else 0
    while True:
        spent = budget["cpu_seconds"]
        if step > 0:
            per_step = spent / step
            remaining = round((seconds - spent) / per_step)
            if remaining < 1:
                break
            target = step + min(remaining, max(50, step))  # re-measure at least every doubling
        else:
            target = 25  # a first segment measures the cost of a step
        step = _train_segment(preset, data, run_dir, target, batch, seed, budget)
        logger.info("%s: step %d, %.0f of %.0f CPU s", preset, step, budget["cpu_seconds"], seconds)
    budget["steps"] = step
    _write_json(run_dir / BUDGET_FILE, budget)
    return budget


def _progress(label: str, done: int, total: int) -> None:
    if done == total or done % max(1, total // 10) == 0:
        logger.info("%s: %d/%d", label, done, total)


def evaluate(
    preset: str,
    data: str,
    run_dir: Path,
    scales: list[float],
    modes: tuple[str, ...],
    num: int,
    extractor: Any,
    cache_dir: Path,
    data_seed: int,
) -> list[dict]:
    """ScaleInv records of the trained model (existing ones reused)."""
    model_file = latest_snapshot(run_dir).path / G_EMA_FILE
    digest = model_hash(model_file)
    model = ev.EvalModel(load_generator(model_file), spec=str(model_file), hash=digest)
    records_path = run_dir / "metric-scaleinv_fid.jsonl"

    def existing() -> dict[tuple[float, str], dict]:
        if not records_path.is_file():
            return {}
        return {
            (r["scale"], r["mode"]): r
            for r in read_metric_jsonl(records_path)
            if r.get("model_hash") == digest and r.get("num") == num and r.get("data") == data
        }

    for scale in scales:
        done = existing()
        if all((scale, mode) in done for mode in modes):
            continue
        ev.evaluate(
            model,
            data,
            [ev.MetricRequest("scaleinv-fid", (scale,))],
            extractor=extractor,
            options=ev.EvalOptions(
                num=num,
                modes=modes,
                batch=16,
                data_seed=data_seed,
                cache_dir=cache_dir,
                label=preset,
            ),
            out_dir=run_dir,
            progress=_progress,
            on_record=lambda r: logger.info("%s: %s", preset, ev.format_record(r)),
        )
    done = existing()
    return [done[(s, m)] for s in scales for m in modes]


def sample_figure(
    run_dirs: dict[str, Path], data: str, data_seed: int, scales: list[float], out: Path
) -> Path:
    """Rows: reals, then each model; columns: scales (seed 0 and 1), all as ScaleInv sees them
    (clean mode, 128 px)."""
    from infinitygan.imageio import make_grid, save_image

    rows = []
    models = {
        p: ev.EvalModel(load_generator(latest_snapshot(d).path / G_EMA_FILE))
        for p, d in run_dirs.items()
    }
    real_res = next(iter(models.values())).real_res
    config = DataConfig(patch_size=real_res, full_size=real_res, pre_resize=None)
    reals = open_dataset(data, config, seed=data_seed)
    rows.append(torch.stack([reals.full_image(i) for i in range(2 * len(scales))]))
    for model in models.values():
        tiles = []
        for scale in scales:
            for seed in (0, 1):
                image = model.scaleinv_image(seed, scale)[None]
                tiles.append(
                    scaleinv_prepare(image, scale, model.real_res, model.full_size, "clean")[0]
                )
        rows.append(torch.stack(tiles))
    grid = make_grid(torch.cat(rows), nrow=2 * len(scales))
    return save_image(grid, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="synthetic")
    parser.add_argument("--presets", default=",".join(PRESETS))
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--kimg", type=float, default=None, help="training images per model / 1000")
    budget.add_argument(
        "--cpu-seconds", type=float, default=None, help="training CPU seconds per model"
    )
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num", type=int, default=300, help="fakes and reals per FID")
    parser.add_argument("--scales", default="1,2,4,8")
    parser.add_argument("--modes", default="paper,clean")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/scaleinv"))
    parser.add_argument("--images", type=Path, default=None, help="write the PNGs here too")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--skip-eval", action="store_true")
    args = parser.parse_args()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    torch.set_num_threads(args.threads)
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    scales = sorted(float(s) for s in args.scales.split(","))
    modes = tuple(m.strip() for m in args.modes.split(","))
    kimg = args.kimg if args.kimg is not None or args.cpu_seconds is not None else 2.4
    steps = max(1, round(kimg * 1000 / args.batch)) if kimg is not None else None
    root = args.out / _safe_name(args.data)
    cache_dir = args.cache_dir or root / "fid-cache"
    run_dirs = {p: root / p for p in presets}
    started = time.time()
    load_start = os.getloadavg()

    # The feature network first: a missing file should stop the run before hours of training.
    extractor = None
    if not args.skip_eval:
        try:
            extractor = ev.make_feature_extractor(device="cpu")
        except FileNotFoundError as err:
            raise SystemExit(f"cannot load the FID feature network: {err}") from None
    if steps is not None:
        budgets = {
            p: train(p, args.data, run_dirs[p], steps, args.batch, args.seed) for p in presets
        }
    else:
        budgets = {
            p: train_for_cpu_seconds(
                p, args.data, run_dirs[p], args.cpu_seconds, args.batch, args.seed
            )
            for p in presets
        }
    if extractor is None:
        return
    results: dict[str, list[dict]] = {}
    for p in presets:
        results[p] = evaluate(
            p, args.data, run_dirs[p], scales, modes, args.num, extractor, cache_dir, args.seed
        )

    summary = {
        "benchmark": "compare_scaleinv",
        "data": args.data,
        "budget": (
            {
                "kind": "equal training images (kimg) at equal batch",
                "kimg": steps * args.batch / 1000,
                "steps": steps,
                "batch": args.batch,
            }
            if steps is not None
            else {
                "kind": "equal training CPU seconds (process time, one thread) at equal batch",
                "cpu_seconds": args.cpu_seconds,
                "batch": args.batch,
            }
        ),
        "num_fakes": args.num,
        "num_reals": results[presets[0]][0]["num_reals"],
        "scales": scales,
        "modes": list(modes),
        "machine": {
            **machine(),
            "torch_threads": torch.get_num_threads(),
            "load_average_at_start": load_start,
            "load_average_at_end": os.getloadavg(),
        },
        "extractor": ev.extractor_id(extractor),
        "models": {
            p: {
                "label": LABELS.get(p, p),
                "model_hash": results[p][0]["model_hash"],
                "train_wall_seconds": round(budgets[p]["wall_seconds"], 1),
                "train_cpu_seconds": round(budgets[p]["cpu_seconds"], 1),
                "train_steps": latest_snapshot(run_dirs[p]).step,
                "train_kimg": latest_snapshot(run_dirs[p]).step * args.batch / 1000,
                "scaleinv_fid": {
                    mode: {
                        ev.format_scale(r["scale"]): round(r["fid"], 2)
                        for r in results[p]
                        if r["mode"] == mode
                    }
                    for mode in modes
                },
                "generated_sizes": {
                    ev.format_scale(r["scale"]): r["generated_size"]
                    for r in results[p]
                    if r["mode"] == modes[0]
                },
            }
            for p in presets
        },
        "seconds": round(time.time() - started, 1),
    }
    _write_json(root / "summary.json", summary)
    print(json.dumps(summary, indent=2))

    from infinitygan.metrics import plot_scaleinv

    pngs = []
    for mode in modes:
        points = [
            {"scale": r["scale"], "fid": r["fid"], "label": LABELS.get(p, p)}
            for p in presets
            for r in results[p]
            if r["mode"] == mode
        ]
        spent = f"{kimg:g} kimg" if steps is not None else f"{args.cpu_seconds:g} CPU s"
        title = f"ScaleInv FID ({mode}), {args.data}, {spent}, N={args.num}"
        name = _safe_name(args.data)
        pngs.append(plot_scaleinv(points, root / f"scaleinv-{name}-{mode}.png", title=title))
    samples = root / f"scaleinv-{_safe_name(args.data)}-samples.png"
    pngs.append(sample_figure(run_dirs, args.data, args.seed, scales, samples))
    if args.images is not None:
        args.images.mkdir(parents=True, exist_ok=True)
        for png in pngs:
            target = args.images / png.name
            target.write_bytes(png.read_bytes())
            logger.info("wrote %s", target)


if __name__ == "__main__":
    main()
