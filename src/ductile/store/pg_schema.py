"""PostgreSQL plumbing kept apart from the store's verbs: result rows readable like sqlite3
rows, and the forward migrations (`sql/migrations_postgres/`)."""

from __future__ import annotations

from typing import Any

import psycopg

from ductile.store import queries
from ductile.store.base import SchemaTooNew
from ductile.store.pg_errors import PgDamaged


class PgRow(tuple):
    """A result row readable by position (like a tuple) and by column name (like sqlite3.Row),
    so code written against sqlite3 rows reads PostgreSQL rows unchanged."""

    _index: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def row_factory(cursor: Any) -> Any:
    description = cursor.description
    if description is None:
        return tuple
    index = {column.name: i for i, column in enumerate(description)}

    def make(values: Any) -> PgRow:
        row = PgRow(values)
        row._index = index
        return row

    return make


def is_postgres_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def migrate(db: psycopg.Connection[Any], *, lock_key: str, schema: str, target: str) -> None:
    """Apply every known migration not yet applied, inside the caller's transaction, by version
    set rather than by maximum, so a PostgreSQL-only migration (0100+) never hides a later port
    of a shared one (0005…). A transaction advisory lock makes concurrent starts of several nodes
    take turns; a schema holding another program's tables is refused untouched."""
    steps = queries.migrations("migrations_postgres")
    latest = steps[-1][0]
    db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock_key,))
    sql_tables = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    tables = {r[0] for r in db.execute(sql_tables)}
    if tables and "schema_version" not in tables:
        listed = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
        raise PgDamaged(
            target,
            f"schema {schema} belongs to another program (tables: {listed}; no schema_version)",
            advice="point database.url at another database or schema; ductile leaves this one untouched",
        )
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)")
    applied = {r[0] for r in db.execute("SELECT version FROM schema_version")}
    if applied and max(applied) > latest:
        raise SchemaTooNew(
            f"{target}: database schema version {max(applied)} is newer than this ductile supports "
            f"({latest}); upgrade ductile or use another database"
        )
    for version, sql in steps:
        if version not in applied:
            db.execute(sql)  # type: ignore[call-overload]  # a script without parameters
            db.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
