"""The API's HTTP protocol: the limits one client can hold or send.

uvicorn + httptools bound neither a connection that never sends a byte, nor a request whose head
or body trickles in (a keep-alive timer only runs *between* requests), nor the number or size of
request headers. `limited_protocol` adds those bounds in uvicorn's own protocol class, where each
is a timer or a counter on the bytes as they are parsed — before any application code runs:

- idle: a connection without a request in progress is closed after `idle_timeout`
- read: a request's line, headers and body must arrive within `read_timeout` of its first byte (408)
- size: request target over `max_url_bytes` (414); more than `max_header_count` headers or
  `max_header_bytes` of them (431)
- capacity: past `max_connections` open connections, requests get 503 and the connection closes
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Generator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ductile.config import ApiConfig

TICK = 1.0  # seconds between the server's housekeeping wake-ups (Date header); see _Server


@dataclass(frozen=True)
class HttpLimits:
    idle_timeout: float
    read_timeout: float
    max_connections: int
    max_header_count: int
    max_header_bytes: int
    max_url_bytes: int

    @classmethod
    def of(cls, api: ApiConfig) -> HttpLimits:
        return cls(
            idle_timeout=api.idle_timeout,
            read_timeout=api.read_timeout,
            max_connections=api.max_connections,
            max_header_count=api.max_header_count,
            max_header_bytes=api.max_header_bytes,
            max_url_bytes=api.max_url_bytes,
        )


LINGER = 2.0
"""Seconds a rejected connection keeps reading (and discarding) so the client sees the answer."""


class _Rejected(Exception):
    """Raised from a parser callback to stop parsing a request already answered by `_reject`."""


class LimitedProtocol(HttpToolsProtocol):
    limits: HttpLimits  # set on the subclass `limited_protocol` makes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timer: asyncio.TimerHandle | None = None
        self._rejected = False
        self._linger: asyncio.TimerHandle | None = None
        self._over_capacity = False
        self._header_count = 0
        self._header_bytes = 0
        self._url_bytes = 0
        self._head_pending = True  # the next bytes are a request head (not a body)
        self._heads = 0
        self._head_received = 0

    # -- connection -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._over_capacity = len(self.connections) > self.limits.max_connections
        # A connection that never sends a byte is idle as well: uvicorn arms this timer only after
        # a response. Any byte received cancels it (uvicorn's `data_received`).
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_timer()
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._rejected:
            return
        self._unset_keepalive_if_required()
        heads, pending = self._heads, self._head_pending
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError as exc:
            if not self._rejected:
                self.logger.warning("invalid HTTP request received", extra={"reason": str(exc)[:200]})
                self._reject(400, f"invalid HTTP request: {str(exc)[:200]}")
            return
        if pending and self._head_pending and self._heads == heads and not self._rejected:
            # httptools buffers a header until it is complete, so one endless header would never
            # reach `on_header`: bound the raw bytes of a head still incomplete after this chunk.
            self._head_received += len(data)
            budget = self.limits.max_url_bytes + self.limits.max_header_bytes + 8192
            if self._head_received > budget:
                self._reject(
                    431, f"request head exceeds {budget} bytes (accepted: api.max_url_bytes + api.max_header_bytes)"
                )

    # -- parser callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_count = self._header_bytes = self._url_bytes = 0
        self._cancel_read_timer()
        self._read_timer = self.loop.call_later(self.limits.read_timeout, self._read_timed_out)

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > self.limits.max_url_bytes:
            self._reject(
                414,
                f"request target is longer than {self.limits.max_url_bytes} bytes "
                f"(accepted: at most {self.limits.max_url_bytes}, api.max_url_bytes)",
            )
            raise _Rejected
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        self._header_count += 1
        limits = self.limits
        if self._header_count > limits.max_header_count:
            self._reject(
                431,
                f"more than {limits.max_header_count} request headers (accepted: at most {limits.max_header_count}, api.max_header_count)",
            )
            raise _Rejected
        if self._header_bytes > limits.max_header_bytes:
            self._reject(
                431,
                f"request headers exceed {limits.max_header_bytes} bytes "
                f"(accepted: at most {limits.max_header_bytes} bytes in all, api.max_header_bytes)",
            )
            raise _Rejected
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._over_capacity or len(self.connections) > self.limits.max_connections:
            self.logger.warning("connection limit reached", extra={"max_connections": self.limits.max_connections})
            self._reject(
                503,
                f"the API has more than {self.limits.max_connections} open connections; retry later "
                "(api.max_connections)",
            )
            raise _Rejected
        self._head_pending = False
        self._heads += 1
        self._head_received = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._cancel_read_timer()
        self._head_pending = True
        super().on_message_complete()

    # -- limits -----------------------------------------------------------------------------

    def _cancel_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        timeout = f"{self.limits.read_timeout:g}"
        self._reject(
            408, f"request not received within {timeout} s of its first byte (accepted: api.read_timeout = {timeout}s)"
        )

    def _reject(self, status: int, message: str) -> None:
        """Answer `{"error": message}` with `status` unless this request has an answer already, then close."""
        self._rejected = True
        self.connections.discard(self)  # a lingering connection no longer counts toward max_connections
        self._cancel_read_timer()
        self._unset_keepalive_if_required()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # The application is reading this request: it sees a disconnect and its answer is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
            if cycle.response_started:
                self.transport.close()
                return
        elif cycle is not None and not self._head_pending:
            # Answered already (e.g. 413 by Content-Length) while the body still arrives: no second answer.
            self._linger_close()
            return
        body = json.dumps({"error": message}).encode()
        head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n".encode()]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head.append(b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        self.transport.write(b"".join(head) + body)
        self._linger_close()

    def _linger_close(self) -> None:
        """Close without losing what was written: a client still sending (a 5 MB header, a body)
        would get a reset, and lose the answer, if we closed now. Send FIN, discard what still
        arrives, close after LINGER (or when the client closes)."""
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self._linger = self.loop.call_later(LINGER, self.transport.close)
        else:
            self.transport.close()


def limited_protocol(limits: HttpLimits) -> type[LimitedProtocol]:
    """uvicorn's httptools protocol with `limits`; pass as `uvicorn.Config(http=...)`."""
    return type("LimitedProtocol", (LimitedProtocol,), {"limits": limits})


