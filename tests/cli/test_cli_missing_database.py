"""Every command that reads or changes the local SQLite database, run before any gateway has made
it: one line naming the missing file (the same wording everywhere), exit 1, and no file created —
opening a store on a missing path would make an empty database and answer "nothing ever ran"."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import base_config, make_plugin, run_ductile
from conftest import write_config as write

COMMANDS = [
    ("job", "list"),
    ("job", "inspect", "0123"),
    ("job", "retry", "0123"),
    ("system", "backup", "--to", "{tmp}/out.db"),
    ("system", "selfcheck"),
    ("system", "breaker", "echo"),
    ("system", "reset", "echo"),
    ("stopwatch", "prune-subs", "--older-than", "1d"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_refuses_without_creating_the_database(tmp_path: Path, command: tuple[str, ...]) -> None:
    make_plugin(tmp_path / "plugins", "echo", "#!/bin/sh\necho '{\"status\": \"ok\"}'\n")
    write(tmp_path / "cfg", base_config([tmp_path / "plugins"], {"echo": {"enabled": True}}))
    database = tmp_path / "cfg" / "data" / "ductile.db"
    args = [part.replace("{tmp}", str(tmp_path)) for part in command]
    out = run_ductile(*args, "--config", str(tmp_path / "cfg"))
    assert out.returncode == 1, out
    assert f"no database at {database} (has the gateway run yet?)" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert not database.exists() and not (tmp_path / "out.db").exists()
