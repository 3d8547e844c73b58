"""Bearer tokens and scopes. Tokens are compared as SHA-256 digests in constant time, so a
config may hold only `token_sha256`."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from fastapi import Request

from ductile.config import ApiToken

# What each scope grants directly, beyond itself (Ductile's auth/auth.go); `closure` follows chains.
# `plugin:ro` is catalog-only: invoking even a read command needs `plugin:invoke:ro` or `plugin:rw`.
# `system:rw` ⇒ `system:ro` is ours (Ductile's routes list both, so the effect is the same).
_DIRECT: dict[str, set[str]] = {
    "plugin:rw": {"plugin:ro", "plugin:catalog:ro", "plugin:invoke:ro"},
    "plugin:ro": {"plugin:catalog:ro"},
    "jobs:rw": {"jobs:ro"},
    "jobs:ro": {"jobs:status:ro", "jobs:tree:ro", "jobs:logs:ro", "jobs:result:ro"},
    "events:rw": {"events:ro"},
    "events:ro": {"events:meta:ro", "events:payload:ro"},
    "system:rw": {"system:ro"},
}


def closure(scope: str) -> set[str]:
    """Every scope `scope` grants, itself included."""
    seen = {scope}
    todo = [scope]
    while todo:
        for implied in _DIRECT.get(todo.pop(), ()):
            if implied not in seen:
                seen.add(implied)
                todo.append(implied)
    return seen


IMPLIES: dict[str, set[str]] = {scope: closure(scope) - {scope} for scope in _DIRECT}


class AuthError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Principal:
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return has_scope(self.scopes, scope)


def has_scope(granted: frozenset[str] | set[str], needed: str) -> bool:
    if "*" in granted or needed in granted:
        return True
    seen: set[str] = set()
    pending = list(granted)
    while pending:
        scope = pending.pop()
        if scope in seen:
            continue
        seen.add(scope)
        implied = IMPLIES.get(scope, set())
        if needed in implied:
            return True
        pending.extend(implied)
    return False


class TokenBook:
    def __init__(self, tokens: list[ApiToken]):
        self._entries = [(t.digest, Principal(t.name, frozenset(t.scopes))) for t in tokens]

    def identify(self, presented: str) -> Principal | None:
        return self.by_digest(hashlib.sha256(presented.encode()).digest())

    def by_digest(self, digest: bytes) -> Principal | None:
        """The principal of the token with this SHA-256 digest (dashboard sessions keep only the
        digest, and look it up again on each request so a removed token ends its sessions)."""
        found = None
        for known, principal in self._entries:  # no early exit: timing does not reveal which matched
            if hmac.compare_digest(known, digest):
                found = principal
        return found

    def authenticate(self, request: Request, allow_query_token: bool = False) -> Principal:
        header = request.headers.get("authorization")
        if not header and allow_query_token and request.query_params.get("token"):
            # `?token=` only where a browser EventSource cannot send headers (GET /events), as Ductile.
            header = f"Bearer {request.query_params['token']}"
        if not header:
            raise AuthError(401, "missing bearer token (send Authorization: Bearer <token>)")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthError(401, "malformed Authorization header (accepted: Bearer <token>)")
        principal = self.identify(value.strip())
        if principal is None:
            raise AuthError(401, "invalid token")
        return principal

    def require(self, request: Request, scope: str | None, allow_query_token: bool = False) -> Principal:
        principal = self.authenticate(request, allow_query_token)
        if scope is not None and not principal.allows(scope):
            raise AuthError(
                403,
                f"insufficient scope: token {principal.name!r} lacks scope {scope!r} "
                f"(it has: {', '.join(sorted(principal.scopes))})",
            )
        return principal