class _Server(uvicorn.Server):
    """uvicorn's server without its 10 Hz tick: `main_loop` wakes once a second to refresh the
    Date header (uvicorn does that every tenth tick anyway) and at once when `should_exit` is
    set, so an idle gateway's loop is not woken ten times a second for nothing."""

    _exit_requested: asyncio.Event | None = None
    _should_exit = False

    @property  # type: ignore[override]  # uvicorn declares a plain attribute
    def should_exit(self) -> bool:
        return self._should_exit

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._should_exit = value
        if value and self._exit_requested is not None:
            self._exit_requested.set()

    async def main_loop(self) -> None:
        self._exit_requested = asyncio.Event()
        should_exit = await self.on_tick(0)
        while not should_exit:
            if not self._should_exit:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._exit_requested.wait(), timeout=TICK)
            should_exit = await self.on_tick(0)  # counter 0: refresh the Date header, then check exit

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:  # the gateway owns signals
        yield


def make_server(app: Any, api: ApiConfig, limits: HttpLimits | None = None) -> uvicorn.Server:
    """The gateway's uvicorn server for `app`; serve it with `serve(sockets=listen.bind(...))`.
    `limits` default to the API's (the webhook listener passes its own)."""
    limits = limits or HttpLimits.of(api)
    config = uvicorn.Config(
        app,
        host=api.host,
        port=api.port,
        log_level="warning",
        log_config=None,  # uvicorn's records reach our root handler: one JSON object per line
        access_log=False,
        lifespan="off",
        loop="asyncio",
        http=limited_protocol(limits),
        ws="none",
        timeout_keep_alive=limits.idle_timeout,  # type: ignore[arg-type]  # uvicorn takes a float here
        timeout_graceful_shutdown=2,
        # Who may say, in X-Forwarded-For / -Proto, which client and scheme a request came from:
        # the sign-in limit counts per client address and the session cookie is Secure over https.
        # An empty list believes nobody (the headers are ignored).
        proxy_headers=api.trusted_proxies != [],
        forwarded_allow_ips=api.trusted_proxies or None,
    )
    return _Server(config)
