"""uvicorn's h11 protocol with answers that clients can read for oversized requests.

uvicorn answers a request head (request line and headers) larger than its 16 KiB buffer with a
bare 400, and closes every connection at once. A client still sending (a 5 MB URL, header or
body) then gets a connection reset instead of the answer. This protocol

- answers an oversized request head with ``431 Request Header Fields Too Large`` (h11's own
  status hint) and a JSON ``{"detail": ...}``, like every other error of the explorer, and
- closes connections gracefully ("lingering close", as Apache and nginx do): it sends its answer,
  shuts down its sending side, and reads and discards what the client still sends, up to
  :data:`LINGER_BYTES` or :data:`LINGER_SECONDS`, before closing. The 413 of an oversized body
  (:class:`infinitygan.web.app.BodyLimitMiddleware`) reaches the client the same way.

Use it with ``uvicorn.Config(app, http=ExplorerH11Protocol)``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol

from infinitygan.web.app import SecurityHeadersMiddleware

#: uvicorn's (and h11's) default limit of a request head, in bytes.
DEFAULT_HEAD_LIMIT = 16 * 1024

#: Most bytes read and discarded after the answer before the connection is closed anyway.
LINGER_BYTES = 64 << 20
#: Longest wait for the client to finish sending after the answer.
LINGER_SECONDS = 5.0


class _Connection(h11.Connection):
    """An h11 connection that remembers the protocol error it raised last."""

    error: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as err:
            self.error = err
            raise


class _LingeringTransport:
    """Wraps a transport so that ``close`` shuts down writing and lets the peer finish sending;
    the protocol discards what arrives, and the real close follows at EOF or a limit."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._closing = False
        self._timer: asyncio.TimerHandle | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self._closing or self._transport.is_closing()

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        transport = self._transport
        if transport.is_closing() or not transport.can_write_eof():
            transport.close()
            return
        try:
            transport.write_eof()
            transport.resume_reading()
        except (OSError, RuntimeError):
            transport.close()
            return
        self._timer = asyncio.get_running_loop().call_later(LINGER_SECONDS, self.abort_linger)

    def abort_linger(self) -> None:
        """Close for real now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport.close()

    @property
    def lingering(self) -> bool:
        return self._closing


class ExplorerH11Protocol(H11Protocol):
    """:class:`uvicorn.protocols.http.h11_impl.H11Protocol` with 431 answers for oversized
    request heads and graceful closes (see the module docstring)."""

    def __init__(self, config: Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.head_limit = config.h11_max_incomplete_event_size or DEFAULT_HEAD_LIMIT
        self.conn = _Connection(h11.SERVER, self.head_limit)
        self._discarded = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_LingeringTransport(transport))  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        transport: _LingeringTransport = self.transport  # type: ignore[assignment]
        if transport.lingering:
            self._discarded += len(data)
            if self._discarded > LINGER_BYTES:
                transport.abort_linger()
            return
        super().data_received(data)

    def eof_received(self) -> bool | None:
        transport: _LingeringTransport = self.transport  # type: ignore[assignment]
        if transport.lingering:
            transport.abort_linger()
        return None  # asyncio closes the transport

    def connection_lost(self, exc: Exception | None) -> None:
        transport: _LingeringTransport = self.transport  # type: ignore[assignment]
        if transport is not None and transport._timer is not None:
            transport._timer.cancel()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """The server is stopping: close idle connections at once, without lingering."""
        super().shutdown()
        transport: _LingeringTransport = self.transport  # type: ignore[assignment]
        if transport.lingering:
            transport.abort_linger()

    def send_400_response(self, msg: str) -> None:
        error = self.conn.error
        if error is None or error.error_status_hint != 431:
            super().send_400_response(msg)
            return
        body = json.dumps(
            {
                "detail": f"the request line and headers are larger than {self.head_limit} "
                "bytes; "
                "send a shorter URL and fewer or smaller headers"
            }
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"connection", b"close"),
            *SecurityHeadersMiddleware.HEADERS,
        ]
        response = h11.Response(
            status_code=431, headers=headers, reason=b"Request Header Fields Too Large"
        )
        for event in (response, h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()
