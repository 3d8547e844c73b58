"""POST to a `handle` command arrives at the plugin as an `api.trigger` event; a config holding
only `token_sha256` authenticates the token it hashes and nothing else."""

from __future__ import annotations

import hashlib

import httpx
from conftest import BUNDLED_PLUGINS, base_config, free_port, wait_for

HASHED = "only-the-hash-is-in-the-config-42"


def test_handle_payload_becomes_an_api_trigger_event_and_hashed_tokens_work(gateway_factory):
    config = base_config([BUNDLED_PLUGINS], {"echo": {}}, port=free_port())
    digest = hashlib.sha256(HASHED.encode()).hexdigest()
    config["api"]["auth"]["tokens"].append(
        {"name": "hashed", "token_sha256": digest, "scopes": ["plugin:rw", "jobs:ro"]}
    )
    gw = gateway_factory(config)
    assert HASHED not in (gw.config_dir / "config.yaml").read_text()

    with gw.client(HASHED) as api:
        posted = api.post("/plugin/echo/handle", json={"payload": {"order": 7782}})
        assert posted.status_code == 202, posted.text
        job_id = posted.json()["job_id"]
        job = wait_for(lambda: (j := api.get(f"/job/{job_id}").json())["status"] == "succeeded" and j)
        # the bundled echo plugin answers with the `event` it was given (context keys merged in, §4.2)
        assert job["result"]["result"] == {
            "handled": "api.trigger",
            "payload": {"order": 7782, "ductile_plugin": "echo"},
        }
        assert api.get("/plugin-state").status_code == 200  # plugin:rw implies plugin:ro

    with gw.client(digest) as api:  # the hash itself is not a token
        response = api.get("/jobs")
        assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    assert httpx.get(f"{gw.url}/jobs", headers={"Authorization": f"Bearer {HASHED}x"}).status_code == 401
