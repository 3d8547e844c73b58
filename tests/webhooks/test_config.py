"""The `webhooks:` section through the one-pass config check (§7.1, §7.2, §7.6), the real CLI's
`config check` and `system start` refusing, and a taken `webhooks.listen` port."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import DUCTILE, base_config, make_plugin, write_config

from ductile.config_check import check_config

MARKER = """\
#!/usr/bin/env python3
import json, os, sys
json.load(sys.stdin)
open(os.environ["MARKER_FILE"], "a").write("ran\\n")
print(json.dumps({"status": "ok", "result": "ok"}))
"""


def config_dir(tmp_path: Path, webhooks: Any, *, extra: dict[str, Any] | None = None) -> Path:
    roots = tmp_path / "plugins"
    make_plugin(roots, "hooked", MARKER)
    make_plugin(roots, "pollonly", MARKER, commands=[{"name": "poll", "type": "read"}])
    plugins = {"hooked": {}, "pollonly": {}, "off": {"uses": "hooked", "enabled": False}}
    config = base_config([roots], plugins, webhooks=webhooks, **(extra or {}))
    directory = tmp_path / "cfg"
    write_config(directory, config)
    return directory


def problems(tmp_path: Path, webhooks: Any, env: dict[str, str] | None = None, **kw: Any) -> list[str]:
    directory = config_dir(tmp_path, webhooks, **kw)
    report = check_config(str(directory), {"HOME": "/nonexistent", **(env or {})})
    return report.problems


def ep(**kw: Any) -> dict[str, Any]:
    return {"path": "/hooks/a", "plugin": "hooked", "secret_ref": "env:HOOK_SECRET", "signature_header": "X-Sig", **kw}


ENV = {"HOOK_SECRET": "s3cret"}


def test_a_valid_section_has_no_problem_and_resolves_its_secret(tmp_path: Path) -> None:
    directory = config_dir(tmp_path, {"listen": "127.0.0.1:9911", "endpoints": [ep(max_body_size="2KB")]})
    report = check_config(str(directory), {"HOME": "/nonexistent", **ENV})
    assert report.problems == []
    assert report.webhooks is not None
    [endpoint] = report.webhooks.endpoints.values()
    assert (endpoint.path, endpoint.plugin, endpoint.signature_header, endpoint.max_body_size) == (
        "/hooks/a",
        "hooked",
        "x-sig",
        2048,
    )
    assert endpoint.rules.secret == b"s3cret"
    assert endpoint.delivery_ttl == 86400.0  # service.dedupe_ttl


def test_no_endpoints_means_no_listener(tmp_path: Path) -> None:
    directory = config_dir(tmp_path, {"listen": "127.0.0.1:9911", "endpoints": []})
    report = check_config(str(directory), {"HOME": "/nonexistent"})
    assert (report.problems, report.webhooks) == ([], None)


@pytest.mark.parametrize(
    ("endpoint", "fragment"),
    [
        (ep(plugin="nope"), 'webhook[0] (/hooks/a): plugin "nope" does not exist'),
        (ep(plugin="pollonly"), 'webhook[0] (/hooks/a): plugin "pollonly" has no handle command'),
        (ep(plugin="off"), 'webhook[0] (/hooks/a): plugin "off" is disabled'),
        (ep(secret_ref=""), "webhook[0] (/hooks/a): secret_ref is required"),
        ({k: v for k, v in ep().items() if k != "secret_ref"}, "webhook[0] (/hooks/a): secret_ref is required"),
        (ep(signature_header=""), "webhook[0] (/hooks/a): signature_header is required"),
        (ep(secret_ref="env:NOT_SET_ANYWHERE"), 'webhook[0] (/hooks/a): secret_ref "env:NOT_SET_ANYWHERE" not found'),
        (ep(secret_ref="gh_hmac"), 'webhook[0] (/hooks/a): secret_ref "gh_hmac" not found'),
        (ep(max_body_size="1XB"), "webhooks.endpoints.0.max_body_size: invalid max_body_size '1XB'"),
        (ep(max_body_size=0), "webhooks.endpoints.0.max_body_size: invalid max_body_size 0"),
        (ep(path="hooks/a"), "path 'hooks/a' must start with /"),
        ({k: v for k, v in ep().items() if k != "path"}, "webhook[0] (): path is required"),
        # §7.6 rejections
        (ep(timestamp_header="X-Ts", max_skew="0s"), "webhooks.endpoints.0.max_skew: duration '0s' must be greater"),
        (ep(timestamp_header="X-Ts", max_skew=-5), "webhooks.endpoints.0.max_skew: duration -5 must be greater"),
        (ep(delivery_id_header="X-D", delivery_ttl="0s"), "webhooks.endpoints.0.delivery_ttl: duration '0s'"),
        (ep(signed_payload="body.timestamp"), "webhooks.endpoints.0.signed_payload: 'body.timestamp' is not allowed"),
        (ep(signed_payload="timestamp.body"), "signed_payload timestamp.body requires timestamp_header"),
        (ep(max_skew="5m"), "max_skew requires timestamp_header"),
        (ep(delivery_ttl="1h"), "delivery_ttl requires delivery_id_header"),
        (ep(command="poll"), "webhooks.endpoints.0.command: unknown key"),
    ],
)
def test_each_problem_is_named(tmp_path: Path, endpoint: dict[str, Any], fragment: str) -> None:
    found = problems(tmp_path, {"listen": "127.0.0.1:9911", "endpoints": [endpoint]}, ENV)
    assert any(fragment in p for p in found), found
    assert all("cfg/config.yaml" in p for p in found), found


def test_all_problems_in_one_pass_with_file_positions(tmp_path: Path) -> None:
    endpoints = [ep(), ep(plugin="nope"), "not a mapping", ep(path="/hooks/b", signature_header=""), ep()]
    found = problems(tmp_path, {"listen": "bad", "endpoints": endpoints}, ENV)
    joined = "\n".join(found)
    assert "webhooks.listen: invalid listen address 'bad'" in joined
    assert 'webhook[1] (/hooks/a): plugin "nope" does not exist' in joined
    assert "webhooks.endpoints.2: 'not a mapping' has the wrong type" in joined
    assert "webhook[3] (/hooks/b): signature_header is required" in joined
    assert "webhook[4] (/hooks/a): path is used by webhook[0] too" in joined


def test_secret_ref_from_a_legacy_tokens_entry(tmp_path: Path) -> None:
    directory = config_dir(tmp_path, {"endpoints": [ep(secret_ref="gh_hmac")]})
    (directory / "tokens.yaml").write_text(yaml.safe_dump({"tokens": [{"name": "gh_hmac", "key": "${GH_KEY}"}]}))
    data = yaml.safe_load((directory / "config.yaml").read_text())
    data["include"] = ["tokens.yaml"]
    (directory / "config.yaml").write_text(yaml.safe_dump(data))
    report = check_config(str(directory), {"HOME": "/nonexistent", "GH_KEY": "from-tokens"})
    assert report.problems == []
    assert report.webhooks is not None
    assert report.webhooks.endpoints["/hooks/a"].rules.secret == b"from-tokens"


def test_the_webhook_listener_may_not_share_the_api_address(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {"listen": "127.0.0.1:9912", "endpoints": [ep()]},
        ENV,
        extra={"api": {"enabled": True, "listen": "127.0.0.1:9912"}},
    )
    assert any("webhooks.listen: 127.0.0.1:9912 is also api.listen" in p for p in found), found


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DUCTILE, *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_cli_config_check_and_start_refuse_and_never_show_the_secret(tmp_path: Path) -> None:
    directory = config_dir(tmp_path, {"endpoints": [ep(), ep(path="/hooks/b", plugin="ghost", secret_ref="")]})
    env = {**os.environ, "HOOK_SECRET": "s3cret-value"}
    checked = run("config", "check", "--config", str(directory), env=env)
    assert checked.returncode == 1
    assert 'webhook[1] (/hooks/b): plugin "ghost" does not exist' in checked.stderr + checked.stdout
    assert "webhook[1] (/hooks/b): secret_ref is required" in checked.stderr + checked.stdout
    started = run("system", "start", "--config", str(directory), env=env)
    assert started.returncode != 0
    assert "refusing to start" in started.stderr
    directory = config_dir(tmp_path / "ok", {"endpoints": [ep()]})
    shown = run("config", "show", "--config", str(directory), "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    section = json.loads(shown.stdout)["webhooks"]
    assert section["endpoints"][0]["path"] == "/hooks/a"
    assert "s3cret-value" not in shown.stdout
    assert section["endpoints"][0]["secret_ref"] == "***"


@pytest.mark.slow
def test_port_taken_for_webhooks_listen_is_one_line_exit_1_and_no_job(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        directory = config_dir(
            tmp_path,
            {"listen": f"127.0.0.1:{port}", "endpoints": [ep()]},
            extra={"service": {"plugin_env_passthrough": ["MARKER_FILE"], "log_format": "json"}},
        )
        data = yaml.safe_load((directory / "config.yaml").read_text())
        data["plugins"]["hooked"] = {"schedules": [{"id": "now", "every": "1s", "command": "poll"}]}
        (directory / "config.yaml").write_text(yaml.safe_dump(data))
        env = {**os.environ, "HOOK_SECRET": "s3cret", "MARKER_FILE": str(marker)}
        proc = run("system", "start", "--config", str(directory), env=env)
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    record = json.loads(lines[0])
    assert record["level"] == "error" and record["setting"] == "webhooks.listen"
    assert f"127.0.0.1:{port}" in record["msg"] and "already in use" in record["msg"]
    assert "webhooks.listen" in record["msg"] and str(directory / "config.yaml") in record["msg"]
    time.sleep(1.5)  # a job spawned just before exit would still be writing: give it time to show
    assert not marker.exists(), "a plugin ran although the gateway could not listen"
    db = directory / "data" / "ductile.db"
    if db.exists():
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0
