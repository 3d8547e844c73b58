"""The FastAPI application: `create_app(gateway)` wires routers to a running gateway.

Handlers stay thin: they parse and authorize, call the store or gateway, and shape JSON.
Every error leaves as `{"error": "..."}` with a 4xx that names what was wrong; a database that
cannot be used right now is a 503 with `"retryable"`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ductile import __version__
from ductile.api import jsonio
from ductile.api.auth import AuthError, TokenBook
from ductile.store import StoreDamaged, StoreUnavailable

if TYPE_CHECKING:
    from ductile.gateway import Gateway


class ApiError(Exception):
    """Raise from a handler to answer `{"error": message}` with `status`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def store_fault_response(request: Request, exc: StoreUnavailable | StoreDamaged) -> JSONResponse:
    """503 for a database that cannot be used right now: say what failed and whether to retry.
    Nothing was changed by the request (its transaction rolled back)."""
    if isinstance(exc, StoreDamaged):
        message = f"{exc.reason}; the gateway is stopping (operator action needed)"
        return JSONResponse({"error": message, "retryable": False}, status_code=503)
    if exc.operation == "write":
        changed = "nothing was queued" if request.url.path.startswith("/plugin/") else "nothing was changed"
        message = f"{exc.reason}; {changed}; retry later"
    else:
        message = f"{exc.reason}; retry later"
    return JSONResponse({"error": message, "retryable": True}, status_code=503, headers={"Retry-After": "5"})


def create_app(gateway: Gateway) -> FastAPI:
    app = FastAPI(
        title="ductile",
        version=__version__,
        description=(
            "Automation runtime API. Authenticate with `Authorization: Bearer <token>`; each endpoint "
            'names the scope it needs. Errors are `{"error": "..."}`.'
        ),
        docs_url=None,
        redoc_url=None,
    )
    app.state.gateway = gateway
    app.state.tokens = TokenBook(gateway.config.api.auth.tokens)

    @app.exception_handler(AuthError)
    async def _auth_error(request: Request, exc: AuthError) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Bearer realm="ductile"'} if exc.status == 401 else None
        if exc.status == 401 and exc.message == "invalid token":
            headers = {"WWW-Authenticate": 'Bearer realm="ductile", error="invalid_token"'}
        return error_response(exc.status, exc.message, headers)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message)

    @app.exception_handler(StoreUnavailable)
    @app.exception_handler(StoreDamaged)
    async def _store_fault(request: Request, exc: StoreUnavailable | StoreDamaged) -> JSONResponse:
        return store_fault_response(request, exc)

    @app.exception_handler(jsonio.BodyProblem)
    async def _body_problem(request: Request, exc: jsonio.BodyProblem) -> JSONResponse:
        return error_response(exc.status, exc.message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after this answer, so uvicorn's error logger records the traceback
        # once (as one JSON line under log_format json); the client gets JSON, not text/plain.
        return error_response(500, "internal error while handling the request (the gateway log has the details)")

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for item in exc.errors():
            loc = ".".join(str(p) for p in item.get("loc", ()) if p not in ("query", "path", "body", "header"))
            parts.append(f"{loc or 'request'}: {item.get('msg')}")
        return error_response(400, "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message: Any = exc.detail
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path} (see GET / for the list)"
        elif exc.status_code == 405:
            message = f"method {request.method} not allowed on {request.url.path}"
        return error_response(exc.status_code, str(message), getattr(exc, "headers", None))

    from ductile.api.routers import health

    app.include_router(health.router)
    _include_optional(app)
    from ductile.api.routers.discovery import install_cors

    install_cors(app, list(gateway.config.api.allowed_origins))
    if getattr(gateway, "metrics", None) is not None:
        from ductile.metrics import HttpMetricsMiddleware

        app.add_middleware(HttpMetricsMiddleware, metrics=gateway.metrics)
    if gateway.config.api.mcp.enabled:  # MCP over streamable HTTP at /mcp (docs/AGENTS.md)
        from ductile.mcp.http import install

        install(app, gateway.config.api.mcp.max_result_bytes, gateway.config.api.max_body_bytes)
    from ductile.ui.router import install as install_ui  # the web dashboard at /ui (docs/DASHBOARD.md)

    install_ui(app)
    return app


def _include_optional(app: FastAPI) -> None:
    """Routers added by later issues register here when their modules exist."""
    import importlib

    # discovery before plugins: its GET /plugin/{name}/openapi.json must answer 405s with `Allow: GET`
    routers = (
        "jobs",
        "lineage",
        "discovery",
        "plugins",
        "pipelines",
        "schedules",
        "events",
        "system",
        "diagnostics",
        "breakers",
        "nodes",
        "reload",
        "stopwatch",
    )
    for name in (*routers, "metrics", "actions"):
        try:
            module = importlib.import_module(f"ductile.api.routers.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"ductile.api.routers.{name}":
                raise
            continue
        app.include_router(module.router)
