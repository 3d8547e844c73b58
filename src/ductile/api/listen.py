"""The API's listening socket, bound by the gateway *before* the dispatcher and scheduler start.

So a taken port stops the gateway before any job runs, with one line saying which address and
what to change — instead of jobs running and the process dying afterwards. Kept free of uvicorn
imports: the CLI imports `ListenError` for every command.
"""

from __future__ import annotations

import errno
import socket

from ductile.config import ApiConfig


class ListenError(OSError):
    """The API address cannot be listened on; the message is the whole log line."""


def bind(api: ApiConfig, config_path: str, backlog: int = 2048) -> socket.socket:
    """A listening socket on `api.listen`, or ListenError naming the address and what to change."""
    try:
        infos = socket.getaddrinfo(api.host, api.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise ListenError(
            f"API cannot listen on {api.listen}: host {api.host!r} does not resolve ({exc}); "
            f"set api.listen in {config_path} to a local host:port"
        )
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        reason = (
            "the port is already in use by another process"
            if exc.errno == errno.EADDRINUSE
            else exc.strerror or str(exc)
        )
        raise ListenError(
            f"API cannot listen on {api.listen}: {reason} (errno {exc.errno}); "
            f"stop the other process or set api.listen in {config_path} to a free host:port"
        )
    sock.setblocking(False)
    return sock
