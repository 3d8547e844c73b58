"""Root triggers against a real gateway (spec pipelines.md §10 scenarios 5, 18, 21, 22; §1.5 Examples
B and C): which pipelines an emitted event starts, what the started steps receive, and a plugin that
starts a pipeline itself over the API."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_plugin, wait_for

from tests.acceptance.pipeline_rig import (
    IMPLS,
    RW_TOKEN,
    Gateways,
    Impl,
    chat_stub,
    context_row,
    jobs,
    last_response,
    post,
    recorded,
    rows,
    stored_payload,
    wait_settled,
    warnings,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[Gateways]:
    pool = Gateways(tmp_path)
    yield pool
    pool.stop_all()


def test_one_event_starts_every_matching_pipeline_and_a_bad_predicate_skips_only_its_own(tmp_path, gateways):
    """§10 scenario 5: type + from_plugin + `if` decide; a type error in one `if` is a WARN, not a failure."""
    rec = tmp_path / "rec"
    plugins = {name: {"uses": "recorder", "config": {"record_dir": str(rec / name)}} for name in "ABCDZ"}
    plugins["S"] = {"uses": "recorder", "config": {"emit": [{"type": "x", "payload": {"n": 7, "s": "7"}}]}}
    pipelines = [
        {"name": "p1", "on": "x", "steps": [{"uses": "A"}]},
        {"name": "p2", "on": "x", "from_plugin": "Z", "steps": [{"uses": "B"}]},
        {"name": "p3", "on": "x", "if": {"path": "payload.n", "op": "gt", "value": 5}, "steps": [{"uses": "C"}]},
        {"name": "p4", "on": "x", "if": {"path": "payload.s", "op": "gt", "value": 5}, "steps": [{"uses": "D"}]},
    ]
    gw = gateways.start(plugins, pipelines)
    answer = post(gw, "/plugin/S/handle", {"payload": {}})
    assert answer.status_code == 202, answer.text
    source = answer.json()["job_id"]
    done = wait_settled(gw.db_path, at_least=3)
    assert {j["plugin"]: j["status"] for j in done} == {"S": "succeeded", "A": "succeeded", "C": "succeeded"}
    children = [j for j in done if j["plugin"] in ("A", "C")]
    assert {j["parent_job_id"] for j in children} == {source}
    assert {j["pipeline"] for j in children} == {"p1", "p3"}
    instances = {context_row(gw.db_path, j["event_context_id"])["instance_id"] for j in children}
    assert len(instances) == 2
    for j in children:
        event = stored_payload(j)
        assert event["type"] == "x" and event["payload"]["n"] == 7
        assert event["payload"]["ductile_upstream_plugin"] == "S"
    assert any("p4" in json.dumps(r) for r in warnings(gw)), "expected a WARN naming p4's failed predicate"


@pytest.mark.parametrize("impl", IMPLS)
def test_example_b_links_are_classified_and_each_kind_runs_its_own_pipeline(tmp_path, gateways, impl: Impl):
    """§10 scenario 18 without the webhook listener (the event enters through POST /plugin/.../handle)
    and §1.5 Example B: `link_check` (our check_youtube) emits link.video or link.article with the
    payload unchanged; video-link ends in a `with:` message, article-link in a baggage-fed one."""
    rec = tmp_path / "rec"
    with chat_stub() as chat:
        plugins = {
            "check_youtube": {
                "uses": impl("check_youtube"),
                "config": {
                    "field": "payload.url",
                    "checks": [
                        {"contains": "youtube.com/watch", "emit": "link.video"},
                        {"contains": "youtu.be/", "emit": "link.video"},
                        {"default": "link.article"},
                    ],
                },
            },
            "youtube_transcript": {
                "uses": "recorder",
                "config": {
                    "record_dir": str(rec / "video"),
                    "emit": [{"type": "youtube.transcript", "payload": {"video_id": "abc", "title": "A talk"}}],
                },
            },
            "jina-reader": {
                "uses": "recorder",
                "config": {
                    "record_dir": str(rec / "reader"),
                    "emit": [{"type": "content_ready", "payload": {"content": "text", "truncated": False}}],
                },
            },
            "chat_ping": {"uses": impl("discord_notify"), "config": {"webhook_url": chat.url}},
        }
        pipelines = [
            {
                "name": "video-link",
                "on": "link.video",
                "from_plugin": "check_youtube",
                "steps": [
                    {"uses": "youtube_transcript"},
                    {
                        "uses": "chat_ping",
                        "with": {"message": "Transcript stored: {payload.title} ({payload.video_id})"},
                    },
                ],
            },
            {
                "name": "article-link",
                "on": "link.article",
                "from_plugin": "check_youtube",
                "steps": [
                    {"id": "read", "uses": "jina-reader", "baggage": {"link.url": "payload.url"}},
                    {
                        "id": "ping",
                        "uses": "chat_ping",
                        "if": {"path": "payload.truncated", "op": "neq", "value": True},
                        "with": {"message": "Read {context.link.url}"},
                    },
                ],
            },
        ]
        gw = gateways.start(plugins, pipelines, roots=list(impl.roots))
        answer = post(gw, "/plugin/check_youtube/handle", {"payload": {"url": "https://youtu.be/abc"}})
        assert answer.status_code == 202, answer.text
        video_root = answer.json()["job_id"]
        wait_settled(gw.db_path, at_least=3)
        answer = post(gw, "/plugin/check_youtube/handle", {"payload": {"url": "https://example.org/post"}})
        assert answer.status_code == 202, answer.text
        article_root = answer.json()["job_id"]
        done = wait_settled(gw.db_path, at_least=3 + 4)
        assert {j["status"] for j in done} == {"succeeded"}, [(j["plugin"], j["last_error"]) for j in done]

        [video_event] = rows(gw.db_path, "SELECT type FROM plugin_events WHERE job_id = ?", (video_root,))
        assert video_event["type"] == "link.video"
        [transcript] = jobs(gw.db_path, "plugin = 'youtube_transcript'")
        assert transcript["parent_job_id"] == video_root and transcript["pipeline"] == "video-link"
        [seen] = recorded(rec / "video").values()
        assert seen["event"]["type"] == "link.video"
        assert seen["event"]["payload"]["url"] == "https://youtu.be/abc"
        assert seen["event"]["payload"]["ductile_upstream_plugin"] == "check_youtube"

        [article_event] = rows(gw.db_path, "SELECT type FROM plugin_events WHERE job_id = ?", (article_root,))
        assert article_event["type"] == "link.article"
        [reader] = jobs(gw.db_path, "plugin = 'jina-reader'")
        assert reader["parent_job_id"] == article_root and reader["step_id"] == "read"
        [read_request] = recorded(rec / "reader").values()
        assert read_request["context"]["link"] == {"url": "https://example.org/post"}
        [switch] = jobs(gw.db_path, "step_id = 'ping__switch'")
        assert switch["plugin"] == "core.switch" and switch["parent_job_id"] == reader["job_id"]

        # the transcript event carries a title, which discord_notify (and ours) puts in bold above the text
        assert sorted(chat.messages) == ["**A talk**\nTranscript stored: A talk (abc)", "Read https://example.org/post"]


@pytest.mark.parametrize("impl", IMPLS)
def test_a_watched_table_change_starts_the_watch_pipeline_with_the_new_count(tmp_path, gateways, impl: Impl):
    """§10 scenario 21 with `row_watch` (our sqlite_change) scheduled every second."""
    db = tmp_path / "watched.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE t (x)")
    rec = tmp_path / "rec"
    plugins = {
        "sqlite_change": {
            "uses": impl("sqlite_change"),
            "config": {"db_path": str(db), "query": "select count(*) from t", "event_type": "rows.changed"},
            "schedules": [{"every": "1s"}],
        },
        "A": {"uses": "recorder", "config": {"record_dir": str(rec)}},
    }
    pipelines = [{"name": "watch", "on": "rows.changed", "from_plugin": "sqlite_change", "steps": [{"uses": "A"}]}]
    gw = gateways.start(plugins, pipelines, roots=list(impl.roots))

    def seen_count(count: str) -> dict | None:
        return next((r for r in recorded(rec).values() if r["event"]["payload"].get("result") == count), None)

    wait_for(lambda: seen_count("0"), timeout=30, message="the first poll's rows.changed (0 rows) to reach A")
    with sqlite3.connect(db) as con:
        con.execute("INSERT INTO t VALUES (1)")
    request = wait_for(lambda: seen_count("1"), timeout=30, message="rows.changed with result 1 to reach A")
    assert request["event"]["type"] == "rows.changed"
    assert request["event"]["payload"]["ductile_upstream_plugin"] == "sqlite_change"
    assert request["event"]["payload"]["previous_result"] == "0"
    assert request["context"]["ductile_pipeline"] == "watch"
    [a_job] = jobs(gw.db_path, "job_id = ?", (request["job_id"],))
    [poll] = jobs(gw.db_path, "job_id = ?", (a_job["parent_job_id"],))
    assert poll["plugin"] == "sqlite_change" and poll["command"] == "poll" and a_job["submitted_by"] == "route"
    fact_type = f"{impl('sqlite_change')}.snapshot"  # row_watch.snapshot, or the real sqlite_change.snapshot
    facts = rows(gw.db_path, "SELECT * FROM facts WHERE instance = 'sqlite_change' AND fact_type = ?", (fact_type,))
    assert "1" in {json.loads(f["data"])["last_result"] for f in facts}
    # only the two polls that saw a change started anything
    started = {j["parent_job_id"] for j in jobs(gw.db_path, "plugin = 'A'")}
    emitted = {
        r["job_id"] for r in rows(gw.db_path, "SELECT job_id FROM plugin_events WHERE instance = 'sqlite_change'")
    }
    assert started <= emitted and len(emitted) == 2


CALLER = """\
#!/usr/bin/env python3
# Like claude_harvest's poll: start the worker pipeline over the API and keep only the job id.
import json, sys, urllib.request
request = json.load(sys.stdin)
config = request["config"]
body = json.dumps({"payload": {"project": "p1", "cwd": "/tmp"}}).encode()
post = urllib.request.Request(
    config["api_url"] + "/pipeline/" + config["worker_pipeline"], data=body, method="POST",
    headers={"Authorization": "Bearer " + config["api_token"], "Content-Type": "application/json"},
)
with urllib.request.urlopen(post, timeout=10) as answer:
    reply = {"http_status": answer.status, "body": json.loads(answer.read())}
