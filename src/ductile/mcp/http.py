"""MCP over streamable HTTP at `/mcp` on the gateway's own API (`api.mcp.enabled`).

Same tools, results and resources as `ductile mcp` on stdio. The caller authenticates with the
same bearer token as every route (401 otherwise), and each tool call is made *with that token*
against this very app, in process (httpx's ASGI transport, so through the same routes, scope
checks and redaction as an HTTP client; no socket). A token therefore does exactly what it could
do with `curl`. The SDK's session manager runs stateless with JSON answers: no session state to
keep or expire, and one POST gets one answer. `running()` owns the manager's task group for as
long as the API serves (the gateway enters it around `serve`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ductile.api.app import error_response
from ductile.api.auth import AuthError
from ductile.mcp.calls import Outcome
from ductile.mcp.client import GatewayClient
from ductile.mcp.docs import doc_pages, docs_dir
from ductile.mcp.server import Settings, build_server
from ductile.mcp.tools import build_tools

if TYPE_CHECKING:
    from fastapi import FastAPI

PATH = "/mcp"
INTERNAL = "http://ductile.internal"  # base URL of the in-process calls (never resolved)


class McpEndpoint:
    """The ASGI endpoint at /mcp: bearer auth first, then the SDK's streamable HTTP transport."""

    def __init__(self, app: FastAPI, budget: int, max_body_bytes: int) -> None:
        self.app = app
        self.budget = budget
        self.max_body_bytes = max_body_bytes
        self.manager: StreamableHTTPSessionManager | None = None

    @asynccontextmanager
    async def _client_for(self, ctx: Any) -> AsyncIterator[GatewayClient | Outcome]:
        """A client carrying the token of the HTTP request this call arrived on."""
        request = getattr(ctx, "request", None)
        header = request.headers.get("authorization", "") if request is not None else ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            yield Outcome(True, "no bearer token on this MCP request (send Authorization: Bearer <token>)")
            return
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        client = GatewayClient(INTERNAL, token.strip(), transport=transport)
        try:
            yield client
        finally:
            await client.aclose()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Build the server from this app's own OpenAPI document and serve until the block ends."""
        tools = build_tools(self.app.openapi())
        settings = Settings(api_url="this gateway", token=None, budget=self.budget, pages=doc_pages(docs_dir()))
        server = build_server(self._client_for, tools, settings, "this gateway's /openapi.json")
        self.manager = StreamableHTTPSessionManager(
            app=server, json_response=True, stateless=True, max_request_body_size=self.max_body_bytes
        )
        try:
            async with self.manager.run():
                yield
        finally:
            self.manager = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            self.app.state.tokens.authenticate(request)
        except AuthError as exc:
            headers = {"WWW-Authenticate": 'Bearer realm="ductile"'} if exc.status == 401 else None
            await error_response(exc.status, exc.message, headers)(scope, receive, send)
            return
        if self.manager is None:
            await error_response(503, "the MCP endpoint is not running (the API is starting or stopping)")(
                scope, receive, send
            )
            return
        await self.manager.handle_request(scope, receive, send)


def install(app: FastAPI, budget: int, max_body_bytes: int) -> McpEndpoint:
    """Add `/mcp` to the app (outside /openapi.json: it is not a REST operation)."""
    endpoint = McpEndpoint(app, budget, max_body_bytes)
    app.router.routes.append(Route(PATH, endpoint=endpoint, methods=["GET", "POST", "DELETE"]))
    app.state.mcp = endpoint
    return endpoint
