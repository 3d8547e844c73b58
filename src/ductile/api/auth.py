"""Bearer tokens and scopes. Tokens are compared as SHA-256 digests in constant time, so a
config may hold only `token_sha256`."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from fastapi import Request

from ductile.config import ApiToken

# What each scope grants directly, beyond itself; `has_scope` follows these transitively.
# `jobs:tree:ro` (lineage without results) and `jobs:result:ro` (results and errors) are the
# narrow pipeline scopes of Ductile: a tree reader need not see what plugins returned.
IMPLIES: dict[str, set[str]] = {
    "jobs:rw": {"jobs:ro"},
    "jobs:ro": {"jobs:tree:ro", "jobs:result:ro"},
    "plugin:rw": {"plugin:ro"},
    "system:rw": {"system:ro"},
}


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
        digest = hashlib.sha256(presented.encode()).digest()
        found = None
        for known, principal in self._entries:  # no early exit: timing does not reveal which matched
            if hmac.compare_digest(known, digest):
                found = principal
        return found

    def authenticate(self, request: Request) -> Principal:
        header = request.headers.get("authorization")
        if not header:
            raise AuthError(401, "missing bearer token (send Authorization: Bearer <token>)")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthError(401, "malformed Authorization header (accepted: Bearer <token>)")
        principal = self.identify(value.strip())
        if principal is None:
            raise AuthError(401, "invalid token")
        return principal

    def require(self, request: Request, scope: str | None) -> Principal:
        principal = self.authenticate(request)
        if scope is not None and not principal.allows(scope):
            raise AuthError(
                403, f"token {principal.name!r} lacks scope {scope!r} (it has: {', '.join(sorted(principal.scopes))})"
            )
        return principal
