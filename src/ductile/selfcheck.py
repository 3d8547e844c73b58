"""The database's health invariants, for `ductile system selfcheck` and `GET /system/selfcheck`.

Every check is a read, so both may run beside a gateway (SQLite's WAL lets readers and the one
writer proceed together; on PostgreSQL the session is read-only). One list of checks for both
surfaces: a check added here shows in the CLI and the API alike.

Each check is `{name, status, ok, detail}` with status `ok` | `fail` | `warn` | `skipped`; only
`fail` makes the whole report fail (a check that could not apply, e.g. SQLite's integrity check
on PostgreSQL, is `skipped`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ductile.config import no_database
from ductile.lifecycle import ALL_STATUSES, TERMINAL
from ductile.lock import lock_holder
from ductile.store import queries

if TYPE_CHECKING:
    from ductile.config import LoadedConfig

DEADLINE = 10.0  # seconds the API waits; a badge call must not hang on a huge integrity check


class SelfcheckTimeout(TimeoutError):
    pass


def check(name: str, status: str, detail: str) -> dict[str, Any]:
    return {"name": name, "status": status, "ok": status != "fail", "detail": detail}


def passed(checks: list[dict[str, Any]]) -> bool:
    return all(c["status"] != "fail" for c in checks)


def _literals(values: tuple[str, ...]) -> str:
    """Our own status names as SQL literals: constants, so no parameter style differs by driver."""
    return ",".join(f"'{v}'" for v in values)


def database_checks(db: Any, *, postgres: bool, holder: str | None) -> list[dict[str, Any]]:
    """The checks on an open read-only connection (sqlite3 or psycopg: both have `execute`)."""
    out: list[dict[str, Any]] = []
    if postgres:
        out.append(check("integrity", "skipped", "PostgreSQL verifies its own pages; use amcheck or pg_dump"))
    else:
        integrity = [r[0] for r in db.execute("PRAGMA integrity_check")]
        out.append(check("integrity", "ok" if integrity == ["ok"] else "fail", "; ".join(integrity[:5])))
    latest = queries.migrations("migrations_postgres" if postgres else "migrations")[-1][0]
    try:
        version = db.execute("SELECT max(version) FROM schema_version").fetchone()[0]
    except Exception as exc:  # sqlite3.Error or psycopg.Error: a database that is not ours
        out.append(check("schema", "fail", f"unreadable ({exc})"))
        if postgres:
            db.rollback()
    else:
        out.append(check("schema", "ok" if version == latest else "fail", f"{version} (this ductile: {latest})"))
    unknown = db.execute(f"SELECT count(*) FROM jobs WHERE status NOT IN ({_literals(ALL_STATUSES)})").fetchone()[0]
    out.append(check("statuses", "ok" if unknown == 0 else "fail", f"{unknown} job(s) with an unknown status"))
    terminal = tuple(s.value for s in TERMINAL)
    open_done = db.execute(
        f"SELECT count(*) FROM jobs WHERE status IN ({_literals(terminal)}) AND completed_at IS NULL"
    ).fetchone()[0]
    out.append(
        check("finished_jobs", "ok" if open_done == 0 else "fail", f"{open_done} finished job(s) without completed_at")
    )
    running = db.execute("SELECT count(*) FROM jobs WHERE status = 'running'").fetchone()[0]
    orphans = running if not holder and not postgres else 0
    detail = f"{running} running" + (
        f"; {orphans} left by a stopped gateway (recovered at its next start)" if orphans else ""
    )
    out.append(check("running_jobs", "ok", detail))
    return out


def run_for(loaded: LoadedConfig, *, deadline: float | None = None) -> list[dict[str, Any]]:
    """`run` on the database a config names — the one way the CLI and `GET /system/selfcheck`
    pick the target: PostgreSQL when the config's store is a URL, else the SQLite file and
    whoever holds its lock."""
    target = loaded.store_target
    if isinstance(target, str):
        return run(loaded.db_path, target, None, deadline=deadline)
    return run(loaded.db_path, None, lock_holder(loaded.db_path), deadline=deadline)


def run(
    db_path: Path, postgres_url: str | None, holder: str | None, *, deadline: float | None = None
) -> list[dict[str, Any]]:
    """Open a read-only connection, run the checks, close it. With a deadline, a check still
    running when it passes is interrupted (SQLite) or cancelled by the server (PostgreSQL) and
    `SelfcheckTimeout` is raised — the connection is never left working behind the caller."""
    if postgres_url:
        lock = check("lock", "skipped", "PostgreSQL: nodes are listed by GET /nodes")
        return [lock, *_on_postgres(postgres_url, deadline)]
    lock = check("lock", "ok", f"held by gateway pid {holder}" if holder else "no gateway running")
    if not db_path.exists():
        raise FileNotFoundError(no_database(db_path))
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10.0, check_same_thread=False)
    watchdog = _Watchdog(db.interrupt, deadline) if deadline is not None else None
    try:
        checks = [lock, *database_checks(db, postgres=False, holder=holder)]
    except sqlite3.OperationalError as exc:
        if watchdog is not None and watchdog.fired:
            raise SelfcheckTimeout(f"selfcheck exceeded {deadline:g}s deadline") from exc
        raise
    finally:
        if watchdog is not None:
            watchdog.stop()
        db.close()
    if watchdog is not None and watchdog.fired:  # finished, but after the caller's deadline
        raise SelfcheckTimeout(f"selfcheck exceeded {deadline:g}s deadline")
    return checks


def _on_postgres(url: str, deadline: float | None) -> list[dict[str, Any]]:
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as db:
        db.read_only = True
        if deadline is not None:
            db.execute(f"SET statement_timeout = {int(deadline * 1000)}")
        try:
            return database_checks(db, postgres=True, holder=None)
        except psycopg.errors.QueryCanceled as exc:
            raise SelfcheckTimeout(f"selfcheck exceeded {deadline:g}s deadline") from exc


class _Watchdog:
    """Interrupts the connection once the deadline passes, and again every few milliseconds until
    stopped: `interrupt()` only stops a statement that is running at that moment, so one call
    landing between two statements would let the next one run to its end."""

    def __init__(self, interrupt: Callable[[], None], deadline: float):
        self.fired = False
        self._done = threading.Event()
        self._interrupt = interrupt
        self._deadline = deadline
        self._thread = threading.Thread(target=self._watch, name="selfcheck-deadline", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        if self._done.wait(self._deadline):
            return
        self.fired = True
        while not self._done.is_set():
            self._interrupt()
            self._done.wait(0.005)

    def stop(self) -> None:
        """Before the connection closes: no interrupt may reach a closed connection."""
        self._done.set()
        self._thread.join()