print(json.dumps({"status": "ok", "result": reply}))
"""


@pytest.mark.parametrize("impl", IMPLS)
def test_a_plugin_starts_a_worker_pipeline_over_the_api_with_a_plugin_rw_token(tmp_path, gateways, impl: Impl):
    """§10 scenario 22 and §1.5 Example C: the caller's job is not the pipeline's parent; the worker's
    result and baggage reach the announce step."""
    make_plugin(tmp_path / "extra", "caller", CALLER, commands=[{"name": "poll", "type": "write"}])
    rec = tmp_path / "rec"
    with chat_stub() as chat:
        gw = gateways.start(
            {
                "caller": {"schedules": [{"every": "1h"}]},  # `every` fires once at start, then hourly
                "harvest_worker": {
                    "uses": "recorder",
                    "config": {"record_dir": str(rec), "result": "harvested 3 sessions"},
                },
                "harvest_ping": {"uses": impl("discord_notify"), "config": {"webhook_url": chat.url}},
            },
            [
                {
                    "name": "harvest-project",
                    "on": "claude.harvest.project",
                    "steps": [
                        {"id": "harvest", "uses": "harvest_worker", "baggage": {"harvest.project": "payload.project"}},
                        {"id": "announce", "uses": "harvest_ping"},
                    ],
                }
            ],
            roots=[tmp_path / "extra", *impl.roots],
            edit=lambda config, url: config["plugins"]["caller"].update(
                config={"api_url": url, "api_token": RW_TOKEN, "worker_pipeline": "harvest-project"}
            ),
        )
        done = wait_settled(gw.db_path, at_least=3)
        by_plugin = {j["plugin"]: j for j in done}
        assert sorted(by_plugin) == ["caller", "harvest_ping", "harvest_worker"], [j["plugin"] for j in done]
        assert {j["status"] for j in done} == {"succeeded"}, [(j["plugin"], j["last_error"]) for j in done]
        reply = last_response(gw.db_path, by_plugin["caller"]["job_id"])["result"]
        assert reply["http_status"] == 202
        assert reply["body"]["job_id"] == by_plugin["harvest_worker"]["job_id"]
        worker, ping = by_plugin["harvest_worker"], by_plugin["harvest_ping"]
        assert worker["submitted_by"] == "api" and worker["parent_job_id"] is None
        assert ping["submitted_by"] == "route" and ping["parent_job_id"] == worker["job_id"]
        assert jobs(gw.db_path, "parent_job_id = ?", (by_plugin["caller"]["job_id"],)) == []
        [seen] = recorded(rec).values()
        assert seen["event"]["type"] == "claude.harvest.project"
        assert seen["event"]["payload"]["project"] == "p1"
        assert seen["context"]["harvest"] == {"project": "p1"}
        assert stored_payload(ping)["payload"]["result"] == "harvested 3 sessions"
        assert chat.messages == ["harvested 3 sessions"]
