"""`ductile job list|show|logs` over the API and over the local database give the same answers."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ADMIN_TOKEN, wait_for
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api"))
from live_gateway import live, seed, stamp  # noqa: F401 - `live` is a fixture

from ductile.cli.main import build

app = build()

runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    result = runner.invoke(app, list(args), env={"DUCTILE_API_URL": "", "DUCTILE_TOKEN": "", **(env or {})})
    return result


@pytest.fixture(scope="module")
def history(live: Any) -> dict[str, Any]:  # noqa: F811
    ids = seed(
        live.db_path,
        [
            {"plugin": "withings", "command": "poll", "status": s, "created_at": stamp(3, i)}
            for i, s in enumerate(["succeeded", "failed", "succeeded", "dead", "queued"])
        ],
    )
    with live.client() as api:
        done = api.post("/plugin/alpha/poll", json={"payload": {"hello": "cli"}}).json()["job_id"]
        wait_for(lambda: api.get(f"/job/{done}").json()["status"] == "succeeded", message="job done")
    return {"ids": ids, "done": done}


def api_args(live: Any) -> list[str]:  # noqa: F811
    return ["--api-url", live.url, "--token", ADMIN_TOKEN]


def test_list_json_over_api_is_the_api_body(live: Any, history: Any) -> None:  # noqa: F811
    result = run("job", "list", "--plugin", "withings", "--status", "ok", "--json", *api_args(live))
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    with live.client() as api:
        assert body == api.get("/jobs", params={"plugin": "withings", "status": "ok"}).json()
    assert [j["job_id"] for j in body["jobs"]] == [history["ids"][2], history["ids"][0]]


def test_list_local_database_matches_api(live: Any, history: Any) -> None:  # noqa: F811
    local = run("job", "list", "--plugin", "withings", "--limit", "2", "--json", "--config", str(live.config_dir))
    assert local.exit_code == 0, local.output
    over_api = run("job", "list", "--plugin", "withings", "--limit", "2", "--json", *api_args(live))
    assert json.loads(local.stdout) == json.loads(over_api.stdout)
    body = json.loads(local.stdout)
    assert body["total"] == 5 and body["next_cursor"]
    page2 = run(
        "job", "list", "--plugin", "withings", "--cursor", body["next_cursor"], "--json", "-c", str(live.config_dir)
    )
    assert [j["job_id"] for j in json.loads(page2.stdout)["jobs"]] == list(reversed(history["ids"][:3]))


def test_list_table_is_readable(live: Any, history: Any) -> None:  # noqa: F811
    result = run("job", "list", "--plugin", "withings", "--limit", "3", *api_args(live))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["JOB", "ID", "PLUGIN", "COMMAND", "STATUS", "ATT", "CREATED", "(UTC)", "COMPLETED"]
    assert history["ids"][4] in lines[1] and "queued" in lines[1]
    assert lines[-1].startswith("3 of 5 matching; next page: --cursor ")


def test_env_vars_select_the_api(live: Any, history: Any) -> None:  # noqa: F811
    result = run("job", "list", "--json", env={"DUCTILE_API_URL": live.url, "DUCTILE_TOKEN": ADMIN_TOKEN})
    assert result.exit_code == 0 and json.loads(result.stdout)["total"] >= 6


@pytest.mark.parametrize("mode", ["api", "local"])
def test_bad_filter_fails_with_the_api_message(live: Any, mode: str) -> None:  # noqa: F811
    where = api_args(live) if mode == "api" else ["--config", str(live.config_dir)]
    result = run("job", "list", "--status", "bogus", *where)
    assert result.exit_code == 1
    assert "status: unknown status 'bogus'" in result.stderr and "accepted" in result.stderr


def test_wrong_token_and_unreachable_api(live: Any) -> None:  # noqa: F811
    wrong = run("job", "list", "--api-url", live.url, "--token", "nope-nope-nope")
    assert wrong.exit_code == 1 and "API 401" in wrong.stderr
    down = run("job", "list", "--api-url", "http://127.0.0.1:9", "--token", "x")
    assert down.exit_code == 1 and "cannot reach" in down.stderr


@pytest.mark.parametrize("mode", ["api", "local"])
def test_show_prints_attempts_and_result(live: Any, history: Any, mode: str) -> None:  # noqa: F811
    where = api_args(live) if mode == "api" else ["--config", str(live.config_dir)]
    text = run("job", "show", history["done"], *where)
    assert text.exit_code == 0, text.output
    assert "status:       succeeded" in text.stdout and "attempt 1: success -> succeeded" in text.stdout
    assert '"hello": "cli"' in text.stdout
    body = json.loads(run("job", "show", history["done"], "--json", *where).stdout)
    assert body["result"]["status"] == "ok" and body["attempts"][0]["attempt"] == 1
    missing = run("job", "show", "no-such-job", *where)
    assert missing.exit_code == 1 and "no job" in missing.stderr


@pytest.mark.parametrize("mode", ["api", "local"])
def test_logs(live: Any, history: Any, mode: str) -> None:  # noqa: F811
    where = api_args(live) if mode == "api" else ["--config", str(live.config_dir)]
    body = json.loads(run("job", "logs", "--job-id", history["done"], "--include-result", "--json", *where).stdout)
    assert body["count"] == 1 and body["attempts"][0]["result"]["result"]["payload"] == {"hello": "cli"}
    text = run("job", "logs", "--plugin", "alpha", "--status", "ok", *where)
    assert text.exit_code == 0 and "alpha:poll" in text.stdout and "attempt record(s)" in text.stdout


@pytest.mark.parametrize("mode", ["api", "local"])
def test_logs_takes_the_job_id_as_an_argument_too(live: Any, history: Any, mode: str) -> None:  # noqa: F811
    where = api_args(live) if mode == "api" else ["--config", str(live.config_dir)]
    by_option = run("job", "logs", "--job-id", history["done"], "--json", *where)
    by_argument = run("job", "logs", history["done"], "--json", *where)
    assert by_argument.exit_code == 0, by_argument.output
    assert json.loads(by_argument.stdout) == json.loads(by_option.stdout)
    assert json.loads(by_argument.stdout)["count"] == 1
    same = run("job", "logs", history["done"], "--job-id", history["done"], "--json", *where)
    assert json.loads(same.stdout) == json.loads(by_option.stdout)
    both = run("job", "logs", history["done"], "--job-id", history["ids"][0], *where)
    assert both.exit_code == 1 and "two job ids" in both.output and history["ids"][0] in both.output
