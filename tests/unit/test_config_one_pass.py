"""check_config: every problem in one run, each reported once at its root cause (no follow-on noise)."""

from __future__ import annotations

from pathlib import Path

from conftest import make_plugin

from ductile.config_check import check_config

HEAD = "plugin_roots: [./plugins]\nplugins:\n"


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    make_plugin(
        tmp_path / "plugins",
        "svc",
        "#!/bin/sh\necho '{}'\n",
        extra={"config_keys": {"required": ["api_key"]}},
    )
    (tmp_path / "config.yaml").write_text(text)
    prefix = f"{(tmp_path / 'config.yaml').resolve()}: "
    return [p.removeprefix(prefix) for p in check_config(tmp_path, env=env or {}).problems]


def test_a_duplicate_schedule_id_behind_a_bad_cron_is_found_in_the_same_run(tmp_path):
    found = problems(
        tmp_path,
        HEAD + "  svc:\n    config: {api_key: k}\n    schedules:\n"
        "      - {id: a, cron: '*/61 * * * *'}\n      - {id: a, every: 5m}\n      - {id: b, every: 1m, cron: '0 99 * * *'}\n",
    )
    assert found == [
        "plugins.svc.schedules.2: exactly one of 'every', 'cron', 'at' or 'after' is required "
        "(accepted: every: 5m, cron: '0 * * * *', at: '2026-06-01T07:30:00+10:00', or after: 10m)",
        "plugins.svc.schedules: schedule id 'a' is used twice (accepted: unique ids per instance)",
        "plugins.svc.schedules.0.cron: invalid cron expression '*/61 * * * *': "
        "minute step '61' is out of range (accepted: */N with N from 1 to 59)",
        "plugins.svc.schedules.2.cron: invalid cron expression '0 99 * * *': "
        "hour value '99' is out of range (accepted: 0-23)",
    ]


def test_every_repeated_schedule_id_is_named(tmp_path):
    found = problems(
        tmp_path,
        HEAD + "  svc:\n    config: {api_key: k}\n    schedules:\n"
        "      - {every: 1m}\n      - {every: 2m}\n      - {id: x, every: 1m}\n      - {id: x, every: 2m}\n",
    )
    assert found == [
        "plugins.svc.schedules: schedule id 'default' is used twice (accepted: unique ids per instance)",
        "plugins.svc.schedules: schedule id 'x' is used twice (accepted: unique ids per instance)",
    ]


def test_an_unset_variable_is_reported_once_not_again_by_the_schema_or_the_plugin_checks(tmp_path):
    found = problems(
        tmp_path,
        "service:\n  max_workers: ${WORKERS}\n" + HEAD + "  alias:\n    uses: ${PLUGIN}\n    config: {api_key: k}\n",
    )
    assert found == [
        "line 2: environment variable WORKERS is not set (accepted: export it, or write ${WORKERS:-default})",
        "line 6: environment variable PLUGIN is not set (accepted: export it, or write ${PLUGIN:-default})",
    ]


def test_an_invalid_uses_is_not_followed_by_unknown_plugin(tmp_path):
    found = problems(tmp_path, HEAD + "  alias:\n    uses: 'not a name'\n    config: {api_key: k}\n")
    assert len(found) == 1 and found[0].startswith("plugins.alias.uses: 'not a name' is not a valid name")


def test_an_invalid_config_map_is_not_followed_by_missing_required_keys(tmp_path):
    assert problems(tmp_path, HEAD + "  svc:\n    config: [api_key]\n") == [
        "plugins.svc.config: ['api_key'] has the wrong type (accepted: a mapping)"
    ]


def test_a_bad_instance_name_does_not_hide_the_other_instances(tmp_path):
    assert problems(tmp_path, HEAD + "  Bad Name: {}\n  svc: {}\n  weather: {}\n") == [
        "plugins: invalid instance name 'Bad Name' (accepted: ^[A-Za-z][A-Za-z0-9_-]*$)",
        "plugins.svc.config: missing required config key 'api_key' (plugin svc requires: api_key)",
        "plugins.weather: unknown plugin 'weather' (known: svc)",
    ]


def test_a_missing_plugin_root_is_the_one_problem_not_every_instance_unknown(tmp_path):
    found = problems(tmp_path, "plugin_roots: [./plugins, ./nowhere]\nplugins:\n  weather: {}\n  news: {}\n")
    assert found == [f"{(tmp_path / 'nowhere').resolve()}: plugin root does not exist or is not a directory"]


def test_file_problems_do_not_stop_the_schema_and_plugin_checks(tmp_path):
    found = problems(
        tmp_path,
        "include: [missing.yaml]\nservice:\n  log_format: xml\n" + HEAD + "  svc: {}\n  svc: {}\n  weather: {}\n",
    )
    root = (tmp_path / "config.yaml").resolve()
    assert found == [
        f'{root}:7: duplicate key "svc" (first defined at line 6; accepted: each key once per mapping)',
        "include: 'missing.yaml' does not exist (accepted: a YAML file or a directory of *.yaml)",
        "service.log_format: 'xml' is not allowed (accepted: 'json' or 'text')",
        "plugins.svc.config: missing required config key 'api_key' (plugin svc requires: api_key)",
        "plugins.weather: unknown plugin 'weather' (known: svc)",
    ]


def test_a_refused_plugin_is_reported_once_not_again_as_unknown(tmp_path):
    broken = make_plugin(tmp_path / "plugins", "broken", "#!/bin/sh\necho '{}'\n")
    (broken / "run").chmod(0o644)
    manifest = (broken / "manifest.yaml").resolve()
    found = problems(tmp_path, HEAD + "  broken: {}\n  alias:\n    uses: broken\n")
    assert found == [f"{manifest}: entrypoint 'run' is not an executable file (chmod +x it)"]


def test_a_trusted_proxy_that_is_not_an_address_or_network_is_named(tmp_path):
    found = problems(
        tmp_path,
        "api:\n  trusted_proxies: ['10.0.0.0/8', '::1', '*', 'proxy.local', '10.0.0.300']\n"
        + HEAD
        + "  svc:\n    config: {api_key: k}\n",
    )
    assert found == [
        "api.trusted_proxies: invalid trusted proxies 'proxy.local', '10.0.0.300' (accepted: an IP address such as "
        "10.0.0.5, "
        "a network such as 10.0.0.0/8 or fd00::/8, or * for every peer)"
    ]


def test_trusted_proxies_unset_empty_or_listed_load(tmp_path):
    from ductile.config import load_config

    assert problems(tmp_path, "api:\n  trusted_proxies: []\n" + HEAD + "  svc:\n    config: {api_key: k}\n") == []
    loaded = load_config(tmp_path / "config.yaml", env={})
    assert loaded.config.api.trusted_proxies == []
