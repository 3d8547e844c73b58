"""`ductile system status` as a real command against a real gateway, and against nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from conftest import DUCTILE, free_port
from monitor_helpers import monitor_config


def _status(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env_args = ["--token", token] if token else []
    return subprocess.run([DUCTILE, "system", "status", *args, *env_args], capture_output=True, text=True, timeout=30)


def test_status_text_and_json(gateway_factory: Any, tmp_path: Path) -> None:
    gw = gateway_factory(monitor_config(tmp_path / "plugins", schedules=True))
    text = _status("--api-url", gw.url, token=gw.token)
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("ok") and "echo/tick poll" in text.stdout and "plugins 2" in text.stdout
    report = json.loads(_status("--api-url", gw.url, "--json", token=gw.token).stdout)
    assert report["ok"] is True and report["health"]["plugins_loaded"] == 2
    assert [s["schedule_id"] for s in report["schedules"]] == ["tick"]
    no_token = _status("--api-url", gw.url)
    assert no_token.returncode == 0 and "schedules: unavailable" in no_token.stdout


def test_status_unreachable_exits_1() -> None:
    result = _status("--api-url", f"http://127.0.0.1:{free_port()}", "--json")
    assert result.returncode == 1
    assert "unreachable" in json.loads(result.stdout)["error"]
