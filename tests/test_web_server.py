"""The explorer server on loopback: tiles, downloads, limits, load, cancellation and the CLI."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import psutil
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi", reason="the web extra is not installed: pip install '.[web]'")
pytest.importorskip("uvicorn", reason="the web extra is not installed: pip install '.[web]'")

from infinitygan import build_generator, load_generator, save_generator  # noqa: E402
from infinitygan.applications.description import Anchor, CanvasDescription  # noqa: E402
from infinitygan.applications.scene import render_region  # noqa: E402
from infinitygan.canvas import generate_region  # noqa: E402
from infinitygan.imageio import to_uint8  # noqa: E402
from infinitygan.web.app import (  # noqa: E402
    BackgroundServer,
    ServerOptions,
    create_app,
    model_identity,
)
from infinitygan.web.description import encode_extras  # noqa: E402
from infinitygan.web.tiles import MemoryCache, TileStore, downsample2x  # noqa: E402

Response = tuple[int, dict[str, str], bytes]


def request(
    base: str,
    path: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 120.0,
) -> Response:
    """One HTTP request on its own connection; returns (status, headers, body)."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def png_pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "RGB"
        return np.asarray(im).copy()


def coord_render(d: CanvasDescription, top: int, left: int, h: int, w: int) -> torch.Tensor:
    """A cheap stand-in for the model: a smooth image that is a pure function of position."""
    y = torch.arange(top, top + h, dtype=torch.float64).view(1, -1, 1)
    x = torch.arange(left, left + w, dtype=torch.float64).view(1, 1, -1)
    c = torch.arange(1, 4, dtype=torch.float64).view(-1, 1, 1)
    return torch.sin(0.05 * y + 0.031 * c * x + d.seed).float()


