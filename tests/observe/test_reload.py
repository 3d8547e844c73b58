"""Reload against a real gateway process: the config file is edited on disk while jobs run, then
`POST /system/reload` (or SIGHUP, or `ductile system reload`) applies it.

Under load: a job running across the reload finishes normally with the plugin config it started
with; queued jobs of a removed instance end `dead` with the reason; an added instance and pipeline
take jobs, a removed pipeline is gone, a changed instance runs with its new config; jobs enqueued
continuously while the reload happens all succeed. An invalid config is refused (409, the same
problems `ductile config check` prints) and changes nothing.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from conftest import ADMIN_TOKEN, DUCTILE, base_config, enqueue, free_port, make_plugin, wait_for

pytestmark = pytest.mark.slow
READER = "reload-reader-token-0123456789"

# Answers with its own config, so a changed instance is visible in the result; with `wait` in its
# config it first waits for that file (a job that runs across the reload).
SCRIPT = """\
#!/usr/bin/env python3
import json, os, sys, time
request = json.load(sys.stdin)
config = request.get("config") or {}
flag = config.get("wait")
deadline = time.time() + 120
while flag and not os.path.exists(flag) and time.time() < deadline:
    time.sleep(0.05)
print(json.dumps({"status": "ok", "result": {"config": config, "instance": request.get("instance")}}))
"""


def setup(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    root, flag = tmp_path / "plugins", tmp_path / "release"
    make_plugin(root, "echo", SCRIPT)
    cfg = base_config(
        [root],
        {
            "slow": {"uses": "echo", "config": {"wait": str(flag)}},
            "doomed": {"uses": "echo", "config": {"wait": str(flag)}, "parallelism": 1},
            "quick": {"uses": "echo", "config": {"greeting": "v1"}},
        },
        port=free_port(),
        pipelines=[
            {"name": "old", "on": "start.old", "steps": [{"id": "a", "uses": "quick"}]},
            {"name": "route", "on": "start.route", "steps": [{"id": "a", "uses": "quick"}]},
        ],
    )
    cfg["service"]["max_workers"] = 4
    cfg["api"]["auth"]["tokens"].append({"name": "reader", "token": READER, "scopes": ["system:ro", "jobs:ro"]})
    return cfg, flag


def rewrite(gw: Any, cfg: dict[str, Any]) -> None:
    (gw.config_dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    return client.get(f"/job/{job_id}").json()


def settle(client: httpx.Client, ids: list[str], statuses: set[str], timeout: float = 60) -> list[dict[str, Any]]:
    def done() -> list[dict[str, Any]] | None:
        jobs = [job(client, j) for j in ids]
        return jobs if all(j["status"] in statuses for j in jobs) else None

    return wait_for(done, timeout=timeout, message=f"jobs {ids} to reach {statuses}")


class Load:
    """Enqueues `quick` jobs back to back on a thread until stopped: the reload happens under it."""

    def __init__(self, url: str):
        self.url, self.ids, self.errors = url, [], []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10) as c:
            while not self.stop.is_set():
                answer = c.post("/plugin/quick/poll", json={"payload": {}})
                if answer.status_code == 202:
                    self.ids.append(answer.json()["job_id"])
                else:
                    self.errors.append(answer.text)

    def __enter__(self) -> Load:
        self.thread.start()
        wait_for(lambda: len(self.ids) >= 5, message="load to start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)


def test_add_change_remove_instance_and_pipeline_under_load(tmp_path, gateway_factory):
    cfg, flag = setup(tmp_path)
    gw = gateway_factory(cfg)
    with gw.client() as client:
        slow = enqueue(gw.url, ADMIN_TOKEN, "slow", "poll")
        doomed = [enqueue(gw.url, ADMIN_TOKEN, "doomed", "poll") for _ in range(3)]
        wait_for(lambda: job(client, slow)["status"] == "running" and job(client, doomed[0])["status"] == "running")
        assert [job(client, d)["status"] for d in doomed[1:]] == ["queued", "queued"]  # parallelism 1

        new = json.loads(json.dumps(cfg))
        del new["plugins"]["doomed"]
        new["plugins"]["quick"]["config"] = {"greeting": "v2"}
        new["plugins"]["added"] = {"uses": "echo", "config": {"greeting": "new"}}
        new["pipelines"] = [
            {"name": "fresh", "on": "start.fresh", "steps": [{"id": "a", "uses": "added"}]},
            {"name": "route", "on": "start.route", "steps": [{"id": "b", "uses": "added"}]},
        ]
        rewrite(gw, new)
        with Load(gw.url) as load:
            answer = client.post("/system/reload")
            after = len(load.ids)
            wait_for(lambda: len(load.ids) >= after + 5, message="load to go on after the reload")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["reloaded"] is True and body["by"] == "api:admin"
        diff = body["diff"]
        assert diff["instances"] == {"added": ["added"], "changed": ["quick"], "removed": ["doomed"]}
        assert diff["pipelines"] == {"added": ["fresh"], "changed": ["route"], "removed": ["old"]}
        assert diff["needs_restart"] == [] and diff["unchanged"] is False
        assert body["failed_jobs"]["count"] == 2 and sorted(body["failed_jobs"]["job_ids"]) == sorted(doomed[1:])

        for ended in (job(client, d) for d in doomed[1:]):
            assert ended["status"] == "dead"
        detail = client.get(f"/job/{doomed[1]}/detail").json()
        assert "plugin instance 'doomed' was removed from the config by a config reload" in detail["last_error"]
        assert "(by api:admin)" in detail["last_error"]

        # the jobs running across the reload finish normally, with the config they started with
        assert job(client, slow)["status"] == "running" and job(client, doomed[0])["status"] == "running"
        flag.touch()
        for done in settle(client, [slow, doomed[0]], {"succeeded", "failed", "dead", "timed_out"}):
            assert done["status"] == "succeeded", done
            assert done["result"]["result"]["config"]["wait"] == str(flag)

        # everything enqueued while the reload happened succeeded: none lost, none failed
        assert load.errors == []
        finished = settle(client, load.ids, {"succeeded", "failed", "dead", "timed_out"}, timeout=120)
        assert {j["status"] for j in finished} == {"succeeded"}
        greetings = {j["result"]["result"]["config"]["greeting"] for j in finished}
        assert greetings <= {"v1", "v2"}  # old config before the swap, new after; nothing else
        assert finished[-1]["result"]["result"]["config"]["greeting"] == "v2"

        added = enqueue(gw.url, ADMIN_TOKEN, "added", "poll")
        [done] = settle(client, [added], {"succeeded"})
        assert done["result"]["result"]["config"] == {"greeting": "new"}
        gone = client.post("/plugin/doomed/poll", json={"payload": {}})
        assert gone.status_code == 400 and "plugin not found: 'doomed'" in gone.json()["error"], gone.text
        assert client.post("/pipeline/old?async=true", json={"payload": {}}).status_code == 404
        started = client.post("/pipeline/fresh?async=true", json={"payload": {}})
        assert started.status_code == 202, started.text
        [root] = settle(client, [started.json()["job_id"]], {"succeeded"})
        assert root["plugin"] == "added" and root["pipeline"] == "fresh"
        changed = client.post("/pipeline/route?async=true", json={"payload": {}})
        [step] = settle(client, [changed.json()["job_id"]], {"succeeded"})
        assert (step["plugin"], step["pipeline"], step["step_id"]) == ("added", "route", "b")  # the new definition
        names = {p["name"] for p in client.get("/plugins").json()["plugins"]}
        assert names == {"slow", "quick", "added"}

    records = [r for r in gw.log_records() if r.get("msg") == "config reloaded"]
    assert len(records) == 1
    assert records[0]["instances_removed"] == ["doomed"] and records[0]["pipelines_added"] == ["fresh"]
    assert records[0]["failed_jobs"] == 2


def test_invalid_config_is_refused_with_409_and_changes_nothing(tmp_path, gateway_factory):
    cfg, flag = setup(tmp_path)
    flag.touch()
    gw = gateway_factory(cfg)
    bad = json.loads(json.dumps(cfg))
    del bad["plugins"]["quick"]  # would be a change, if the rest were valid
    bad["plugins"]["typo"] = {"uses": "nope"}
    bad["plugins"]["slow"]["schedules"] = [{"every": "1h"}, {"every": "2h"}]
    rewrite(gw, bad)
    checked = subprocess.run(
        [DUCTILE, "config", "check", "--config", str(gw.config_dir)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode != 0
    with gw.client() as client:
        before = client.get("/plugins").json()
        dry = client.post("/system/reload?dry_run=true")
        answer = client.post("/system/reload")
        assert dry.status_code == answer.status_code == 409, answer.text
        body = answer.json()
        # unknown plugin, the duplicate schedule id, and two pipelines naming the removed `quick`
        assert body["error"].startswith("reload refused, nothing was changed: 4 problem(s)")
        assert len(body["problems"]) == 4 and "4 problem(s) found" in checked.stdout + checked.stderr
        for problem in body["problems"]:  # the very lines `ductile config check` prints
            assert problem in checked.stdout + checked.stderr
        assert any("unknown plugin 'nope'" in p for p in body["problems"])
        assert client.get("/plugins").json() == before
        quick = enqueue(gw.url, ADMIN_TOKEN, "quick", "poll")
        [done] = settle(client, [quick], {"succeeded"})
        assert done["result"]["result"]["config"] == {"greeting": "v1"}
        assert client.post("/pipeline/old?async=true", json={"payload": {}}).status_code == 202
    assert not [r for r in gw.log_records() if r.get("msg") == "config reloaded"]


def test_sighup_reloads_and_an_invalid_config_on_sighup_keeps_running(tmp_path, gateway_factory):
    cfg, flag = setup(tmp_path)
    flag.touch()
    gw = gateway_factory(cfg)
    new = json.loads(json.dumps(cfg))
    new["plugins"]["hup"] = {"uses": "echo"}
    rewrite(gw, new)
    assert gw.proc is not None
    gw.proc.send_signal(signal.SIGHUP)
    with gw.client() as client:

        def listed() -> set[str]:
            return {p["name"] for p in client.get("/plugins").json()["plugins"]}

        wait_for(lambda: "hup" in listed(), message="SIGHUP to add the instance")
        reloaded = [r for r in gw.log_records() if r.get("msg") == "config reloaded"]
        assert reloaded[0]["by"] == "SIGHUP" and reloaded[0]["instances_added"] == ["hup"]

        broken = json.loads(json.dumps(new))
        broken["plugins"]["hup"] = {"uses": "missing"}
        del broken["plugins"]["quick"]
        rewrite(gw, broken)
        gw.proc.send_signal(signal.SIGHUP)
        wait_for(
            lambda: any(r.get("msg") == "SIGHUP reload refused; running config unchanged" for r in gw.log_records()),
            message="the refused SIGHUP reload to be logged",
        )
        problems = [r["msg"] for r in gw.log_records() if r.get("level") == "error"]
        assert any("unknown plugin 'missing'" in p for p in problems)
        assert gw.proc.poll() is None
        assert client.get("/healthz").json()["status"] == "ok"
        assert listed() == {"slow", "doomed", "quick", "hup"}
        [done] = settle(client, [enqueue(gw.url, ADMIN_TOKEN, "quick", "poll")], {"succeeded"})
        assert done["status"] == "succeeded"


def test_reload_needs_system_rw(tmp_path, gateway_factory):
    cfg, flag = setup(tmp_path)
    flag.touch()
    gw = gateway_factory(cfg)
    rewrite(gw, {**cfg, "plugins": {"quick": cfg["plugins"]["quick"]}})
    refused = httpx.post(f"{gw.url}/system/reload", headers={"Authorization": f"Bearer {READER}"}, timeout=30)
    assert refused.status_code == 403
    assert "lacks scope 'system:rw'" in refused.json()["error"]
    assert httpx.post(f"{gw.url}/system/reload", timeout=30).status_code == 401
    with gw.client() as client:
        assert len(client.get("/plugins").json()["plugins"]) == 3  # nothing reloaded
        bad = client.post("/system/reload?dry_run=maybe")
        assert bad.status_code == 400 and "dry_run" in bad.json()["error"]


def test_schedules_added_changed_removed_and_unchanged_slots_kept(tmp_path, gateway_factory):
    cfg, flag = setup(tmp_path)
    flag.touch()
    cfg["plugins"]["quick"]["schedules"] = [
        {"id": "keep", "every": "1h"},
        {"id": "change", "every": "2h"},
        {"id": "drop", "every": "3h"},
    ]
    gw = gateway_factory(cfg)
    with gw.client() as client:

        def schedules() -> dict[str, dict[str, Any]]:
            return {s["schedule_id"]: s for s in client.get("/schedules").json()["schedules"]}

        before = schedules()
        new = json.loads(json.dumps(cfg))
        new["plugins"]["quick"]["schedules"] = [
            {"id": "keep", "every": "1h"},
            {"id": "change", "every": "30m"},
            {"id": "born", "every": "4h"},
        ]
        rewrite(gw, new)
        dry = client.post("/system/reload?dry_run=true").json()
        assert dry["reloaded"] is False and dry["diff"]["schedules"] == {
            "added": ["quick/born"],
            "changed": ["quick/change"],
            "removed": ["quick/drop"],
        }
        assert schedules().keys() == before.keys()  # a dry run changes nothing
        body = client.post("/system/reload").json()
        assert body["diff"]["schedules"] == dry["diff"]["schedules"]
        assert body["diff"]["instances"]["changed"] == []  # only its schedules changed
        after = schedules()
        assert set(after) == {"keep", "change", "born"}
        assert after["keep"]["next_slot"] == before["keep"]["next_slot"]  # the same slot: no double fire
        assert after["keep"]["next_due"] == before["keep"]["next_due"]
        assert after["change"]["spec"] != before["change"]["spec"]
        assert after["change"]["next_slot"] != before["change"]["next_slot"]
        assert after["born"]["next_due"] is not None


def test_settings_bound_at_start_need_a_restart_and_another_database_is_refused(tmp_path, gateway_factory):
    cfg, flag = setup(tmp_path)
    flag.touch()
    gw = gateway_factory(cfg)
    moved = json.loads(json.dumps(cfg))
    moved["api"]["listen"] = f"127.0.0.1:{free_port()}"
    moved["service"]["dedupe_ttl"] = "1h"
    moved["api"]["auth"]["tokens"].append({"name": "late", "token": "late-token-0123456789", "scopes": ["*"]})
    rewrite(gw, moved)
    with gw.client() as client:
        body = client.post("/system/reload").json()
        assert body["diff"]["needs_restart"] == ["api.listen"]
        assert body["diff"]["settings"]["changed"] == ["service.dedupe_ttl"]
        assert body["diff"]["tokens"] == {"added": ["late"], "changed": [], "removed": []}
        assert "late-token" not in json.dumps(body)
        late = httpx.get(f"{gw.url}/plugins", headers={"Authorization": "Bearer late-token-0123456789"}, timeout=10)
        assert late.status_code == 200  # a new token works at once, on the listener that keeps running
        again = client.post("/system/reload?dry_run=true").json()
        assert again["diff"]["needs_restart"] == ["api.listen"]  # still pending until a restart

        elsewhere = json.loads(json.dumps(moved))
        elsewhere["database"]["path"] = "./other/ductile.db"
        rewrite(gw, elsewhere)
        refused = client.post("/system/reload")
        assert refused.status_code == 409
        assert refused.json()["problems"] == [
            "database.path changed: a reload cannot move a running gateway to another database "
            "(restart it to use the new one, or put the old value back)"
        ]


def test_cli_system_reload(tmp_path, gateway_factory):
    cfg, flag = setup(tmp_path)
    flag.touch()
    gw = gateway_factory(cfg)
    new = json.loads(json.dumps(cfg))
    del new["plugins"]["doomed"]
    rewrite(gw, new)
    base = [DUCTILE, "system", "reload", "--api-url", gw.url]

    def run(*args: str, token: str = ADMIN_TOKEN) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, "--token", token, *args], capture_output=True, text=True, timeout=60)

    dry = run("--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["diff"]["instances"]["removed"] == ["doomed"]
    done = run()
    assert done.returncode == 0, done.stderr
    assert "reloaded" in done.stdout and "instances: removed doomed" in done.stdout
    refused = run(token=READER)
    assert refused.returncode == 1 and "system:rw" in refused.stderr
    broken = json.loads(json.dumps(new))
    broken["plugins"]["quick"]["uses"] = "nope"
    rewrite(gw, broken)
    bad = run()
    assert bad.returncode == 1
    assert "unknown plugin 'nope'" in bad.stderr and "nothing was changed" in bad.stderr


def test_concurrent_reloads_are_serialized(tmp_path, gateway_factory):
    cfg, flag = setup(tmp_path)
    flag.touch()
    gw = gateway_factory(cfg)
    new = json.loads(json.dumps(cfg))
    new["plugins"]["extra"] = {"uses": "echo"}
    rewrite(gw, new)
    answers: list[dict[str, Any]] = []
    barrier = threading.Barrier(3)

    def reload() -> None:
        with gw.client() as client:
            barrier.wait()
            answers.append(client.post("/system/reload").json())

    threads = [threading.Thread(target=reload) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    added = sorted(len(a["diff"]["instances"]["added"]) for a in answers)
    assert added == [0, 0, 1]  # one applied it; the others ran after it and found nothing to do
    assert sum(a["diff"]["unchanged"] for a in answers) == 2


def test_webhook_endpoints_follow_a_reload_on_the_running_listener(tmp_path, gateway_factory, monkeypatch):
    import hashlib
    import hmac

    monkeypatch.setenv("RELOAD_HOOK_SECRET", "hook-secret-0123")
    cfg, flag = setup(tmp_path)
    flag.touch()
    port = free_port()

    def hook(path: str) -> dict[str, Any]:
        return {"path": path, "plugin": "quick", "secret_ref": "env:RELOAD_HOOK_SECRET", "signature_header": "X-Sig"}

    cfg["webhooks"] = {"listen": f"127.0.0.1:{port}", "endpoints": [hook("/hook/a")]}
    gw = gateway_factory(cfg)

    def deliver(path: str) -> int:
        body = b'{"n": 1}'
        signature = "sha256=" + hmac.new(b"hook-secret-0123", body, hashlib.sha256).hexdigest()
        answer = httpx.post(f"http://127.0.0.1:{port}{path}", content=body, headers={"X-Sig": signature}, timeout=15)
        return answer.status_code

    assert deliver("/hook/a") == 202
    new = json.loads(json.dumps(cfg))
    new["webhooks"]["endpoints"] = [hook("/hook/b")]
    rewrite(gw, new)
    with gw.client() as client:
        body = client.post("/system/reload").json()
    assert body["diff"]["webhooks"] == {"added": ["/hook/b"], "changed": [], "removed": ["/hook/a"]}
    assert body["diff"]["needs_restart"] == []
    assert deliver("/hook/a") == 404
    assert deliver("/hook/b") == 202
