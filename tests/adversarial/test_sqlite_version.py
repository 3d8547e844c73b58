"""A Python linking an SQLite older than the store's SQL needs is refused by name, up front.

The library cannot be swapped in a test, so the CLI runs in a child interpreter that reports an
older `sqlite3.sqlite_version_info` before ductile is imported; everything after that is the real
CLI on a real config. Without the check the gateway got as far as its first `UPDATE … RETURNING`
and died there with SQLite's syntax error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import base_config, free_port, make_plugin, write_config
from hypothesis import given
from hypothesis import strategies as st

from ductile.service_unit import NO_RESTART_EXIT
from ductile.store.errors import EXIT_UNSUPPORTED, MIN_SQLITE, sqlite_too_old

PLUGIN = """\
#!/usr/bin/env python3
import json, sys
json.load(sys.stdin)
print(json.dumps({"status": "ok", "result": "done"}))
"""


def _cli_with_sqlite(version: str, *args: str) -> subprocess.CompletedProcess[str]:
    parts = tuple(int(p) for p in version.split("."))
    prelude = (
        "import sqlite3, sys\n"
        f"sqlite3.sqlite_version_info = {parts!r}\n"
        f"sqlite3.sqlite_version = {version!r}\n"
        "from ductile.cli.main import main\n"
        f"sys.argv = ['ductile', *{list(args)!r}]\n"
        "main()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", prelude], capture_output=True, text=True, timeout=60, env=os.environ.copy()
    )


def _config(tmp_path: Path) -> tuple[Path, Path]:
    make_plugin(tmp_path / "plugins", "work", PLUGIN)
    db = tmp_path / "data" / "ductile.db"
    config = base_config([tmp_path / "plugins"], {"work": {}}, port=free_port(), database={"path": str(db)})
    write_config(tmp_path / "gw", config)
    return tmp_path / "gw", db


def _only_line(out: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip() and not line.startswith("{")]
    assert len(lines) == 1, out.stderr
    return lines[0]


@pytest.mark.parametrize("args", [("system", "start"), ("plugin", "run", "work")])
def test_an_old_sqlite_is_named_with_exit_69_and_no_database_is_made(tmp_path: Path, args: tuple[str, ...]) -> None:
    config_dir, db = _config(tmp_path)
    out = _cli_with_sqlite("3.31.1", *args, "--config", str(config_dir))
    assert out.returncode == EXIT_UNSUPPORTED == 69, out.stderr
    line = _only_line(out)
    assert "links SQLite 3.31.1; ductile needs SQLite >= 3.35.0" in line
    assert "python3 -c 'import sqlite3; print(sqlite3.sqlite_version)'" in line
    assert not db.exists()


def test_an_existing_database_is_left_as_it_is(tmp_path: Path) -> None:
    config_dir, db = _config(tmp_path)
    made = _cli_with_sqlite("3.45.1", "plugin", "run", "work", "--config", str(config_dir))
    assert made.returncode == 0, made.stderr
    before = db.read_bytes()
    for args in (("job", "list"), ("system", "start"), ("plugin", "run", "work")):
        out = _cli_with_sqlite("3.34.1", *args, "--config", str(config_dir))
        assert out.returncode == 69, (args, out.stderr)
        assert "links SQLite 3.34.1; ductile needs SQLite >= 3.35.0" in _only_line(out), args
    assert db.read_bytes() == before


def test_the_oldest_accepted_sqlite_runs_a_job(tmp_path: Path) -> None:
    config_dir, db = _config(tmp_path)
    out = _cli_with_sqlite("3.35.0", "plugin", "run", "work", "--config", str(config_dir))
    assert out.returncode == 0, out.stderr
    assert db.exists()


def test_the_generated_unit_does_not_restart_on_an_old_sqlite() -> None:
    assert EXIT_UNSUPPORTED in NO_RESTART_EXIT


@given(st.tuples(st.integers(0, 4), st.integers(0, 60), st.integers(0, 30)))
def test_the_rule_is_a_plain_version_comparison(version: tuple[int, int, int]) -> None:
    reason = sqlite_too_old(version, ".".join(map(str, version)))
    assert (reason is None) == (version >= MIN_SQLITE)
    if reason is not None:
        assert ".".join(map(str, version)) in reason
