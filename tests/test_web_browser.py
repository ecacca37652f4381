"""The explorer page in a real headless Chromium (Debian's ``chromium`` driven by Playwright).

Needs ``pip install playwright`` (no browser download: the system Chromium is used) and
``apt-get install -y chromium``; skipped with the reason otherwise. Set ``INFINITYGAN_CHROMIUM``
to use another Chromium binary.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from infinitygan.web.chromium import CHROMIUM_ARGS, find_chromium

pytest.importorskip("fastapi", reason="the web extra is not installed: pip install '.[web]'")
pytest.importorskip("uvicorn", reason="the web extra is not installed: pip install '.[web]'")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed: pip install playwright"
)
CHROMIUM = find_chromium()
if not Path(CHROMIUM).is_file():
    pytest.skip(
        f"no Chromium at {CHROMIUM}: apt-get install -y chromium (or set INFINITYGAN_CHROMIUM)",
        allow_module_level=True,
    )

from infinitygan import build_generator  # noqa: E402
from infinitygan.applications.description import CanvasDescription  # noqa: E402
from infinitygan.canvas import generate_region  # noqa: E402
from infinitygan.imageio import to_uint8  # noqa: E402
from infinitygan.web.app import BackgroundServer, ServerOptions, create_app  # noqa: E402

VIEW_W, VIEW_H = 640, 480
# A part of the map that no control covers (panel top left, zoom top right, status bottom right).
CLIP = {"x": 340, "y": 190, "width": 280, "height": 220}


@pytest.fixture(scope="module")
def explorer_server():
    G = build_generator("tiny", seed=0)
    # A budget of an hour offers every level whatever the machine's load (the offered range
    # follows the measured speed; test_zooming_out_... checks that with the default budget).
    options = ServerOptions(max_level=3, zoom_budget=3600)
    app = create_app(G, model_name="tiny (test)", model_id="7e57", options=options)
    with BackgroundServer(app) as server:
        yield server, G, app


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(
        viewport={"width": VIEW_W, "height": VIEW_H}, device_scale_factor=1, accept_downloads=True
    )
    page = context.new_page()
    page.problems = []  # type: ignore[attr-defined]
    page.tile_urls = []  # type: ignore[attr-defined]
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.on("request", lambda r: "/tiles/" in r.url and page.tile_urls.append(r.url))
    yield page
    context.close()


def wait_idle(page) -> None:
    page.wait_for_function("() => window.explorer && window.explorer.idle()", timeout=180_000)


def view_origin(page, zoom: int = 0) -> tuple[float, float]:
    """Canvas (x, y) at the map's top-left corner, in pixels of ``zoom``."""
    return tuple(
        page.evaluate(
            "z => { const m = explorer.map;"
            " const p = m.project(m.containerPointToLatLng([0, 0]), z); return [p.x, p.y]; }",
            zoom,
        )
    )


def grab(page) -> np.ndarray:
    data = page.screenshot(clip=CLIP)
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB")).copy()