def wait_until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def file_fingerprint(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mtime_ns, st.st_size


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_generator(build_generator("tiny", seed=0), path)
    return path


@pytest.fixture(scope="module")
def served(model_file):
    fingerprint = file_fingerprint(model_file)
    G = load_generator(model_file)
    model_id = model_identity(model_file)
    options = ServerOptions(max_level=3, cache_bytes=32 << 20, max_image_pixels=512 * 512)
    app = create_app(G, model_name=model_file.name, model_id=model_id, options=options)
    with BackgroundServer(app) as server:
        yield SimpleNamespace(
            url=server.url,
            server=server,
            G=G,
            app=app,
            model_id=model_id,
            model_file=model_file,
            fingerprint=fingerprint,
        )


# --------------------------------------------------------------------------------------------
# Content


def test_info_page_and_vendored_viewer(served):
    status, headers, body = request(served.url, "/api/info")
    assert status == 200
    info = json.loads(body)
    assert info["model"] == {
        "name": "tiny.safetensors",
        "id": served.model_id,
        "preset": "tiny",
        "period_pixels": 2224,
    }
    assert info["tile_size"] == 256 and info["max_level"] == 3
    assert info["limits"]["anchors"] == 16 and info["default_blend"] == 127
    status, headers, body = request(served.url, "/")
    assert status == 200 and b"static/explorer.js" in body
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    for asset in ("vendor/leaflet/leaflet.js", "vendor/leaflet/leaflet.css", "explorer.js"):
        status, _, body = request(served.url, f"/static/{asset}")
        assert status == 200 and len(body) > 1000, asset
    status, _, body = request(served.url, "/static/vendor/leaflet/LICENSE")
    assert status == 200 and b"BSD 2-Clause" in body


def test_level0_tile_is_exactly_generate_region(served):
    status, headers, body = request(served.url, "/tiles/3/0/-2/5.png")
    assert status == 200 and headers["content-type"] == "image/png"
    assert headers["cache-control"] == "no-cache"
    want = to_uint8(generate_region(served.G, 3, -512, 1280, 256, 256))
    assert np.array_equal(png_pixels(body), want)
    # With the model id the URL names this model's pixels for good.
    status, headers, again = request(served.url, f"/tiles/3/0/-2/5.png?m={served.model_id}")
    assert status == 200 and again == body and "immutable" in headers["cache-control"]
    status, _, body = request(served.url, "/tiles/3/0/-2/5.png?m=deadbeef")
    assert status == 409 and b"another model" in body


def test_level1_tile_is_the_box_filter_of_level0(served):
    children = [
        png_pixels(request(served.url, f"/tiles/8/0/{r}/{c}.png")[2])
        for r in (-2, -1)
        for c in (0, 1)
    ]
    mosaic = np.concatenate(
        [np.concatenate(children[:2], axis=1), np.concatenate(children[2:], axis=1)], axis=0
    )
    status, _, body = request(served.url, "/tiles/8/1/-1/0.png")
    assert status == 200
    assert np.array_equal(png_pixels(body), downsample2x(mosaic))


def test_small_tiles_are_parts_of_the_256_pixel_tile(served):
    whole = png_pixels(request(served.url, "/tiles/8/2/-1/0.png")[2])
    for size in (128, 64):
        n = 256 // size
        for r, c in ((0, 0), (n - 1, 1), (1, n - 1)):
            status, _, body = request(served.url, f"/tiles/8/2/{-n + r}/{c}.png?size={size}")
            assert status == 200
            part = png_pixels(body)
            assert part.shape == (size, size, 3)
            assert np.array_equal(part, whole[r * size : (r + 1) * size, c * size : (c + 1) * size])
    for path, message in (
        ("/tiles/8/1/0/0.png?size=64", b"one of [256, 128]"),
        ("/tiles/8/2/0/0.png?size=100", b"one of [256, 128, 64]"),
        ("/tiles/8/0/0/0.png?size=256x", b"one of [256]"),
        ("/tiles/8/2/8388608/0.png?size=64", b"row must lie in"),
    ):
        status, _, body = request(served.url, path)
        assert status == 400 and message in body, (path, body)


def test_check_route_says_whether_a_canvas_can_be_drawn(served):
    import base64

    ok = json.loads(request(served.url, "/api/check?seed=3")[2])
    assert ok == {"ok": True}
    bad = base64.urlsafe_b64encode(b'{"anchors": 5}').decode().rstrip("=")
    status, _, body = request(served.url, f"/api/check?seed=3&desc={bad}")
    assert status == 200 and json.loads(body) == {
        "ok": False,
        "detail": "description: 'anchors' and 'edits' must be lists",
    }
    answer = json.loads(request(served.url, "/api/check?seed=99999999999999999")[2])
    assert answer["ok"] is False and "seed must lie in" in answer["detail"]


def test_region_download(served):
    path = "/image.png?seed=3&level=0&top=-10&left=250&height=20&width=30"
    status, headers, body = request(served.url, path)
    assert status == 200
    assert headers["content-disposition"] == (
        'attachment; filename="infinitygan-seed3-level0-y-10-x250-30x20.png"'
    )
    want = to_uint8(generate_region(served.G, 3, -10, 250, 20, 30))
    assert np.array_equal(png_pixels(body), want)
    status, _, body = request(
        served.url, "/image.png?seed=3&level=0&top=0&left=0&height=600&width=600"
    )
    assert status == 400 and b"at most 262144" in body


def test_anchor_tiles_render_through_the_library(served):
    spec = CanvasDescription(seed=1, anchors=(Anchor(0, 0, 1), Anchor(0, 256, 2)), blend=31)
    status, _, body = request(served.url, f"/tiles/1/0/0/0.png?desc={encode_extras(spec)}")
    assert status == 200
    want = to_uint8(render_region(served.G, spec, 0, 0, 256, 256))
    assert np.array_equal(png_pixels(body), want)
    assert not np.array_equal(png_pixels(request(served.url, "/tiles/1/0/0/0.png")[2]), want)


# --------------------------------------------------------------------------------------------
# Safety


def test_host_body_and_path_limits(served):
    assert request(served.url, "/api/info", headers={"Host": "evil.example"})[0] == 400
    status, _, body = request(
        served.url,
        "/api/info",
        method="POST",
        body=b"x" * (64 << 10),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert status == 413 and b"larger than" in body
    for path in (
        "/static/../pyproject.toml",
        "/static/%2e%2e/app.py",
        "/static/..%2f..%2fcheckpoint.py",
        "/static/vendor/../../app.py",
        "/..%2f..%2fpyproject.toml",
        "/tiles/0/0/0/0.png/../../../app.py",
    ):
        status, _, body = request(served.url, path)
        assert status == 404, (path, status)
        assert b"import" not in body
    # A chunked body is refused before any route sees it.
    with socket.create_connection(("127.0.0.1", served.server.port), timeout=10) as s:
        s.sendall(
            b"POST /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n0\r\n\r\n"
        )
        assert s.recv(100).startswith(b"HTTP/1.1 411")


def test_deeply_nested_description_gets_400_with_security_headers(served):
    import base64

    nested = base64.urlsafe_b64encode(b"[" * 1000).decode().rstrip("=")  # 1,334 characters
    status, headers, body = request(served.url, f"/tiles/1/0/0/0.png?desc={nested}")
    assert status == 400
    detail = json.loads(body)["detail"]
    assert "1000 deep" in detail and "\n" not in detail
    assert headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" in headers


@pytest.mark.parametrize(
    ("what", "status"), [("url", 431), ("header", 431), ("body", 413), ("chunked", 411)]
)
def test_5mb_requests_get_an_answer_not_a_reset(served, what, status):
    big = "a" * (5 << 20)
    path, headers, body, method = "/api/info", {}, None, "GET"
    if what == "url":
        path = f"/tiles/0/0/0/0.png?x={big}"
    elif what == "header":
        headers = {"X-Big": big}
    elif what == "body":
        method, body = "POST", big.encode()
    url = urllib.parse.urlsplit(served.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        if what == "chunked":
            conn.putrequest("POST", path)
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            for _ in range(5):
                conn.send(b"100000\r\n" + b"a" * (1 << 20) + b"\r\n")
            conn.send(b"0\r\n\r\n")
        else:
            conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        got, detail = r.status, json.loads(r.read())["detail"]
        got_headers = {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()
    assert got == status, (what, got, detail)
    assert "larger than" in detail or "Content-Length" in detail
    assert got_headers["x-content-type-options"] == "nosniff"
    assert request(served.url, "/api/info")[0] == 200  # and the server carries on


def _malformed_paths(model_id: str) -> list[tuple[str, str, dict[str, str]]]:
    import base64

    def b64(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    rng = random.Random(0)
    out: list[tuple[str, str, dict[str, str]]] = []
    bad_numbers = [
        "abc",
        "1e3",
        "+5",
        "0x10",
        "5_000",
        "%20",
        "1.5",
        "",
        "--1",
        "%D9%A3",
        "99999999999999999999999",
        "%00",
        "NaN",
        "-",
    ]
    for _ in range(40):
        n = rng.choice(bad_numbers)
        k = rng.randrange(4)
        parts = ["0", "0", "0", "0"]
        parts[k] = n
        out.append(("GET", "/tiles/{}/{}/{}/{}.png".format(*parts), {}))
    for _ in range(30):
        out.append(("GET", f"/tiles/0/{rng.choice([-1, 4, 5, 99, 2**40])}/0/0.png", {}))
        lim = 4194304 >> rng.randrange(4)
        level = {4194304: 0, 2097152: 1, 1048576: 2, 524288: 3}[lim]
        out.append(("GET", f"/tiles/0/{level}/{rng.choice([lim, -lim - 1, 10**12])}/0.png", {}))
        out.append(("GET", f"/tiles/0/{level}/0/{rng.choice([lim, -lim - 1])}.png", {}))
        out.append(("GET", f"/tiles/{2**53 + rng.randrange(9)}/0/0/0.png", {}))
    queries = [
        "p=-1",
        "p=abc",
        "p=1e9",
        "p=1.1234567",
        "p=%FF",
        "desc=!!!",
        "desc=" + "A" * 5000,
        "desc=abc",
        "desc=" + b64([1, 2]),
        "desc=" + b64({"edits": [], "color": 1}),
        "desc=" + b64({"anchors": [{"y": 0, "x": 0, "seed": 0.5}]}),
        "desc=" + b64({"edits": [{"op": "x"}] * 100}),
        "desc=" + b64({"anchors": [{"y": 0, "x": 0, "seed": 1, "z": 0}]}),
        "desc=" + b64({"placements": [{"latents": "/etc/passwd"}]}),
        "desc=" + base64.urlsafe_b64encode(b"[" * 1000).decode().rstrip("="),  # 1,334 chars
        "m=deadbeef",
        f"m={model_id}x",
        "m=",
    ]
    for q in queries:
        for _ in range(8):
            out.append(("GET", f"/tiles/{rng.randrange(100)}/0/0/0.png?{q}", {}))
    image_queries = [
        "",
        "top=0",
        "top=0&left=0&height=0&width=5",
        "top=0&left=0&height=5&width=-1",
        "top=0&left=0&height=100000&width=100000",
        "top=a&left=0&height=5&width=5",
        "top=0&left=0&height=5&width=5&level=9",
        "top=1073741823&left=0&height=5&width=5",
        "seed=x&top=0&left=0&height=5&width=5",
    ]
    for q in image_queries:
        for _ in range(8):
            out.append(("GET", f"/image.png?{q}", {}))
    others = [
        ("POST", "/tiles/0/0/0/0.png", {}),
        ("PUT", "/api/info", {}),
        ("DELETE", "/", {}),
        ("GET", "/tiles/0/0/0/0.jpg", {}),
        ("GET", "/tiles/0/0/0.png", {}),
        ("GET", "/tiles/0/0/0/0/0.png", {}),
        ("GET", "/static/../pyproject.toml", {}),
        ("GET", "/static/%2e%2e/%2e%2e/pyproject.toml", {}),
        ("GET", "/nope", {}),
        ("GET", "/api/info", {"Host": "attacker.example"}),
        ("GET", "/api/info", {"Content-Length": "999999999"}),
        ("GET", "/static/", {}),
        ("GET", "/docs", {}),
        ("GET", "/openapi.json", {}),
    ]
    while len(out) < 1000:
        out.append(rng.choice(others))
    rng.shuffle(out)
    return out[:1000]


def test_1000_malformed_requests_get_4xx_and_the_server_stays_up(served):
    cases = _malformed_paths(served.model_id)
    assert len(cases) == 1000

    def send(case: tuple[str, str, dict[str, str]]) -> tuple[str, int]:
        method, path, headers = case
        body = b"" if "Content-Length" in headers else None
        try:
            return path, request(served.url, path, method, headers, body, timeout=30)[0]
        except (http.client.HTTPException, OSError) as err:  # the server closed on us
            return path, -1 if not isinstance(err, ConnectionResetError) else -2

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(send, cases))
    bad = [(p, s) for p, s in results if not 400 <= s < 500]
    assert not bad, bad[:10]
    # Raw garbage is answered by the HTTP parser with 400 too.
    for raw in (b"GARBAGE\r\n\r\n", b"GET /\x00 HTTP/1.1\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", served.server.port), timeout=10) as s:
            s.sendall(raw)
            assert s.recv(100).startswith(b"HTTP/1.1 4"), raw
    assert served.server.alive
    assert request(served.url, "/api/info")[0] == 200
    assert request(served.url, "/tiles/0/0/1/1.png")[0] == 200
    stats = json.loads(request(served.url, "/api/stats")[2])
    assert stats["failed"] == 0


def test_model_file_is_never_written(served):
    request(served.url, "/tiles/1/1/0/0.png")
    assert file_fingerprint(served.model_file) == served.fingerprint


# --------------------------------------------------------------------------------------------
# Load, queueing and cancellation


def test_200_concurrent_tile_requests(model_file):
    G = load_generator(model_file)
    cache_bytes = 3 << 20  # about 8 tiles of pixels and PNG: forces evictions
    options = ServerOptions(cache_bytes=cache_bytes, max_queue=256)
    app = create_app(G, model_name="tiny", model_id=model_identity(model_file), options=options)
    process = psutil.Process()
    tiles = [(r, c) for r in range(-2, 2) for c in range(-3, 2)]  # 20 distinct tiles
    paths = [f"/tiles/6/0/{r}/{c}.png?p={abs(r) + abs(c)}" for r, c in tiles] * 10
    random.Random(1).shuffle(paths)
    with BackgroundServer(app) as server:
        rss0 = process.memory_info().rss
        barrier = threading.Barrier(len(paths))

        def send(path: str) -> Response:
            barrier.wait(30)
            return request(server.url, path, timeout=300)

        with ThreadPoolExecutor(len(paths)) as pool:
            results = list(pool.map(send, paths))
        rss1 = process.memory_info().rss
        stats = json.loads(request(server.url, "/api/stats")[2])
    assert [s for s, _, _ in results] == [200] * len(paths)
    by_path: dict[str, set[bytes]] = {}
    for path, (_, _, body) in zip(paths, results):
        by_path.setdefault(path, set()).add(body)
    assert all(len(bodies) == 1 for bodies in by_path.values())  # same tile, same bytes
    assert stats["failed"] == 0 and stats["rejected"] == 0
    assert stats["cache"]["bytes"] <= cache_bytes
    assert stats["tiles_made"] <= 2 * len(tiles)  # coalesced: no tile made once per request
    assert rss1 - rss0 < 300 << 20, f"RSS grew by {(rss1 - rss0) >> 20} MiB"


@pytest.mark.slow
def test_200_concurrent_distinct_tiles(model_file):
    G = load_generator(model_file)
    options = ServerOptions(cache_bytes=4 << 20, max_queue=256)
    app = create_app(G, model_name="tiny", model_id=model_identity(model_file), options=options)
    paths = [f"/tiles/0/0/{r}/{c}.png" for r in range(-10, 10) for c in range(-5, 5)]
    with BackgroundServer(app) as server, ThreadPoolExecutor(len(paths)) as pool:
        results = list(pool.map(lambda p: request(server.url, p, timeout=600), paths))
        stats = json.loads(request(server.url, "/api/stats")[2])
    assert [s for s, _, _ in results] == [200] * 200
    assert stats["cache"]["bytes"] <= 4 << 20 and stats["tiles_made"] == 200


class GatedRender:
    """A render function that blocks on tile (0, 0) until released and records every call."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.calls: list[tuple[int, int]] = []

    def __call__(self, d: CanvasDescription, top: int, left: int, h: int, w: int) -> torch.Tensor:
        self.calls.append((top, left))
        if (top, left) == (0, 0):
            self.gate.wait(30)
        return coord_render(d, top, left, h, w)


def _gated_app(max_queue: int = 8) -> tuple[GatedRender, object]:
    gated = GatedRender()
    app = create_app(
        None,
        model_name="fake",
        model_id="00ff",
        render_fn=gated,
        options=ServerOptions(max_queue=max_queue),
    )
    return gated, app


def test_stats_report_render_speed_and_work_left():
    gated, app = _gated_app()
    with BackgroundServer(app) as server:

        def stats() -> dict:
            return json.loads(request(server.url, "/api/stats")[2])

        info = json.loads(request(server.url, "/api/info")[2])
        assert info["seconds_per_tile"] is None  # a render function: nothing measured yet
        assert info["max_shrink"] == 3 and info["zoom_budget"] == 30.0 and info["workers"] == 1
        assert stats()["work_left"] == 0
        threads = [
            threading.Thread(target=request, args=(server.url, path))
            for path in ("/tiles/0/2/0/0.png", "/tiles/0/1/-1/0.png?p=1")
        ]
        threads[0].start()
        wait_until(lambda: gated.calls == [(0, 0)])  # rendering the first of 16 tiles
        assert stats()["work_left"] == 16
        threads[1].start()
        wait_until(lambda: stats()["queue"] == 1)
        assert stats()["work_left"] == 16 + 4
        gated.gate.set()
        for t in threads:
            t.join(30)
        s = stats()
        assert s["work_left"] == 0 and s["tiles_made"] == (16 + 4 + 1) + (4 + 1)
        assert 0 < s["seconds_per_tile"] < 30 and 0 < s["seconds_per_zoom_tile"] < 30


def test_speed_is_measured_when_the_app_is_created():
    calls: list[tuple[int, int]] = []

    def slow_render(d: CanvasDescription, top: int, left: int, h: int, w: int) -> torch.Tensor:
        calls.append((top, left))
        time.sleep(0.05)
        return coord_render(d, top, left, h, w)

    store = TileStore(slow_render, MemoryCache(1 << 20))
    seconds = store.measure(CanvasDescription(seed=0))
    assert calls == [(0, 0), (0, 0)] and 0.05 <= seconds < 5
    assert store.tiles_made == 0 and len(store.memory) == 0  # nothing cached or counted
    G = build_generator("tiny", seed=0)
    app = create_app(G, model_name="tiny", model_id="01")
    assert app.state.explorer.store.seconds_per_tile() > 0
    app = create_app(
        G, model_name="tiny", model_id="01", options=ServerOptions(measure_speed=False)
    )
    assert app.state.explorer.store.seconds_per_tile() is None


def test_disconnected_requests_are_dropped_before_generating():
    gated, app = _gated_app()
    scheduler = app.state.explorer.scheduler
    with BackgroundServer(app) as server:
        first: list[Response] = []
        t = threading.Thread(target=lambda: first.append(request(server.url, "/tiles/0/0/0/0.png")))
        t.start()
        wait_until(lambda: gated.calls == [(0, 0)])
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(b"GET /tiles/0/0/0/1.png HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            wait_until(lambda: scheduler.pending == 1)
        wait_until(lambda: scheduler.stats.cancelled == 1)
        assert scheduler.pending == 0
        gated.gate.set()
        t.join(30)
        assert first[0][0] == 200
        wait_until(lambda: scheduler.running == 0)
        assert gated.calls == [(0, 0)]  # tile (0, 1) was never generated
        assert scheduler.stats.completed == 1


def test_priority_hint_orders_waiting_tiles():
    gated, app = _gated_app()
    scheduler = app.state.explorer.scheduler
    with BackgroundServer(app) as server:
        paths = [
            "/tiles/0/0/0/0.png",
            "/tiles/0/0/5/5.png?p=7",
            "/tiles/0/0/1/1.png?p=1.5",
            "/tiles/0/0/3/3.png?p=3",
        ]
        threads = []
        for i, path in enumerate(paths):
            threads.append(threading.Thread(target=request, args=(server.url, path)))
            threads[-1].start()
            wait_until(lambda i=i: scheduler.stats.submitted == i + 1)
        gated.gate.set()
        for t in threads:
            t.join(30)
    assert gated.calls == [(0, 0), (256, 256), (768, 768), (1280, 1280)]


def test_full_queue_answers_503_with_retry_after():
    gated, app = _gated_app(max_queue=1)
    scheduler = app.state.explorer.scheduler
    with BackgroundServer(app) as server:
        results: list[Response] = []
        threads = [
            threading.Thread(target=lambda p=p: results.append(request(server.url, p)))
            for p in ("/tiles/0/0/0/0.png", "/tiles/0/0/0/1.png")
        ]
        threads[0].start()
        wait_until(lambda: scheduler.running == 1)
        threads[1].start()
        wait_until(lambda: scheduler.pending == 1)
        status, headers, body = request(server.url, "/tiles/0/0/0/2.png")
        assert status == 503 and headers["retry-after"] == "1" and b"busy" in body
        gated.gate.set()
        for t in threads:
            t.join(30)
        assert sorted(s for s, _, _ in results) == [200, 200]
        assert request(server.url, "/tiles/0/0/0/2.png")[0] == 200


def test_disk_cache_is_reused_after_restart(tmp_path):
    def fail(*args: object) -> torch.Tensor:
        raise AssertionError("must not render: the tile is on disk")

    opts = ServerOptions(cache_dir=tmp_path)
    app = create_app(None, model_name="f", model_id="abc1", render_fn=coord_render, options=opts)
    with BackgroundServer(app) as server:
        status, _, first = request(server.url, "/tiles/4/1/-3/2.png")
    assert status == 200
    assert (tmp_path / "abc1" / "plain" / "s4" / "l1" / "-3_2.png").read_bytes() == first
    assert (tmp_path / "abc1" / "plain" / "s4" / "l0" / "-6_4.png").is_file()
    app = create_app(None, model_name="f", model_id="abc1", render_fn=fail, options=opts)
    with BackgroundServer(app) as server:
        status, _, again = request(server.url, "/tiles/4/1/-3/2.png")
    assert status == 200 and again == first


# --------------------------------------------------------------------------------------------
# CLI


def test_serve_help_and_errors(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from infinitygan.cli import main

    runner = CliRunner()
    result = runner.invoke(main, ["serve", "--help"])
    assert result.exit_code == 0 and "--cache-dir" in result.output and "127.0.0.1" in result.output
    result = runner.invoke(main, ["serve", str(tmp_path / "missing.safetensors")])
    assert result.exit_code == 1 and "no model file" in result.output
    result = runner.invoke(main, ["serve", "x", "--seed", str(2**60)])
    assert result.exit_code == 2 and "--seed" in result.output
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    result = runner.invoke(main, ["serve", "x"])
    assert result.exit_code == 1
    assert "pip install 'infinitygan[web]'" in result.output and "uvicorn" in result.output


def test_serve_command_end_to_end(model_file):
    before = file_fingerprint(model_file)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infinitygan",
            "serve",
            str(model_file),
            "--port",
            "0",
            "--device",
            "cpu",
            "--seed",
            "12",
            "--zoom-budget",
            "7.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        line = proc.stdout.readline().decode()
        assert line.startswith("infinitygan explorer: http://127.0.0.1:"), line
        url = line.split(": ", 1)[1].strip()
        assert url.endswith("/#s=12")
        base = url.split("#")[0]
        status, _, body = request(base, "/api/info")
        assert status == 200 and json.loads(body)["default_seed"] == 12
        assert json.loads(body)["zoom_budget"] == 7.5 and json.loads(body)["seconds_per_tile"] > 0
        # The command's protocol answers an oversized request head with 431, not a reset.
        assert request(base, "/api/info", headers={"X-Big": "a" * (1 << 20)})[0] == 431
        assert request(base, "/tiles/12/0/0/0.png")[0] == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
    assert file_fingerprint(model_file) == before
