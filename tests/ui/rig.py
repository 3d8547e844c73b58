"""The dashboard tests' real pieces: a gateway on loopback with real plugin processes and a token
per role, and Debian's Chromium driven by Playwright's Python API (never a downloaded browser).

Plugins (all instances of one script, `work`): a job's payload decides what it does —
`{"fail": true}` fails it (no retry), `{"sleep": 2.5}` makes it take that long (with the
instance's 1 s timeout, `slow` jobs end `timed_out`), anything else succeeds at once.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ADMIN_TOKEN, GatewayProcess, base_config, free_port, make_plugin, write_config

CHROMIUM = os.environ.get("DUCTILE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

WORK = """\
#!/usr/bin/env python3
import json, sys, time
req = json.load(sys.stdin)
payload = req.get("payload") or {}
if payload.get("sleep"):
    time.sleep(float(payload["sleep"]))
if payload.get("fail"):
    print(json.dumps({"status": "error", "error": "told to fail", "retry": False}))
else:
    print(json.dumps({"status": "ok", "result": {"command": req["command"], "payload": payload}}))
"""
COMMANDS = [
    {"name": "poll", "type": "read", "description": "succeed, fail or sleep as the payload says"},
    {"name": "sync", "type": "write", "description": "the same, as a write command"},
    {"name": "handle", "type": "write"},
]

# name -> (token, scopes). `viewer` may read everything but act on nothing; `blind` can read
# job statuses only (no events, no results, no plugins); `catalog` sees the plugin catalog only.
TOKENS: dict[str, tuple[str, list[str]]] = {
    "admin": (ADMIN_TOKEN, ["*"]),
    "viewer": ("ui-viewer-token-0123456789", ["jobs:ro", "events:ro", "plugin:ro"]),
    "blind": ("ui-blind-token-0123456789", ["jobs:status:ro"]),
    "operator": ("ui-operator-token-0123456789", ["jobs:rw", "events:ro", "plugin:rw"]),
    "catalog": ("ui-catalog-token-0123456789", ["plugin:ro"]),
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def need(condition: bool, reason: str) -> None:
    """Skip with `reason` when a browser piece is absent; under CI=true that is a failure."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"{reason} (CI=true: the browser tests must run)")
    pytest.skip(reason)


def browser_ready() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        need(False, "playwright is not installed (pip install -e '.[dev]')")
    need(
        Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None,
        f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does this)",
    )


def ui_config(root: Path, *, plugins: dict[str, Any] | None = None, **extra: Any) -> tuple[dict[str, Any], int]:
    """A gateway config with the `work` plugin, a token per role and the dashboard on; `plugins`
    replaces the default instances, `extra` merges top-level sections (e.g. `pipelines=[...]`)."""
    plugin_root = root / "plugins"
    make_plugin(plugin_root, "work", WORK, commands=COMMANDS)
    port = free_port()
    default = {
        "work": {},
        "flaky": {"uses": "work"},
        "slow": {"uses": "work", "timeouts": {"poll": "1s"}, "retry": {"max_attempts": 1}},
        # a real fast schedule: a slot every second, so run strips fill while a test watches
        "ticker": {"uses": "work", "schedules": [{"id": "tick", "every": "1s"}]},
        # and one that always fails, so failed cells (and an open breaker) appear too
        # (its breaker opens after 3 failures and tries again after 5 s: failed and skipped cells)
        "broken": {
            "uses": "work",
            "schedules": [{"id": "boom", "every": "2s", "payload": {"fail": True}}],
            "circuit_breaker": {"threshold": 3, "reset_after": "5s"},
        },
    }
    config = base_config([plugin_root], plugins if plugins is not None else default, port=port, **extra)
    config["api"]["auth"] = {"tokens": [{"name": n, "token": t, "scopes": s} for n, (t, s) in TOKENS.items()]}
    return config, port


def start_ui_gateway(root: Path, *, plugins: dict[str, Any] | None = None, **extra: Any) -> GatewayProcess:
    config, port = ui_config(root, plugins=plugins, **extra)
    directory = root / "gw"
    write_config(directory, config)
    return GatewayProcess(directory, port=port).start()