def tiles_reference(G, seed: int, top: int, left: int, height: int, width: int) -> np.ndarray:
    """The region assembled from 256-pixel tiles rendered one by one (what the server sends)."""
    out = np.empty((height, width, 3), np.uint8)
    for row in range(top // 256, (top + height - 1) // 256 + 1):
        for col in range(left // 256, (left + width - 1) // 256 + 1):
            tile = to_uint8(generate_region(G, seed, row * 256, col * 256, 256, 256))
            ya, yb = max(top, row * 256), min(top + height, row * 256 + 256)
            xa, xb = max(left, col * 256), min(left + width, col * 256 + 256)
            out[ya - top : yb - top, xa - left : xb - left] = tile[
                ya - row * 256 : yb - row * 256, xa - col * 256 : xb - col * 256
            ]
    return out


def open_view(page, base: str, seed: int, x: int, y: int, z: int = 0) -> None:
    page.goto(f"{base}#s={seed}&x={x}&y={y}&z={z}")
    wait_idle(page)


def check_clip(page, G, seed: int) -> None:
    """The clipped screenshot equals the tiles exactly and the one-pass region within 1/255."""
    ox, oy = view_origin(page)
    assert ox == int(ox) and oy == int(oy)
    top, left = int(oy) + CLIP["y"], int(ox) + CLIP["x"]
    h, w = CLIP["height"], CLIP["width"]
    shot = grab(page)
    assert np.array_equal(shot, tiles_reference(G, seed, top, left, h, w))
    # Seam check: the clip crosses tile borders, yet matches one pass over the whole region.
    assert (top // 256 != (top + h - 1) // 256) or (left // 256 != (left + w - 1) // 256)
    whole = to_uint8(generate_region(G, seed, top, left, h, w)).astype(int)
    diff = np.abs(shot.astype(int) - whole)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3


def test_page_loads_with_exact_seamless_tiles(explorer_server, page):
    server, G, _ = explorer_server
    # Centre so that the map's top-left corner is canvas pixel (-700, -1000).
    open_view(page, server.url, 5, -1000 + VIEW_W // 2, -700 + VIEW_H // 2)
    assert view_origin(page) == (-1000, -700)
    check_clip(page, G, 5)
    assert page.locator("#seed").input_value() == "5"
    assert "tiny (test)" in page.locator("#model-name").inner_text()
    status = page.locator("#status").inner_text()
    assert f"x {-1000 + VIEW_W // 2}" in status and "level 0" in status and "tiles/s" in status
    assert any("/tiles/5/0/-3/-4.png" in u for u in page.tile_urls)  # negative rows and cols
    assert page.problems == []


def test_panning_far_and_dragging(explorer_server, page):
    server, G, _ = explorer_server
    open_view(page, server.url, 9, 0, 0)
    loaded = page.evaluate("explorer.stats.loaded")
    page.evaluate("explorer.map.panBy([150000, -120000], {animate: false})")
    wait_idle(page)
    assert page.evaluate("explorer.centerPixel()") == {"x": 150000, "y": -120000}
    assert page.evaluate("explorer.stats.loaded") > loaded
    assert any("/tiles/9/0/-469/585.png" in u for u in page.tile_urls)
    assert "x=150000" in page.url and "y=-120000" in page.url
    check_clip(page, G, 9)
    # A real mouse drag 200 px to the left moves the view 200 px to the right.
    page.mouse.move(500, 300)
    page.mouse.down()
    page.mouse.move(300, 300, steps=10)
    page.wait_for_timeout(200)  # stop before releasing: no inertia
    page.mouse.up()
    wait_idle(page)
    assert page.evaluate("explorer.centerPixel()") == {"x": 150200, "y": -120000}
    check_clip(page, G, 9)
    # Past 2^20 px Leaflet's pixel origin is reset, so CSS offsets stay small.
    page.evaluate("explorer.map.panBy([-3000000, 0], {animate: false})")
    wait_idle(page)
    assert page.evaluate("explorer.centerPixel()") == {"x": -2849800, "y": -120000}
    assert abs(page.evaluate("explorer.map.containerPointToLayerPoint([0, 0]).x")) < 1 << 20
    check_clip(page, G, 9)
    assert page.problems == []


def test_seed_change_undo_redo(explorer_server, page):
    server, G, _ = explorer_server
    open_view(page, server.url, 5, 300, 100)
    before = grab(page)
    page.fill("#seed", "6")
    page.press("#seed", "Enter")
    wait_idle(page)
    assert "s=6" in page.url
    changed = grab(page)
    assert not np.array_equal(changed, before)
    check_clip(page, G, 6)
    page.click("#undo")
    wait_idle(page)
    assert page.locator("#seed").input_value() == "5" and "s=5" in page.url
    assert np.array_equal(grab(page), before)
    assert page.locator("#redo").is_enabled() and page.locator("#undo").is_disabled()
    page.keyboard.press("Control+Shift+Z")
    wait_idle(page)
    assert page.locator("#seed").input_value() == "6"
    assert np.array_equal(grab(page), changed)
    assert page.problems == []
    # The page URL is the shareable link: a fresh page shows the same view.
    shared = page.context.new_page()
    shared.goto(page.url)
    wait_idle(shared)
    assert shared.locator("#seed").input_value() == "6"
    assert shared.evaluate("explorer.centerPixel()") == page.evaluate("explorer.centerPixel()")
    assert np.array_equal(grab(shared), changed)


def test_region_selection_downloads_full_resolution(explorer_server, page, tmp_path):
    server, G, _ = explorer_server
    open_view(page, server.url, 4, 1000, -50)
    ox, oy = view_origin(page)
    page.click("#select-region")
    page.mouse.move(350, 200)
    page.mouse.down()
    page.mouse.move(470, 270, steps=5)
    page.mouse.up()
    assert page.locator("#region-form").is_visible()
    values = [
        page.locator(f"#region-{k}").input_value() for k in ("left", "top", "width", "height")
    ]
    assert values == [str(int(ox) + 350), str(int(oy) + 200), "120", "70"]
    page.fill("#region-width", "100")  # the box can be edited by number too
    with page.expect_download(timeout=120_000) as info:
        page.click("#region-download")
    path = tmp_path / "region.png"
    info.value.save_as(path)
    with Image.open(path) as im:
        got = np.asarray(im.convert("RGB"))
    want = to_uint8(generate_region(G, 4, int(oy) + 200, int(ox) + 350, 70, 100))
    assert np.array_equal(got, want)
    assert page.problems == []


def gated_app():
    """An app whose renders record their position and wait for ``gate`` to be set."""
    import threading

    import torch

    gate = threading.Event()
    calls: list[tuple[int, int]] = []

    def gated(spec, top, left, h, w):
        calls.append((top, left))
        gate.wait(60)
        return torch.zeros(3, h, w)

    return gate, calls, create_app(None, model_name="gated", model_id="ab", render_fn=gated)


def test_tiles_scrolled_away_are_cancelled_on_the_server(page):
    gate, calls, app = gated_app()
    scheduler = app.state.explorer.scheduler
    with BackgroundServer(app) as server:
        page.goto(f"{server.url}#s=1&x=0&y=0&z=0")
        # Four requests in flight (the page's limit): one rendering, three waiting on the server.
        page.wait_for_function("() => explorer.ready && explorer.active.size === 4")
        deadline = time.monotonic() + 10
        while (len(calls), scheduler.pending) != (1, 3) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(calls) == 1 and scheduler.pending == 3
        page.evaluate("explorer.map.panBy([100000, 0], {animate: false})")
        page.wait_for_function("() => explorer.stats.aborted === 4")
        deadline = time.monotonic() + 10
        while scheduler.stats.cancelled < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert scheduler.stats.cancelled == 3  # dropped without generating
        gate.set()
        wait_idle(page)
    far = [c for c in calls if c[1] >= 90000]
    assert len(calls) == 1 + len(far) and len(far) >= 6  # only the new view was rendered after
    assert page.problems == []


@pytest.mark.slow  # renders about 50 level-0 tiles for the level-1 view: 10-40 s
def test_zoom_out_and_download_view(explorer_server, page, tmp_path):
    server, G, app = explorer_server
    store = app.state.explorer.store
    open_view(page, server.url, 3, 0, 0)
    page.mouse.move(VIEW_W / 2, VIEW_H / 2)
    page.mouse.wheel(0, 50)  # one wheel notch: zoom out one level
    page.wait_for_function("() => explorer.map.getZoom() === -1")
    page.wait_for_timeout(300)  # let the zoom animation end
    wait_idle(page)
    assert "level 1" in page.locator("#status").inner_text() and "z=-1" in page.url
    assert any("/tiles/3/1/" in u for u in page.tile_urls)
    ox, oy = view_origin(page, -1)
    assert ox == int(ox) and oy == int(oy)
    want = store.region(
        CanvasDescription(seed=3),
        1,
        int(oy) + CLIP["y"],
        int(ox) + CLIP["x"],
        CLIP["height"],
        CLIP["width"],
    )
    assert np.array_equal(grab(page), want)
    region = page.evaluate("explorer.viewRegion()")
    assert region["level"] == 1 and region["width"] == VIEW_W and region["height"] == VIEW_H
    made = store.tiles_made
    with page.expect_download(timeout=120_000) as info:
        page.click("#download-view")
    path = tmp_path / "view.png"
    info.value.save_as(path)
    assert info.value.suggested_filename.startswith("infinitygan-seed3-level1-")
    with Image.open(path) as im:
        got = np.asarray(im.convert("RGB"))
    full = store.region(CanvasDescription(seed=3), 1, region["top"], region["left"], VIEW_H, VIEW_W)
    assert np.array_equal(got, full)
    # The download was made from the tiles on screen: nothing fetched, nothing rendered.
    assert page.evaluate("explorer.stats.viewDownloadFetched") == 0
    assert store.tiles_made == made
    assert page.locator("#progress").is_hidden()
    assert page.problems == []


@pytest.mark.slow  # fused tiles render slower than plain ones: 15-60 s
def test_style_anchor_and_box_edit_with_undo(explorer_server, page):
    server, G, _ = explorer_server
    open_view(page, server.url, 2, 0, 0)
    assert page.locator("#fusion").is_visible()
    plain = grab(page)
    ox, oy = view_origin(page)
    page.fill("#edit-seed", "77")
    page.click("#add-anchor")
    page.mouse.click(500, 300)
    wait_idle(page)
    centre = page.evaluate("explorer.centerPixel()")
    extras = page.evaluate("explorer.extras()")
    assert extras["anchors"] == [
        {"y": centre["y"], "x": centre["x"], "seed": 2},  # the canvas's own style stays
        {"y": int(oy) + 300, "x": int(ox) + 500, "seed": 77},
    ]
    assert "&d=" in page.url and any("desc=" in u for u in page.tile_urls)
    fused = grab(page)
    assert not np.array_equal(fused, plain)
    page.click("#select-region")
    page.mouse.move(320, 200)
    page.mouse.down()
    page.mouse.move(420, 260, steps=4)
    page.mouse.up()
    page.fill("#edit-seed", "5")
    page.click("#region-edit button[data-what=noise]")
    page.click("#region-cancel")  # hide the selection box (the edit keeps its dashed outline)
    wait_idle(page)
    assert page.evaluate("explorer.extras()")["edits"] == [
        {
            "top": int(oy) + 200,
            "left": int(ox) + 320,
            "height": 60,
            "width": 100,
            "what": "noise",
            "seed": 5,
        }
    ]
    assert page.locator("#edit-list li").count() == 3
    assert not np.array_equal(grab(page), fused)
    page.click("#undo")
    wait_idle(page)
    assert np.array_equal(grab(page), fused)
    page.click("#undo")
    wait_idle(page)
    assert np.array_equal(grab(page), plain) and "&d=" not in page.url
    assert page.problems == []


def test_bad_share_links_fall_back_with_one_message(explorer_server, page):
    import base64

    server, G, _ = explorer_server
    page.goto(f"{server.url}#s=99999999999999999&x=0&y=0&z=0")
    wait_idle(page)
    message = page.locator("#message").inner_text()
    assert '"99999999999999999" is not an integer within' in message and "seed 0" in message
    assert page.locator("#seed").input_value() == "0" and "s=0" in page.url
    not_json = "abc"
    not_drawable = base64.urlsafe_b64encode(b'{"anchors": 5}').decode().rstrip("=")
    assert "without anchors or edits" not in message  # the link had none
    for desc, why in ((not_json, "are not readable"), (not_drawable, "must be lists")):
        page.tile_urls.clear()
        page.goto("about:blank")  # then a new page load, not a hash change
        page.goto(f"{server.url}#s=4&x=0&y=0&z=0&d={desc}")
        wait_idle(page)
        message = page.locator("#message").inner_text()
        assert why in message and "without anchors or edits" in message, message
        assert page.tile_urls and not any("desc=" in u for u in page.tile_urls)
        assert "d=" not in page.url and page.evaluate("explorer.stats.errors") == 0
        assert page.evaluate("explorer.content") == {"seed": 4, "desc": ""}
    # Typing a bad link into the address bar of an open page (a hash change) is handled alike.
    page.evaluate("window.location.hash = '#s=1e5&x=0&y=0&z=0'")
    page.wait_for_function("() => explorer.content.seed === 4 && /s=4/.test(location.hash)")
    assert '"1e5" is not an integer' in page.locator("#message").inner_text()
    assert page.problems == []


def test_one_wheel_event_zooms_one_level(explorer_server, page):
    server, _, _ = explorer_server
    open_view(page, server.url, 2, 0, 0)
    page.mouse.move(VIEW_W / 2, VIEW_H / 2)
    page.mouse.wheel(0, 240)  # Leaflet's own handler zooms two levels for this
    page.wait_for_function("() => explorer.map.getZoom() === -1")
    page.wait_for_timeout(500)
    assert page.evaluate("explorer.map.getZoom()") == -1
    page.mouse.wheel(0, -240)
    page.wait_for_function("() => explorer.map.getZoom() === 0")
    assert page.problems == []


def test_download_view_shows_progress_and_can_be_cancelled(page):
    gate, _, app = gated_app()
    scheduler = app.state.explorer.scheduler
    with BackgroundServer(app) as server:
        page.goto(f"{server.url}#s=1&x=0&y=0&z=0")
        page.wait_for_function("() => explorer.ready && explorer.active.size === 4")
        downloads: list[object] = []
        page.on("download", lambda d: downloads.append(d))
        page.click("#download-view")
        progress = page.locator("#progress")
        assert progress.is_visible()
        missing = page.evaluate("explorer.stats.viewDownloadFetched")
        assert missing == 8  # the 640 x 480 view around (0, 0) touches 2 x 4 tiles, none loaded
        assert f"0 of {missing} tiles not on screen rendered" in progress.inner_text()
        page.click("#progress-cancel")
        page.wait_for_function("() => document.getElementById('progress').hidden")
        assert page.locator("#message").inner_text() == "Download cancelled."
        gate.set()
        wait_idle(page)
        page.wait_for_timeout(300)
        assert downloads == []
        assert scheduler.stats.failed == 0
    assert page.problems == []


@pytest.mark.slow  # the bundled model renders about 100 level 0 tiles: under 30 s
def test_zooming_out_to_the_widest_level_fills_the_view_in_seconds(browser):
    import re

    from infinitygan import load_generator

    G = load_generator("landscapes")
    app = create_app(G, model_name="landscapes", model_id="1a2b")
    store = app.state.explorer.store
    context = browser.new_context(viewport={"width": VIEW_W, "height": VIEW_H})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    try:
        with BackgroundServer(app) as server:
            open_view(page, server.url, 11, 1_000_000, -300_000)  # a place nobody has seen
            widest = page.evaluate("-explorer.map.getMinZoom()")
            speed = store.seconds_per_zoom_tile()
            assert widest >= 2, f"only {widest} levels offered at {speed:.3f} s per tile"
            made = store.tiles_made
            start = time.monotonic()
            page.evaluate(f"explorer.map.setZoom({-widest}, {{animate: false}})")
            # While the view fills, the status says what the server is doing.
            page.wait_for_function(
                "() => / tiles to render, ~/.test(document.getElementById('status').textContent)"
            )
            status = page.locator("#status-rate").inner_text()
            assert re.fullmatch(r"server \d+\.\d tiles/s, \d+ tiles to render, ~\d+ s", status)
            wait_idle(page)
            seconds = time.monotonic() - start
            rendered = store.tiles_made - made
            print(
                f"level 0 -> {widest}: {seconds:.1f} s, {rendered} tiles made, "
                f"{store.seconds_per_zoom_tile():.3f} s/tile, load {os.getloadavg()}"
            )
            assert seconds < 30
            ox, oy = view_origin(page, -widest)
            want = store.region(
                CanvasDescription(seed=11),
                widest,
                int(oy) + CLIP["y"],
                int(ox) + CLIP["x"],
                CLIP["height"],
                CLIP["width"],
            )
            assert np.array_equal(grab(page), want)
            page.wait_for_function(
                "() => /server idle/.test(document.getElementById('status').textContent)"
            )
    finally:
        context.close()
    assert problems == []


def test_zoom_range_follows_the_measured_speed(browser):
    import torch

    def slow(spec, top, left, h, w):  # 0.15 s per 256 x 256 tile
        time.sleep(0.15 * h * w / 256**2)
        return torch.zeros(3, h, w)

    app = create_app(None, model_name="slow", model_id="5104", render_fn=slow)
    seconds = app.state.explorer.store.measure(CanvasDescription(seed=0))
    assert 0.15 <= seconds < 0.25
    context = browser.new_context(viewport={"width": VIEW_W, "height": VIEW_H})
    page = context.new_page()
    try:
        with BackgroundServer(app) as server:
            page.goto(f"{server.url}#s=0&x=0&y=0&z=0")
            page.wait_for_function("() => window.explorer && explorer.ready")
            # 640 x 480 at level 2: at most 6 x 5 tiles of 512 canvas pixels = 120 level 0
            # tiles, 18 s at 0.15 s each; level 3 needs 11 x 9 x 4 x 4 = 396 tiles (59 s).
            assert page.evaluate("explorer.map.getMinZoom()") == -2
            assert "(widest 2)" in page.locator("#status-zoom").inner_text()
            title = page.locator("#status-zoom").get_attribute("title")
            assert title.startswith("Level 3 would take the server more than 30 s to fill")
            # A bigger window needs more tiles per level: level 2 would take 59 s now.
            page.set_viewport_size({"width": 2 * VIEW_W, "height": 2 * VIEW_H})
            page.wait_for_function("() => explorer.map.getMinZoom() === -1", timeout=10_000)
    finally:
        context.close()
