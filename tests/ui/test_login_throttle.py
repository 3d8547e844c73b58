"""Failed sign-ins are limited per client address over real HTTP: after 5 wrong tokens within a
minute the form answers 429 with Retry-After and says why, even to a right token (no guessing
oracle); a success before that forgets the failures; another address is not affected. Its own
gateway, so the shared one's tests never meet a refusal."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from ui import rig

WRONG = "not-a-token-of-this-gateway-000"


def _client(gw: Any, source: str = "127.0.0.1") -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=gw.url, timeout=10, transport=transport)


def _sign_in(client: httpx.Client, token: str) -> httpx.Response:
    nonce = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text).group(1)
    return client.post("/ui/login", data={"token": token, "csrf_token": nonce})


@pytest.fixture(scope="module")
def lone_gateway(tmp_path_factory: pytest.TempPathFactory) -> Any:
    gw = rig.start_ui_gateway(tmp_path_factory.mktemp("throttle"), plugins={})
    yield gw
    gw.stop()


def test_five_failures_a_minute_then_429_with_retry_after_even_for_a_right_token(lone_gateway: Any) -> None:
    right = rig.TOKENS["admin"][0]
    with _client(lone_gateway) as client:
        # a success before the limit is reached forgets the failures
        for _ in range(4):
            assert _sign_in(client, WRONG).status_code == 401
        assert _sign_in(client, right).status_code == 303
        client.cookies.clear()
        for _ in range(5):
            assert _sign_in(client, WRONG).status_code == 401
        refused = _sign_in(client, WRONG)
        assert refused.status_code == 429
        wait = int(refused.headers["retry-after"])
        assert 1 <= wait <= 60
        assert "Too many failed sign-ins from your address" in refused.text
        assert f"Wait {wait} s" in refused.text
        assert 'role="alert"' in refused.text  # the form shows it as its error
        # while refused, a right token is not checked either (no oracle for guesses), no session
        also = _sign_in(client, right)
        assert also.status_code == 429 and "ductile_ui" not in also.cookies
    # another address is not affected
    with _client(lone_gateway, "127.0.0.2") as other:
        assert _sign_in(other, right).status_code == 303
    logged = [r for r in lone_gateway.log_records() if "too many failures" in str(r.get("msg", r.get("message")))]
    assert logged and logged[0].get("client") == "127.0.0.1"
    assert right not in lone_gateway.log()


def _sign_in_as(client: httpx.Client, token: str, forwarded_for: str) -> httpx.Response:
    """A sign-in as a reverse proxy sends it: the visitor's address in X-Forwarded-For."""
    headers = {"X-Forwarded-For": forwarded_for}
    form = client.get("/ui/login", headers=headers)
    nonce = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    return client.post("/ui/login", data={"token": token, "csrf_token": nonce}, headers=headers)


def test_behind_a_trusted_proxy_each_visitor_has_its_own_limit(lone_gateway: Any) -> None:
    # The default trusts a proxy on 127.0.0.1: the address counted is the visitor's, not the proxy's.
    right = rig.TOKENS["admin"][0]
    with _client(lone_gateway, "127.0.0.1") as proxy:
        for _ in range(5):
            assert _sign_in_as(proxy, WRONG, "203.0.113.7").status_code == 401
        assert _sign_in_as(proxy, WRONG, "203.0.113.7").status_code == 429
        proxy.cookies.clear()
        assert _sign_in_as(proxy, right, "203.0.113.8").status_code == 303  # another visitor
    logged = [r for r in lone_gateway.log_records() if "too many failures" in str(r.get("msg", r.get("message")))]
    assert any(r.get("client") == "203.0.113.7" for r in logged)


def test_with_no_trusted_proxy_forwarded_for_is_ignored(tmp_path_factory: pytest.TempPathFactory) -> None:
    # `trusted_proxies: []`: a peer cannot dodge the limit by naming a new address each time.
    config, port = rig.ui_config(tmp_path_factory.mktemp("noproxy"), plugins={})
    config["api"]["trusted_proxies"] = []
    directory = tmp_path_factory.mktemp("noproxy-gw")
    rig.write_config(directory, config)
    gw = rig.GatewayProcess(directory, port=port).start()
    try:
        with _client(gw, "127.0.0.1") as client:
            for n in range(5):
                assert _sign_in_as(client, WRONG, f"198.51.100.{n}").status_code == 401
            assert _sign_in_as(client, rig.TOKENS["admin"][0], "198.51.100.99").status_code == 429
    finally:
        gw.stop()
