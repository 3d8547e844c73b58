"""The gateway's HTTP API as the MCP server calls it: one bearer token for every request.

Errors come back as `GatewayError` with the API's own `{"error": ...}` text, so a refused scope
reaches the agent in the gateway's words ("token 'x' lacks scope 'jobs:rw'").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from ductile import __version__
from ductile.mcp.tools import ApiRequest


class GatewayError(Exception):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class GatewayClient:
    base_url: str
    token: str | None
    transport: httpx.AsyncBaseTransport | None = None

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        headers = {"User-Agent": f"ductile-mcp/{__version__}"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=headers, transport=self.transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def openapi(self, timeout: float = 10.0) -> dict[str, Any]:
        body = await self.send(ApiRequest("GET", "/openapi.json", {}, {}), timeout)
        if not isinstance(body, dict) or "paths" not in body:
            raise GatewayError(f"{self.base_url}/openapi.json is not an OpenAPI document")
        return body

    async def send(self, request: ApiRequest, timeout: float) -> Any:
        """The decoded JSON answer of a 2xx; GatewayError (with the API's message) otherwise."""
        kwargs: dict[str, Any] = {"params": request.params, "headers": request.headers, "timeout": timeout}
        if request.has_body:
            kwargs["json"] = request.json
        try:
            response = await self._http.request(request.method, request.path, **kwargs)
        except httpx.TimeoutException:
            raise GatewayError(f"no answer from the ductile API at {self.base_url} within {timeout:g}s")
        except httpx.HTTPError as exc:
            raise GatewayError(f"cannot reach the ductile API at {self.base_url}: {exc}")
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            message = body.get("error") if isinstance(body, dict) else None
            raise GatewayError(message or response.text[:300] or response.reason_phrase, response.status_code)
        if body is None:
            raise GatewayError(f"the API answered {request.method} {request.path} with non-JSON", response.status_code)
        return body
