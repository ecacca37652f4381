"""Generation speed: analytic FLOPs, in-process conv peak, efficiency, MP/s, peak RSS (JSON).

Usage:
    python benchmarks/bench_generate.py [--preset paper-101] [--size 1024] [--precision fp32]
        [--threads 2] [--device cpu] [--tile PIXELS] [--max-memory BYTES]

Useful FLOPs are those of one padding-free forward over the smallest window that covers the
canvas (structure synthesizer + texture synthesizer convolutions, 2 FLOPs per multiply-add);
tile overlap recomputation is overhead and lowers the efficiency.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _peak import conv_peak_flops, machine  # noqa: E402

from infinitygan import build_generator  # noqa: E402
from infinitygan.canvas import generate_image, image_framing  # noqa: E402
from infinitygan.runtime import PRECISIONS  # noqa: E402


def analytic_flops(G, height: int, width: int) -> dict[str, float]:
    """FLOPs of a one-shot forward producing a ``height x width`` canvas."""
    geo = G.geometry
    cfg = G.config
    top, left = image_framing(height, width)
    wy, wx = geo.window(top, height), geo.window(left, width)
    sy, sx = wy.cells, wx.cells
    k = cfg.structure.kernel_size
    structure = 0.0
    ly, lx = geo.structure_in(sy), geo.structure_in(sx)
    c_in = cfg.structure.local_dim
    for _ in range(cfg.structure.num_layers):
        ly, lx = ly - (k - 1), lx - (k - 1)
        structure += 2.0 * ly * lx * cfg.structure.channels * (c_in + 3) * k * k
        c_in = cfg.structure.channels
    texture = 0.0
    hy, hx = geo.texture_conv_sizes(sy), geo.texture_conv_sizes(sx)
    prev_y, prev_x, c_prev = sy, sx, cfg.structure.channels
    for i in range(G.num_convs):
        c_out = cfg.texture.channels[i // 2]
        if i % 2 == 0:  # transposed conv: every input pixel scatters 9 taps
            texture += 2.0 * prev_y * prev_x * c_prev * c_out * 9
        else:
            texture += 2.0 * hy[i] * hx[i] * c_prev * c_out * 9
        prev_y, prev_x, c_prev = hy[i], hx[i], c_out
    for pair, c in enumerate(cfg.texture.channels):  # ToRGB 1x1
        texture += 2.0 * hy[2 * pair + 1] * hx[2 * pair + 1] * c * 3
    return {"structure": structure, "texture": texture, "total": structure + texture}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="paper-101")
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16", "fp16"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--tile", type=int, default=None)
    p.add_argument("--max-memory", type=int, default=2 << 30)
    p.add_argument("--repeats", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    G = build_generator(args.preset, seed=0).to(args.device)
    with torch.no_grad():
        for conv in G.texture_synthesizer.convs:
            conv.noise.strength.fill_(0.1)
    dtype = PRECISIONS[args.precision]
    peak_before = conv_peak_flops(dtype=dtype, device=args.device)
    flops = analytic_flops(G, args.size, args.size)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        generate_image(
            G,
            0,
            args.size,
            args.size,
            precision=args.precision,
            tile=args.tile,
            max_memory=args.max_memory,
            device=args.device,
        )
        times.append(time.perf_counter() - t0)
    peak_after = conv_peak_flops(dtype=dtype, device=args.device)
    seconds = min(times)
    peak = max(peak_before, peak_after)
    result = {
        "benchmark": "generate",
        "preset": args.preset,
        "size": [args.size, args.size],
        "precision": args.precision,
        "machine": machine(),
        "analytic_gflop": round(flops["total"] / 1e9, 1),
        "analytic_gflop_structure": round(flops["structure"] / 1e9, 1),
        "conv_peak_gflops": round(peak / 1e9, 1),
        "conv_peak_gflops_before_after": [round(peak_before / 1e9, 1), round(peak_after / 1e9, 1)],
        "seconds": round(seconds, 2),
        "achieved_gflops": round(flops["total"] / seconds / 1e9, 1),
        "efficiency": round(flops["total"] / seconds / peak, 3),
        "megapixels_per_second": round(args.size * args.size / 1e6 / seconds, 4),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
