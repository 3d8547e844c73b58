"""`ductile config show`: the effective config (includes merged, defaults filled), secrets redacted."""

from __future__ import annotations

import json
import subprocess

import yaml
from conftest import BUNDLED_PLUGINS, DUCTILE, write_config


def show(config_dir, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DUCTILE, "config", "show", "--config", str(config_dir), *extra], capture_output=True, text=True, timeout=60
    )


def test_config_show_merges_includes_fills_defaults_and_redacts_secrets(tmp_path):
    directory = tmp_path / "conf"
    (directory / "conf.d").mkdir(parents=True)
    write_config(
        directory,
        {
            "include": ["conf.d"],
            "plugin_roots": [str(BUNDLED_PLUGINS)],
            "plugins": {
                "echo": {
                    "config": {"message": "hi", "api_key": "k-123", "db_password": "hunter2", "nested": {"token": "t"}},
                    "schedules": [{"every": "90s", "jitter": "500ms"}],
                }
            },
            "api": {"enabled": True, "auth": {"tokens": [{"name": "me", "token": "secret-token-1", "scopes": ["*"]}]}},
        },
    )
    (directory / "conf.d" / "retention.yaml").write_text("service:\n  job_retention: {failed: 90d}\n")
    result = show(directory, "--json")
    assert result.returncode == 0, result.stderr
    effective = json.loads(result.stdout)
    echo = effective["plugins"]["echo"]
    assert echo["config"] == {"message": "hi", "api_key": "***", "db_password": "***", "nested": {"token": "***"}}
    assert effective["api"]["auth"]["tokens"][0]["token"] == "***"
    assert "secret-token-1" not in result.stdout and "hunter2" not in result.stdout and "k-123" not in result.stdout
    # defaults are filled in and durations read back in the config's own notation
    assert echo["retry"] == {"max_attempts": 4, "backoff_base": "30s"}
    assert echo["schedules"][0]["every"] == "1m30s" and echo["schedules"][0]["jitter"] == "500ms"
    assert effective["service"]["job_retention"] == {"default": "30d", "failed": "90d"}
    assert effective["database"]["path"] == "./data/ductile.db"
    # the YAML form redacts the same way
    text = show(directory)
    assert text.returncode == 0 and yaml.safe_load(text.stdout) == effective


def test_config_show_reports_problems_and_exits_1(tmp_path):
    directory = tmp_path / "bad"
    write_config(directory, {"service": {"max_workers": 0}})
    result = show(directory)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"{directory / 'config.yaml'}: service.max_workers: 0 is too small (accepted: 1 or more)"
    )
