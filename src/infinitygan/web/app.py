"""The explorer's HTTP server: a FastAPI app serving tiles, downloads and the static viewer.

Routes:
    ``GET /``                                         the viewer page
    ``GET /static/...``                               viewer assets (Leaflet is vendored)
    ``GET /api/info``                                 model and limits (JSON)
    ``GET /api/stats``                                queue, cache, speed and work left (JSON)
    ``GET /api/check?seed=&desc=``                    whether tiles of that canvas can be drawn
    ``GET /tiles/{seed}/{level}/{row}/{col}.png``     a 256 x 256 tile; query: ``desc``, ``p``
                                                      (priority, lower first), ``m`` (model id),
                                                      ``size`` (128, 64 or 32: a smaller tile)
    ``GET /image.png``                                a region as a PNG download; query: ``seed``,
                                                      ``level``, ``top``, ``left``, ``height``,
                                                      ``width``, ``desc``

Every parameter is parsed here with explicit ranges; malformed or out-of-range requests get a 4xx
JSON ``{"detail": ...}``. Tiles and regions are produced on the scheduler's worker threads; a
request whose client disconnects before its job starts is dropped without generating.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infinitygan import __version__
from infinitygan.applications.description import DEFAULT_BLEND, CanvasDescription
from infinitygan.applications.scene import render_region
from infinitygan.canvas import period_pixels
from infinitygan.latents import RANDOM_VERSION
from infinitygan.models import Generator
from infinitygan.models.generator import check_truncation
from infinitygan.tiling import DEFAULT_MAX_MEMORY
from infinitygan.web.description import (
    COORD_LIMIT,
    MAX_ANCHORS,
    MAX_BLEND,
    MAX_DESC_CHARS,
    MAX_EDIT_SIDE,
    MAX_EDITS,
    SEED_LIMIT,
    DescriptionError,
    extras_id,
    parse_description,
)
from infinitygan.web.scheduler import QueueFull, Scheduler, SchedulerClosed
from infinitygan.web.tiles import (
    LEVEL_LIMIT,
    MAX_SHRINK,
    TILE_SIZE,
    Cancelled,
    DiskCache,
    MemoryCache,
    RenderFn,
    TileKey,
    TileStore,
    encode_png,
    tile_index_limit,
)

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")

_INT_RE = re.compile(r"-?[0-9]{1,20}")
_NUM_RE = re.compile(r"[0-9]{1,12}(\.[0-9]{1,6})?")
_MODEL_ID_RE = re.compile(r"[0-9a-f]{1,64}")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


@dataclass(frozen=True)
class ServerOptions:
    """Settings of the explorer server.

    Attributes:
        default_seed: seed shown when the page URL names none.
        max_level: deepest zoom-out level (level k tiles cover 2**k times the side).
        workers: generation worker threads (one per device).
        max_queue: most tile/region jobs waiting; more requests get 503 with Retry-After.
        cache_bytes: budget of the in-memory tile cache.
        cache_dir: optional directory of the on-disk PNG tile cache.
        max_image_pixels: largest download (height * width) of ``/image.png``.
        max_body_bytes: largest request body accepted (no route reads one).
        allowed_hosts: Host header values accepted (None: any); loopback names by default,
            which also blocks DNS-rebinding attacks on a local server.
        max_memory: activation budget per texture tile when rendering, in bytes.
        zoom_budget: seconds within which the page must be able to fill its view at a level
            for that level to be offered (from the measured render speed).
        measure_speed: time a render when the app is created (with a generator), so that the
            page knows the render speed before the first tile.
        block_render: render a level 1 tile from nothing as one 512 x 512 block (cheaper per
            pixel on CPU; see :class:`infinitygan.web.tiles.TileStore`).
        truncation: psi of every render (see :func:`infinitygan.canvas.generate_region`); part
            of the model identity, so tiles of other settings are never reused.
    """

    default_seed: int = 0
    max_level: int = 4
    workers: int = 1
    max_queue: int = 256
    cache_bytes: int = 256 << 20
    cache_dir: Path | None = None
    max_image_pixels: int = 4096 * 4096
    max_body_bytes: int = 16 << 10
    allowed_hosts: tuple[str, ...] | None = LOOPBACK_HOSTS
    max_memory: int = DEFAULT_MAX_MEMORY // 4
    zoom_budget: float = 30.0
    measure_speed: bool = True
    block_render: bool = True
    truncation: float = 1.0

    def __post_init__(self) -> None:
        check_truncation(self.truncation)
        if not 0 <= self.max_level <= LEVEL_LIMIT:
            raise ValueError(f"max_level must lie in [0, {LEVEL_LIMIT}], got {self.max_level}")
        if abs(self.default_seed) > SEED_LIMIT:
            raise ValueError(f"default_seed must lie within +-{SEED_LIMIT}")
        for name in ("workers", "max_queue", "max_image_pixels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.cache_bytes < 0 or self.max_body_bytes < 0:
            raise ValueError("cache_bytes and max_body_bytes must be >= 0")
        if not self.zoom_budget > 0:
            raise ValueError(f"zoom_budget must be > 0 seconds, got {self.zoom_budget}")


# --------------------------------------------------------------------------------------------
# Parameter parsing


def bad_request(message: str) -> HTTPException:
    """A 400 error with ``message`` as its detail."""
    return HTTPException(status_code=400, detail=message)


def parse_int(name: str, text: str | None, lo: int, hi: int, default: int | None = None) -> int:
    """Parse a decimal integer parameter within ``[lo, hi]``.

    Raises:
        HTTPException: 400 naming the parameter and the accepted range.
    """
    if text is None:
        if default is None:
            raise bad_request(f"missing parameter {name!r}")
        return default
    if not _INT_RE.fullmatch(text):
        raise bad_request(f"{name} must be a decimal integer, got {text[:40]!r}")
    value = int(text)
    if not lo <= value <= hi:
        raise bad_request(f"{name} must lie in [{lo}, {hi}], got {value}")
    return value


def parse_tile_size(text: str | None, level: int) -> int:
    """The ``size`` of a tile (256 when absent) as a shrink count: size ``256 >> shrink`` with
    ``shrink <= min(level, MAX_SHRINK)`` (a smaller tile is a part of a coarser level's)."""
    if text is None:
        return 0
    sizes = [TILE_SIZE >> j for j in range(min(level, MAX_SHRINK) + 1)]
    if text not in {str(s) for s in sizes}:
        raise bad_request(f"size of a level {level} tile must be one of {sizes}, got {text[:40]!r}")
    return sizes.index(int(text))


def parse_priority(text: str | None) -> float:
    """The ``p`` priority hint: a non-negative decimal (lower runs first); 0 when absent."""
    if text is None:
        return 0.0
    if not _NUM_RE.fullmatch(text):
        raise bad_request(f"p must be a non-negative decimal number, got {text[:40]!r}")
    return float(text)


# --------------------------------------------------------------------------------------------
# Middleware (pure ASGI)


class BodyLimitMiddleware:
    """Refuse request bodies larger than ``max_bytes`` (413) and bodies of unknown length (411)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            length = headers.get(b"content-length")
            if headers.get(b"transfer-encoding", b"").lower().strip() == b"chunked":
                await _send_json(send, 411, "request bodies must have a Content-Length")
                return
            if length is not None:
                if not length.isdigit() or int(length) > self.max_bytes:
                    await _send_json(send, 413, f"request body larger than {self.max_bytes} bytes")
                    return
        await self.app(scope, receive, send)


class SecurityHeadersMiddleware:
    """Add conservative security headers to every HTTP response."""

    HEADERS = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-resource-policy", b"same-origin"),
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    ]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = list(message.get("headers") or []) + self.HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _send_json(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# --------------------------------------------------------------------------------------------
# Waiting for a job while watching for the client to go away


class ClientDisconnected(Exception):
    """The client closed the connection while its request waited."""


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def run_job(
    request: Request,
    scheduler: Scheduler,
    key: Hashable,
    fn: Callable[[Callable[[], bool]], Any],
    priority: float,
    cost: Callable[[], int] | None = None,
) -> Any:
    """Queue ``fn`` and wait for its result; give up (and drop the job if it has not started)
    when the client disconnects. ``cost`` is the job's work estimate (see :class:`Job`).

    Raises:
        HTTPException: 503 with Retry-After when the queue is full or shutting down.
        ClientDisconnected: when the client went away (nothing can be sent then).
    """
    try:
        job = scheduler.submit(key, fn, priority, cost)
    except QueueFull as err:
        raise HTTPException(
            status_code=503,
            detail=f"the server is busy ({err}); retry shortly",
            headers={"Retry-After": "1"},
        ) from None
    except SchedulerClosed:
        raise HTTPException(status_code=503, detail="the server is shutting down") from None
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[Any] = loop.create_future()

    def transfer(done: Any) -> None:
        if waiter.done():
            return
        if done.cancelled():
            waiter.cancel()
        elif done.exception() is not None:
            waiter.set_exception(done.exception())
        else:
            waiter.set_result(done.result())

    def on_done(done: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop may be closed at shutdown
            loop.call_soon_threadsafe(transfer, done)

    job.future.add_done_callback(on_done)
    watcher = asyncio.ensure_future(_wait_disconnect(request.receive))
    try:
        await asyncio.wait({waiter, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # the server is stopping this request
        scheduler.release(job)
        raise
    finally:
        watcher.cancel()
    if not waiter.done():
        scheduler.release(job)
        waiter.cancel()
        raise ClientDisconnected()
    if waiter.cancelled():
        raise HTTPException(status_code=503, detail="the request was cancelled; retry")
    return waiter.result()


# --------------------------------------------------------------------------------------------
# The app


@dataclass
class ExplorerState:
    """What the routes share: model facts, options, the tile store and the scheduler."""

    model_name: str
    model_id: str
    model_preset: str
    period: int
    device: str
    options: ServerOptions
    store: TileStore
    scheduler: Scheduler


def create_app(
    G: Generator | None,
    *,
    model_name: str,
    model_id: str,
    device: str = "cpu",
    options: ServerOptions | None = None,
    render_fn: RenderFn | None = None,
) -> FastAPI:
    """Build the explorer app for generator ``G``.

    Args:
        G: the generator (on ``device``); may be None only when ``render_fn`` is given.
        model_name: shown in the page (file name or bundled name).
        model_id: lowercase hex digest of the model file (keys caches and tile URLs).
        device: the device ``G`` renders on.
        options: server settings.
        render_fn: overrides the rendering function (default:
            :func:`infinitygan.applications.scene.render_region` with ``G``).

    Returns:
        The FastAPI application; its scheduler stops when the app shuts down.
    """
    options = options or ServerOptions()
    if not _MODEL_ID_RE.fullmatch(model_id):
        raise ValueError(f"model_id must be lowercase hex, got {model_id!r}")
    if render_fn is None:
        if G is None:
            raise ValueError("create_app needs a generator or a render_fn")
        render_fn = functools.partial(
            render_region,
            G,
            device=device,
            max_memory=options.max_memory,
            truncation=options.truncation,
        )
    model_id = truncated_identity(model_id, options.truncation)
    if G is not None and options.truncation != 1.0:
        G.average_w()  # estimated once here (if the file lacks it), not by racing workers
    disk = DiskCache(options.cache_dir, model_id) if options.cache_dir is not None else None
    store = TileStore(
        render_fn, MemoryCache(options.cache_bytes), disk, block_render=options.block_render
    )
    if G is not None and options.measure_speed:
        seconds = store.measure(CanvasDescription(seed=options.default_seed))
        logger.info("a 256 x 256 tile renders in %.3f s on %s", seconds, device)
    scheduler = Scheduler(options.workers, options.max_queue)
    state = ExplorerState(
        model_name=model_name,
        model_id=model_id,
        model_preset=G.config.name if G is not None else "custom",
        period=period_pixels(G) if G is not None else 0,
        device=str(device),
        options=options,
        store=store,
        scheduler=scheduler,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(scheduler.close)

    app = FastAPI(
        title="infinitygan explorer",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.explorer = state

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": "malformed request"}, status_code=400)

    index_html = (STATIC_DIR / "index.html").read_bytes()

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        return Response(
            index_html, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"}
        )

    @app.get("/api/info")
    async def info() -> dict[str, Any]:
        return {
            "software": f"infinitygan {__version__}",
            "random_version": RANDOM_VERSION,
            "model": {
                "name": state.model_name,
                "id": state.model_id,
                "preset": state.model_preset,
                "period_pixels": state.period,
            },
            "device": state.device,
            "tile_size": TILE_SIZE,
            "max_level": options.max_level,
            "max_shrink": MAX_SHRINK,
            "zoom_budget": options.zoom_budget,
            "workers": options.workers,
            "seconds_per_tile": store.seconds_per_tile(),
            "seconds_per_zoom_tile": store.seconds_per_zoom_tile(),
            "coord_limit": COORD_LIMIT,
            "seed_limit": SEED_LIMIT,
            "default_seed": options.default_seed,
            "max_image_pixels": options.max_image_pixels,
            "limits": {
                "anchors": MAX_ANCHORS,
                "edits": MAX_EDITS,
                "edit_side": MAX_EDIT_SIDE,
                "blend": MAX_BLEND,
                "desc_chars": MAX_DESC_CHARS,
            },
            "default_blend": DEFAULT_BLEND,
        }

    @app.get("/api/stats")
    async def stats() -> dict[str, Any]:
        s = scheduler.stats
        return {
            "queue": scheduler.pending,
            "running": scheduler.running,
            "submitted": s.submitted,
            "coalesced": s.coalesced,
            "completed": s.completed,
            "failed": s.failed,
            "cancelled": s.cancelled,
            "rejected": s.rejected,
            "tiles_made": store.tiles_made,
            "rendered_pixels": store.rendered_pixels,
            "tiles_per_second": round(store.recent_rate(), 3),
            "seconds_per_tile": store.seconds_per_tile(),
            "seconds_per_zoom_tile": store.seconds_per_zoom_tile(),
            "work_left": await run_in_threadpool(scheduler.work_left),
            "cache": {
                "entries": len(store.memory),
                "bytes": store.memory.nbytes,
                "max_bytes": store.memory.max_bytes,
                "hits": store.memory.hits,
                "misses": store.memory.misses,
            },
        }

    def description_of(seed: int, desc: str | None) -> CanvasDescription:
        try:
            return parse_description(seed, desc)
        except DescriptionError as err:
            raise bad_request(str(err)) from None

    @app.get("/api/check")
    async def check(request: Request) -> dict[str, Any]:
        """Whether tiles of ``seed`` and ``desc`` can be drawn: ``{"ok": true}`` or
        ``{"ok": false, "detail": ...}`` with the reason a tile request would get (the page
        checks a shared link's description with it before sending it with every tile)."""
        query = request.query_params
        try:
            seed = parse_int("seed", query.get("seed"), -SEED_LIMIT, SEED_LIMIT)
            description_of(seed, query.get("desc"))
        except HTTPException as err:
            return {"ok": False, "detail": err.detail}
        return {"ok": True}

    def check_model_token(request: Request) -> bool:
        token = request.query_params.get("m")
        if token is None:
            return False
        if token != state.model_id:
            raise HTTPException(
                status_code=409,
                detail="this page was opened for another model; reload the page",
            )
        return True

    async def produce(
        request: Request,
        key: Hashable,
        fn: Callable[[Callable[[], bool]], Any],
        priority: float,
        cost: Callable[[], int],
    ) -> Any:
        try:
            return await run_job(request, scheduler, key, fn, priority, cost)
        except ClientDisconnected:
            return None
        except DescriptionError as err:
            raise HTTPException(status_code=422, detail=str(err)) from None
        except Cancelled:
            raise HTTPException(
                status_code=503, detail="the request was cancelled; retry"
            ) from None

    @app.get("/tiles/{seed}/{level}/{row}/{col}.png")
    async def tile(request: Request, seed: str, level: str, row: str, col: str) -> Response:
        seed_i = parse_int("seed", seed, -SEED_LIMIT, SEED_LIMIT)
        level_i = parse_int("level", level, 0, options.max_level)
        query = request.query_params
        shrink = parse_tile_size(query.get("size"), level_i)
        limit = tile_index_limit(level_i, shrink)
        row_i = parse_int("row", row, -limit, limit - 1)
        col_i = parse_int("col", col, -limit, limit - 1)
        priority = parse_priority(query.get("p"))
        immutable = check_model_token(request)
        description = description_of(seed_i, query.get("desc"))
        # A small tile of level k is the level k - shrink tile, box-filtered shrink more times.
        key = TileKey(extras_id(description), seed_i, level_i - shrink, row_i, col_i)
        data = store.memory.get(("png", key, shrink) if shrink else ("png", key))
        if data is None and store.disk is not None and not shrink:
            data = await run_in_threadpool(store.cached_png, key)
        if data is None:
            data = await produce(
                request,
                ("tile", key, shrink),
                functools.partial(store.shrunk_png, description, key, shrink),
                priority,
                functools.partial(store.renders_needed, key),
            )
            if data is None:
                return Response(status_code=499)
        headers = {
            "Cache-Control": "public, max-age=31536000, immutable" if immutable else "no-cache"
        }
        return Response(data, media_type="image/png", headers=headers)

    @app.get("/image.png")
    async def image(request: Request) -> Response:
        query = request.query_params
        seed = parse_int("seed", query.get("seed"), -SEED_LIMIT, SEED_LIMIT, options.default_seed)
        level = parse_int("level", query.get("level"), 0, options.max_level, 0)
        lim = COORD_LIMIT >> level
        top = parse_int("top", query.get("top"), -lim, lim - 1)
        left = parse_int("left", query.get("left"), -lim, lim - 1)
        side = min(options.max_image_pixels, lim)
        height = parse_int("height", query.get("height"), 1, side)
        width = parse_int("width", query.get("width"), 1, side)
        if height * width > options.max_image_pixels:
            raise bad_request(
                f"the region has {height * width} pixels; at most {options.max_image_pixels} "
                "can be downloaded at once (choose a smaller region)"
            )
        if top + height > lim or left + width > lim:
            raise bad_request(f"the region reaches past the canvas limit {lim} of level {level}")
        check_model_token(request)
        description = description_of(seed, query.get("desc"))

        def make(should_stop: Callable[[], bool]) -> bytes:
            pixels = store.region(description, level, top, left, height, width, should_stop)
            return encode_png(pixels, compress_level=6)

        rows = range(top // TILE_SIZE, (top + height - 1) // TILE_SIZE + 1)
        cols = range(left // TILE_SIZE, (left + width - 1) // TILE_SIZE + 1)

        def cost() -> int:
            if level == 0:
                return -(-height * width // (TILE_SIZE * TILE_SIZE))
            if len(rows) * len(cols) * 4**level > 4096:  # too many to look up: all missing
                return len(rows) * len(cols) * 4**level
            extras = extras_id(description)
            return sum(
                store.renders_needed(TileKey(extras, seed, level, row, col))
                for row in rows
                for col in cols
            )

        key = ("image", extras_id(description), seed, level, top, left, height, width)
        data = await produce(request, key, make, parse_priority(query.get("p")), cost)
        if data is None:
            return Response(status_code=499)
        name = f"infinitygan-seed{seed}-level{level}-y{top}-x{left}-{width}x{height}.png"
        return Response(
            data,
            media_type="image/png",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # The last added is outermost: every answer, the limits' own included, gets the headers.
    if options.allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(options.allowed_hosts))
    app.add_middleware(BodyLimitMiddleware, max_bytes=options.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    return app


def model_identity(path: str | Path) -> str:
    """16 hex digits naming what the tiles depend on: the model file's SHA-256 and the canvas
    randomness version (so a new version never meets tiles cached by browsers or on disk under
    the old one). Reads the file; never writes."""
    import hashlib

    from infinitygan.checkpoint import model_hash

    return hashlib.sha256(f"{model_hash(path)}/random{RANDOM_VERSION}".encode()).hexdigest()[:16]


def truncated_identity(model_id: str, truncation: float) -> str:
    """The identity of ``model_id`` rendered with truncation psi: ``model_id`` itself at psi = 1
    (tiles cached before truncation existed stay valid), another 16 hex digits otherwise."""
    if truncation == 1.0:
        return model_id
    import hashlib

    return hashlib.sha256(f"{model_id}/trunc{float(truncation)!r}".encode()).hexdigest()[:16]


def is_loopback(host: str) -> bool:
    """Whether ``host`` names the loopback interface only."""
    return host in LOOPBACK_HOSTS or host.startswith("127.")


__all__ = [
    "BackgroundServer",
    "ExplorerState",
    "ServerOptions",
    "create_app",
    "is_loopback",
    "model_identity",
    "run_job",
]


class BackgroundServer:
    """Run an app with uvicorn on a daemon thread (for notebooks and tests).

    Binds ``host:port`` (port 0: any free port) before returning, so :attr:`url` is usable at
    once; :meth:`stop` shuts the server down and waits for it.

    Example::

        with BackgroundServer(create_app(G, model_name="m", model_id="0")) as server:
            print(server.url)
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        from infinitygan.web.protocol import ExplorerH11Protocol

        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port = self._sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}/"
        config = uvicorn.Config(
            app,
            log_config=None,
            log_level="warning",
            access_log=False,
            server_header=False,
            timeout_keep_alive=5,
            lifespan="on",
            http=ExplorerH11Protocol,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name="infinitygan-web",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 30.0
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the explorer server did not start")
            time.sleep(0.01)

    @property
    def alive(self) -> bool:
        """Whether the server thread is still running."""
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to exit and wait for its thread."""
        self._server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
