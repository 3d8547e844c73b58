"""`ductile plugin run --payload`: the CLI refuses what the API's body rule refuses, in one line."""

from __future__ import annotations

import sqlite3
import subprocess

import pytest
from conftest import BUNDLED_PLUGINS, DUCTILE, base_config, write_config


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ('{"a": "\\ud800"}', "invalid Unicode in payload['a']"),
        ('{"\\udc00": 1}', "invalid Unicode in payload"),
        ("[" * 65 + "]" * 65, "nested 65 levels deep"),
        ('{"a": NaN}', "NaN or Infinity"),
        ('{"a":', "--payload is not valid JSON"),
    ],
)
def test_bad_payloads_are_one_line_and_nothing_is_queued(tmp_path, payload, fragment):
    write_config(tmp_path, base_config([BUNDLED_PLUGINS], {"echo": {}}))
    result = subprocess.run(
        [DUCTILE, "plugin", "run", "echo", "poll", "--config", str(tmp_path), "--payload", payload],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert fragment in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    for db in tmp_path.rglob("*.db"):  # refused before the store: if a database exists, it holds no job
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0
