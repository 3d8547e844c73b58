"""Which PostgreSQL failures are storage faults, named the way `store/errors.py` names SQLite's.

The gateway reacts to the same two kinds on both backends. A server that cannot be reached, is
shutting down, has no room (disk full, too many connections) or refuses writes (a read-only
standby) is `StoreUnavailable`: writes are refused with 503 and the dispatcher pauses and probes
until one commits again, exactly as for a full disk under SQLite. Data the server itself reports
as corrupt, or a schema that belongs to another program, is `StoreDamaged`: waiting cannot fix
it, so the gateway stops. Anything else from psycopg is a bug in our SQL and stays as it is.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg_pool import PoolTimeout

from ductile.store.base import StoreError
from ductile.store.errors import StoreDamaged, StoreUnavailable

_CONNECT_ADVICE = "check that the PostgreSQL server at {target} is running and reachable from this host"
# SQLSTATE (or its two-character class) → (kind, what it means, what to do about it)
_TRANSIENT: dict[str, tuple[str, str, str]] = {
    "08": ("connection", "the connection to the server was lost or refused", _CONNECT_ADVICE),
    "53100": ("full", "the server's disk is full", "free space on the PostgreSQL server's data volume"),
    "53200": ("memory", "the server ran out of memory", "free memory on the PostgreSQL server"),
    "53300": (
        "busy",
        "the server has no free connection slots",
        "raise max_connections or lower database.pool_size on the nodes",
    ),
    "53": ("resources", "the server ran out of resources", "check the PostgreSQL server's log"),
    "57P01": ("shutdown", "the server is shutting down", _CONNECT_ADVICE),
    "57P02": ("shutdown", "the server crashed and is restarting", _CONNECT_ADVICE),
    "57P03": ("starting", "the server is not accepting connections yet", _CONNECT_ADVICE),
    "25006": ("readonly", "the server only accepts reads (a standby?)", "point database.url at the primary"),
    "40001": ("busy", "a concurrent transaction conflicted with this one", "nothing: it is retried"),
    "40P01": ("busy", "a deadlock with another transaction was broken", "nothing: it is retried"),
    "55P03": ("busy", "a lock could not be taken", "nothing: it is retried"),
    "58030": ("io", "the server reported an I/O error", "check the PostgreSQL server's disk and log"),
}
_DAMAGED = {
    "XX001": "the server reports damaged table data",
    "XX002": "the server reports a damaged index",
}


def redact_url(url: str) -> str:
    """The database URL without its password, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://…"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


class PgUnavailable(StoreUnavailable):
    """`StoreUnavailable` for a PostgreSQL server: `path` is the (redacted) database URL."""

    def __init__(self, target: str, operation: str, kind: str, meaning: str, advice: str, says: str):
        self.path = Path(target)  # what the dispatcher's log lines print; a URL, not a file
        self.target = target
        self.operation = operation
        self.kind = kind
        self.meaning = meaning
        self.sqlite_says = says  # the driver's own words (the attribute name predates PostgreSQL)
        self.advice = advice.format(target=target)
        StoreError.__init__(
            self,
            f"database {target} cannot be {'written' if operation == 'write' else 'read'}: {meaning} "
            f"(PostgreSQL: {says}); {self.advice}",
        )


class PgDamaged(StoreDamaged):
    def __init__(self, target: str, meaning: str, says: str | None = None, *, advice: str | None = None):
        self.path = Path(target)
        self.target = target
        self.meaning = meaning
        said = f" (PostgreSQL: {says})" if says else ""
        advice = advice or "restore the database from a backup; the PostgreSQL server log says which relation"
        StoreError.__init__(self, f"database {target} is unusable: {meaning}{said}; {advice}")


def classify(exc: BaseException, target: str, operation: str) -> StoreError | None:
    """The storage fault `exc` stands for, or None when it is not one (a bug: let it surface)."""
    if isinstance(exc, PoolTimeout):
        return PgUnavailable(
            target, operation, "connection", "no connection to the server could be made", _CONNECT_ADVICE, str(exc)
        )
    if not isinstance(exc, psycopg.Error):
        return None
    state = exc.sqlstate or ""
    said = f"{str(exc).strip()}" + (f", SQLSTATE {state}" if state else "")
    if state in _DAMAGED:
        return PgDamaged(target, _DAMAGED[state], said)
    hit = _TRANSIENT.get(state) or _TRANSIENT.get(state[:2])
    if hit is None and isinstance(exc, psycopg.OperationalError) and not state:
        hit = _TRANSIENT["08"]  # no SQLSTATE at all: the client lost or never had the connection
    if hit is None:
        return None
    kind, meaning, advice = hit
    return PgUnavailable(target, operation, kind, meaning, advice, said)
