"""fp32 vs bf16 (vs fp16) generation in one process, interleaved: speed ratio and PSNR (JSON).

Usage:
    python benchmarks/bench_precision.py [--preset paper-101] [--size 512] [--rounds 2]
        [--model FILE]

The runs alternate (fp32, bf16, fp32, bf16, ...) so that a busy shared machine slows both alike;
the best time of each precision is reported. PSNR is measured on the [-1, 1] image range against
the fp32 render of the same region.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _peak import machine  # noqa: E402

from infinitygan import build_generator, generate_image, load_generator  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="paper-101")
    p.add_argument("--model", default=None, help="a generator file instead of a random preset")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    G = load_generator(args.model) if args.model else build_generator(args.preset, seed=0)
    if not args.model:
        with torch.no_grad():
            for conv in G.texture_synthesizer.convs:
                conv.noise.strength.fill_(0.1)
    precisions = args.precisions.split(",")
    for prec in precisions:  # warm-up
        generate_image(G, 0, 64, 64, precision=prec)
    best = {prec: float("inf") for prec in precisions}
    images = {}
    for _ in range(args.rounds):
        for prec in precisions:
            t0 = time.perf_counter()
            images[prec] = generate_image(G, 0, args.size, args.size, precision=prec)
            best[prec] = min(best[prec], time.perf_counter() - t0)
    ref = images["fp32"] if "fp32" in images else next(iter(images.values()))
    result = {
        "benchmark": "precision",
        "model": args.model or f"random:{args.preset}",
        "size": [args.size, args.size],
        "machine": machine(),
        "seconds": {k: round(v, 2) for k, v in best.items()},
        "speedup_vs_fp32": {k: round(best["fp32"] / v, 2) for k, v in best.items()}
        if "fp32" in best
        else {},
        "psnr_db_vs_fp32": {
            k: round(10 * math.log10(4.0 / max(((v - ref) ** 2).mean().item(), 1e-20)), 1)
            for k, v in images.items()
            if v is not ref
        },
        "output_std": round(ref.std().item(), 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
