"""systemd's readiness and watchdog protocol (`sd_notify`), spoken with the standard library.

`Type=notify` lets `systemctl start` return only once the listeners are bound and the schedules
are loaded, so a unit ordered after ductile (or a deploy script) never races a half-started
gateway. The watchdog ping comes from the event loop itself: a loop wedged by a blocking call stops
pinging and systemd restarts the process, which is what `Restart=on-failure` alone cannot see.
Outside systemd (no `NOTIFY_SOCKET`) every call is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable

log = logging.getLogger(__name__)


def _address() -> str | None:
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return None
    if address.startswith("@"):  # abstract namespace socket
        return "\0" + address[1:]
    return address


def notify(state: str) -> bool:
    """Send one state message (`READY=1`, `STOPPING=1`, `WATCHDOG=1`, `STATUS=...`).

    Failures are logged once per call and swallowed: a broken notify socket must never stop the
    gateway from running jobs (systemd then reports the start as timed out, which is the signal)."""
    address = _address()
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
        return True
    except OSError as exc:
        log.warning("sd_notify failed", extra={"error": str(exc), "state": state.split("=", 1)[0]})
        return False


def watchdog_interval(environ: dict[str, str] | None = None, pid: int | None = None) -> float | None:
    """Seconds between pings: half of `WATCHDOG_USEC`, as sd_watchdog_enabled(3) recommends.

    `WATCHDOG_PID`, when set, must name this process (systemd sets it so that children that
    inherit the environment do not ping on the parent's behalf)."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    owner = env.get("WATCHDOG_PID", "")
    if owner and owner != str(os.getpid() if pid is None else pid):
        return None
    return int(usec) / 1_000_000 / 2


async def watchdog(stop: asyncio.Event, interval: float, healthy: Callable[[], bool] = lambda: True) -> None:
    """Ping every `interval` seconds while `healthy()`; skipping pings lets systemd restart us."""
    while not stop.is_set():
        if healthy():
            notify("WATCHDOG=1")
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass
