"""ductile.selfcheck on a real SQLite file: the report rule, and a deadline that really interrupts
a long check instead of leaving it running behind the caller."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from ductile import selfcheck
from ductile.store import open_store


def _database(path: Path, filler_rows: int = 0) -> None:
    """A ductile database; `filler_rows` rows in an extra indexed table make integrity_check slow
    (built by one SQL statement, so the test spends its time checking, not inserting)."""
    open_store(path).close()
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE filler (n INTEGER, blob BLOB)")
        db.execute(
            "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < ?) "
            "INSERT INTO filler SELECT n, randomblob(100) FROM c",
            (filler_rows,),
        )
        db.execute("CREATE INDEX filler_blob ON filler (blob)")
    db.close()


def test_a_fresh_database_passes_and_a_missing_one_is_named(tmp_path: Path) -> None:
    _database(tmp_path / "ok.db")
    checks = selfcheck.run(tmp_path / "ok.db", None, None)
    assert selfcheck.passed(checks)
    assert [c["name"] for c in checks] == ["lock", "integrity", "schema", "statuses", "finished_jobs", "running_jobs"]
    assert {c["status"] for c in checks} == {"ok"}
    with pytest.raises(FileNotFoundError, match="no database at"):
        selfcheck.run(tmp_path / "missing.db", None, None)


def test_only_fail_fails_the_report() -> None:
    assert selfcheck.passed([selfcheck.check("a", "skipped", ""), selfcheck.check("b", "warn", "")])
    assert not selfcheck.passed([selfcheck.check("a", "ok", ""), selfcheck.check("b", "fail", "")])
    assert selfcheck.check("b", "fail", "")["ok"] is False


def test_the_deadline_interrupts_a_long_integrity_check(tmp_path: Path) -> None:
    path = tmp_path / "big.db"
    _database(path, 200_000)
    started = time.monotonic()
    selfcheck.run(path, None, None)
    whole = time.monotonic() - started
    assert whole > 0.05, f"the database is too small to outlast the deadline ({whole:.3f}s)"
    with pytest.raises(selfcheck.SelfcheckTimeout, match="deadline"):
        selfcheck.run(path, None, None, deadline=0.001)
