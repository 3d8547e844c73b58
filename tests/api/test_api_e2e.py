"""End to end: the quickstart config (bundled plugins, schedules) under `ductile system start`,
then the seed card's question answered over HTTP: is `poll:withings` running on schedule?"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from conftest import BUNDLED_PLUGINS, REPO, GatewayProcess, free_port, quickstart_script, wait_for, write_config


@pytest.fixture
def quickstart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    config = yaml.safe_load((REPO / "examples" / "quickstart" / "config.yaml").read_text())
    config["plugin_roots"] = [str(BUNDLED_PLUGINS)]
    for instance in config["plugins"].values():  # same shape, faster cadence
        for schedule in instance.get("schedules", []):
            schedule["every"] = "1s"
            schedule.pop("jitter", None)
    port = free_port()
    monkeypatch.setenv("DUCTILE_TOKEN", "e2e-admin-token-0123456789")
    monkeypatch.setenv("DUCTILE_LISTEN", f"127.0.0.1:{port}")
    directory = tmp_path / "quickstart"
    write_config(directory, config)
    # What `make run` does before starting: generate the tokens the config includes.
    tokens = quickstart_script().ensure_tokens(directory, {"DUCTILE_TOKEN": "e2e-admin-token-0123456789"})
    gw = GatewayProcess(directory, port=port, token=tokens["admin"]).start()
    gw.readonly_token = tokens["readonly"]  # type: ignore[attr-defined]
    yield gw
    gw.stop()


def test_scheduled_jobs_listed_newest_first(quickstart: Any) -> None:
    with quickstart.client() as api:
        wait_for(
            lambda: (
                api.get("/jobs", params={"plugin": "withings", "command": "poll", "status": "ok"}).json()["total"] >= 2
            ),
            timeout=30,
            message="two successful withings polls",
        )
        body = api.get("/jobs", params={"limit": 200}).json()
        created = [j["created_at"] for j in body["jobs"]]
        assert created == sorted(created, reverse=True)
        assert {j["plugin"] for j in body["jobs"]} >= {"echo", "withings"}
        assert body["total"] >= len(body["jobs"])

        withings = api.get("/jobs", params={"plugin": "withings", "command": "poll", "status": "ok"}).json()
        assert all(j["plugin"] == "withings" and j["status"] == "succeeded" for j in withings["jobs"])
        newest = api.get(f"/job/{withings['jobs'][0]['job_id']}").json()
        assert newest["submitted_by"] == "scheduler" and "result" in newest

    # The generated read-only token can list but not run write commands.
    ro = httpx.Client(base_url=quickstart.url, headers={"Authorization": f"Bearer {quickstart.readonly_token}"})
    with ro:
        assert ro.get("/jobs", params={"limit": 1}).status_code == 200
        assert ro.post("/plugin/echo/say", json={"payload": {"text": "hi"}}).status_code == 403
