"""A small synchronous client for the ductile HTTP API, used by `ductile job …`.

Errors come back as `ApiClientError` carrying the server's `{"error": ...}` text, so the CLI can
print exactly what the API said was wrong.
"""

from __future__ import annotations

from typing import Any

import httpx


class ApiClientError(Exception):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class ApiClient:
    def __init__(self, base_url: str, token: str | None, *, timeout: float = 10.0):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        return self._send("GET", path, params=clean)

    def post(self, path: str, body: Any = None, params: dict[str, Any] | None = None) -> dict[str, Any]:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        return self._send("POST", path, json=body, params=clean)

    def _send(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiClientError(f"cannot reach the ductile API at {self.base_url}: {exc}")
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            message = body.get("error") if isinstance(body, dict) else None
            raise ApiClientError(
                f"API {response.status_code}: {message or response.text[:200]}", status=response.status_code
            )
        if not isinstance(body, dict):
            raise ApiClientError(f"API returned a non-JSON response from {path}")
        return body

    def list_jobs(self, **params: Any) -> dict[str, Any]:
        return self.get("/jobs", params)

    def get_job(self, job_id: str) -> dict[str, Any]:
        return self.get(f"/job/{job_id}")

    def job_logs(self, **params: Any) -> dict[str, Any]:
        return self.get("/job-attempts", params)
