"""Peak memory of the streaming writers does not grow with the canvas (slow: writes ~200 MiB)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Runs in a fresh process: imports, then resets the peak-RSS mark (Linux /proc/self/clear_refs),
# writes a canvas of random-ish 512x512 tiles and reports the peak RSS (ru_maxrss, which
# includes the import of torch through the package) and the peak above the post-import RSS.
_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np
    from infinitygan.writers import open_canvas_writer

    def status(key):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0

    path, h, w = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    chunk = 512
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
    except OSError:
        pass
    before = status("VmRSS")
    with open_canvas_writer(path, h, w, chunk=chunk, metadata={"seed": 0}) as writer:
        for y, x in writer.chunk_positions():
            rng = np.random.default_rng([y, x])
            th, tw = min(chunk, h - y), min(chunk, w - x)
            base = rng.integers(0, 256, (1, 1, 3))
            noise = rng.integers(-10, 11, (th, tw, 3))
            writer.write(y, x, (base + noise).clip(0, 255).astype(np.uint8))
    print(json.dumps({
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "growth_kib": status("VmHWM") - before,
    }))
    """
)


def _peak(path: Path, height: int, width: int) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(height), str(width)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".tif", ".zarr", ".dzi"])
def test_streaming_peak_rss_does_not_grow_with_canvas(tmp_path: Path, suffix: str) -> None:
    small = _peak(tmp_path / f"small{suffix}", 1024, 1024)
    big = _peak(tmp_path / f"big{suffix}", 16384, 4096)  # 192 MiB of pixels
    assert big["maxrss_kib"] <= 1.3 * small["maxrss_kib"], (small, big)
    if sys.platform.startswith("linux"):
        # Stricter: what the write adds above the imports stays far below one canvas.
        assert big["growth_kib"] <= small["growth_kib"] + 48 * 1024, (small, big)


@pytest.mark.slow
def test_memory_measurement_sees_an_in_memory_canvas(tmp_path: Path) -> None:
    """Control: PNG is assembled in memory (4 bytes/pixel), and the measurement shows it."""
    if not sys.platform.startswith("linux"):
        pytest.skip("needs /proc/self/clear_refs")
    small = _peak(tmp_path / "small.png", 1024, 1024)
    big = _peak(tmp_path / "big.png", 16384, 4096)
    assert big["growth_kib"] - small["growth_kib"] > 200 * 1024, (small, big)
