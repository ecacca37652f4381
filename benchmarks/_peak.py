"""Shared benchmark helpers: machine description and a convolution peak measured in-process."""

from __future__ import annotations

import os
import platform
import time

import torch


def machine() -> dict:
    info = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": "cpu",
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    if torch.cuda.is_available():
        info["device"] = torch.cuda.get_device_name()
    return info


def conv_peak_flops(
    channels: int = 512,
    size: int = 64,
    batch: int = 2,
    dtype: torch.dtype = torch.float32,
    repeats: int = 5,
    device: str = "cpu",
) -> float:
    """Best-of-``repeats`` FLOP/s of a 3x3 unpadded conv like the texture synthesizer's."""
    x = torch.randn(batch, channels, size, size, device=device)
    w = torch.randn(channels, channels, 3, 3, device=device)
    x = x.contiguous(memory_format=torch.channels_last)
    flops = 2 * batch * channels * channels * 9 * (size - 2) ** 2
    best = float("inf")
    ctx = torch.autocast(device, dtype=dtype) if dtype != torch.float32 else _null()
    with torch.no_grad(), ctx:
        torch.nn.functional.conv2d(x, w)
        for _ in range(repeats):
            if device != "cpu":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            torch.nn.functional.conv2d(x, w)
            if device != "cpu":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
    return flops / best


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
