"""Dashboard sessions on a PostgreSQL cluster, over real HTTP: two real gateway nodes on one schema
(as behind a load balancer that switches nodes between requests). A sign-in on node A opens pages
on node B with the same cookie, and use on either node keeps it alive; Sign out on B ends the
session on A; a restart of a node keeps it; an idle session expires on both; the table holds the session id's SHA-256, never the id."""

from __future__ import annotations

import hashlib
import re
import signal
import time
from collections.abc import Callable
from typing import Any

import httpx

from cluster.pgrig import Cluster

TOKEN = "ui-cluster-token-0123456789"
TTL = 6  # seconds (api.ui.session_ttl): a use is written at least every 1.5 s (a quarter of it)


def _ui_config(cluster: Cluster) -> dict[str, Any]:
    config = cluster.config({})  # (its `api` argument is a bool: whether to listen)
    config["api"]["ui"] = {"session_ttl": f"{TTL}s"}
    config["api"]["auth"] = {"tokens": [{"name": "ops", "token": TOKEN, "scopes": ["*"]}]}
    return config


def _sign_in(node: Any) -> str:
    """The session cookie from a sign-in through node's real login form."""
    with httpx.Client(base_url=node.url, timeout=30) as client:
        form = client.get("/ui/login")
        nonce = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        done = client.post("/ui/login", data={"token": TOKEN, "csrf_token": nonce})
        assert done.status_code == 303 and done.headers["location"] == "/ui", done.text
        return done.cookies["ductile_ui"]


def _open(node: Any, cookie: str, path: str = "/ui/plugins") -> httpx.Response:
    return httpx.get(f"{node.url}{path}", cookies={"ductile_ui": cookie}, timeout=30, follow_redirects=False)


def _key(cookie: str) -> bytes:
    return hashlib.sha256(cookie.encode()).digest()


