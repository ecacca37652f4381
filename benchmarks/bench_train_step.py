"""Training-step speed: one D+G iteration, the lazy R1 and path-length steps (JSON).

Usage:
    python benchmarks/bench_train_step.py [--preset paper-101] [--batch 4] [--iters 3]
        [--precision fp32] [--threads 2] [--device cpu] [--d-kind stylegan2|projected]
    python benchmarks/bench_train_step.py --sweep [--preset landscapes-cpu] [--threads 1]

``--sweep`` measures training images per second (batch / (plain + R1 / 16): the lazy R1 step
runs every 16th step) for both discriminator kinds: batch 4, 8, 16 and 32 in float32, then at
the best batch channels-last, bf16 autocast (only where the device computes bf16 natively:
``runtime.native_bf16``; the JSON says which path ran) and ``torch.compile``; it ends with the
fastest setting per kind.

Times the phases of :class:`infinitygan.train.Trainer` exactly as training runs them (fresh
latents every call, random real patches), after one warm-up iteration. A "plain" iteration is
D step + G step + EMA (what happens on 11 of 16 steps); R1 and path length are timed alone.
The official code needs 66-80 s per plain iteration of paper-101 at batch 4 on the 2-core CPU
(reference-spec §11.4). A conv and a matmul peak measured in the same process give the scale.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _peak import conv_peak_flops, machine  # noqa: E402

from infinitygan.presets import get_preset  # noqa: E402
from infinitygan.runtime import native_bf16  # noqa: E402
from infinitygan.train import RunConfig, TrainConfig, Trainer  # noqa: E402

OFFICIAL_PLAIN_ITERATION_S = (66.0, 80.0)  # reference-spec §11.4, batch 4, this CPU


def matmul_peak_flops(n: int = 2048, repeats: int = 5, device: str = "cpu") -> float:
    """Best-of-``repeats`` FLOP/s of an n x n fp32 matmul."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    best = float("inf")
    with torch.no_grad():
        a @ b
        for _ in range(repeats):
            if device != "cpu":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            a @ b
            if device != "cpu":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def timed(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def images_per_second(
    model, batch: int, precision: str, channels_last: bool, compile_: bool, iters: int, device
) -> dict:
    """Median plain step, R1 step and training images/s of one setting (after one warm-up)."""
    run = RunConfig(
        model=model,
        train=TrainConfig(batch=batch),
        device=str(device),
        precision=precision,
        channels_last=channels_last,
        compile=compile_,
        sample_seeds=(),
    )
    trainer = Trainer(run, device)
    gen = torch.Generator().manual_seed(0)
    p = model.patch_size
    patches = torch.rand(batch, 3, p, p, generator=gen) * 2 - 1
    chunks = trainer.real_rounds((patches, torch.rand(batch, generator=gen) * 2 - 1))
    t0 = time.perf_counter()
    trainer.d_step(1, chunks)
    trainer.g_step(1)
    trainer.r1_step(1, chunks)
    trainer.check_finite(1)
    warmup = time.perf_counter() - t0
    plain, r1 = [], []
    for i in range(iters):
        step = 2 + i
        plain.append(
            timed(lambda s=step: (trainer.d_step(s, chunks), trainer.g_step(s)), device)
            + timed(trainer.update_ema, device)
        )
        r1.append(timed(lambda s=step: trainer.r1_step(s, chunks), device))
        trainer.check_finite(step)
    plain_s, r1_s = statistics.median(plain), statistics.median(r1)
    return {
        "batch": batch,
        "precision": precision,
        "channels_last": channels_last,
        "compile": compile_,
        "plain_s": round(plain_s, 4),
        "r1_s": round(r1_s, 4),
        "warmup_s": round(warmup, 2),
        "images_per_s": round(batch / (plain_s + r1_s / 16), 3),
    }


def sweep(args: argparse.Namespace, device: torch.device) -> dict:
    """The ``--sweep`` grid (see the module docstring)."""
    bf16 = native_bf16(device)
    base = get_preset(args.preset)
    kinds: dict[str, list[dict]] = {}
    for kind in ("stylegan2", "projected"):
        model = dataclasses.replace(
            base, discriminator=dataclasses.replace(base.discriminator, kind=kind)
        )
        rows = [
            images_per_second(model, b, "fp32", False, False, args.iters, device)
            for b in (4, 8, 16, 32)
        ]
        best = max(rows, key=lambda r: r["images_per_s"])["batch"]
        variants = [("fp32", True, False)]
        if bf16:
            variants += [("bf16", False, False), ("bf16", True, False)]
        if args.compile:
            variants += [("fp32", False, True)]
        for precision, cl, comp in variants:
            rows.append(images_per_second(model, best, precision, cl, comp, args.iters, device))
        kinds[kind] = rows
        print(json.dumps({"kind": kind, "rows": rows}), file=sys.stderr, flush=True)
    return {
        "benchmark": "train_step_sweep",
        "machine": machine(),
        "preset": args.preset,
        "native_bf16": bf16,
        "bf16_path": "measured (native bf16)" if bf16 else "skipped: no native bf16 on this device",
        "iters": args.iters,
        "conv3x3_fp32_gflops": round(conv_peak_flops(device=args.device) / 1e9, 1),
        "rows": kinds,
        "fastest": {k: max(rows, key=lambda r: r["images_per_s"]) for k, rows in kinds.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="paper-101")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16", "fp16"])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--d-kind",
        default=None,
        choices=["stylegan2", "projected"],
        help="discriminator kind (default: the preset's)",
    )
    parser.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="NHWC memory format (default: on for CUDA, off for CPU)",
    )
    parser.add_argument("--sweep", action="store_true", help="the throughput grid (see above)")
    parser.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with --sweep: include torch.compile (minutes of compilation per setting)",
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.sweep:
        out = sweep(args, device)
        out["load_average_1min"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
        print(json.dumps(out, indent=2))
        return

    peaks = {
        "conv3x3_fp32_gflops": conv_peak_flops(device=args.device) / 1e9,
        "matmul_fp32_gflops": matmul_peak_flops(device=args.device) / 1e9,
    }
    model = get_preset(args.preset)
    if args.d_kind:
        disc = dataclasses.replace(model.discriminator, kind=args.d_kind)
        model = dataclasses.replace(model, discriminator=disc)
    run = RunConfig(
        model=model,
        train=TrainConfig(batch=args.batch),
        device=args.device,
        precision=args.precision,
        channels_last=device.type == "cuda" if args.channels_last is None else args.channels_last,
    )
    trainer = Trainer(run, device)
    gen = torch.Generator().manual_seed(0)
    p = model.patch_size
    patches = torch.rand(args.batch, 3, p, p, generator=gen) * 2 - 1
    labels = torch.rand(args.batch, generator=gen) * 2 - 1
    chunks = trainer.real_rounds((patches, labels))

    def plain(step: int) -> None:
        trainer.d_step(step, chunks)
        trainer.g_step(step)
        trainer.update_ema()
        trainer.check_finite(step)  # the step's one host sync, as train_step does

    plain(1)  # warm-up (allocator, one-time kernel selection)
    peaks_after = conv_peak_flops(device=args.device) / 1e9
    records: dict[str, list[float]] = {"d_step": [], "g_step": [], "plain": [], "r1": [], "pl": []}
    for i in range(args.iters):
        step = 2 + i
        d = timed(lambda s=step: trainer.d_step(s, chunks), device)
        g = timed(lambda s=step: trainer.g_step(s), device)
        e = timed(trainer.update_ema, device)
        records["d_step"].append(d)
        records["g_step"].append(g)
        records["plain"].append(d + g + e)
        records["r1"].append(timed(lambda s=step: trainer.r1_step(s, chunks), device))
        records["pl"].append(timed(lambda s=step: trainer.pl_step(s), device))
        trainer.check_finite(step)

    plain_median = statistics.median(records["plain"])
    out = {
        "benchmark": "train_step",
        "machine": machine(),
        "preset": args.preset,
        "discriminator": model.discriminator.kind,
        "batch": args.batch,
        "pl_batch": trainer.pl_batch,
        "precision": args.precision,
        "iters": args.iters,
        "seconds": {k: [round(v, 3) for v in vs] for k, vs in records.items()},
        "median_s": {k: round(statistics.median(vs), 3) for k, vs in records.items()},
        "best_s": {k: round(min(vs), 3) for k, vs in records.items()},
        "channels_last": run.channels_last,
        "load_average_1min": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "official_plain_iteration_s": OFFICIAL_PLAIN_ITERATION_S,
        "speedup_vs_official": [
            round(OFFICIAL_PLAIN_ITERATION_S[0] / plain_median, 2),
            round(OFFICIAL_PLAIN_ITERATION_S[1] / plain_median, 2),
        ],
        "peak": {
            **{k: round(v, 1) for k, v in peaks.items()},
            "conv3x3_fp32_gflops_after_warmup": round(peaks_after, 1),
        },
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
