"""Finding 6: with the API port taken, `system start` says so in one line, exits 1, and runs no job."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from conftest import DUCTILE, base_config, make_plugin, write_config

# ----------------------------------------------------------------------------------- port taken

MARKER = """\
#!/usr/bin/env python3
import json, os, sys
json.load(sys.stdin)
open(os.environ["MARKER_FILE"], "a").write("ran\\n")
print(json.dumps({"status": "ok", "result": {}}))
"""


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_port_taken_is_one_line_nonzero_and_no_job_runs(
    tmp_path: Path, log_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "marker"
    monkeypatch.setenv("MARKER_FILE", str(marker))
    plugin_root = tmp_path / "plugins"
    make_plugin(plugin_root, "stamp", MARKER)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        config = base_config(
            [plugin_root],
            {"stamp": {"schedules": [{"id": "now", "every": "1s"}]}},
            port=port,
            service={"log_format": log_format, "plugin_env_passthrough": ["MARKER_FILE"]},
        )
        directory = tmp_path / "gw"
        write_config(directory, config)
        proc = subprocess.run(
            [DUCTILE, "system", "start", "--config", str(directory)], capture_output=True, timeout=60, text=True
        )
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    line = lines[0]
    assert f"127.0.0.1:{port}" in line and "api.listen" in line and "already in use" in line
    assert str(directory / "config.yaml") in line
    if log_format == "json":
        record = json.loads(line)
        assert record["level"] == "error" and record["setting"] == "api.listen"
    assert "Task exception was never retrieved" not in proc.stderr
    time.sleep(1.5)  # a job spawned just before exit would still be writing: give it time to show
    assert not marker.exists(), "a plugin ran although the gateway could not listen"
    db = directory / "data" / "ductile.db"
    if db.exists():
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0
