"""`ductile plugin list`: every configured instance with its plugin, commands, schedules and limits."""

from __future__ import annotations

import json
import subprocess

from conftest import BUNDLED_PLUGINS, DUCTILE, base_config, write_config


def test_plugin_list_shows_instances_aliases_and_schedules(tmp_path):
    config = base_config(
        [BUNDLED_PLUGINS],
        {
            "echo": {"schedules": [{"every": "5s"}]},
            "withings": {"uses": "token_demo", "config": {"account": "a"}, "schedules": [{"cron": "*/15 * * * *"}]},
            "off": {"uses": "echo", "enabled": False},
        },
    )
    write_config(tmp_path, config)
    result = subprocess.run(
        [DUCTILE, "plugin", "list", "--config", str(tmp_path), "--json"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    rows = {row["instance"]: row for row in json.loads(result.stdout)["plugins"]}
    assert set(rows) == {"echo", "withings"}  # disabled instances are not loaded
    assert rows["withings"]["plugin"] == "token_demo"
    assert rows["withings"]["parallelism"] == 1  # token_demo is concurrency_safe: false
    assert rows["withings"]["schedules"] == ["default:poll cron '*/15 * * * *'"]
    assert "poll(read)" in rows["echo"]["commands"] and "say(write)" in rows["echo"]["commands"]
    text = subprocess.run(
        [DUCTILE, "plugin", "list", "--config", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert text.returncode == 0 and "withings  (token_demo 1.0.0)" in text.stdout
