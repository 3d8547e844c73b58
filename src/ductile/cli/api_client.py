"""A small synchronous client for the ductile HTTP API, used by `ductile job …` and friends.

Not httpx, and for `http://` not even `http.client`: a CLI call is a request or two, and importing
httpx, or http.client with the ssl and email modules it pulls in, costs more than the request
itself (bench/cli.py); http1.py speaks plain HTTP/1.1, `https://` goes through http.client. Errors
come back as `ApiClientError` carrying the server's `{"error": ...}` text, so the CLI prints
exactly what the API said was wrong.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode, urlsplit

from ductile.cli import http1

TYPE_CHECKING = False  # not `typing`: on the CLI fast path (fast.py)
if TYPE_CHECKING:
    from typing import Any


class ApiClientError(Exception):
    def __init__(self, message: str, status: int | None = None, body: Any = None):
        super().__init__(message)
        self.status = status
        self.body = body  # the decoded error body (e.g. `problems` of a refused reload)


class ApiClient:
    def __init__(self, base_url: str, token: str | None, *, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        try:
            port = parts.port
        except ValueError:
            port, parts = None, parts._replace(netloc="")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ApiClientError(f"invalid API URL {base_url!r} (accepted: http://host:port or https://host:port)")
        self._prefix = parts.path
        self._host = parts.hostname
        self._port = port or (443 if parts.scheme == "https" else 80)
        self._timeout = timeout
        self._tls: Any = None
        if parts.scheme == "https":
            import http.client

            self._tls = http.client.HTTPSConnection(parts.hostname, port, timeout=timeout)
        self._headers = {"Accept": "application/json", "User-Agent": "ductile-cli"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._tls is not None:
            self._tls.close()

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._send("GET", path, params=params)

    def post(self, path: str, body: Any = None, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._send("POST", path, body=body, params=params)

    def exchange(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None
    ) -> tuple[int, bytes]:
        """Status and raw body of one request, for a caller that words every outcome itself
        (`system status`): a failure to reach the server raises OSError or http1.ProtocolError."""
        clean = {k: _text(v) for k, v in (params or {}).items() if v is not None}
        target = self._prefix + path + (f"?{urlencode(clean)}" if clean else "")
        headers = dict(self._headers)
        data = None
        if body is not None or method == "POST":
            data = json.dumps(body).encode() if body is not None else b""
            if body is not None:
                headers["Content-Type"] = "application/json"
        return self._exchange(method, target, headers, data)

    def exchange_raw(
        self, method: str, target: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, bytes]:
        """One request as given (`ductile api`): `target` is path and query, `headers` go over
        the client's own (Accept, User-Agent, Authorization). Failures to reach the server raise
        OSError or http1.ProtocolError, as `exchange` does."""
        given = {name.lower() for name in headers}
        own = {name: value for name, value in self._headers.items() if name.lower() not in given}
        return self._exchange(method, self._prefix + target, {**own, **headers}, body)

    def _send(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None
    ) -> dict[str, Any]:
        try:
            status, raw = self.exchange(method, path, params=params, body=body)
        except (OSError, http1.ProtocolError) as exc:
            raise ApiClientError(f"cannot reach the ductile API at {self.base_url}: {exc}") from None
        try:
            decoded = json.loads(raw) if raw else None
        except ValueError:
            decoded = None
        if status >= 400:
            message = decoded.get("error") if isinstance(decoded, dict) else None
            text = raw.decode("utf-8", "replace")[:200]
            raise ApiClientError(f"API {status}: {message or text}", status=status, body=decoded)
        if not isinstance(decoded, dict):
            raise ApiClientError(f"API returned a non-JSON response from {path}")
        return decoded

    def _exchange(self, method: str, target: str, headers: dict[str, str], data: bytes | None) -> tuple[int, bytes]:
        if self._tls is None:
            return http1.request(self._host, self._port, method, target, headers, data, self._timeout)
        import http.client

        try:
            self._tls.request(method, target, body=data, headers=headers)
            response = self._tls.getresponse()
            return response.status, response.read()
        except http.client.HTTPException as exc:
            self._tls.close()
            raise http1.ProtocolError(str(exc)) from None
        except OSError:
            self._tls.close()
            raise

    def list_jobs(self, **params: Any) -> dict[str, Any]:
        return self.get("/jobs", params)

    def get_job(self, job_id: str) -> dict[str, Any]:
        return self.get(f"/job/{job_id}")

    def job_logs(self, **params: Any) -> dict[str, Any]:
        return self.get("/job-attempts", params)


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
