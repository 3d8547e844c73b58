"""`ductile stopwatch prune|prune-subs`: the real CLI on a real SQLite file and (with
DUCTILE_TEST_PG_URL) a real PostgreSQL schema, and beside a running gateway whose API then shows
the cleaned results. prune-subs really removes the sub-spans (or one span's entries), leaves every
other response key, honours the filters and --limit, and a dry run changes nothing; prune deletes
nothing (timings are the job history) and says so."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ADMIN_TOKEN, GatewayProcess, base_config, enqueue, free_port, make_plugin, run_ductile, wait_for
from conftest import write_config as write
from pgtest import fresh_schema

from ductile.api.params import attempt_query
from ductile.jobs import AttemptRecord, NewJob
from ductile.lifecycle import Decision, Status
from ductile.store import open_store
from ductile.timeutil import to_text

SUBS = [{"name": "fetch", "dur_ns": 2_000_000}, {"name": "parse", "dur_ns": 1_000_000}]
OLD = datetime.now(UTC) - timedelta(days=10)


TARGETS: dict[Path, str] = {}  # config dir → its database (file path or URL), for `responses`


@pytest.fixture(params=["sqlite", "postgres"])
def config_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A config whose database (SQLite file or PostgreSQL schema) holds five timed runs of `p`."""
    config = base_config([], {})
    if request.param == "sqlite":
        TARGETS[tmp_path / "cfg"] = str(tmp_path / "cfg" / "data" / "ductile.db")
        write(tmp_path / "cfg", config)
        _seed(TARGETS[tmp_path / "cfg"])
        yield tmp_path / "cfg"
        return
    with fresh_schema() as url:
        TARGETS[tmp_path / "cfg"] = url
        config["database"] = {"url": url}
        write(tmp_path / "cfg", config)
        _seed(url)
        yield tmp_path / "cfg"


def _seed(target: str) -> None:
    store = open_store(target)
    try:
        rows: list[tuple[str | None, str, Any]] = [
            (None, "success", {"status": "ok", "result": {"n": 1}, "ductile_stopwatch_subs": SUBS, "tail": "é"}),
            ("fetch", "success", {"status": "ok", "ductile_stopwatch_subs": SUBS}),
            (None, "error", {"status": "error", "error": "boom", "ductile_stopwatch_subs": SUBS}),
            (None, "success", {"status": "ok", "ductile_stopwatch_subs": [SUBS[1]]}),
            (None, "success", {"status": "ok"}),
        ]
        for i, (step, outcome, response) in enumerate(rows):
            at = OLD + timedelta(seconds=i)
            store.enqueue(NewJob(plugin="p", command="poll", step_id=step, max_attempts=1), now=at, dedupe_since=None)
            job = store.claim(now=at)
            assert job is not None
            record = AttemptRecord(outcome, to_text(at), to_text(at), 5.0, response=response, exit_code=0)
            status = Status.SUCCEEDED if outcome == "success" else Status.FAILED
            store.finish(job, record, Decision(status), now=at)
    finally:
        store.close()


def responses(config_dir: Path) -> list[dict[str, Any]]:
    """Every stored response, oldest attempt first (through the store: either backend)."""
    store = open_store(TARGETS[config_dir])
    try:
        attempts = store.list_attempts(attempt_query({"limit": "50"}))
        return [a.response for a in sorted(attempts, key=lambda a: a.started_at)]
    finally:
        store.close()


def stopwatch(config_dir: Path, *args: str) -> Any:
    return run_ductile("stopwatch", *args, "--config", str(config_dir))


