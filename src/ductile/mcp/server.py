"""The MCP server itself: the SDK's low-level `Server` wired to our tools, calls and doc pages.

The only module that imports the `mcp` SDK (so `ductile` commands other than `mcp` never load
it). Tool definitions are built once at start from the gateway's `/openapi.json`; when the
gateway cannot be asked, from this package's own document (same routers), with a warning.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import mcp.types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

from ductile import __version__
from ductile.mcp.calls import Outcome, call_tool
from ductile.mcp.client import GatewayClient, GatewayError
from ductile.mcp.docs import DocPage, read_page
from ductile.mcp.tools import Tool, build_tools, local_openapi

MARKDOWN = "text/markdown"


@dataclass
class Settings:
    api_url: str
    token: str | None
    budget: int
    pages: list[DocPage]


def instructions(settings: Settings, source: str) -> str:
    docs = (
        f"{len(settings.pages)} documentation pages are resources (ductile://docs/<FILE>.md); "
        "read ductile://docs/AGENTS.md first."
        if settings.pages
        else "No documentation pages are available (no docs directory was found)."
    )
    return (
        f"Ductile automation runtime at {settings.api_url}. Tools call its HTTP API with this connection's "
        "token, so the token's scopes decide what succeeds; a refused call is an error result naming the scope. "
        f"Tool schemas come from {source}. Answers larger than {settings.budget} bytes are shortened: "
        "cut strings end in '…[truncated: N chars]', cut lists in '…[N more items]', and the answer has "
        "result_truncated: true, result_bytes and truncated_fields; narrow the query (filters, limit, job_id) "
        f"to see more. {docs}"
    )


def as_mcp_tool(tool: Tool) -> types.Tool:
    annotations = types.ToolAnnotations(
        title=tool.spec.name.replace("_", " "),
        read_only_hint=tool.spec.read_only,
        idempotent_hint=True if tool.spec.read_only else None,
    )
    return types.Tool(
        name=tool.spec.name,
        description=tool.description,
        input_schema=tool.input_schema,
        annotations=annotations,
    )


# Given a call's request context, the client to make the call with (stdio: always the same one;
# streamable HTTP: one carrying that request's own bearer token), or an Outcome refusing the call.
ClientFor = Callable[[Any], AbstractAsyncContextManager["GatewayClient | Outcome"]]


def fixed_client(client: GatewayClient) -> ClientFor:
    @asynccontextmanager
    async def client_for(ctx: Any) -> AsyncIterator[GatewayClient | Outcome]:
        yield client

    return client_for


def build_server(client_for: ClientFor, tools: dict[str, Tool], settings: Settings, source: str) -> Server[Any]:
    listed = [as_mcp_tool(t) for t in tools.values()]

    async def on_list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listed)

    async def on_call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        tool = tools.get(params.name)
        if tool is None:
            known = ", ".join(tools)
            text = f"unknown tool {params.name!r} (known: {known})"
            return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)
        async with client_for(ctx) as client:
            if isinstance(client, Outcome):
                outcome = client
            else:
                outcome = await call_tool(client, tool, params.arguments, settings.budget)
        return types.CallToolResult(
            content=[types.TextContent(text=outcome.text)],
            structured_content=outcome.structured,
            is_error=outcome.is_error,
        )

    async def on_list_resources(ctx: Any, params: Any) -> types.ListResourcesResult:
        return types.ListResourcesResult(
            resources=[
                types.Resource(uri=p.uri, name=p.name, title=p.title, mime_type=MARKDOWN, size=p.size)
                for p in settings.pages
            ]
        )

    async def on_read_resource(ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        text = read_page(settings.pages, str(params.uri))
        if text is None:
            known = ", ".join(p.uri for p in settings.pages) or "none"
            raise MCPError(types.INVALID_PARAMS, f"unknown resource {str(params.uri)[:200]!r} (known: {known})")
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=str(params.uri), mime_type=MARKDOWN, text=text)]
        )

    return Server(
        "ductile",
        version=__version__,
        instructions=instructions(settings, source),
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
        on_list_resources=on_list_resources,
        on_read_resource=on_read_resource,
    )


async def load_tools(client: GatewayClient) -> tuple[dict[str, Tool], str]:
    """Tools from the gateway's document; this package's own when the gateway cannot be asked."""
    try:
        return build_tools(await client.openapi()), f"{client.base_url}/openapi.json"
    except GatewayError as exc:
        print(f"ductile mcp: {exc.message}; using this package's own API document", file=sys.stderr)
        return build_tools(local_openapi()), "this ductile package's API document (the gateway did not answer)"


async def serve_stdio(settings: Settings) -> None:
    client = GatewayClient(settings.api_url, settings.token)
    try:
        tools, source = await load_tools(client)
        server = build_server(fixed_client(client), tools, settings, source)
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
    finally:
        await client.aclose()


def run_stdio(settings: Settings) -> None:
    anyio.run(serve_stdio, settings)
