"""Webhooks feeding pipelines and hooks with real plugin processes (spec pipelines.md §10
scenarios 17 and 18, §7.5 "events the plugin emits are routed like any root job's").

`[ours]` runs our look-alikes (tests/plugins/cmd_runner, link_check); `[real]` runs the real
`astro_rebuild_staging` and `check_youtube` from an export of ductile-plugins
(DUCTILE_PLUGINS_DIR=<dir>, opt-in)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ADMIN_TOKEN

from ductile.monitor.client import MonitorClient
from tests.acceptance.pipeline_rig import (
    IMPLS,
    Gateways,
    Impl,
    jobs,
    recorded,
    recorder,
    rows,
    stored_payload,
    wait_settled,
)
from tests.api.sse_helpers import collect
from tests.webhooks.rig import HookGateway, endpoint, sign, start

pytestmark = pytest.mark.slow


def emitted(hook: HookGateway, job_id: str) -> list[dict[str, Any]]:
    return [
        {"type": r["type"], "payload": json.loads(r["payload"])}
        for r in rows(hook.db, "SELECT type, payload FROM plugin_events WHERE job_id = ? ORDER BY id", (job_id,))
    ]


def tree(hook: HookGateway, job_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{hook.gw.url}/job/{job_id}/tree", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=15
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_webhook_job_emits_a_pipeline_runs_and_a_hook_fires(tmp_path: Path, gateways: Gateways) -> None:
    """webhook → `gh` (root job, notify_on_complete) emits push.received → pipeline `build-on-push`
    step B (route) → hook pipeline `on-hook: job.completed, from_plugin: gh` → N (hook)."""
    rec = tmp_path / "rec"
    plugins = {
        "gh": {
            **recorder(rec / "gh", emit=[{"type": "push.received", "payload": {"repo": "octo/r"}}], result="seen"),
            "notify_on_complete": True,
        },
        "B": recorder(rec / "B"),
        "N": recorder(rec / "N"),
    }
    pipelines = [
        {"name": "build-on-push", "on": "push.received", "from_plugin": "gh", "steps": [{"id": "build", "uses": "B"}]},
        {"name": "tell", "on-hook": "job.completed", "from_plugin": "gh", "steps": [{"uses": "N"}]},
    ]
    hook = start(
        gateways,
        plugins,
        [endpoint("/webhook/github", "gh", signature_header="X-Hub-Signature-256")],
        pipelines=pipelines,
    )
    body = b'{"ref":"refs/heads/main"}'
    answer = hook.post("/webhook/github", body, {"X-Hub-Signature-256": sign(body)})
    assert answer.status_code == 202, answer.text
    root = answer.json()["job_id"]
    done = {j["plugin"]: j for j in wait_settled(hook.db, at_least=3)}
    assert set(done) == {"gh", "B", "N"} and all(j["status"] == "succeeded" for j in done.values())
    assert done["gh"]["job_id"] == root and done["gh"]["submitted_by"] == "webhook:/webhook/github"
    assert (done["B"]["parent_job_id"], done["B"]["submitted_by"], done["B"]["pipeline"]) == (
        root,
        "route",
        "build-on-push",
    )
    assert (done["N"]["parent_job_id"], done["N"]["submitted_by"]) == (root, "hook")
    assert [(i["job_id"], i["plugin"]) for i in tree(hook, root)] == [
        (root, "gh"),
        *sorted([(done["B"]["job_id"], "B"), (done["N"]["job_id"], "N")], key=lambda p: done[p[1]]["created_at"]),
    ]
    b_event = recorded(rec / "B")[done["B"]["job_id"]]["event"]
    assert b_event["type"] == "push.received"
    assert {"repo": "octo/r", "result": "seen", "ductile_upstream_plugin": "gh"}.items() <= b_event["payload"].items()
    n_event = recorded(rec / "N")[done["N"]["job_id"]]["event"]
    assert n_event["type"] == "job.completed"
    assert {"job_id": root, "plugin": "gh", "command": "handle", "status": "succeeded", "result": "seen"}.items() <= (
        n_event["payload"].items()
    )
    gh_request = recorded(rec / "gh")[root]
    assert gh_request["event"]["payload"]["ref"] == "refs/heads/main"  # raw promotion of the body

    async def queued_events() -> list[Any]:  # /events replays from the start with Last-Event-ID: 0
        client = MonitorClient(hook.gw.url, ADMIN_TOKEN)
        try:
            return await collect(
                client,
                lambda seen: any(e.type == "job.queued" and e.data.get("data", {}).get("job_id") == root for e in seen),
                last_id=0,
            )
        finally:
            await client.aclose()

    [announced] = [
        e
        for e in asyncio.run(queued_events())
        if e.type == "job.queued" and e.data.get("data", {}).get("job_id") == root
    ]
    assert (announced.data["data"]["plugin"], announced.data["data"]["submitted_by"]) == (
        "gh",
        "webhook:/webhook/github",
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_scenario_17_a_signed_webhook_runs_the_site_rebuild(tmp_path: Path, gateways: Gateways, impl: Impl) -> None:
    """§10 #17: astro_rebuild_staging (`printf ok`, event_type site.rebuilt) behind /hooks/site."""
    rec = tmp_path / "rec"
    plugins = {
        "astro_rebuild_staging": {
            "uses": impl("astro_rebuild_staging"),
            "config": {"command": "printf ok", "event_type": "site.rebuilt"},
        },
        # the same plugin echoing payload.title, to see what event.payload the plugin got
        "site_title": {
            "uses": impl("astro_rebuild_staging"),
            "config": {"command": "printf %s $DUCTILE_PAYLOAD_TITLE", "event_type": "site.titled"},
        },
        "R": recorder(rec),
    }
    pipelines = [{"name": "after-rebuild", "on": "site.rebuilt", "steps": [{"uses": "R"}]}]
    hook = start(
        gateways,
        plugins,
        [
            endpoint("/hooks/site", "astro_rebuild_staging", max_body_size=64),
            endpoint("/hooks/title", "site_title", max_body_size=64),
        ],
        pipelines=pipelines,
        roots=list(impl.roots),
    )
    body = b'{"title":"t"}'
    digest = sign(body, prefix=False)
    first = hook.post("/hooks/site", body, {"X-Sig": f"sha256={digest}"})
    second = hook.post("/hooks/site", body, {"X-Sig": digest})
    assert [first.status_code, second.status_code] == [202, 202]
    assert set(first.json()) == set(second.json()) == {"job_id"}
    bad = hook.post("/hooks/site", body, {"X-Sig": sign(body, "wrong")})
    assert (bad.status_code, bad.json()) == (403, {"error": "forbidden"})
    none = hook.post("/hooks/site", body)
    assert (none.status_code, none.json()) == (403, {"error": "forbidden"})
    big = b'{"title":"' + b"t" * 53 + b'"}'
    assert len(big) == 65
    large = hook.post("/hooks/site", big, {"X-Sig": sign(big)})
    assert (large.status_code, large.json()) == (413, {"error": "payload too large"})
    assert hook.post("/hooks/other", body, {"X-Sig": digest}).status_code == 404
    assert httpx.get(f"{hook.url}/hooks/site", timeout=15).status_code == 405
    titled = hook.post("/hooks/title", body, {"X-Sig": digest})
    assert titled.status_code == 202

    done = {j["job_id"]: j for j in wait_settled(hook.db, at_least=5)}
    for answer in (first, second):
        job = done[answer.json()["job_id"]]
        assert (job["plugin"], job["status"], job["submitted_by"]) == (
            "astro_rebuild_staging",
            "succeeded",
            "webhook:/hooks/site",
        )
        assert job["payload"] == body.decode()  # the exact body bytes
        [event] = emitted(hook, job["job_id"])
        assert event["type"] == "site.rebuilt" and event["payload"]["stdout"] == "ok"
        assert event["payload"]["exit_code"] == 0
    [title_event] = emitted(hook, titled.json()["job_id"])
    assert title_event["payload"]["stdout"] == "t"  # the plugin's event.payload.title
    followers = [j for j in done.values() if j["plugin"] == "R"]
    assert sorted(j["parent_job_id"] for j in followers) == sorted([first.json()["job_id"], second.json()["job_id"]])
    assert len(done) == 5


