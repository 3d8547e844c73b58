"""`ductile config check` and `system start` on pipeline configs (spec pipelines.md §1.4, §10
scenario 1): every problem with its file, together with other config problems; lints as warnings."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import DUCTILE, make_plugin

from tests.acceptance.test_config_check_cli import check


def setup(tmp_path: Path, main: str, extra: str | None = None) -> Path:
    make_plugin(
        tmp_path / "plugins",
        "svc",
        "#!/bin/sh\ncat >/dev/null\necho '{}'\n",
        commands=[{"name": "poll", "type": "read"}, {"name": "handle", "type": "write"}],
    )
    (tmp_path / "config.yaml").write_text(main)
    if extra is not None:
        (tmp_path / "more.yaml").write_text(extra)
    return tmp_path / "config.yaml"


HEAD = "plugin_roots: [./plugins]\nplugins:\n  svc: {}\n  other: {uses: svc}\n"


def test_pipeline_problems_name_their_file_and_come_with_other_problems(tmp_path):
    config = setup(
        tmp_path,
        HEAD + "  broken: {uses: nope}\ninclude: [more.yaml]\n"
        "pipelines:\n  - {name: p, on: x, steps: [{relay: {to: a}}]}\n",
        "pipelines:\n  - {name: q, on-hook: job.done, steps: [{uses: svc}]}\n"
        "  - {name: r, on: x, steps: [{uses: ghost}]}\n",
    )
    out = check(config)
    assert out.returncode == 1, out
    err = out.stderr
    assert f'{config}: pipeline "p": steps[0]: relay steps are not supported' in err
    more = tmp_path / "more.yaml"
    assert f'{more}: pipeline "q": on-hook "job.done" is not a hook signal' in err
    assert f'{more}: pipeline "r" step "step_1" references unknown plugin "ghost"' in err
    assert "plugins.broken.uses: unknown plugin 'nope'" in err  # reported in the same pass

    started = subprocess.run(
        [DUCTILE, "system", "start", "--config", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert started.returncode != 0 and "relay steps are not supported" in started.stderr


def test_lints_are_warnings_and_the_config_is_ok(tmp_path):
    config = setup(
        tmp_path,
        HEAD + "pipelines:\n"
        "  - {name: p, on: x, colour: red, steps: [{uses: svc}, {call: q}, {uses: other}]}\n"
        "  - {name: q, on: y, steps: [{uses: other}]}\n",
    )
    out = check(config)
    assert out.returncode == 0, out
    assert f"warning: {config}: pipelines[0].colour: unknown key (ignored)" in out.stderr
    assert "steps after a call never run" in out.stderr
