"""`ductile events`: the gateway's live event stream in a terminal, and the follow loop that
`ductile job logs --follow` shares.

A tail must survive what happens to long-lived connections: a gateway restart, a proxy timeout,
a laptop waking up. On any disconnect it reconnects with `Last-Event-ID`, so the server replays
what was missed; when the server cannot (it restarted, or the client fell out of the replay
buffer) it says so with `stream.gap`, and the tail prints that on stderr rather than pretend the
stream is complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from ductile.cli.common import ConfigOption, TokenOption

RECONNECT_FIRST = 0.5
RECONNECT_MAX = 10.0

ApiUrlOption = Annotated[str | None, typer.Option("--api-url", envvar="DUCTILE_API_URL", help="Gateway API base URL.")]


def fields(event: Any) -> dict[str, Any]:
    """The event's own fields: the SSE frame wraps them as `{id, type, at, data}`."""
    inner = event.data.get("data")
    return inner if isinstance(inner, dict) else event.data


def line(event_type: str, data: dict[str, Any], at: str | None = None) -> str:
    """One human line per event: local time, type, then the fields people scan for."""
    try:
        moment = datetime.fromisoformat(at.replace("Z", "+00:00")) if at else datetime.now(UTC)
    except ValueError:
        moment = datetime.now(UTC)
    stamp = moment.astimezone().strftime("%H:%M:%S")
    parts = [stamp, f"{event_type:<24}"]
    for key in ("plugin", "command", "schedule_id", "job_id", "status", "attempt", "reason", "duration_ms"):
        value = data.get(key)
        if value is not None and value != "":
            parts.append(f"{key}={value}" if key in ("attempt", "reason", "duration_ms", "schedule_id") else str(value))
    error = data.get("last_error") or data.get("error")
    if error:
        parts.append(f"error={str(error)[:120]!r}")
    return "  ".join(parts)


def wanted(data: dict[str, Any], plugin: str | None, job_id: str | None) -> bool:
    return (plugin is None or data.get("plugin") == plugin) and (job_id is None or data.get("job_id") == job_id)


async def follow(
    url: str,
    token: str | None,
    *,
    types: str | None,
    on_event: Callable[[Any], Awaitable[bool]],
    note: Callable[[str], None],
    on_open: Callable[[], Awaitable[bool]] | None = None,
) -> int:
    """Stream events into `on_event` (return True to stop) until it stops or the API refuses;
    reconnect with backoff on every disconnect. Exit status: 0, or 1 when refused.

    `on_open` runs each time the stream is open (the gateway subscribes before it sends
    `stream.open`), so a caller that read some state before connecting can read it again and
    not wait forever for an event that happened in between."""
    from ductile.monitor.client import ApiRefused, ApiUnavailable, MonitorClient

    client = MonitorClient(url, token)
    last_id: int | None = None
    pause = RECONNECT_FIRST
    try:
        while True:
            try:
                # aclosing: a `return` below must close the stream here, in this task; left to
                # asyncio.run's shutdown, the nested generators were closed out of order and
                # Python printed "an error occurred during closing of asynchronous generator".
                async with contextlib.aclosing(client.events(last_id, types=types)) as stream:
                    async for event in stream:
                        pause = RECONNECT_FIRST
                        if event.type == "stream.open":
                            resumed = f"; resuming after event {last_id}" if last_id is not None else ""
                            note(f"connected to {url}{resumed}")
                            if on_open is not None and await on_open():
                                return 0
                            continue
                        if event.type in ("stream.gap", "stream.lagged"):
                            note(f"{event.type}: {event.data.get('reason', '')}")
                            if event.type == "stream.gap" and "restarted" in str(event.data.get("reason", "")):
                                last_id = None
                            continue
                        if event.id is not None:
                            last_id = event.id
                        if await on_event(event):
                            return 0
                note("the stream ended (gateway stopping?); reconnecting")
            except ApiRefused as exc:
                note(f"the API refused the stream: {exc.message} (HTTP {exc.status})")
                return 1
            except ApiUnavailable as exc:
                note(f"connection lost ({exc}); reconnecting in {pause:g}s")
            await asyncio.sleep(pause)
            pause = min(pause * 2, RECONNECT_MAX)
    finally:
        await client.aclose()


def _note(message: str) -> None:
    print(f"ductile events: {message}", file=sys.stderr, flush=True)


def events(
    types: Annotated[
        str | None, typer.Option("--type", "-t", help="Comma-separated type prefixes, e.g. job.,scheduler.")
    ] = None,
    plugin: Annotated[str | None, typer.Option("--plugin", help="Only events of this plugin instance.")] = None,
    job_id: Annotated[str | None, typer.Option("--job-id", help="Only events of this job.")] = None,
    count: Annotated[int, typer.Option("--count", "-n", help="Stop after this many events (0: never).", min=0)] = 0,
    api_url: ApiUrlOption = None,
    token: TokenOption = None,
    config: ConfigOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per line (id, type, data).")] = False,
) -> None:
    """Tail the gateway's live events (SSE); reconnects and resumes by itself. Ctrl-C stops."""
    from ductile.cli import target

    url = target.api_url(api_url, config)
    seen = 0

    async def on_event(event: Any) -> bool:
        nonlocal seen
        data = fields(event)
        if not wanted(data, plugin, job_id):
            return False
        if json_out:
            print(json.dumps(event.data, default=str), flush=True)
        else:
            print(line(event.type, data, event.data.get("at")), flush=True)
        seen += 1
        return bool(count) and seen >= count

    try:
        code = asyncio.run(follow(url, target.token_from(token), types=types, on_event=on_event, note=_note))
    except KeyboardInterrupt:
        code = 0
    if code:
        raise typer.Exit(code)


def follow_job_logs(url: str, token: str | None, job_id: str, show: Callable[[dict[str, Any]], None]) -> int:
    """Print each attempt of `job_id` as it ends until the job is terminal; 0 if it succeeded."""
    from ductile.monitor.client import MonitorClient

    terminal = {"succeeded", "failed", "timed_out", "dead", "skipped"}
    printed: set[int] = set()
    outcome: dict[str, str] = {}

    async def catch_up() -> bool:
        client = MonitorClient(url, token)
        try:
            # The job first: once it reads terminal, its last attempt (ended in the same
            # transaction) is in the attempts read after it. The other order could see the job
            # end between the reads and exit without printing the last attempt.
            job = await client.job(job_id)
            body = await client._get("/job-attempts", job_id=job_id, limit=200)
        finally:
            await client.aclose()
        for record in sorted(body["attempts"], key=lambda a: a["attempt"]):
            if record["attempt"] not in printed and record.get("completed_at"):
                printed.add(record["attempt"])
                show(record)
        outcome["status"] = job["status"]
        return job["status"] in terminal

    async def on_event(event: Any) -> bool:
        if fields(event).get("job_id") != job_id:
            return False
        return await catch_up()

    async def run() -> int:
        if await catch_up():
            return 0
        # catch up again once subscribed: the job may have ended between the read above and the
        # stream opening, and its last event would then never arrive
        return await follow(url, token, types="job.", on_event=on_event, note=_note, on_open=catch_up)

    try:
        code = asyncio.run(run())
    except KeyboardInterrupt:
        return 130
    if code:
        return code
    status = outcome.get("status", "unknown")
    print(f"job {job_id} {status}", flush=True)
    return 0 if status == "succeeded" else 1


def register(app: typer.Typer) -> None:
    app.command("events")(events)