def _ready(node: Any) -> bool:
    try:
        return httpx.get(f"{node.url}/healthz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _use_until(node: Any, cookie: str, done: Callable[[], bool], timeout: float = 120.0) -> None:
    """Open a page on `node` with `cookie` every second until `done()`: a person at work."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "gave up waiting"
        assert _signed_in(_open(node, cookie))
        time.sleep(1.0)


def _signed_in(response: httpx.Response) -> bool:
    if response.status_code == 303:
        assert response.headers["location"].startswith("/ui/login"), response.headers
        return False
    assert response.status_code == 200, response.text[:500]
    return True


def test_a_session_made_on_one_node_is_served_and_ended_by_another(pg_cluster: Cluster) -> None:
    a = pg_cluster.start(_ui_config(pg_cluster))
    b = pg_cluster.start(_ui_config(pg_cluster))
    cookie = _sign_in(a)
    # the table holds the id's SHA-256 and the token's, neither secret itself
    rows = pg_cluster.rows("SELECT session_hash, token_digest, csrf FROM ui_sessions")
    assert [(bytes(r[0]), bytes(r[1])) for r in rows] == [(_key(cookie), hashlib.sha256(TOKEN.encode()).digest())]
    dump = repr(pg_cluster.rows("SELECT * FROM ui_sessions"))
    assert cookie not in dump and TOKEN not in dump

    page = _open(b, cookie)  # the balancer switched nodes: B knows the session
    assert _signed_in(page)
    assert _signed_in(_open(a, cookie)) and _signed_in(_open(b, cookie, "/ui"))
    # used on alternating nodes for longer than the idle limit: each node's touch counts on both
    used_until = time.monotonic() + TTL * 1.5
    while time.monotonic() < used_until:
        for node in (a, b):
            assert _signed_in(_open(node, cookie))
            time.sleep(1.0)
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert csrf == rows[0][2]  # the same CSRF value on every node: a form from A posts to B

    out = httpx.post(f"{b.url}/ui/logout", cookies={"ductile_ui": cookie}, data={"csrf_token": csrf}, timeout=30)
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert not _signed_in(_open(a, cookie))  # Sign out on B ended it on A too
    assert pg_cluster.rows("SELECT count(*) FROM ui_sessions") == [(0,)]

    # a restart of the node that made it signs nobody out (the session is in the database)
    # (used on B meanwhile: a start on a busy machine may take longer than the short idle limit)
    kept = _sign_in(a)
    assert a.proc is not None
    a.proc.send_signal(signal.SIGTERM)
    _use_until(b, kept, lambda: a.proc is not None and a.proc.poll() is not None)
    a.start(wait=False)
    _use_until(b, kept, lambda: _ready(a))
    assert _signed_in(_open(a, kept))

    # idle past api.ui.session_ttl: gone on both nodes (a page's live refreshes are not use)
    idle = _sign_in(b)
    assert _signed_in(_open(a, idle))
    deadline = time.monotonic() + TTL + 1.5
    while time.monotonic() < deadline:
        refresh = httpx.get(
            f"{a.url}/ui/fragment/overview",
            cookies={"ductile_ui": idle},
            headers={"X-Requested-With": "fetch"},
            timeout=30,
        )
        assert refresh.status_code in (200, 401)
        time.sleep(1.0)
    assert not _signed_in(_open(b, idle)) and not _signed_in(_open(a, idle))
    gone = pg_cluster.rows("SELECT count(*) FROM ui_sessions WHERE session_hash = %s", (_key(idle),))
    assert gone == [(0,)]  # deleted when seen expired


def test_the_notice_after_an_action_on_one_node_is_shown_by_another(pg_cluster: Cluster, tmp_path: Any) -> None:
    # The retry/cancel buttons POST, then redirect to the job's page: behind a balancer that
    # GET may reach the other node, which must still show what the action did (ui/flash.py).
    def with_tally() -> dict[str, Any]:
        config = _ui_config(pg_cluster)  # each node its own port
        config["plugins"] = {"tally": {"config": {"tally_dir": str(tmp_path / "tally")}}}
        return config

    a = pg_cluster.start(with_tally())
    b = pg_cluster.start(with_tally())
    posted = httpx.post(
        f"{a.url}/plugin/tally/poll", json={"payload": {}}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )
    assert posted.status_code == 202, posted.text
    job = posted.json()["job_id"]
    deadline = time.monotonic() + 60
    while pg_cluster.rows("SELECT status FROM jobs WHERE job_id = %s", (job,)) != [("succeeded",)]:
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.2)
    cookie = _sign_in(a)
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', _open(a, cookie).text).group(1)  # type: ignore[union-attr]
    done = httpx.post(
        f"{a.url}/ui/jobs/{job}/cancel", cookies={"ductile_ui": cookie}, data={"csrf_token": csrf}, timeout=30
    )
    assert done.status_code == 303 and done.headers["location"] == f"/ui/jobs/{job}"
    notice = done.cookies["ductile_ui_flash"]
    shown = httpx.get(f"{b.url}/ui/jobs/{job}", cookies={"ductile_ui": cookie, "ductile_ui_flash": notice}, timeout=30)
    assert shown.status_code == 200 and "Not cancelled:" in shown.text  # node B shows node A's notice


def test_failed_sign_ins_count_across_nodes(pg_cluster: Cluster) -> None:
    # A guesser whose attempts a balancer spreads over two nodes still meets the limit of 5 a
    # minute (ui/shared_throttle.py); another visitor is not affected. The proxy in front of the
    # nodes is on loopback (trusted by default) and names the visitor in X-Forwarded-For.
    a = pg_cluster.start(_ui_config(pg_cluster))
    b = pg_cluster.start(_ui_config(pg_cluster))

    def attempt(node: Any, token: str, visitor: str) -> httpx.Response:
        headers = {"X-Forwarded-For": visitor}
        with httpx.Client(base_url=node.url, timeout=30, headers=headers) as client:
            form = client.get("/ui/login")
            nonce = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
            return client.post("/ui/login", data={"token": token, "csrf_token": nonce})

    for node in (a, b, a, b, a):
        assert attempt(node, "not-the-token", "203.0.113.9").status_code == 401
    refused = attempt(b, TOKEN, "203.0.113.9")  # the sixth try, on the node that saw only two
    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60
    assert attempt(a, TOKEN, "203.0.113.10").status_code == 303  # another visitor signs in
    rows = pg_cluster.rows("SELECT client, count(*) FROM ui_login_failures GROUP BY client")
    assert rows == [("203.0.113.9", 5)]
