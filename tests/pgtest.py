"""The PostgreSQL test server: where it is, whether it answers, and a fresh schema per test.

`DUCTILE_TEST_PG_URL` names the server (default: the project machines' local one,
postgresql://postgres@127.0.0.1:5432/test). A test that needs it skips, saying why, when it does
not answer or psycopg is missing — and fails instead when `CI=true` or the variable is set, so CI
never silently runs only the SQLite half of the contract suite.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def base_url() -> str:
    return os.environ.get("DUCTILE_TEST_PG_URL") or DEFAULT_URL


def _must_run() -> bool:
    return os.environ.get("CI", "").lower() == "true" or bool(os.environ.get("DUCTILE_TEST_PG_URL"))


def require_pg() -> str:
    """The server URL, or skip (fail under CI) with the reason it cannot be used."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - installed by `make install`
        _unavailable(f"psycopg is not installed ({exc}); run `make install`")
    try:
        with psycopg.connect(base_url(), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        _unavailable(f"PostgreSQL at {base_url()} is not reachable: {str(exc).strip()}")
    return base_url()


def _unavailable(reason: str) -> None:
    if _must_run():
        pytest.fail(f"{reason} (CI=true or DUCTILE_TEST_PG_URL set: the PostgreSQL tests must run)")
    pytest.skip(reason)


def with_schema(url: str, schema: str) -> str:
    """`url` with its search_path set to `schema` (how a ductile installation picks a schema)."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def fresh_schema(prefix: str = "t") -> Iterator[str]:
    """A new empty schema on the test server; yields a URL using it; drops it afterwards."""
    import psycopg

    url = require_pg()
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_schema(url, schema)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
