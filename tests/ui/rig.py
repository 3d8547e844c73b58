"""The dashboard tests' real pieces: a gateway on loopback with real plugin processes and a token
per role, and Debian's Chromium driven by Playwright's Python API (never a downloaded browser).

Plugins (all instances of one script, `work`): a job's payload decides what it does —
`{"fail": true}` fails it (no retry), `{"sleep": 2.5}` makes it take that long (with the
instance's 1 s timeout, `slow` jobs end `timed_out`), anything else succeeds at once.
"""

from __future__ import annotations

import os
import shutil
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


def login(page: Any, gw: GatewayProcess, role: str = "admin") -> Any:
    """Sign `page` in through the real form with the role's token; returns the page."""
    page.goto(f"{gw.url}/ui/login")
    page.get_by_label("API token").fill(TOKENS[role][0])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/ui/login" not in url)
    return page


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
