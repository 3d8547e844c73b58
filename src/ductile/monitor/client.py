"""The monitor's only data source: an async HTTP client for the gateway API and an SSE reader.

No database access: everything the monitor shows comes through these calls, so it works from any
host that can reach the API. Reconnecting is the caller's loop; `events()` just ends or raises.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx


class ApiUnavailable(Exception):
    """The gateway could not be reached, or answered with a server error."""


class ApiRefused(Exception):
    """The gateway answered 4xx: bad token, missing scope, unknown job. Retrying will not help."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class SseEvent:
    """One parsed SSE frame. `id` is None for control frames (stream.open/gap/lagged)."""

    type: str
    data: dict[str, Any]
    id: int | None = None


@dataclass
class SseParser:
    """Incremental `text/event-stream` parser: feed lines, get complete events."""

    _type: str = ""
    _data: list[str] = field(default_factory=list)
    _id: str | None = None

    def feed(self, line: str) -> SseEvent | None:
        if line == "":
            if not self._data and not self._type:
                return None
            raw = "\n".join(self._data)
            event_type, event_id = self._type or "message", self._id
            self._type, self._data, self._id = "", [], None
            try:
                data = json.loads(raw) if raw else {}
            except json.JSONDecodeError:
                data = {"raw": raw}
            if not isinstance(data, dict):
                data = {"value": data}
            return SseEvent(event_type, data, int(event_id) if event_id and event_id.isdigit() else None)
        if line.startswith(":"):
            return None  # comment (heartbeat)
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._type = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            self._id = value
        return None


class MonitorClient:
    """Thin async wrapper over the endpoints the monitor reads. One instance per app."""

    def __init__(self, base_url: str, token: str | None, *, timeout: float = 5.0, transport: Any = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _get(self, path: str, **params: Any) -> dict[str, Any]:
        clean = {k: v for k, v in params.items() if v not in (None, "")}
        try:
            response = await self._http.get(path, params=clean)
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"{self.base_url}: {exc.__class__.__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise ApiUnavailable(f"{path}: HTTP {response.status_code}")
        return _body(response)

    async def _post(self, path: str) -> dict[str, Any]:
        """An action: any refusal, a 5xx included, is shown to the user with the gateway's message."""
        try:
            response = await self._http.post(path)
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"{self.base_url}: {exc.__class__.__name__}: {exc}") from exc
        return _body(response)

    async def schedule_action(self, plugin: str, schedule_id: str, action: str) -> dict[str, Any]:
        """`POST /schedules/{plugin}/{schedule_id}/{pause|resume|run}` (scope plugin:rw)."""
        return await self._post(f"/schedules/{plugin}/{schedule_id}/{action}")

    async def job_action(self, job_id: str, action: str) -> dict[str, Any]:
        """`POST /job/{job_id}/{retry|cancel}` (scope jobs:rw)."""
        return await self._post(f"/job/{job_id}/{action}")

    async def health(self) -> dict[str, Any]:
        return await self._get("/healthz")

    async def jobs(
        self, *, plugin: str | None = None, command: str | None = None, status: str | None = None, limit: int = 100
    ) -> dict[str, Any]:
        return await self._get("/jobs", plugin=plugin, command=command, status=status, limit=limit)

    async def job(self, job_id: str) -> dict[str, Any]:
        return await self._get(f"/job/{job_id}")

    async def job_detail(self, job_id: str) -> dict[str, Any]:
        """Payload and transitions too (`GET /job/{id}/detail`, served by the system router)."""
        return await self._get(f"/job/{job_id}/detail")

    async def attempts(self, job_id: str) -> list[dict[str, Any]]:
        body = await self._get("/job-attempts", job_id=job_id, include_result="true", limit=100)
        items = body.get("attempts", body.get("logs", body.get("items", [])))
        return sorted(items, key=lambda a: a.get("attempt", 0))

    async def pipelines(self) -> dict[str, Any]:
        """Compiled pipelines with their last instance (`GET /pipelines`, scope jobs:tree:ro)."""
        return await self._get("/pipelines")

    async def schedules(self) -> dict[str, Any]:
        return await self._get("/schedules")

    async def plugin_state(self) -> dict[str, Any]:
        return await self._get("/plugin-state")

    async def events(
        self, last_id: int | None = None, *, read_timeout: float = 60.0, types: str | None = None
    ) -> AsyncIterator[SseEvent]:
        """Yield events one by one until the stream ends (see `event_batches`). Closing this
        generator closes the stream's own at once (aclosing), not later from the loop's shutdown."""
        async with contextlib.aclosing(self.event_batches(last_id, read_timeout=read_timeout, types=types)) as batches:
            async for batch in batches:
                for event in batch:
                    yield event

    async def event_batches(
        self, last_id: int | None = None, *, read_timeout: float = 60.0, types: str | None = None
    ) -> AsyncIterator[list[SseEvent]]:
        """Yield the events of each network read together (the server flushes in batches), until
        the stream ends; raise ApiUnavailable/ApiRefused on failure. A consumer that handles a batch
        at once does a fraction of the per-event work.

        `read_timeout` must exceed the server's heartbeat interval: silence longer than that
        means the connection is dead even if TCP has not noticed.
        """
        headers = {"Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = str(last_id)
        timeout = httpx.Timeout(5.0, read=read_timeout)
        parser = SseParser()
        pending = ""
        try:
            params = {"types": types} if types else None
            async with self._http.stream("GET", "/events", headers=headers, timeout=timeout, params=params) as response:
                if response.status_code >= 400:
                    body = (await response.aread()).decode(errors="replace")
                    try:
                        message = json.loads(body).get("error", body)
                    except (ValueError, AttributeError):
                        message = body
                    if response.status_code >= 500:
                        raise ApiUnavailable(f"/events: HTTP {response.status_code}")
                    raise ApiRefused(response.status_code, str(message))
                async for text in response.aiter_text():
                    lines = (pending + text).split("\n")
                    pending = lines.pop()  # an incomplete last line waits for the next read
                    batch = []
                    for line in lines:
                        event = parser.feed(line.removesuffix("\r"))
                        if event is not None:
                            batch.append(event)
                    if batch:
                        yield batch
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"/events: {exc.__class__.__name__}: {exc}") from exc


def _body(response: httpx.Response) -> dict[str, Any]:
    """The JSON body, or ApiRefused with the gateway's `error` message for a 4xx/5xx."""
    if response.status_code >= 400:
        try:
            message = response.json().get("error", response.text)
        except ValueError:
            message = response.text
        raise ApiRefused(response.status_code, str(message))
    return response.json()
