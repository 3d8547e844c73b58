"""`ductile db migrate|copy` and `ductile system nodes`: the database as an operator sees it.

`db migrate` opens the configured store, which applies every missing migration in one
transaction (under an advisory lock on PostgreSQL, so it is safe while other nodes run) and
prints the schema version. `db copy` moves an installation from SQLite to PostgreSQL (or back):
every table in dependency order, insertion order kept, then row counts compared table by table;
the target must be empty. `system nodes` lists the gateways sharing the database.

Not copied: what belongs to the running gateways rather than the installation — PostgreSQL's
`nodes` (each node registers at start), the `stream_events` replay buffer, and the dashboard's
`ui_sessions` and `ui_login_failures` (people sign in again; copying them would only carry sessions a stopped cluster
could not serve). SQLite has none of these tables.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ductile.cli.common import ConfigOption, JsonOption, config_or_exit, fail, print_json
from ductile.store import StoreError, open_store

app = typer.Typer(help="Migrate or copy the database.", no_args_is_help=True)

# Tables in copy order, with the column that keeps their insertion order on the source (the
# PostgreSQL-only nodes, stream_events(+_cursor), ui_sessions and ui_login_failures are deliberately absent: above).
TABLES: list[tuple[str, str]] = [
    ("jobs", "seq"),
    ("attempts", "job_id, attempt"),
    ("transitions", "id"),
    ("plugin_state", "instance"),
    ("schedule_state", "instance, schedule_id"),
    ("plugin_events", "id"),
    ("facts", "id"),
    ("event_contexts", "created_at, id"),
    ("circuit_breakers", "plugin, command"),
    ("circuit_breaker_transitions", "id"),
    ("bulk_actions", "id"),
    ("schedule_skips", "id"),
]
# Columns the target generates itself (identity / rowid stand-ins).
GENERATED = {"seq", "id"}
BATCH = 2000


def register(system: typer.Typer) -> None:
    system.command("nodes")(nodes)


def nodes(config: ConfigOption = None, json_out: JsonOption = False) -> None:
    """The gateways sharing this database, with heartbeat age and running jobs (PostgreSQL)."""
    loaded = config_or_exit(config)
    if not loaded.config.database.postgres:
        message = "single node: SQLite is used by exactly one gateway (see docs/SCALING.md)"
        if json_out:
            print_json({"backend": "sqlite", "nodes": [], "note": message})
        else:
            typer.echo(message)
        return
    store = _open(loaded.store_target)
    try:
        rows = store.nodes()  # type: ignore[attr-defined]
    finally:
        store.close()
    if json_out:
        print_json({"backend": "postgresql", "nodes": rows})
        return
    if not rows:
        typer.echo("no node is registered (no gateway runs on this database)")
    for r in rows:
        typer.echo(
            f"{r['node_id']}  host={r['host']} pid={r['pid']} version={r['version']} "
            f"started={r['started_at']} heartbeat={r['heartbeat_at']} running={r['running']}"
        )


@app.command("migrate")
def migrate(config: ConfigOption = None) -> None:
    """Apply every missing schema migration (idempotent; safe with other nodes running)."""
    loaded = config_or_exit(config)
    store = _open(loaded.store_target)
    try:
        typer.echo(f"database at schema version {store.schema_version()}")  # type: ignore[attr-defined]
    finally:
        store.close()


@app.command("copy")
def copy(
    source: Annotated[str, typer.Option("--from", help="sqlite:///path (or a path), or postgresql://…")],
    dest: Annotated[str, typer.Option("--to", help="postgresql://… (or sqlite:///path); must be empty")],
    json_out: JsonOption = False,
) -> None:
    """Copy every job, attempt, transition, state, context, breaker and bulk-audit row into an
    empty database, then
    verify the row counts of every table. Stop the gateway first: rows written during the copy
    are not copied."""
    src = _open(source)
    try:
        dst = _open(dest)
    except BaseException:
        src.close()
        raise
    try:
        busy = [t for t, _ in TABLES if _count(dst, t)]
        if busy:
            fail(f"refusing to copy: the target already has rows in {', '.join(busy)} (it must be empty)")
        report: dict[str, Any] = {}
        for table, order in TABLES:
            copied = _copy_table(src, dst, table, order)
            expected, landed = _count(src, table), _count(dst, table)
            report[table] = {"source": expected, "copied": copied, "target": landed}
            if landed != expected:
                fail(f"copy of {table} is incomplete: {landed} of {expected} rows in the target")
        counts_ok = src.status_counts() == dst.status_counts()
        if not counts_ok:
            fail(f"status counts differ after the copy: {src.status_counts()} vs {dst.status_counts()}")
    finally:
        src.close()
        dst.close()
    if json_out:
        print_json({"ok": True, "tables": report})
    else:
        for table, r in report.items():
            typer.echo(f"{table}: {r['target']} rows (source {r['source']})")
        typer.echo("copy verified: every table's row count and the per-status job counts match")


def _open(target: Any) -> Any:
    try:
        return open_store(target)
    except StoreError as exc:
        fail(str(exc), getattr(exc, "exit_code", 1))


def _is_pg(store: Any) -> bool:
    return hasattr(store, "url")


def _count(store: Any, table: str) -> int:
    return int(store._read(f"SELECT count(*) FROM {table}")[0][0])


def _columns(store: Any, table: str) -> list[str]:
    if _is_pg(store):
        rows = store._read(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = %s ORDER BY ordinal_position",
            (table,),
        )
        return [r[0] for r in rows]
    return [r[1] for r in store._read(f"PRAGMA table_info({table})")]


def _copy_table(src: Any, dst: Any, table: str, order: str) -> int:
    shared = [c for c in _columns(src, table) if c in set(_columns(dst, table)) and c not in GENERATED]
    names = ", ".join(shared)
    marks = ", ".join(["%s" if _is_pg(dst) else "?"] * len(shared))
    insert = f"INSERT INTO {table} ({names}) VALUES ({marks})"
    # insertion order: SQLite's rowid, PostgreSQL's seq / identity (or the key where there is none)
    rows = src._read(f"SELECT {names} FROM {table} ORDER BY {order if _is_pg(src) else 'rowid'}")
    for start in range(0, len(rows), BATCH):
        chunk = [tuple(r) for r in rows[start : start + BATCH]]
        if _is_pg(dst):
            with dst._tx() as db, db.cursor() as cursor:
                cursor.executemany(insert, chunk)
        else:
            with dst._tx() as db:
                db.executemany(insert, chunk)
    return len(rows)
