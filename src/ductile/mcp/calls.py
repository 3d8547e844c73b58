"""One tool call, without the MCP SDK: arguments → HTTP request → compact answer or error text.

Every failure is an error *result* the agent can read and act on (bad argument, refused scope,
unknown job, gateway down), never an exception that would end the MCP session.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ductile.mcp.client import GatewayClient, GatewayError
from ductile.mcp.compact import compact
from ductile.mcp.tools import Tool, ToolInputError, plan_request


@dataclass(frozen=True)
class Outcome:
    is_error: bool
    text: str
    structured: dict[str, Any] | None = None


def error_text(tool: Tool, method: str, path: str, exc: GatewayError) -> str:
    """The API's message, prefixed with what was called, plus what the agent can do about it."""
    status = f"API {exc.status}" if exc.status is not None else "API unreachable"
    text = f"{tool.spec.name} failed: {status} from {method} {path}: {exc.message}"
    if exc.status in (401, 403) and tool.scope:
        text += f" (this tool needs a token with scope {tool.scope})"
    if exc.status in (404, 405) and not tool.documented and exc.message.startswith(("no such endpoint", "method")):
        text += f" (this gateway does not offer {method} {tool.spec.path}; it is older than this tool)"
    return text


async def call_tool(client: GatewayClient, tool: Tool, arguments: dict[str, Any] | None, budget: int) -> Outcome:
    try:
        request = plan_request(tool, arguments)
    except ToolInputError as exc:
        return Outcome(True, f"{tool.spec.name}: bad arguments: {exc}")
    try:
        body = await client.send(request, tool.spec.timeout)
    except GatewayError as exc:
        return Outcome(True, error_text(tool, request.method, request.path, exc))
    result = compact(body, budget, tool.spec.wrap)
    return Outcome(False, json.dumps(result, ensure_ascii=False, separators=(",", ":"), default=str), result)