def test_prune_subs_removes_the_key_and_keeps_the_rest(config_dir: Path) -> None:
    before = responses(config_dir)
    dry = stopwatch(config_dir, "prune-subs", "--older-than", "7d", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    body = json.loads(dry.stdout)
    assert body["action"] == "prune-subs" and body["dry_run"] is True and body["affected"] == 4
    assert body["filters"] == {"plugin": None, "step": None, "status": None, "span": None}
    assert datetime.fromisoformat(body["older_than"]) < datetime.now(UTC) - timedelta(days=7) + timedelta(minutes=1)
    assert responses(config_dir) == before  # a dry run changes nothing

    limited = stopwatch(config_dir, "prune-subs", "--older-than", "7d", "--limit", "1")
    assert limited.returncode == 0, limited.stderr
    assert limited.stdout.startswith("cleared subs on 1 job_stopwatch row(s) older than ")
    after = responses(config_dir)
    assert after[0] == {"status": "ok", "result": {"n": 1}, "tail": "é"}  # the oldest only
    assert list(after[0]) == ["status", "result", "tail"]  # other keys kept, in order
    assert after[1:] == before[1:]

    rest = stopwatch(config_dir, "prune-subs", "--older-than", "7d", "--json")
    assert json.loads(rest.stdout)["affected"] == 3
    assert responses(config_dir) == [
        {"status": "ok", "result": {"n": 1}, "tail": "é"},
        {"status": "ok"},
        {"status": "error", "error": "boom"},
        {"status": "ok"},
        {"status": "ok"},
    ]
    again = stopwatch(config_dir, "prune-subs", "--older-than", "7d")
    assert again.stdout.startswith("cleared subs on 0 job_stopwatch row(s)")


def test_prune_subs_span_and_filters(config_dir: Path) -> None:
    out = stopwatch(config_dir, "prune-subs", "--older-than", "1d", "--span", "fetch", "--step", "", "--status", "ok")
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    assert first.startswith("cleared subs on 1 job_stopwatch row(s) older than ")
    assert first.endswith(" (step=, status=ok, span=fetch)")
    after = responses(config_dir)
    assert after[0]["ductile_stopwatch_subs"] == [SUBS[1]] and after[0]["result"] == {"n": 1}
    assert after[1]["ductile_stopwatch_subs"] == SUBS  # step "fetch": not direct
    assert after[2]["ductile_stopwatch_subs"] == SUBS  # status err
    assert after[3]["ductile_stopwatch_subs"] == [SUBS[1]]  # has no "fetch" entry
    err = stopwatch(config_dir, "prune-subs", "--older-than", "1d", "--status", "err", "--plugin", "p", "--json")
    assert json.loads(err.stdout)["affected"] == 1 and "ductile_stopwatch_subs" not in responses(config_dir)[2]
    other = stopwatch(config_dir, "prune-subs", "--older-than", "1d", "--plugin", "q", "--dry-run")
    assert other.stdout.startswith("would clear subs on 0 job_stopwatch row(s) older than ")
    assert other.stdout.rstrip().endswith("(plugin=q)")
    newer = stopwatch(config_dir, "prune-subs", "--older-than", "30d", "--dry-run", "--json")
    assert json.loads(newer.stdout)["affected"] == 0  # the runs are 10 days old


def test_prune_deletes_nothing_and_says_why(config_dir: Path) -> None:
    before = responses(config_dir)
    dry = stopwatch(config_dir, "prune", "--older-than", "2w", "--dry-run")
    assert dry.returncode == 0 and dry.stdout.startswith("would delete 0 job_stopwatch row(s)")
    assert dry.stdout.splitlines()[1].startswith("0 run(s) match; nothing is deleted")
    counted = stopwatch(config_dir, "prune", "--older-than", "1w", "--dry-run", "--json")
    body = json.loads(counted.stdout)
    # the dry run predicts the real run (0), and counts what a Ductile prune would have taken
    assert body["affected"] == 0 and body["matching"] == 5 and body["dry_run"] is True
    assert body["action"] == "prune" and "job_retention" in body["note"]
    by_status = stopwatch(config_dir, "prune", "--older-than", "1w", "--dry-run", "--status", "err", "--json")
    assert json.loads(by_status.stdout)["matching"] == 1
    limited = stopwatch(config_dir, "prune", "--older-than", "1w", "--dry-run", "--limit", "2", "--json")
    assert json.loads(limited.stdout)["matching"] == 2
    real = stopwatch(config_dir, "prune", "--older-than", "1w")
    assert real.returncode == 0
    first, note = real.stdout.splitlines()
    assert first.startswith("deleted 0 job_stopwatch row(s) older than ")
    assert "job history" in note and "service.job_retention" in note
    as_json = json.loads(stopwatch(config_dir, "prune", "--older-than", "1w", "--plugin", "p", "--json").stdout)
    assert as_json["affected"] == 0 and as_json["filters"]["plugin"] == "p" and "job_retention" in as_json["note"]
    assert "matching" not in as_json
    assert responses(config_dir) == before


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ((), "--older-than is required"),
        (("--older-than", "0s"), "must be greater than zero"),
        (("--older-than", "-3d"), "invalid duration"),
        (("--older-than", "soon"), "invalid duration"),
        (("--older-than", "1d", "--status", "failed"), "accepted: ok, err, timeout, capture_error"),
        (("--older-than", "1d", "--limit", "0"), "--limit"),
    ],
)
@pytest.mark.parametrize("command", ["prune", "prune-subs"])
def test_bad_flags_exit_1_saying_what_is_accepted(
    tmp_path: Path, command: str, args: tuple[str, ...], needle: str
) -> None:
    write(tmp_path / "cfg", base_config([], {}))
    out = stopwatch(tmp_path / "cfg", command, *args)
    assert out.returncode == 1 and needle in out.stderr, (out.returncode, out.stderr)


