"""`ductile config check` (the real CLI) on broken configs: the exact message line and exit code 1."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import DUCTILE, make_plugin

HEAD = "plugin_roots: [./plugins]\nplugins:\n"
GOOD = "  svc:\n    config: {api_key: k}\n"


def setup_dir(tmp_path: Path, text: str) -> Path:
    make_plugin(
        tmp_path / "plugins",
        "svc",
        "#!/bin/sh\ncat >/dev/null\necho '{}'\n",
        commands=[{"name": "poll", "type": "read"}, {"name": "handle", "type": "write"}],
        extra={"config_keys": {"required": ["api_key"], "optional": ["region"]}},
    )
    (tmp_path / "config.yaml").write_text(text)
    return tmp_path / "config.yaml"


def check(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DUCTILE_UNSET_FOR_TEST"}
    return subprocess.run(
        [DUCTILE, "config", "check", "--config", str(config.parent), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


CASES = {
    "unknown_plugin": (
        HEAD + GOOD + "  weather: {}\n",
        "plugins.weather: unknown plugin 'weather' (known: svc)",
    ),
    "unknown_plugin_via_uses": (
        HEAD + GOOD + "  alias:\n    uses: svcc\n",
        "plugins.alias.uses: unknown plugin 'svcc' (known: svc)",
    ),
    "bad_duration": (
        HEAD + "  svc:\n    config: {api_key: k}\n    retry: {backoff_base: 5 minutes}\n",
        "plugins.svc.retry.backoff_base: invalid duration '5 minutes' "
        "(accepted: a number with a unit ms/s/m/h/d/w, combinable: 500ms, 30s, 5m, 1h30m, 2d)",
    ),
    "missing_required_config_key": (
        HEAD + "  svc:\n    config: {region: eu}\n",
        "plugins.svc.config: missing required config key 'api_key' (plugin svc requires: api_key)",
    ),
    "schedule_for_a_missing_command": (
        HEAD + "  svc:\n    config: {api_key: k}\n    schedules:\n      - {id: s, command: sync, every: 5m}\n",
        "plugins.svc.schedules.0.command: plugin svc has no command 'sync' (accepted: poll, handle)",
    ),
    "unset_env_var": (
        HEAD + "  svc:\n    config: {api_key: '${DUCTILE_UNSET_FOR_TEST}'}\n",
        "line 4: environment variable DUCTILE_UNSET_FOR_TEST is not set "
        "(accepted: export it, or write ${DUCTILE_UNSET_FOR_TEST:-default})",
    ),
    "bad_yaml": (
        HEAD + "  svc:\n    config: {api_key: k\n",
        "line 5 column 1: invalid YAML: expected ',' or '}', but got '<stream end>'",
    ),
    "unknown_key": (
        HEAD + "  svc:\n    config: {api_key: k}\n    retries: {max_attempts: 2}\n",
        "plugins.svc.retries: unknown key (accepted: enabled, uses, config, schedules, retry, timeouts, "
        "parallelism, max_outstanding_polls, notify_on_complete, circuit_breaker)",
    ),
    "bad_cron": (
        HEAD + "  svc:\n    config: {api_key: k}\n    schedules:\n      - {cron: '61 * * * *'}\n",
        "plugins.svc.schedules.0.cron: invalid cron expression '61 * * * *': "
        "minute value '61' is out of range (accepted: 0-59)",
    ),
    "bad_timezone": (
        HEAD + "  svc:\n    config: {api_key: k}\n    schedules:\n"
        "      - {cron: '0 9 * * *', timezone: Europe/Atlantis}\n",
        "plugins.svc.schedules.0.timezone: unknown timezone 'Europe/Atlantis' "
        "(accepted: an IANA name such as Europe/Berlin or UTC)",
    ),
    "handle_scheduled": (
        HEAD + "  svc:\n    config: {api_key: k}\n    schedules:\n      - {command: handle, every: 1m}\n",
        "plugins.svc.schedules.0.command: 'handle' cannot be scheduled (accepted: any other command, usually poll)",
    ),
    # O15: what Ductile only logs at each tick, config check refuses (pipelines.md §9.3)
    "window_equal_ends": (
        HEAD + GOOD + "    schedules:\n      - {every: 1m, only_between: '09:00-09:00'}\n",
        "plugins.svc.schedules.0.only_between: only_between '09:00-09:00': start and end cannot be equal",
    ),
    "window_malformed": (
        HEAD + GOOD + "    schedules:\n      - {every: 1m, only_between: 9am-5pm}\n",
        "plugins.svc.schedules.0.only_between: only_between '9am-5pm': '9am' is not HH:MM (accepted: 00:00 to 23:59)",
    ),
    "not_on_unknown_day": (
        HEAD + GOOD + "    schedules:\n      - {every: 1m, not_on: [sat, funday]}\n",
        "plugins.svc.schedules.0.not_on: not_on: 'funday' is not a day (accepted: day names (sun|sunday, "
        "mon|monday, tue|tues|tuesday, wed|wednesday, thu|thurs|thursday, fri|friday, sat|saturday) or "
        "integers 0-6 (0 = Sunday) and 7 (Sunday))",
    ),
    "at_without_offset": (
        HEAD + GOOD + "    schedules:\n      - {at: '2026-06-01 07:30'}\n",
        "plugins.svc.schedules.0.at: at '2026-06-01 07:30' has no UTC offset (accepted: an RFC 3339 time with "
        "an offset, e.g. '2026-06-01T07:30:00+10:00' or '2026-06-01T07:30:00Z')",
    ),
    "after_not_a_duration": (
        HEAD + GOOD + "    schedules:\n      - {after: soon}\n",
        "plugins.svc.schedules.0.after: invalid duration 'soon' "
        "(accepted: a number with a unit ms/s/m/h/d/w, combinable: 500ms, 30s, 5m, 1h30m, 2d)",
    ),
    "duplicate_schedule_id": (
        HEAD + "  svc:\n    config: {api_key: k}\n    schedules:\n      - {every: 1m}\n      - {every: 5m}\n",
        "plugins.svc.schedules: schedule id 'default' is used twice (accepted: unique ids per instance)",
    ),
    "timeout_for_a_missing_command": (
        HEAD + "  svc:\n    config: {api_key: k}\n    timeouts: {sync: 5s}\n",
        "plugins.svc.timeouts.sync: plugin svc has no command 'sync' (accepted: poll, handle)",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_config_gives_the_exact_message_and_exit_1(tmp_path, case):
    text, message = CASES[case]
    config = setup_dir(tmp_path, text)
    out = check(config)
    assert out.returncode == 1, out
    assert out.stderr.splitlines() == [f"{config}: {message}", "1 problem(s) found"]
    assert out.stdout == ""


def test_every_problem_in_one_pass_and_system_start_refuses(tmp_path):
    config = setup_dir(
        tmp_path,
        HEAD
        + "  weather: {}\n  svc:\n    retry: {backoff_base: soon}\n"
        + "    schedules:\n      - {id: a, cron: '61 * * * *'}\n      - {id: b, command: sync, every: 1m}\n",
    )
    out = check(config)
    assert out.returncode == 1
    assert sorted(out.stderr.splitlines()) == sorted(
        [
            f"{config}: plugins.svc.retry.backoff_base: invalid duration 'soon' "
            "(accepted: a number with a unit ms/s/m/h/d/w, combinable: 500ms, 30s, 5m, 1h30m, 2d)",
            f"{config}: plugins.svc.schedules.0.cron: invalid cron expression '61 * * * *': "
            "minute value '61' is out of range (accepted: 0-59)",
            f"{config}: plugins.weather: unknown plugin 'weather' (known: svc)",
            f"{config}: plugins.svc.config: missing required config key 'api_key' (plugin svc requires: api_key)",
            f"{config}: plugins.svc.schedules.1.command: plugin svc has no command 'sync' (accepted: poll, handle)",
            "5 problem(s) found",
        ]
    )
    start = subprocess.run(
        [DUCTILE, "system", "start", "--config", str(config.parent)], capture_output=True, text=True, timeout=60
    )
    assert start.returncode == 1
    assert start.stderr.splitlines()[-1] == "refusing to start: 5 config problem(s)"
    assert not (tmp_path / "data").exists()  # refused before touching the database


def test_good_config_passes(tmp_path):
    config = setup_dir(tmp_path, HEAD + GOOD)
    out = check(config)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{config}: OK (1 plugin instance(s))"


def test_all_kinds_of_problem_in_one_run_without_follow_on_noise(tmp_path):
    """Issue 7, findings 7 and 8: one run names every problem, each once, and `system start` agrees."""
    broken = make_plugin(tmp_path / "plugins", "stale", "#!/bin/sh\necho '{}'\n")
    (broken / "run").chmod(0o644)  # not executable: discovery refuses the plugin
    config = setup_dir(
        tmp_path,
        "service:\n"  # 1
        "  log_format: xml\n"  # 2: schema error
        "plugin_roots: [./plugins]\n"  # 3
        "plugins:\n"  # 4
        "  flaky:\n"  # 5
        "    uses: svc\n"  # 6
        "    config: {api_key: k}\n"  # 7
        "  sync:\n"  # 8
        "    uses: svc\n"  # 9
        "    config: {api_key: k}\n"  # 10
        "    schedules:\n"  # 11
        "      - {id: nightly, cron: '*/61 * * * *'}\n"  # 12: bad cron step
        "      - {id: nightly, every: 1h}\n"  # 13: duplicate schedule id
        "  stale: {}\n"  # 14: instance of the refused plugin
        "  weather: {}\n"  # 15: unknown plugin
        "  flaky:\n"  # 16: duplicate YAML key
        "    uses: svc\n"
        "    config: {api_key: k}\n",
    )
    expected = [
        f'{config}:16: duplicate key "flaky" (first defined at line 5; accepted: each key once per mapping)',
        f"{config}: plugins.sync.schedules: schedule id 'nightly' is used twice (accepted: unique ids per instance)",
        f"{config}: service.log_format: 'xml' is not allowed (accepted: 'json' or 'text')",
        f"{config}: plugins.sync.schedules.0.cron: invalid cron expression '*/61 * * * *': "
        "minute step '61' is out of range (accepted: */N with N from 1 to 59)",
        f"{broken.resolve() / 'manifest.yaml'}: entrypoint 'run' is not an executable file (chmod +x it)",
        f"{config}: plugins.weather: unknown plugin 'weather' (known: svc)",
    ]
    out = check(config)
    assert out.returncode == 1
    assert out.stderr.splitlines() == [*expected, "6 problem(s) found"]
    assert "unknown plugin 'stale'" not in out.stderr
    as_json = check(config, "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout) == {"ok": False, "problems": expected, "warnings": []}

    start = subprocess.run(
        [DUCTILE, "system", "start", "--config", str(config.parent)], capture_output=True, text=True, timeout=60
    )
    assert start.returncode == 1
    assert start.stderr.splitlines() == [*expected, "refusing to start: 6 config problem(s)"]
    assert not (tmp_path / "data").exists()
