"""Benchmark the TF-FID Inception feature extractor: img/s at batch 32, fp32 vs bf16.

Prints one JSON object: machine, per-configuration median throughput over interleaved rounds,
and how far each configuration's features are from the fp32 NCHW reference (relative L2 error per
image; the budget for "same numbers" is 1e-3).

Run: ``.venv/bin/python benchmarks/bench_inception.py [--batch 32] [--rounds 5] [--device cpu]``
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import matplotlib
import numpy as np
import torch
from PIL import Image

from infinitygan.metrics.inception import InceptionFeatureExtractor


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _natural_images(count: int, size: int, seed: int) -> torch.Tensor:
    """Random crops of matplotlib's bundled photo, uint8 [count, 3, size, size]."""
    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    photo = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)
    gen = torch.Generator().manual_seed(seed)
    crops = []
    for _ in range(count):
        side = int(torch.randint(size, min(photo.shape[1:]) + 1, (1,), generator=gen))
        top = int(torch.randint(0, photo.shape[1] - side + 1, (1,), generator=gen))
        left = int(torch.randint(0, photo.shape[2] - side + 1, (1,), generator=gen))
        crop = photo[:, top : top + side, left : left + side].permute(1, 2, 0).numpy()
        resized = Image.fromarray(crop).resize((size, size), Image.Resampling.LANCZOS)
        crops.append(torch.from_numpy(np.array(resized)).permute(2, 0, 1))
    return torch.stack(crops)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=128, help="input side before the 299 resize")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    images = _natural_images(args.batch, args.size, seed=0)
    configs = {
        "fp32_nchw": dict(precision="fp32", channels_last=False),
        "fp32_channels_last": dict(precision="fp32", channels_last=True),
        "bf16_channels_last": dict(precision="bf16", channels_last=True),
        "bf16_nchw": dict(precision="bf16", channels_last=False),
    }
    extractors = {
        name: InceptionFeatureExtractor(device=args.device, **kw) for name, kw in configs.items()
    }
    features: dict[str, np.ndarray] = {}
    for name, extractor in extractors.items():  # warm-up (TorchScript profiling runs)
        for _ in range(2):
            features[name] = extractor(images).double().cpu().numpy()
    timings: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(args.rounds):  # interleaved, so host noise hits every configuration alike
        for name, extractor in extractors.items():
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            extractor(images)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            timings[name].append(time.perf_counter() - start)

    reference = features["fp32_nchw"]
    results = {}
    for name in configs:
        rel = np.linalg.norm(features[name] - reference, axis=1) / np.linalg.norm(reference, axis=1)
        median = statistics.median(timings[name])
        results[name] = {
            "img_per_s_median": round(args.batch / median, 2),
            "img_per_s_best": round(args.batch / min(timings[name]), 2),
            "seconds_per_batch": [round(t, 3) for t in timings[name]],
            "rel_l2_error_mean": float(rel.mean()),
            "rel_l2_error_max": float(rel.max()),
            "max_abs_diff": float(np.abs(features[name] - reference).max()),
            "within_1e-3": bool(rel.max() <= 1e-3),
        }
    report = {
        "benchmark": "inception_features",
        "machine": {
            "cpu": _cpu_name(),
            "torch_threads": torch.get_num_threads(),
            "device": args.device,
            "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "load_avg_1min": Path("/proc/loadavg").read_text().split()[0]
            if Path("/proc/loadavg").exists()
            else None,
        },
        "batch": args.batch,
        "rounds": args.rounds,
        "input_size": args.size,
        "feature_mean": float(reference.mean()),
        "results": results,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
