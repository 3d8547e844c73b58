"""The API server's housekeeping wake-ups: once a second (Date header), not uvicorn's 10 Hz
tick, and still stopping at once when the gateway asks (api/server.py, `_Server.main_loop`)."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import httpx

from ductile.api.server import make_server
from ductile.config import ApiConfig


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def test_an_idle_server_wakes_once_a_second_and_stops_at_once() -> None:
    async def main() -> tuple[int, str, float]:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = make_server(_app, ApiConfig(listen=f"127.0.0.1:{port}"))
        ticks = []
        original = server.on_tick

        async def counting(counter: int) -> bool:
            ticks.append(time.monotonic())
            return await original(counter)

        server.on_tick = counting  # type: ignore[method-assign]
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            response = await client.get("/")
        ticks.clear()
        await asyncio.sleep(2.05)
        idle_ticks = len(ticks)
        asked = time.monotonic()
        server.should_exit = True
        await asyncio.wait_for(serving, timeout=5)
        return idle_ticks, response.headers.get("date", ""), time.monotonic() - asked

    idle_ticks, date, stop_seconds = asyncio.run(main())
    assert 1 <= idle_ticks <= 3  # uvicorn's own loop: ~20 in 2 s
    assert date.endswith("GMT")  # the Date header is still kept
    assert stop_seconds < 0.9  # not up to a tick (1 s) later; margin for a loaded CI machine
