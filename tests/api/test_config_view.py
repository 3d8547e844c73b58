"""`GET /config/view`: the running gateway's effective config through the one redaction rule —
the same document `ductile config show --json` prints for the file, and after a reload the config
the gateway now runs."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import ADMIN_TOKEN, DUCTILE, GatewayProcess, base_config, free_port, make_plugin, wait_for, write_config

PLUGIN = """\
#!/usr/bin/env python3
import json, sys
json.load(sys.stdin)
print(json.dumps({"status": "ok", "result": "done"}))
"""
SECRET = "sk-live-do-not-show-4f9a2c"
READER = "tok-config-view-reader-0123456789"


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[GatewayProcess]:
    make_plugin(tmp_path / "plugins", "mailer", PLUGIN)
    port = free_port()
    plugins = {"mailer": {"config": {"smtp_host": "mail.example", "api_key": SECRET, "nested": {"password": SECRET}}}}
    config = base_config([tmp_path / "plugins"], plugins, port=port)
    config["api"]["auth"]["tokens"].append({"name": "config-reader", "token": READER, "scopes": ["system:ro"]})
    write_config(tmp_path / "gw", config)
    gateway = GatewayProcess(tmp_path / "gw", port=port).start()
    try:
        yield gateway
    finally:
        gateway.stop()


def view(gw: GatewayProcess, token: str = READER) -> httpx.Response:
    return httpx.get(f"{gw.url}/config/view", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_the_view_is_config_show_and_shows_no_secret(gw: GatewayProcess) -> None:
    answer = view(gw)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert SECRET not in answer.text and ADMIN_TOKEN not in answer.text and READER not in answer.text
    mailer = body["plugins"]["mailer"]["config"]
    assert mailer == {"smtp_host": "mail.example", "api_key": "***", "nested": {"password": "***"}}
    tokens = body["api"]["auth"]["tokens"]
    assert [(t["name"], t["scopes"], t["token"]) for t in tokens] == [
        ("admin", ["*"], "***"),
        ("config-reader", ["system:ro"], "***"),
    ]
    shown = subprocess.run(
        [DUCTILE, "config", "show", "--json", "--config", str(gw.config_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )
    assert shown.returncode == 0, shown.stderr
    assert body == json.loads(shown.stdout)  # one rule, one document, on both surfaces


def test_after_a_reload_the_view_is_what_runs(gw: GatewayProcess) -> None:
    path = gw.config_dir / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["plugins"]["mailer"]["config"]["smtp_host"] = "relay.example"
    config["service"]["log_format"] = "text"  # bound at start: the running value stays
    path.write_text(yaml.safe_dump(config))
    reloaded = httpx.post(f"{gw.url}/system/reload", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)
    assert reloaded.status_code == 200, reloaded.text
    wait_for(lambda: view(gw).json()["plugins"]["mailer"]["config"]["smtp_host"] == "relay.example", timeout=10)
    assert view(gw).json()["service"]["log_format"] == "json"


def test_without_system_ro_it_is_refused(gw: GatewayProcess) -> None:
    assert httpx.get(f"{gw.url}/config/view", timeout=10).status_code == 401
    refused = view(gw, token="nope-nope-nope-nope")
    assert refused.status_code == 401
