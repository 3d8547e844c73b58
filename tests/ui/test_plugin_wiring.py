"""The Wiring section of `/ui/plugins/{name}`: which plugins send this plugin events and which
receive the events it declares, a slice of `GET /topology` — shown only to a token that also has
`system:ro` (the scope of `GET /topology`); a `plugin:catalog:ro` token gets the page and a note,
no wiring data. Real gateway with real plugin processes and a real pipeline, real Chromium, and
the same checks over plain HTTP (server-rendered, no script needed)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import ADMIN_TOKEN, GatewayProcess, make_plugin, write_config

from ui import rig

HOSTILE_EVENT = "<img src=x onerror=alert(1)>"
AUDITOR = "ui-wiring-auditor-token-0123456789"  # the page's scope plus system:ro, nothing else
ALPHA_COMMANDS = [
    {"name": "finish", "type": "write", "values": {"emit": [{"event": "a.done"}]}},
    {"name": "handle", "type": "write"},
]
ODD_COMMANDS = [{"name": "poll", "type": "read", "values": {"emit": [{"event": HOSTILE_EVENT}]}}]
PIPELINES = [{"name": "after-alpha", "on": "a.done", "steps": [{"id": "b", "uses": "bravo"}]}]


@pytest.fixture(scope="module")
def wiring_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    root = tmp_path_factory.mktemp("ui-wiring")
    make_plugin(root / "plugins", "alpha", rig.WORK, commands=ALPHA_COMMANDS)
    make_plugin(root / "plugins", "bravo", rig.WORK)
    make_plugin(root / "plugins", "odd", rig.WORK, commands=ODD_COMMANDS)
    config, port = rig.ui_config(root, plugins={"work": {}, "alpha": {}, "bravo": {}, "odd": {}}, pipelines=PIPELINES)
    config["api"]["auth"]["tokens"].append(
        {"name": "auditor", "token": AUDITOR, "scopes": ["plugin:catalog:ro", "system:ro"]}
    )
    write_config(root / "gw", config)
    gw = GatewayProcess(root / "gw", port=port).start()
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture
def signed_in(browser: Any, wiring_gateway: GatewayProcess) -> Iterator[Any]:
    with rig.browser_pages(browser, wiring_gateway, {"auditor": AUDITOR}) as make:
        yield make


def test_admin_sees_what_alpha_sends_and_follows_it_to_bravo(signed_in: Any) -> None:
    page = signed_in()
    response = page.goto("/ui/plugins/alpha")
    assert response is not None and response.status == 200
    section = page.locator("#wiring")
    assert section.get_by_role("heading", name="Wiring").is_visible()
    assert "No pipeline routes events to it." in section.inner_text()
    sends = section.get_by_role("table", name="Events alpha sends")
    row = sends.get_by_role("row").filter(has_text="a.done")
    assert "finish" in row.inner_text() and "after-alpha" in row.inner_text()
    row.get_by_role("link", name="bravo", exact=True).click()
    page.wait_for_url("**/ui/plugins/bravo")
    assert page.get_by_role("heading", level=1).inner_text() == "bravo"
    receives = page.locator("#wiring").get_by_role("table", name="Events bravo receives")
    row = receives.get_by_role("row").filter(has_text="a.done")
    assert "finish" in row.inner_text()
    assert "bravo declares no events" in page.locator("#wiring").inner_text()
    # and back: the producer is a link to its page; the pipeline is a link to its page
    row.get_by_role("link", name="after-alpha").click()
    page.wait_for_url("**/ui/pipelines/after-alpha")
    page.go_back()
    page.locator("#wiring").get_by_role("link", name="alpha", exact=True).click()
    page.wait_for_url("**/ui/plugins/alpha")


def test_a_plugin_with_no_wiring_says_so_in_words(signed_in: Any) -> None:
    page = signed_in()
    page.goto("/ui/plugins/work")
    text = page.locator("#wiring").inner_text()
    assert "No pipeline routes events to it." in text and "work declares no events" in text
    assert page.locator("#wiring table").count() == 0


def test_catalog_token_without_system_ro_gets_the_page_but_no_wiring(signed_in: Any) -> None:
    page = signed_in("catalog")  # plugin:ro: the page's plugin:catalog:ro, not system:ro
    for name in ("alpha", "bravo"):
        response = page.goto(f"/ui/plugins/{name}")
        assert response is not None and response.status == 200
        section = page.locator("#wiring")
        assert "system:ro" in section.locator("#wiring-note").inner_text()
        assert section.locator("table").count() == 0 and section.locator("a").count() == 0
        other = "bravo" if name == "alpha" else "alpha"
        assert other not in section.inner_text()
        html = page.content()
        assert other not in html and "after-alpha" not in html and "a.done" not in html


def test_system_ro_is_what_opens_the_section(signed_in: Any) -> None:
    page = signed_in("auditor")  # plugin:catalog:ro and system:ro only, not an admin
    page.goto("/ui/plugins/alpha")
    assert page.locator("#wiring-note").count() == 0
    assert page.locator("#wiring").get_by_role("link", name="bravo", exact=True).is_visible()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize(
    ("role", "path"), [("admin", "/ui/plugins/alpha"), ("admin", "/ui/plugins/bravo"), ("catalog", "/ui/plugins/alpha")]
)
def test_no_serious_accessibility_violations(signed_in: Any, scheme: str, role: str, path: str) -> None:
    page = signed_in(role, color_scheme=scheme)
    page.goto(path)
    assert rig.axe_problems(page) == []


@pytest.mark.parametrize("path", ["/ui/plugins/alpha", "/ui/plugins/bravo", "/ui/plugins/odd"])
def test_phone_width_has_no_horizontal_scroll(signed_in: Any, path: str) -> None:
    page = signed_in(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, color_scheme="dark")
    page.goto(path)
    assert page.locator("#wiring").is_visible()
    assert rig.no_horizontal_scroll(page)


# --- server-rendered, no browser: what the HTML itself says ------------------------------------


def wiring_html(page: str) -> str:
    return page.split('<section aria-labelledby="wiring-h" id="wiring">', 1)[1].split("</section>", 1)[0]


def test_html_wiring_matches_get_topology(wiring_gateway: GatewayProcess) -> None:
    api = httpx.get(
        f"{wiring_gateway.url}/topology", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
    ).json()
    signal = next(s for s in api["signals"] if s["name"] == "a.done")
    assert signal["producers"] == [{"plugin": "alpha", "command": "finish"}]
    assert signal["consumers"] == [{"plugin": "bravo", "command": "handle"}]
    with rig.signed_in_client(wiring_gateway, ADMIN_TOKEN) as client:
        alpha = wiring_html(client.get("/ui/plugins/alpha").text)
        bravo = wiring_html(client.get("/ui/plugins/bravo").text)
    assert '<a href="/ui/plugins/bravo">bravo</a>' in alpha and '<a href="/ui/pipelines/after-alpha">' in alpha
    assert "<code>finish</code>" in alpha and "<code>a.done</code>" in alpha
    assert '<a href="/ui/plugins/alpha">alpha</a>' in bravo and "<code>a.done</code>" in bravo


def test_html_without_system_ro_holds_no_wiring(wiring_gateway: GatewayProcess) -> None:
    with rig.signed_in_client(wiring_gateway, rig.TOKENS["catalog"][0]) as client:
        response = client.get("/ui/plugins/alpha")
    assert response.status_code == 200
    section = wiring_html(response.text)
    assert 'id="wiring-note"' in section and "<code>system:ro</code>" in section
    assert "bravo" not in response.text and "a.done" not in response.text and "after-alpha" not in response.text
    with rig.signed_in_client(wiring_gateway, AUDITOR) as client:
        assert '<a href="/ui/plugins/bravo">bravo</a>' in wiring_html(client.get("/ui/plugins/alpha").text)


def test_html_escapes_a_hostile_event_name(wiring_gateway: GatewayProcess) -> None:
    with rig.signed_in_client(wiring_gateway, ADMIN_TOKEN) as client:
        response = client.get("/ui/plugins/odd")
    assert response.status_code == 200
    section = wiring_html(response.text)
    assert "<img" not in response.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in section
    assert "no pipeline routes it to a plugin" in section
