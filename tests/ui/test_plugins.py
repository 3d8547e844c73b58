"""The Plugins and state page: manifests, commands with their schemas, the instance's config and
its persisted state — config and state redacted by the one rule (`ductile.redact`), the page
refused (403 naming `plugin:catalog:ro`) to a token the API would refuse too. Real gateway with a
real plugin process that keeps a credential in its state, real Chromium."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import ADMIN_TOKEN, GatewayProcess, make_plugin

from ui import rig

CONFIG_SECRET = "cfg-api-key-5d1c0ffee"
STATE_SECRET = "state-password-9b7e1d"
TOKEN_SECRET = "refresh-tok-42aa17"

VAULT = f"""\
#!/usr/bin/env python3
import json, sys
req = json.load(sys.stdin)
print(json.dumps({{
    "status": "ok",
    "result": {{"items": []}},
    "state_updates": {{
        "cursor": 42,
        "password": "{STATE_SECRET}",
        "login": {{"refresh_token": "{TOKEN_SECRET}", "expires": "2030-01-01"}},
    }},
}}))
"""
VAULT_COMMANDS = [
    {
        "name": "fetch",
        "type": "read",
        "description": "Fetch new items from the vault",
        "idempotent": True,
        "input_schema": {
            "type": "object",
            "required": ["limit"],
            "properties": {
                "since": {"type": "string", "format": "date-time", "description": "only items after this"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 100, "description": "at most this many"},
                "mode": {"enum": ["fast", "full"]},
            },
        },
        "output_schema": {"items": "array"},  # the compact form, expanded for display
    },
    {"name": "purge", "type": "write", "description": "Delete everything fetched so far"},
]


@pytest.fixture(scope="module")
def vault_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    rig.browser_ready()
    root = tmp_path_factory.mktemp("ui-plugins")
    make_plugin(root / "plugins", "vault", VAULT, commands=VAULT_COMMANDS, extra={"description": "A test vault"})
    gw = rig.start_ui_gateway(
        root,
        plugins={
            "work": {},
            "vault": {
                "config": {"api_key": CONFIG_SECRET, "region": "eu-west"},
                "schedules": [{"id": "hourly", "every": "1h", "command": "fetch", "payload": {"limit": 5}}],
            },
        },
    )
    try:
        job = httpx.post(
            f"{gw.url}/plugin/vault/fetch",
            json={"payload": {"limit": 3}},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=10,
        ).json()["job_id"]
        deadline = time.monotonic() + 60  # a deadline for a loaded box, not a speed check
        while rig.job_status(gw, job) not in ("succeeded", "failed", "dead") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert rig.job_status(gw, job) == "succeeded", gw.log()[-2000:]
        yield gw
    finally:
        gw.stop()


@pytest.fixture
def signed_in(browser: Any, vault_gateway: GatewayProcess) -> Iterator[Any]:
    contexts: list[Any] = []

    def make(role: str = "admin", width: int = 1280, height: int = 900, **options: Any) -> Any:
        context = browser.new_context(
            base_url=vault_gateway.url, viewport={"width": width, "height": height}, **options
        )
        context.set_default_timeout(20_000)
        contexts.append(context)
        return rig.login(context.new_page(), vault_gateway, role)

    yield make
    for context in contexts:
        context.close()


def test_list_shows_every_instance_with_its_commands(signed_in: Any) -> None:
    page = signed_in()
    response = page.goto("/ui/plugins")
    assert response is not None and response.status == 200
    table = page.get_by_role("table", name="Plugin instances")
    vault_row = table.get_by_role("row").filter(has_text="vault")
    assert "fetch" in vault_row.inner_text() and "purge" in vault_row.inner_text()
    assert "A test vault" in vault_row.inner_text()
    assert table.get_by_role("link", name="work").is_visible()
    assert page.locator('nav a[aria-current="page"]').inner_text() == "Plugins"
    vault_row.get_by_role("link", name="vault").click()
    page.wait_for_url("**/ui/plugins/vault")
    assert page.get_by_role("heading", level=1).inner_text() == "vault"


def test_detail_shows_commands_types_and_schemas(signed_in: Any) -> None:
    page = signed_in()
    page.goto("/ui/plugins/vault")
    fetch = page.locator("#command-fetch")
    assert "Fetch new items from the vault" in fetch.inner_text()
    assert fetch.locator(".kind").inner_text() == "read"
    assert page.locator("#command-purge .kind").inner_text() == "write"
    # the input schema as a field table: names, types, required, descriptions, constraints
    fields = fetch.get_by_role("table", name="Input of fetch")
    limit = fields.get_by_role("row").filter(has_text="limit")
    assert "integer" in limit.inner_text() and "required" in limit.inner_text()
    assert "minimum 1" in limit.inner_text() and "at most this many" in limit.inner_text()
    since = fields.get_by_role("row").filter(has_text="since")
    assert "optional" in since.inner_text() and "date-time" in since.inner_text()
    assert '"fast"' in fields.get_by_role("row").filter(has_text="mode").inner_text()
    # the compact output schema, expanded: a table and the exact JSON behind a disclosure
    assert "array" in fetch.get_by_role("table", name="Output of fetch").inner_text()
    json_block = fetch.locator("details pre").first
    assert not json_block.is_visible()
    fetch.get_by_text("Input schema (JSON)").click()
    assert json.loads(json_block.inner_text())["required"] == ["limit"]
    # no schema: said in words, not an empty box
    assert "no input schema" in page.locator("#command-purge").inner_text()
    # schedules of the instance
    schedules = page.get_by_role("table", name="Schedules of vault").inner_text()
    assert "hourly" in schedules and "every 1h" in schedules


def test_config_and_state_are_redacted_like_the_api(signed_in: Any, vault_gateway: GatewayProcess) -> None:
    page = signed_in()
    page.goto("/ui/plugins/vault")
    html = page.content()
    for secret in (CONFIG_SECRET, STATE_SECRET, TOKEN_SECRET):
        assert secret not in html
    config = json.loads(page.get_by_label("Instance config of vault, redacted").inner_text())
    assert config["config"] == {"api_key": "***", "region": "eu-west"}
    state = json.loads(page.locator("#plugin-state").inner_text())
    assert state["cursor"] == 42 and state["password"] == "***"
    assert state["login"] == {"refresh_token": "***", "expires": "2030-01-01"}
    # exactly what the API shows the same token
    api = httpx.get(
        f"{vault_gateway.url}/plugin-state?plugin=vault", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
    ).json()
    assert state == api["states"]["vault"]


def test_token_without_catalog_scope_gets_the_403_page(signed_in: Any, vault_gateway: GatewayProcess) -> None:
    page = signed_in("blind")  # jobs:status:ro only; GET /plugin-state refuses it as well
    api = httpx.get(
        f"{vault_gateway.url}/plugin-state",
        headers={"Authorization": f"Bearer {rig.TOKENS['blind'][0]}"},
        timeout=10,
    )
    assert api.status_code == 403
    for path in ("/ui/plugins", "/ui/plugins/vault"):
        response = page.goto(path)
        assert response is not None and response.status == 403
        assert "plugin:catalog:ro" in page.get_by_role("alert").inner_text()
        assert STATE_SECRET not in page.content() and "cursor" not in page.content()


def test_viewer_scope_reads_the_page(signed_in: Any) -> None:
    page = signed_in("viewer")  # plugin:ro includes plugin:catalog:ro
    response = page.goto("/ui/plugins/vault")
    assert response is not None and response.status == 200


def test_unknown_plugin_is_a_404_naming_the_known_ones(signed_in: Any) -> None:
    page = signed_in()
    response = page.goto("/ui/plugins/nope")
    assert response is not None and response.status == 404
    alert = page.get_by_role("alert").inner_text()
    assert "'nope'" in alert and "vault" in alert and "work" in alert


@pytest.mark.parametrize("path", ["/ui/plugins", "/ui/plugins/vault"])
def test_no_serious_accessibility_violations(signed_in: Any, path: str) -> None:
    page = signed_in()
    page.goto(path)
    for details in page.locator("details").all():
        details.locator("summary").click()  # the schema JSON too, not only what shows at first
    assert rig.axe_problems(page) == []


@pytest.mark.parametrize("path", ["/ui/plugins", "/ui/plugins/vault"])
def test_phone_width_has_no_horizontal_scroll(signed_in: Any, path: str) -> None:
    page = signed_in(width=390, height=844, is_mobile=True, has_touch=True)
    page.goto(path)
    for details in page.locator("details").all():
        details.locator("summary").click()
    assert rig.no_horizontal_scroll(page)


@pytest.mark.parametrize(
    "name",
    ["%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E", "x" * 3000, "..%2F..%2Fetc%2Fpasswd", "%C3%A9t%C3%A9", "%00"],
    ids=["markup", "long", "traversal", "unicode", "nul"],
)
def test_hostile_plugin_names_are_404_pages_not_500s(vault_gateway: GatewayProcess, name: str) -> None:
    """No browser: a session cookie over plain HTTP, the names a scanner would try."""
    with httpx.Client(base_url=vault_gateway.url, timeout=10) as client:
        form = client.get("/ui/login")
        nonce = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        client.post("/ui/login", data={"token": ADMIN_TOKEN, "csrf_token": nonce})
        response = client.get(f"/ui/plugins/{name}")
        assert response.status_code == 404, response.text[:300]
        assert "root:" not in response.text
        if "/" in response.url.path.removeprefix("/ui/plugins/"):
            return  # a decoded slash is another path: the API's plain 404, no page route matched
        assert "<img" not in response.text  # escaped (and the CSP would not run it anyway)
        assert "known: vault, work" in response.text
        assert response.headers["content-security-policy"].startswith("default-src 'self'")
