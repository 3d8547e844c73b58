"""The pipeline test plugins (tests/plugins/) on their own, as processes fed one JSON request: the
acceptance tests trust them to behave like the ductile-plugins they stand in for, so check that here."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.acceptance.pipeline_rig import TEST_PLUGINS, chat_stub

needs_git = pytest.mark.skipif(
    shutil.which("git") is None and os.environ.get("CI") != "true", reason="git is not installed"
)


def run(plugin: str, request: dict[str, Any]) -> tuple[dict[str, Any], int]:
    entry = TEST_PLUGINS / plugin / "run.py"
    out = subprocess.run(
        [sys.executable, str(entry)], input=json.dumps(request) + "\n", capture_output=True, text=True, timeout=30
    )
    return json.loads(out.stdout), out.returncode


def test_recorder_records_the_request_and_answers_exactly_as_configured(tmp_path):
    config = {
        "record_dir": str(tmp_path / "rec"),
        "status": "error",
        "result": {"n": 1},
        "emit": [{"type": "t", "payload": {"a": 1}}],
        "retry": False,
        "exit_code": 3,
    }
    request = {"job_id": "j-1", "command": "handle", "config": config, "event": {"type": "x", "payload": {}}}
    reply, code = run("recorder", request)
    assert code == 3
    assert reply == {"status": "error", "result": {"n": 1}, "events": config["emit"], "retry": False, "error": "boom"}
    assert json.loads((tmp_path / "rec" / "j-1.json").read_text()) == request
    assert run("recorder", {"job_id": "j-2", "config": {}}) == (
        {"status": "ok", "result": "ok", "events": [], "retry": True, "error": "boom"},
        0,
    )


@needs_git
def test_git_mirror_clones_then_fetches_and_policy_tidy_updates_once(tmp_path):
    work, bare = tmp_path / "work", tmp_path / "src.git"
    subprocess.run(["git", "-c", "init.defaultBranch=main", "init", "-q", str(work)], check=True)
    (work / "a.txt").write_text("a\n")
    ident = ["-c", "user.name=t", "-c", "user.email=t@localhost"]
    subprocess.run(["git", "-C", str(work), "add", "."], check=True)
    subprocess.run(["git", "-C", str(work), *ident, "commit", "-qm", "one"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    payload = {"owner": "o", "repo_name": "r", "clone_url": str(bare), "clone_dir": str(tmp_path / "m")}
    request = {"command": "handle", "config": {}, "context": {}, "event": {"type": "x", "payload": payload}}

    first, _ = run("git_mirror", request)
    [event] = first["events"]
    assert first["status"] == "ok" and event["type"] == "git_repo_sync.completed"
    assert event["payload"]["action"] == "cloned" and event["payload"]["new_commits"] is True
    repo = tmp_path / "m" / "o" / "r"
    assert event["payload"]["path"] == str(repo) and (repo / "a.txt").exists()

    # a new upstream commit: the next fetch reports it and fast-forwards
    (work / "b.txt").write_text("b\n")
    subprocess.run(["git", "-C", str(work), "add", "."], check=True)
    subprocess.run(["git", "-C", str(work), *ident, "commit", "-qm", "two"], check=True)
    subprocess.run(["git", "-C", str(work), "push", "-q", str(bare), "main"], check=True)
    second, _ = run("git_mirror", request)
    moved = second["events"][0]["payload"]
    assert (moved["action"], moved["new_commits"], moved["commit_count"]) == ("fetched", True, 1)
    assert (repo / "b.txt").exists()
    third, _ = run("git_mirror", request)
    assert third["events"][0]["payload"]["new_commits"] is False

    tidy = {"command": "handle", "config": {"changelog_heading": "Notes"}, "event": {"payload": {"path": str(repo)}}}
    updated, _ = run("policy_tidy", tidy)
    assert updated["result"] == "repo_policy: updated README.md, CHANGELOG.md"
    assert updated["events"][0] == {
        "type": "repo_policy.completed",
        "payload": {
            "repo_path": str(repo),
            "repo_name": "r",
            "changed": True,
            "files_changed": ["README.md", "CHANGELOG.md"],
        },
    }
    assert "## Notes" in (repo / "README.md").read_text()
    status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True)
    assert status.stdout == ""  # committed
    again, _ = run("policy_tidy", tidy)
    assert again["result"] == "repo_policy: no changes" and again["events"][0]["payload"]["changed"] is False


def test_git_mirror_and_policy_tidy_refuse_missing_input_without_retry(tmp_path):
    reply, _ = run("git_mirror", {"command": "handle", "event": {"payload": {"owner": "o"}}})
    assert reply["status"] == "error" and reply["retry"] is False and "repo_name" in reply["error"]
    reply, _ = run("policy_tidy", {"command": "handle", "event": {"payload": {"path": str(tmp_path / "nope")}}})
    assert reply == {"status": "error", "error": f"repo path does not exist: {tmp_path / 'nope'}", "retry": False}


CHECKS = [
    {"contains": "youtube.com/watch", "emit": "link.video"},
    {"regex": r"https://youtu\.be/\w+", "emit": "link.video"},
    {"startswith": "mailto:", "emit": "link.mail"},
    {"default": "link.article"},
]


def classify(url: Any) -> str:
    """The expected event type, written independently of the plugin."""
    text = "" if url is None else str(url)
    if "youtube.com/watch" in text.casefold():
        return "link.video"
    if re.fullmatch(r"https://youtu\.be/\w+", text):
        return "link.video"
    if text.casefold().startswith("mailto:"):
        return "link.mail"
    return "link.article"


@settings(max_examples=40, deadline=None)
@given(
    url=st.one_of(
        st.none(),
        st.text(max_size=30),
        st.sampled_from(["https://YouTube.com/watch?v=1", "https://youtu.be/abc", "https://youtu.be/a b", "MAILTO:x"]),
    ),
    extra=st.dictionaries(st.sampled_from(["title", "n"]), st.integers(), max_size=2),
)
def test_link_check_emits_the_first_matching_type_with_the_payload_unchanged(url, extra):
    payload = {**extra, **({} if url is None else {"url": url})}
    request = {"command": "handle", "config": {"field": "payload.url", "checks": CHECKS}, "event": {"payload": payload}}
    reply, _ = run("link_check", request)
    assert reply["status"] == "ok"
    assert reply["events"] == [{"type": classify(url), "payload": payload}]


def test_link_check_without_a_default_fails_when_nothing_matches():
    config = {"field": "payload.url", "checks": [{"equals": "x", "emit": "t"}]}
    reply, _ = run("link_check", {"command": "handle", "config": config, "event": {"payload": {"url": "y"}}})
    assert reply == {"status": "error", "error": "no checks matched and no default provided", "retry": False}


def test_row_watch_emits_only_when_the_answer_changes(tmp_path):
    db = tmp_path / "w.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE t (x)")
    config = {"db_path": str(db), "query": "select count(*) from t", "event_type": "rows.changed"}
    first, _ = run("row_watch", {"command": "poll", "instance": "w", "config": config, "state": {}})
    assert [e["payload"]["result"] for e in first["events"]] == ["0"]
    assert first["state_updates"]["last_result"] == "0"
    same, _ = run("row_watch", {"command": "poll", "config": config, "state": first["state_updates"]})
    assert same["events"] == [] and same["result"] == "threshold not met (changed): 0"
    with sqlite3.connect(db) as con:
        con.execute("INSERT INTO t VALUES (1)")
    changed, _ = run("row_watch", {"command": "poll", "config": config, "state": same["state_updates"]})
    [event] = changed["events"]
    assert event["type"] == "rows.changed"
    assert (event["payload"]["result"], event["payload"]["previous_result"]) == ("1", "0")
    above, _ = run("row_watch", {"command": "poll", "config": {**config, "threshold_op": ">", "threshold_value": 5}})
    assert above["events"] == []


def test_chat_notify_posts_message_then_template_then_result():
    with chat_stub() as chat:
        base = {"webhook_url": chat.url, "message_template": "{plugin} {status}: {error} {nested.x}"}

        def send(payload: dict[str, Any], config: dict[str, Any] = base) -> dict[str, Any]:
            return run("chat_notify", {"command": "handle", "config": config, "event": {"payload": payload}})[0]

        assert send({"message": "hello", "plugin": "p"})["status"] == "ok"
        assert send({"plugin": "flaky", "status": "failed", "error": "boom", "nested": {"x": 1}})["status"] == "ok"
        assert send({"result": "harvested"}, {"webhook_url": chat.url})["status"] == "ok"
        assert send({"message": "body", "title": "Title"})["status"] == "ok"
        assert chat.messages == ["hello", "flaky failed: boom 1", "harvested", "**Title**\nbody"]
        assert send({}, {"webhook_url": chat.url}) == {
            "status": "error",
            "error": "nothing to send (no message, content, template or result)",
            "retry": False,
        }
    down = send({"message": "x"}, {"webhook_url": "http://127.0.0.1:9/closed"})
    assert down["status"] == "error" and down["retry"] is True


def test_every_fixture_plugin_has_a_loadable_manifest():
    from ductile.manifest import discover

    found = discover([TEST_PLUGINS])
    assert not found.problems
    assert {"recorder", "git_mirror", "policy_tidy", "row_watch", "link_check", "chat_notify"} <= set(found.plugins)
    assert found.plugins["row_watch"].manifest.fact_outputs[0].fact_type == "row_watch.snapshot"