def enqueue(gw: GatewayProcess, plugin: str, command: str = "poll", payload: dict[str, Any] | None = None) -> str:
    response = httpx.post(
        f"{gw.url}/plugin/{plugin}/{command}",
        json={"payload": payload or {}},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def job_status(gw: GatewayProcess, job_id: str) -> str:
    response = httpx.get(f"{gw.url}/job/{job_id}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
    return response.json()["status"]


def login(page: Any, gw: GatewayProcess, role: str = "admin", token: str | None = None) -> Any:
    """Sign `page` in through the real form with the role's token (or `token`); returns the page."""
    page.goto(f"{gw.url}/ui/login")
    page.get_by_label("API token").fill(token or TOKENS[role][0])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/ui/login" not in url)
    return page


@contextmanager
def browser_pages(
    browser: Any, gw: GatewayProcess, tokens: dict[str, str] | None = None
) -> Iterator[Callable[..., Any]]:
    """`make(role="admin", **context_options)`: a page of a new browser context, signed in on `gw`
    through the form with the role's token (`tokens` adds roles of a test's own); every context
    is closed at the end. Options go to `browser.new_context` (`viewport`, `color_scheme`, ...)."""
    contexts: list[Any] = []

    def make(role: str = "admin", **options: Any) -> Any:
        context = browser.new_context(**{"base_url": gw.url, "viewport": {"width": 1280, "height": 900}, **options})
        context.set_default_timeout(20_000)
        contexts.append(context)
        return login(context.new_page(), gw, role, (tokens or {}).get(role))

    try:
        yield make
    finally:
        for context in contexts:
            context.close()


@contextmanager
def signed_in_client(gw: GatewayProcess, token: str) -> Iterator[httpx.Client]:
    """No browser: an HTTP client signed in through the login form (its session cookie), for
    tests of what the server-rendered HTML itself holds."""
    with httpx.Client(base_url=gw.url, timeout=10) as client:
        form = client.get("/ui/login")
        nonce = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        assert client.post("/ui/login", data={"token": token, "csrf_token": nonce}).status_code == 303
        yield client


def axe_problems(page: Any) -> list[str]:
    """axe-core (bundled by axe-playwright-python) run in the page: the serious and critical
    violations, each as `id: help (n nodes: selectors)`."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    out = []
    for v in results.response["violations"]:
        if v.get("impact") in ("serious", "critical"):
            targets = ", ".join(str(n.get("target")) for n in v.get("nodes", [])[:5])
            out.append(f"{v['id']} [{v['impact']}]: {v['help']} ({len(v.get('nodes', []))} nodes: {targets})")
    return out


def no_horizontal_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"))


# --- job detail and pipelines pages (tests/ui/test_job_detail.py, test_pipelines.py) -------------
# `chatty` logs, writes 60 stderr lines, emits an event and returns a result holding a secret;
# `grumpy` always fails; `rig-flow` is a pipeline of `work` steps (and one `grumpy`) with a split and
# a gated (switch) step; `lazy` lets a `{"sleep": n}` job run long enough to be cancelled.
CHATTY = """\
#!/usr/bin/env python3
import json, sys
req = json.load(sys.stdin)
for i in range(60):
    print(f"stderr line {i}", file=sys.stderr)
print(json.dumps({
    "status": "ok",
    "result": {"greeting": "hello", "api_token": "hunter2-secret"},
    "logs": [{"level": "info", "message": "said hello"}],
    "events": [{"type": "chatty.said", "payload": {"word": "hi", "password": "pw-secret"}}],
}))
"""
GRUMPY = """\
#!/usr/bin/env python3
import json, sys
json.load(sys.stdin)
print(json.dumps({"status": "error", "error": "grumpy always fails", "retry": False}))
"""
FLOW_PIPELINES = [
    {
        "name": "rig-flow",
        "on": "rig.flow",
        "steps": [
            {"id": "fetch", "uses": "work"},
            {
                "split": [
                    {"id": "notify", "uses": "grumpy"},
                    {
                        "steps": [
                            {"id": "store", "uses": "work"},
                            {
                                "id": "publish",
                                "uses": "work",
                                "if": {"path": "payload.result.command", "op": "eq", "value": "handle"},
                            },
                        ]
                    },
                ]
            },
        ],
    }
]


def start_flow_gateway(root: Path) -> GatewayProcess:
    """A gateway with `work`, `lazy`, `chatty` and the `rig-flow` pipeline (no schedules)."""
    make_plugin(root / "plugins", "chatty", CHATTY, commands=[{"name": "poll", "type": "read"}])
    make_plugin(root / "plugins", "grumpy", GRUMPY)
    plugins = {"work": {}, "lazy": {"uses": "work", "timeouts": {"poll": "5m"}}, "chatty": {}, "grumpy": {}}
    config, port = ui_config(root, plugins=plugins, pipelines=FLOW_PIPELINES)
    write_config(root / "gw", config)
    return GatewayProcess(root / "gw", port=port).start()


def start_pipeline(gw: GatewayProcess, name: str, payload: dict[str, Any] | None = None) -> str:
    response = httpx.post(
        f"{gw.url}/pipeline/{name}",
        json={"payload": payload or {}},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def job_tree(gw: GatewayProcess, job_id: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{gw.url}/job/{job_id}/tree", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
    )
    return response.json()
