"""FastAPI dependencies: the gateway, and a scope check per endpoint."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.security import HTTPBearer

from ductile.api.auth import Principal

if TYPE_CHECKING:
    from ductile.gateway import Gateway


# Declares the bearer scheme in /openapi.json for the routers that use it; the real check is `require`.
bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <token> from api.auth.tokens")


def gateway(request: Request) -> Gateway:
    return request.app.state.gateway


def require(scope: str | None) -> Callable[[Request], Principal]:
    """`Depends(require("jobs:ro"))`; `None` means any valid token."""

    def check(request: Request) -> Principal:
        return request.app.state.tokens.require(request, scope)

    check.__name__ = f"require_{(scope or 'token').replace(':', '_')}"
    return check
