"""`infinitygan serve`: explore a model's endless canvas in the browser."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import click

from infinitygan.cli._group import main
from infinitygan.cli._options import device_option, trunc_option

logger = logging.getLogger(__name__)

WEB_INSTALL_HINT = "pip install 'infinitygan[web]'"


def require_web_dependencies() -> None:
    """Raise a ClickException saying how to install FastAPI and uvicorn if either is missing."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as err:
        missing = getattr(err, "name", None) or "fastapi/uvicorn"
        raise click.ClickException(
            f"`infinitygan serve` needs the optional web dependencies ({missing} is not "
            f"installed); install them with: {WEB_INSTALL_HINT}"
        ) from None


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket bound to ``host:port`` (port 0 picks a free port)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise click.BadParameter(
            f"cannot resolve host {host!r}: {err}", param_hint="--host"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)  # connections made before uvicorn starts wait in the backlog
    except OSError as err:
        sock.close()
        raise click.ClickException(
            f"cannot listen on {host}:{port} ({err.strerror or err}); "
            "choose another --port, or --port 0 for any free port"
        ) from None
    sock.set_inheritable(True)
    return sock


def server_url(host: str, port: int) -> str:
    """The http URL of a server bound to ``host:port`` (wildcard hosts shown as loopback)."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


@main.command("serve")
@click.argument("model")
@click.option(
    "--host", default="127.0.0.1", help="Interface to listen on (loopback only by default)."
)
@click.option("--port", default=8000, type=click.IntRange(0, 65535), help="TCP port (0: any free).")
@click.option("--seed", default=0, type=int, help="Seed shown when the page URL names none.")
@trunc_option
@device_option
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also keep generated tiles as PNG files here (reused across restarts).",
)
@click.option(
    "--cache-mb", default=256, type=click.IntRange(0, 1 << 20), help="In-memory tile cache size."
)
@click.option(
    "--max-level",
    default=4,
    type=click.IntRange(0, 8),
    help="Deepest zoom-out level (level k tiles are downsampled 2^k times).",
)
@click.option(
    "--zoom-budget",
    default=30.0,
    type=click.FloatRange(1, 3600),
    show_default=True,
    help="Seconds: the page offers the zoom-out levels whose view the server can fill within "
    "this time at the render speed it measures.",
)
@click.option(
    "--workers", default=1, type=click.IntRange(1, 64), help="Generation threads for the device."
)
@click.option(
    "--queue",
    "max_queue",
    default=256,
    type=click.IntRange(1, 1 << 16),
    help="Most tiles waiting; more requests get 503 and are retried by the page.",
)
@click.option(
    "--max-download",
    default=4096 * 4096,
    type=click.IntRange(1, 1 << 31),
    help="Largest download in pixels (height x width).",
)
def serve(
    model: str,
    host: str,
    port: int,
    seed: int,
    truncation: float,
    device: str,
    cache_dir: Path | None,
    cache_mb: int,
    max_level: int,
    zoom_budget: float,
    workers: int,
    max_queue: int,
    max_download: int,
) -> None:
    """Serve the endless canvas of MODEL (a model file or a bundled model name) in the browser.

    Drag to pan, scroll to zoom; change the seed, undo/redo, copy a link to the view, download
    the view or a region at full resolution.

    \b
    Examples:
      infinitygan serve model.safetensors
      infinitygan serve model.safetensors --seed 7 --cache-dir ~/.cache/infinitygan-tiles
    """
    require_web_dependencies()
    from infinitygan.checkpoint import CheckpointError, load_generator, resolve_model_path
    from infinitygan.web.app import (
        LOOPBACK_HOSTS,
        ServerOptions,
        create_app,
        is_loopback,
        model_identity,
    )
    from infinitygan.web.description import SEED_LIMIT

    if abs(seed) > SEED_LIMIT:
        raise click.BadParameter(f"must lie within +-{SEED_LIMIT}", param_hint="--seed")
    try:
        path = resolve_model_path(model)
        G = load_generator(path, device=device)
        model_id = model_identity(path)
    except CheckpointError as err:
        raise click.ClickException(str(err)) from None
    if cache_dir is not None:
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise click.BadParameter(
                f"cannot create {cache_dir}: {err}", param_hint="--cache-dir"
            ) from None
    options = ServerOptions(
        default_seed=seed,
        max_level=max_level,
        zoom_budget=zoom_budget,
        workers=workers,
        max_queue=max_queue,
        cache_bytes=cache_mb << 20,
        cache_dir=cache_dir,
        max_image_pixels=max_download,
        allowed_hosts=LOOPBACK_HOSTS if is_loopback(host) else None,
        truncation=truncation,
    )
    name = path.name if Path(model).exists() else model
    app = create_app(G, model_name=name, model_id=model_id, device=device, options=options)

    sock = bind_socket(host, port)
    actual_port = sock.getsockname()[1]
    if not is_loopback(host):
        click.echo(
            f"warning: listening on {host}: anyone who can reach this machine can use it to "
            "generate images",
            err=True,
        )
    click.echo(f"infinitygan explorer: {server_url(host, actual_port)}#s={seed}")
    click.echo(f"model {name} ({G.config.name}) on {device}; press Ctrl+C to stop", err=True)
    _run_server(app, sock)


def _run_server(app: Any, sock: socket.socket) -> None:
    """Serve ``app`` on the bound ``sock`` with uvicorn until Ctrl+C."""
    import uvicorn

    from infinitygan.web.protocol import ExplorerH11Protocol

    verbose = logging.getLogger().getEffectiveLevel() <= logging.INFO
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="info" if verbose else "warning",
        access_log=verbose,
        server_header=False,
        timeout_keep_alive=5,
        limit_concurrency=1024,
        h11_max_incomplete_event_size=16 * 1024,
        lifespan="on",
        http=ExplorerH11Protocol,
    )
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl+C after a clean shutdown
        click.echo("stopped", err=True)
    finally:
        sock.close()
