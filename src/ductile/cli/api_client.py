"""A small synchronous client for the ductile HTTP API, used by `ductile job …` and friends.

Built on the standard library's `http.client` rather than httpx: a CLI call is one request, and
importing httpx (with its CLI extras) costs more than the request itself (bench/cli.py). Errors
come back as `ApiClientError` carrying the server's `{"error": ...}` text, so the CLI prints
exactly what the API said was wrong.
"""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlencode, urlsplit


class ApiClientError(Exception):
    def __init__(self, message: str, status: int | None = None, body: Any = None):
        super().__init__(message)
        self.status = status
        self.body = body  # the decoded error body (e.g. `problems` of a refused reload)


class ApiClient:
    def __init__(self, base_url: str, token: str | None, *, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ApiClientError(f"invalid API URL {base_url!r} (accepted: http://host:port or https://host:port)")
        self._prefix = parts.path
        connection = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._conn = connection(parts.hostname, parts.port, timeout=timeout)
        self._headers = {"Accept": "application/json", "User-Agent": "ductile-cli"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._conn.close()

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._send("GET", path, params=params)

    def post(self, path: str, body: Any = None, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._send("POST", path, body=body, params=params)

    def _send(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> dict[str, Any]:
        clean = {k: _text(v) for k, v in (params or {}).items() if v is not None}
        target = self._prefix + path + (f"?{urlencode(clean)}" if clean else "")
        headers = dict(self._headers)
        data = None
        if body is not None or method == "POST":
            data = json.dumps(body).encode() if body is not None else b""
            if body is not None:
                headers["Content-Type"] = "application/json"
        try:
            self._conn.request(method, target, body=data, headers=headers)
            response = self._conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._conn.close()
            raise ApiClientError(f"cannot reach the ductile API at {self.base_url}: {exc}") from None
        try:
            decoded = json.loads(raw) if raw else None
        except ValueError:
            decoded = None
        if response.status >= 400:
            message = decoded.get("error") if isinstance(decoded, dict) else None
            text = raw.decode("utf-8", "replace")[:200]
            raise ApiClientError(f"API {response.status}: {message or text}", status=response.status, body=decoded)
        if not isinstance(decoded, dict):
            raise ApiClientError(f"API returned a non-JSON response from {path}")
        return decoded

    def list_jobs(self, **params: Any) -> dict[str, Any]:
        return self.get("/jobs", params)

    def get_job(self, job_id: str) -> dict[str, Any]:
        return self.get(f"/job/{job_id}")

    def job_logs(self, **params: Any) -> dict[str, Any]:
        return self.get("/job-attempts", params)


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
