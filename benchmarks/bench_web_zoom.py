"""Benchmark the web explorer zooming out: how long the view takes to fill at each level.

Serves a model (the bundled ``landscapes`` by default) on loopback, opens the page in Debian's
Chromium (Playwright) at a place nobody has seen, waits until level 0 is filled, then zooms out
to the widest level the page offers (or ``--level``) in one step and times until the view is
filled again. Also times one 256-pixel tile against one 512-pixel block (per tile), interleaved.
Prints one JSON object: machine, load averages, render speeds, the levels offered, the fill
times, the tiles made, and the status line the page showed while filling.

Run: ``.venv/bin/python benchmarks/bench_web_zoom.py [--model landscapes] [--viewport 640x480]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peak import machine  # noqa: E402

from infinitygan import load_generator  # noqa: E402
from infinitygan.canvas import generate_region  # noqa: E402
from infinitygan.web.app import BackgroundServer, ServerOptions, create_app  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def tile_speeds(G, rounds: int) -> dict[str, float]:
    """Median seconds per 256-pixel tile rendered alone and inside a 512-pixel block."""
    generate_region(G, 0, 0, 0, 256, 256)  # one-off costs
    alone, block = [], []
    for i in range(rounds):
        t0 = time.perf_counter()
        generate_region(G, 1, 0, 512 * i, 256, 256)
        alone.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        generate_region(G, 2, 0, 512 * i, 512, 512)
        block.append((time.perf_counter() - t0) / 4)
    return {
        "alone": round(statistics.median(alone), 3),
        "in_512_block": round(statistics.median(block), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="landscapes")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--viewport", default="640x480")
    parser.add_argument("--at", default="1000000,-300000", help="canvas x,y of the view centre")
    parser.add_argument("--level", type=int, default=None, help="zoom here (default: widest)")
    parser.add_argument("--zoom-budget", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=3, help="tile speed rounds")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    width, height = (int(v) for v in args.viewport.split("x"))
    x, y = (int(v) for v in args.at.split(","))
    load_before = os.getloadavg()
    G = load_generator(args.model)
    speeds = tile_speeds(G, args.rounds)
    options = ServerOptions(zoom_budget=args.zoom_budget)
    app = create_app(G, model_name=args.model, model_id="be7c", options=options)
    store = app.state.explorer.store
    chromium = os.environ.get("INFINITYGAN_CHROMIUM") or shutil.which("chromium")
    idle = "() => window.explorer && window.explorer.idle()"
    status_js = "document.getElementById('status').textContent"
    with BackgroundServer(app) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        start = time.monotonic()
        page.goto(f"{server.url}#s={args.seed}&x={x}&y={y}&z=0")
        page.wait_for_function(idle, timeout=3_600_000)
        level0 = {"seconds": round(time.monotonic() - start, 1), "tiles_made": store.tiles_made}
        widest = page.evaluate("-explorer.map.getMinZoom()")
        level = widest if args.level is None else args.level
        made = store.tiles_made
        statuses = []
        start = time.monotonic()
        page.evaluate(f"explorer.map.setZoom({-level}, {{animate: false}})")
        while not page.evaluate(idle):
            statuses.append(page.evaluate(status_js))
            time.sleep(2.0)
        seconds = time.monotonic() - start
        browser.close()
    print(
        json.dumps(
            {
                "benchmark": "web_zoom",
                "machine": machine(),
                "load_average_before": [round(v, 2) for v in load_before],
                "load_average_after": [round(v, 2) for v in os.getloadavg()],
                "model": args.model,
                "viewport": args.viewport,
                "seconds_per_tile": speeds,
                "seconds_per_tile_server": round(store.seconds_per_tile(), 3),
                "zoom_budget": args.zoom_budget,
                "widest_level_offered": widest,
                "level0_fill": level0,
                "zoom_to_level": level,
                "zoom_fill_seconds": round(seconds, 1),
                "zoom_tiles_made": store.tiles_made - made,
                "status_while_filling": statuses[:3] + statuses[-2:] if statuses else [],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