@pytest.mark.parametrize("impl", IMPLS)
def test_scenario_18_links_shared_by_webhook_are_classified(tmp_path: Path, gateways: Gateways, impl: Impl) -> None:
    """§10 #18: Example B behind the webhook; video-link's steps replaced by recorder V."""
    rec = tmp_path / "rec"
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
        "V": recorder(rec / "V"),
        "A": recorder(rec / "A"),
    }
    pipelines = [
        {"name": "video-link", "on": "link.video", "from_plugin": "check_youtube", "steps": [{"uses": "V"}]},
        {"name": "article-link", "on": "link.article", "from_plugin": "check_youtube", "steps": [{"uses": "A"}]},
    ]
    hook = start(
        gateways,
        plugins,
        [endpoint("/hooks/site", "check_youtube", max_body_size=64)],
        pipelines=pipelines,
        roots=list(impl.roots),
    )
    video = hook.signed("/hooks/site", b'{"url":"https://youtu.be/abc"}')
    assert video.status_code == 202, video.text
    wait_settled(hook.db, at_least=2)
    typed = hook.signed("/hooks/site", b'{"type":"x","url":"u"}')
    assert typed.status_code == 202, typed.text
    done = {j["job_id"]: j for j in wait_settled(hook.db, at_least=4)}

    classifier = video.json()["job_id"]
    assert done[classifier]["status"] == "succeeded"
    assert [e["type"] for e in emitted(hook, classifier)] == ["link.video"]
    [v_job] = [j for j in done.values() if j["plugin"] == "V"]
    assert (v_job["pipeline"], v_job["parent_job_id"]) == ("video-link", classifier)
    assert recorded(rec / "V")[v_job["job_id"]]["event"]["payload"]["url"] == "https://youtu.be/abc"

    second = typed.json()["job_id"]
    [event] = emitted(hook, second)
    assert event["type"] == "link.article"  # the `default` branch: the url never reached the plugin
    # event.payload was {} + the context keys (plus the `result` routing adds, §3.1)
    assert {k: v for k, v in event["payload"].items() if k != "result"} == {"ductile_plugin": "check_youtube"}
    [a_job] = [j for j in done.values() if j["plugin"] == "A"]
    assert (a_job["pipeline"], a_job["parent_job_id"]) == ("article-link", second)
    assert stored_payload(done[second]) == {"type": "x", "url": "u"}
    assert len(jobs(hook.db)) == 4
