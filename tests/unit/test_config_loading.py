"""Config loading: include/merge, ${VAR}, relative paths, defaults, messages, redaction."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ductile.config import ConfigError, load_config, resolve_config_file
from ductile.redact import redact_config


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def problems_of(directory: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(directory, env=env or {})
    return info.value.problems


def test_defaults(tmp_path):
    write(tmp_path / "config.yaml", "plugins:\n  echo:\n")
    loaded = load_config(tmp_path, env={})
    cfg = loaded.config
    assert cfg.service.name == "ductile"
    assert cfg.service.log_format == "json"
    assert cfg.service.max_workers >= 1
    assert cfg.service.dedupe_ttl == 86400.0
    assert cfg.service.job_retention == {"default": 30 * 86400.0}
    assert cfg.api.enabled is False and cfg.api.listen == "127.0.0.1:8080"
    echo = cfg.plugins["echo"]
    assert echo.enabled and echo.uses is None and echo.config == {} and echo.schedules == []
    assert (echo.retry.max_attempts, echo.retry.backoff_base) == (4, 30.0)
    assert echo.max_outstanding_polls == 1
    assert loaded.db_path == (tmp_path / "data" / "ductile.db").resolve()


def test_config_file_resolution(tmp_path, monkeypatch):
    write(tmp_path / "config.yaml", "{}")
    assert resolve_config_file(tmp_path) == (tmp_path / "config.yaml").resolve()
    assert resolve_config_file(tmp_path / "config.yaml") == (tmp_path / "config.yaml").resolve()
    monkeypatch.setenv("DUCTILE_CONFIG", str(tmp_path))
    assert resolve_config_file(None) == (tmp_path / "config.yaml").resolve()
    assert problems_of(tmp_path / "nowhere") == [
        f"{(tmp_path / 'nowhere').resolve()}: config file not found (accepted: --config DIR|FILE or $DUCTILE_CONFIG)"
    ]


def test_env_substitution_with_defaults_and_comments(tmp_path):
    write(
        tmp_path / "config.yaml",
        "# ${NOT_SET_IN_A_COMMENT}\n"
        "service:\n  name: ${NAME}\n  log_level: ${LEVEL:-warn}\n"
        "plugins:\n  echo:\n    config:\n      token: ${TOKEN}\n",
    )
    cfg = load_config(tmp_path, env={"NAME": "box", "TOKEN": "s3cret"}).config
    assert cfg.service.name == "box"
    assert cfg.service.log_level == "warn"
    assert cfg.plugins["echo"].config["token"] == "s3cret"


def test_every_unset_variable_is_named(tmp_path):
    path = write(tmp_path / "config.yaml", "service:\n  name: ${A}\n  log_level: ${B}\n")
    assert problems_of(tmp_path) == [
        f"{path.resolve()}: line 2: environment variable A is not set (accepted: export it, or write ${{A:-default}})",
        f"{path.resolve()}: line 3: environment variable B is not set (accepted: export it, or write ${{B:-default}})",
    ]


def test_include_files_and_directories_merge_maps_append_lists_replace_scalars(tmp_path):
    write(
        tmp_path / "config.yaml",
        "include: [base.yaml, conf.d]\nplugin_roots: [./a]\nservice:\n  name: root\n"
        "plugins:\n  echo:\n    config: {x: 1}\n",
    )
    write(tmp_path / "base.yaml", "service:\n  log_format: text\n")
    write(tmp_path / "conf.d" / "20-more.yaml", "plugin_roots: [./c]\nservice:\n  name: last\n")
    write(tmp_path / "conf.d" / "10-roots.yaml", "plugin_roots: [./b]\nplugins:\n  echo:\n    config: {y: 2}\n")
    write(tmp_path / "conf.d" / "ignored.txt", "not: yaml: at: all")
    loaded = load_config(tmp_path, env={})
    cfg = loaded.config
    assert cfg.service.name == "last"  # scalars replace, later wins
    assert cfg.service.log_format == "text"  # maps merge
    assert cfg.plugins["echo"].config == {"x": 1, "y": 2}
    assert cfg.plugin_roots == ["./a", "./b", "./c"]  # lists append, directory read alphabetically
    assert loaded.plugin_roots == [(tmp_path / n).resolve() for n in ("a", "b", "c")]


def test_problems_name_the_file_that_set_the_key(tmp_path):
    write(tmp_path / "config.yaml", "include: extra.yaml\n")
    extra = write(tmp_path / "extra.yaml", "plugins:\n  echo:\n    retry: {max_attempts: 0}\n")
    assert problems_of(tmp_path) == [
        f"{extra.resolve()}: plugins.echo.retry.max_attempts: 0 is too small (accepted: 1 or more)"
    ]


def test_missing_include_and_cycles(tmp_path):
    root = write(tmp_path / "config.yaml", "include: [missing.yaml, loop.yaml]\n")
    loop = write(tmp_path / "loop.yaml", "include: config.yaml\n")
    assert problems_of(tmp_path) == [
        f"{root.resolve()}: include: 'missing.yaml' does not exist (accepted: a YAML file or a directory of *.yaml)",
        f"{root.resolve()}: include: included more than once (include cycle?)",
    ]
    assert loop.exists()


def test_relative_and_home_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    write(tmp_path / "config.yaml", "database: {path: ~/db/d.db}\nplugin_roots: [../plugins, /abs/root]\n")
    loaded = load_config(tmp_path, env={})
    assert loaded.db_path == tmp_path / "home" / "db" / "d.db"
    assert loaded.plugin_roots == [(tmp_path.parent / "plugins").resolve(), Path("/abs/root")]


def test_top_level_must_be_a_map(tmp_path):
    path = write(tmp_path / "config.yaml", "- a\n- b\n")
    assert problems_of(tmp_path) == [f"{path.resolve()}: (top level): must be a mapping of keys (got a list)"]


def test_many_problems_reported_at_once(tmp_path):
    path = write(
        tmp_path / "config.yaml",
        "service:\n  max_workers: lots\n  log_format: xml\n"
        "plugins:\n  Bad Name: {}\n  echo:\n    enabled: maybe\n    timeouts: {poll: forever}\n",
    )
    found = problems_of(tmp_path)
    assert f"{path.resolve()}: plugins: invalid instance name 'Bad Name' (accepted: ^[A-Za-z][A-Za-z0-9_-]*$)" in found
    assert f"{path.resolve()}: service.max_workers: 'lots' is not a whole number (accepted: an integer)" in found
    assert f"{path.resolve()}: service.log_format: 'xml' is not allowed (accepted: 'json' or 'text')" in found


def test_schedule_rules(tmp_path):
    path = write(
        tmp_path / "config.yaml",
        "plugins:\n  echo:\n    schedules:\n"
        "      - {id: both, every: 5m, cron: '* * * * *'}\n"
        "      - {id: none}\n"
        "      - {id: six, cron: '0 0 * * * *'}\n"
        "      - {id: ok, every: daily, if_running: wait}\n",
    )
    where = f"{path.resolve()}: plugins.echo.schedules"
    assert problems_of(tmp_path) == [
        f"{where}.0: exactly one of 'every', 'cron', 'at' or 'after' is required (accepted: every: 5m, cron: '0 * * * *', at: '2026-06-01T07:30:00+10:00', or after: 10m)",
        f"{where}.1: exactly one of 'every', 'cron', 'at' or 'after' is required (accepted: every: 5m, cron: '0 * * * *', at: '2026-06-01T07:30:00+10:00', or after: 10m)",
        f"{where}.2.cron: invalid cron expression '0 0 * * * *': has 6 fields "
        "(accepted: 5 fields: minute hour day-of-month month day-of-week, e.g. '*/15 * * * *')",
        f"{where}.3.if_running: 'wait' is not allowed (accepted: 'skip', 'queue' or 'cancel')",
    ]


def test_tokens_need_exactly_one_secret_and_known_scopes(tmp_path):
    path = write(
        tmp_path / "config.yaml",
        "api:\n  auth:\n    tokens:\n"
        "      - {name: a, scopes: ['*']}\n"
        f"      - {{name: b, token_sha256: '{'ab' * 32}', scopes: [jobs:ro]}}\n",
    )
    assert problems_of(tmp_path) == [
        f"{path.resolve()}: api.auth.tokens.0: exactly one of 'token' or 'token_sha256' is required"
    ]


def test_config_show_redaction_of_secret_looking_keys():
    config = {
        "plugins": {
            "p": {"config": {"api_key": "k", "client_secret": "s", "Password": "p", "user": "me", "token": ""}}
        },
        "api": {"auth": {"tokens": [{"name": "admin", "token": "t0123456789", "scopes": ["*"]}]}},
    }
    out = redact_config(config)
    assert out["plugins"]["p"]["config"] == {
        "api_key": "***",
        "client_secret": "***",
        "Password": "***",
        "user": "me",
        "token": "",
    }
    assert out["api"]["auth"]["tokens"][0]["token"] == "***"
    assert out["api"]["auth"]["tokens"][0]["name"] == "admin"
    assert yaml.safe_dump(out).count("***") == 4