def test_no_database_is_an_error_not_a_new_file(tmp_path: Path) -> None:
    write(tmp_path / "cfg", base_config([], {}))
    out = stopwatch(tmp_path / "cfg", "prune-subs", "--older-than", "1d")
    assert out.returncode == 1 and "no database" in out.stderr
    assert not (tmp_path / "cfg" / "data" / "ductile.db").exists()


TIMER = """\
#!/usr/bin/env python3
import json, sys
json.load(sys.stdin)
print(json.dumps({"status": "ok", "result": "timed", "token": "hunter2",
                  "ductile_stopwatch_subs": [{"name": "fetch", "dur_ns": 3000000}]}))
"""


def test_prune_subs_beside_a_running_gateway(tmp_path: Path) -> None:
    """The CLI writes the database the gateway is using; the gateway's API then shows the result
    without the sub-spans (and keeps running jobs)."""
    make_plugin(tmp_path / "plugins", "timer", TIMER)
    port = free_port()
    write(tmp_path / "gw", base_config([tmp_path / "plugins"], {"timer": {}}, port=port))
    gw = GatewayProcess(tmp_path / "gw", port=port).start()
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    try:
        job = enqueue(gw.url, ADMIN_TOKEN, "timer", "poll")

        def result() -> Any:
            body = httpx.get(f"{gw.url}/job/{job}", headers=admin, timeout=10).json()
            return body.get("result") if body["status"] == "succeeded" else None

        assert "ductile_stopwatch_subs" in wait_for(result, timeout=30)
        subs = httpx.get(f"{gw.url}/stopwatch/timer", params={"include_subs": "true"}, headers=admin).json()
        assert subs["steps"][0]["subs"][0]["name"] == "fetch"
        time.sleep(1.1)  # the cutoff is now - 1ms to the whole second (as printed): let the run be before it
        out = run_ductile("stopwatch", "prune-subs", "--older-than", "1ms", "--config", str(tmp_path / "gw"))
        assert out.returncode == 0 and out.stdout.startswith("cleared subs on 1 "), out.stdout + out.stderr
        assert result() == {"status": "ok", "result": "timed", "token": "***"}
        steps = httpx.get(f"{gw.url}/stopwatch/timer", params={"include_subs": "true"}, headers=admin).json()["steps"]
        assert steps[0]["sample_count"] == 1 and steps[0]["subs"] == []  # the timing stays
        later = enqueue(gw.url, ADMIN_TOKEN, "timer", "poll")  # the gateway goes on writing
        wait_for(lambda: httpx.get(f"{gw.url}/job/{later}", headers=admin).json()["status"] == "succeeded", timeout=30)
    finally:
        gw.stop()
    with sqlite3.connect(gw.db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
