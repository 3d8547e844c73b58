"""Load a named-query file (`-- name: x` headers) into {name: sql}."""

from __future__ import annotations

import sqlite3
from functools import cache
from importlib.resources import files


@cache
def load(dialect: str) -> dict[str, str]:
    text = (files("ductile.store") / "sql" / f"{dialect}.sql").read_text(encoding="utf-8")
    queries: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("-- name:"):
            if name:
                queries[name] = "\n".join(lines).strip()
            name, lines = line.split(":", 1)[1].strip(), []
        elif name and not line.startswith("--"):
            lines.append(line)
    if name:
        queries[name] = "\n".join(lines).strip()
    return queries


def migrations(folder_name: str = "migrations") -> list[tuple[int, str]]:
    """Numbered migration scripts, in order: (version, sql). SQLite's are in `migrations`,
    PostgreSQL's in `migrations_postgres`."""
    folder = files("ductile.store") / "sql" / folder_name
    out = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            out.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(out)


def split_statements(script: str) -> list[str]:
    """Split a SQLite migration into statements, keeping trigger bodies (BEGIN … END;) whole."""
    statements: list[str] = []
    buffer: list[str] = []
    for line in script.splitlines():
        if line.strip().startswith("--") and not buffer:
            continue
        buffer.append(line)
        candidate = "\n".join(buffer).strip()
        if candidate.endswith(";") and sqlite3.complete_statement(candidate):
            statements.append(candidate)
            buffer = []
    if "\n".join(buffer).strip():
        statements.append("\n".join(buffer).strip())
    return statements
