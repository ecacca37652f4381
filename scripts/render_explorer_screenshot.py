"""Render the web explorer's screenshot (docs/images/explorer.png) from a model.

Usage::

    python scripts/render_explorer_screenshot.py [--model landscapes] [--seed 3] [--out FILE]

Starts the explorer server in this process (as ``infinitygan serve`` would, on the CPU), opens
the page in the system's headless Chromium through Playwright, waits until every tile of the view
has loaded, selects a region for download with the mouse (the "Select region" button, then a
drag; ``--no-select`` skips it), and writes the screenshot atomically as an optimised PNG of 256
colours (``--colors``), which keeps it a few hundred kB at most.

Needs the web extra (``pip install 'infinitygan[web]'``), ``pip install playwright`` (no browser
download: the system Chromium is used) and ``apt-get install -y chromium``; set
``INFINITYGAN_CHROMIUM`` to use another Chromium binary.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

from PIL import Image

from infinitygan._files import atomic_write
from infinitygan.web.chromium import CHROMIUM_ARGS, find_chromium

IDLE_TIMEOUT_MS = 600_000
"""Longest wait for the view's tiles (generated on the CPU)."""


def parse_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` -> (width, height), each 320 to 4096 pixels."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if not (320 <= width <= 4096 and 320 <= height <= 4096):
        raise argparse.ArgumentTypeError(f"each side must lie within 320 to 4096, got {text!r}")
    return width, height


def parse_colors(text: str) -> int:
    """A palette size: 2 to 256, or 0 for full colour."""
    try:
        colors = int(text)
    except ValueError:
        colors = -1
    if colors != 0 and not 2 <= colors <= 256:
        raise argparse.ArgumentTypeError(f"expected 0 or 2 to 256, got {text!r}")
    return colors


def start_app(model: str, seed: int) -> Any:
    """The explorer app of ``model``, loaded the way ``infinitygan serve`` loads it (on the CPU)."""
    from infinitygan.checkpoint import CheckpointError, load_generator, resolve_model_path
    from infinitygan.web.app import ServerOptions, create_app, model_identity

    try:
        path = resolve_model_path(model)
        G = load_generator(path)
        model_id = model_identity(path)
    except CheckpointError as err:
        sys.exit(f"error: {err}")
    name = path.name if Path(model).exists() else model
    # A budget of an hour offers every zoom level whatever the machine's load.
    options = ServerOptions(default_seed=seed, zoom_budget=3600)
    return create_app(G, model_name=name, model_id=model_id, options=options)


def take_screenshot(url: str, chromium: str, size: tuple[int, int], select: bool) -> bytes:
    """Open ``url`` in headless Chromium at viewport ``size``, wait for its tiles, optionally
    drag a region selection right of and below the view's centre, and return the PNG screenshot."""
    from playwright.sync_api import sync_playwright

    width, height = size
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(
                viewport={"width": width, "height": height}, device_scale_factor=1
            )
            problems: list[str] = []
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(url)
            page.wait_for_function(
                "() => window.explorer && (window.explorer.idle() || window.explorer.lastError)",
                timeout=IDLE_TIMEOUT_MS,
            )
            if page.evaluate("window.explorer.lastError"):
                raise RuntimeError(page.evaluate("window.explorer.lastError"))
            if select:
                page.click("#select-region")
                page.mouse.move(round(width * 0.51), round(height * 0.39))
                page.mouse.down()
                page.mouse.move(round(width * 0.82), round(height * 0.71), steps=8)
                page.mouse.up()
                page.locator("#region-form").wait_for(state="visible")
            # The status line refreshes every 0.5 s (server stats every 1 s): wait until it shows
            # the loaded view and an idle server.
            page.wait_for_function(
                "() => document.getElementById('status-queue').textContent === 'idle'"
                " && document.getElementById('status-rate').textContent.startsWith('server idle')"
            )
            if problems:
                raise RuntimeError(f"the page reported an error: {problems[0]}")
            return page.screenshot()
        finally:
            browser.close()


def write_png(data: bytes, out: Path, colors: int) -> None:
    """Save the screenshot ``data`` to ``out`` atomically as an optimised PNG, reduced to a
    palette of ``colors`` colours (0: full colour)."""
    with Image.open(io.BytesIO(data)) as im:
        image = im.convert("RGB")
    if colors:
        image = image.quantize(colors, method=Image.Quantize.FASTOCTREE)
    atomic_write(out, lambda tmp: image.save(tmp, format="png", optimize=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="landscapes", help="model file or bundled model name")
    parser.add_argument("--out", type=Path, default=Path("docs/images/explorer.png"))
    parser.add_argument("--seed", type=int, default=3, help="canvas seed shown")
    parser.add_argument("--x", type=int, default=0, help="canvas column at the view's centre")
    parser.add_argument("--y", type=int, default=0, help="canvas row at the view's centre")
    parser.add_argument(
        "--zoom", type=int, default=0, choices=range(-4, 1), help="0: full resolution, -k: 1/2^k"
    )
    parser.add_argument(
        "--size", type=parse_size, default=(1100, 660), help="viewport WIDTHxHEIGHT in pixels"
    )
    parser.add_argument(
        "--colors",
        type=parse_colors,
        default=256,
        help="palette size of the PNG, 2 to 256, to keep it small (0: full colour)",
    )
    parser.add_argument(
        "--no-select", action="store_true", help="a plain view, without a selected region"
    )
    args = parser.parse_args()

    try:
        import fastapi  # noqa: F401
        import playwright.sync_api  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as err:
        sys.exit(f"error: {err.name} is not installed: pip install 'infinitygan[web]' playwright")
    chromium = find_chromium()
    if not Path(chromium).is_file():
        sys.exit(
            f"error: no Chromium at {chromium}: apt-get install -y chromium "
            "(or set INFINITYGAN_CHROMIUM)"
        )

    from playwright.sync_api import Error as PlaywrightError

    from infinitygan.web.app import BackgroundServer
    from infinitygan.web.description import SEED_LIMIT

    if abs(args.seed) > SEED_LIMIT:
        parser.error(f"--seed must lie within +-{SEED_LIMIT}")
    app = start_app(args.model, args.seed)
    with BackgroundServer(app) as server:
        url = f"{server.url}#s={args.seed}&x={args.x}&y={args.y}&z={args.zoom}"
        try:
            data = take_screenshot(url, chromium, args.size, not args.no_select)
        except (PlaywrightError, RuntimeError) as err:
            sys.exit(f"error: {str(err).splitlines()[0]}")
    write_png(data, args.out, args.colors)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
