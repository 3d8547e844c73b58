"""The API's listening socket (and the webhook listener's), bound by the gateway *before* the
dispatcher and scheduler start.

So a taken port stops the gateway before any job runs, with one line saying which address and
what to change — instead of jobs running and the process dying afterwards. Kept free of uvicorn
imports: the CLI imports `ListenError` for every command.
"""

from __future__ import annotations

import errno
import socket
from typing import Protocol


class Address(Protocol):
    """A `host:port` setting: `api` (ApiConfig) or `webhooks` (WebhooksConfig)."""

    @property
    def listen(self) -> str: ...

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...


class ListenError(OSError):
    """The API address cannot be listened on; the message is the whole log line."""


def bind(
    api: Address, config_path: str, backlog: int = 2048, *, setting: str = "api.listen", label: str = "API"
) -> list[socket.socket]:
    """Listening sockets on every address `api.listen` resolves to (as uvicorn's own start would:
    `localhost` is both 127.0.0.1 and ::1), or ListenError naming the address and what to change.
    `setting`/`label` name another listener (the webhook listener's `webhooks.listen`)."""
    try:
        infos = socket.getaddrinfo(api.host, api.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise ListenError(
            f"{label} cannot listen on {api.listen}: host {api.host!r} does not resolve ({exc}); "
            f"set {setting} in {config_path} to a local host:port"
        )
    sockets: list[socket.socket] = []
    seen: set[tuple[int, object]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sockets.append(_listen_on(family, kind, proto, address, api, config_path, backlog, setting, label))
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _listen_on(
    family: int,
    kind: int,
    proto: int,
    address: object,
    api: Address,
    config_path: str,
    backlog: int,
    setting: str,
    label: str,
) -> socket.socket:
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # one socket per family, like asyncio
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            reason = "the port is already in use by another process"
            advice = f"stop the other process or set {setting} in {config_path} to a free host:port"
        elif exc.errno == errno.EACCES:
            reason = "permission denied (ports below 1024 need privileges)"
            advice = f"set {setting} in {config_path} to a port above 1023"
        else:
            reason = exc.strerror or str(exc)
            advice = f"set {setting} in {config_path} to an address of this machine"
        raise ListenError(f"{label} cannot listen on {api.listen}: {reason} (errno {exc.errno}); {advice}")
    sock.setblocking(False)
    return sock
