"""Benchmark the Frechet distance of 2048-D statistics: ``method="eigh"`` against ``"sqrtm"``.

Prints one JSON object: machine, median seconds of each method over interleaved rounds, their
ratio, and the largest relative difference of the two values. The statistics are covariances of
non-negative, correlated random features (like Inception pool3 activations) with fewer and with
more samples than dimensions.

Run: ``.venv/bin/python benchmarks/bench_frechet.py [--dim 2048] [--samples 500] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peak import machine  # noqa: E402

from infinitygan.metrics.stats import FeatureStats, frechet_distance  # noqa: E402


def _stats(rng: np.random.Generator, samples: int, dim: int, shift: float) -> FeatureStats:
    mix = rng.normal(scale=dim**-0.5, size=(dim, dim))
    features = np.abs(rng.normal(loc=shift, size=(samples, dim)) @ mix)
    return FeatureStats.from_features(features)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    a = _stats(rng, args.samples, args.dim, 0.0)
    b = _stats(rng, args.samples, args.dim, 0.3)
    seconds: dict[str, list[float]] = {"eigh": [], "sqrtm": []}
    values: dict[str, list[float]] = {"eigh": [], "sqrtm": []}
    for _ in range(args.rounds):  # interleaved, so machine load swings hit both alike
        for method in seconds:
            start = time.perf_counter()
            values[method].append(frechet_distance(a.mean, a.cov, b.mean, b.cov, method=method))
            seconds[method].append(time.perf_counter() - start)
    median = {m: statistics.median(s) for m, s in seconds.items()}
    rel = max(abs(e - s) / abs(s) for e, s in zip(values["eigh"], values["sqrtm"], strict=True))
    print(
        json.dumps(
            {
                "benchmark": "frechet",
                "machine": machine(),
                "dim": args.dim,
                "samples": args.samples,
                "rounds": args.rounds,
                "median_seconds": {m: round(v, 3) for m, v in median.items()},
                "sqrtm_over_eigh": round(median["sqrtm"] / median["eigh"], 2),
                "fid": round(values["sqrtm"][0], 6),
                "max_relative_difference": rel,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
