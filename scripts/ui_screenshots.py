"""`make screenshots`: PNGs of every dashboard page at desktop and phone width, into docs/ui/.

    .venv/bin/python scripts/ui_screenshots.py               # all pages, light scheme
    .venv/bin/python scripts/ui_screenshots.py --out /tmp/ui # somewhere else

It starts a real gateway (`ductile system start`) in a temporary directory with plugins in the
style of the browser tests' rig: `work` (succeeds, fails or sleeps as the payload says), `flaky`,
`slow` (1 s timeout), `ticker` (a schedule every 2 s), `vault` (input/output schemas, a password
and a refresh token in its state, shown redacted) and a two-step pipeline. It runs some jobs —
succeeded, failed, timed out, a pipeline run — waits for them to finish, signs in through the
login form with Playwright driving Debian's /usr/bin/chromium (never a downloaded browser) and
writes `<page>-desktop.png` (1280x800 viewport) and `<page>-phone.png` (390x844) for each page,
the whole page down to `MAX_HEIGHT` pixels.

A page that answers 404 (not merged into this checkout yet) is skipped with a printed note, so the
script can be rerun after merging; any other failure stops it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("DUCTILE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [  # as tests/ui/rig.py
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "screenshots-admin-token-0123456789"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
MAX_HEIGHT = 2400  # a long page is cut here: the top is what the docs show

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
    print(json.dumps({"status": "ok", "result": {"command": req["command"], "payload": payload},
                      "events": [{"type": "work.done", "payload": {"command": req["command"]}}]}))
"""
WORK_COMMANDS = [
    {"name": "poll", "type": "read", "description": "succeed, fail or sleep as the payload says"},
    {"name": "sync", "type": "write", "description": "the same, as a write command"},
    {"name": "handle", "type": "write", "description": "a pipeline step"},
]
VAULT = """\
#!/usr/bin/env python3
import json, sys
json.load(sys.stdin)
print(json.dumps({"status": "ok", "result": {"items": [{"id": 1, "title": "first"}]},
                  "state_updates": {"cursor": 42, "password": "hunter2-not-shown",
                                    "login": {"refresh_token": "not-shown-either", "expires": "2030-01-01"}}}))
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
                "mode": {"enum": ["fast", "full"], "default": "fast"},
            },
        },
        "output_schema": {"items": "array"},
    },
    {"name": "purge", "type": "write", "description": "Delete everything fetched so far"},
]

# (name, candidate paths: the first that is not a 404 is shot). `{job}` is a failed job's id.
PAGES: list[tuple[str, list[str]]] = [
    ("overview", ["/ui"]),
    ("jobs", ["/ui/jobs"]),
    ("job-detail", ["/ui/jobs/{job}", "/ui/job/{job}"]),
    ("pipelines", ["/ui/pipelines"]),
    ("plugins", ["/ui/plugins"]),
    ("plugin-detail", ["/ui/plugins/vault"]),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_plugin(root: Path, name: str, script: str, commands: list[dict[str, Any]], description: str) -> None:
    directory = root / name
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {
        "manifest_spec": "ductile.plugin",
        "manifest_version": 1,
        "name": name,
        "version": "1.0.0",
        "description": description,
        "protocol": 2,
        "entrypoint": "run",
        "commands": commands,
    }
    (directory / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    (directory / "run").write_text(script)
    (directory / "run").chmod(0o755)


def write_config(directory: Path, port: int) -> None:
    plugins_root = directory / "plugins"
    write_plugin(plugins_root, "work", WORK, WORK_COMMANDS, "Does what the payload says")
    write_plugin(plugins_root, "vault", VAULT, VAULT_COMMANDS, "Keeps a cursor and a credential in its state")
    config = {
        "service": {"log_format": "json", "kill_grace": "1s", "drain_grace": "5s", "max_workers": 2},
        "database": {"path": "./data/ductile.db"},
        "plugin_roots": [str(plugins_root)],
        "plugins": {
            "work": {},
            "flaky": {"uses": "work"},
            "slow": {"uses": "work", "timeouts": {"poll": "1s"}, "retry": {"max_attempts": 1}},
            "ticker": {"uses": "work", "schedules": [{"id": "tick", "every": "2s"}]},
            "vault": {
                "config": {"api_key": "not-shown-key", "region": "eu-west"},
                "schedules": [{"id": "hourly", "every": "1h", "command": "fetch", "payload": {"limit": 10}}],
            },
        },
        "pipelines": [
            {"name": "nightly", "on": "nightly.go", "steps": [{"uses": "work"}, {"id": "notify", "uses": "flaky"}]},
        ],
        "api": {
            "enabled": True,
            "listen": f"127.0.0.1:{port}",
            "auth": {"tokens": [{"name": "admin", "token": TOKEN, "scopes": ["*"]}]},
        },
    }
    (directory / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def start_gateway(directory: Path, port: int) -> subprocess.Popen[bytes]:
    log = open(directory / "gateway.log", "wb")  # noqa: SIM115 - handed to the child
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.Popen(
        [str(VENV_BIN / "ductile"), "system", "start", "--config", str(directory)], stdout=log, stderr=log, env=env
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("gateway exited:\n" + (directory / "gateway.log").read_text()[-3000:])
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("gateway did not start in 90 s")


def run_jobs(api: httpx.Client) -> dict[str, str]:
    """A little history: succeeded, failed, timed out, a pipeline run; returns named job ids."""

    def enqueue(plugin: str, command: str = "poll", payload: dict[str, Any] | None = None) -> str:
        r = api.post(f"/plugin/{plugin}/{command}", json={"payload": payload or {}})
        r.raise_for_status()
        return r.json()["job_id"]

    ids = {
        "succeeded": enqueue("work", payload={"n": 1}),
        "failed": enqueue("flaky", payload={"fail": True}),
        "timed_out": enqueue("slow", payload={"sleep": 2.5}),
        "vault": enqueue("vault", "fetch", {"limit": 5}),
    }
    for i in range(4):
        enqueue("work", "sync", {"n": i})
    r = api.post("/pipeline/nightly", params={"async": "true"}, json={"payload": {"night": "today"}})
    if r.status_code in (200, 202):
        ids["pipeline"] = r.json().get("job_id", "")
    else:
        print(f"note: POST /pipeline/nightly answered {r.status_code}: {r.text[:200]}")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        states = {k: api.get(f"/job/{v}").json().get("status") for k, v in ids.items() if v}
        if all(s not in ("queued", "running") for s in states.values()):
            print("jobs:", json.dumps(states))
            return ids
        time.sleep(0.3)
    raise SystemExit(f"jobs did not finish in 90 s: {states}")


def shoot(page: Any, path: str, out: Path) -> None:
    height = min(MAX_HEIGHT, int(page.evaluate("document.documentElement.scrollHeight")))
    width = int(page.evaluate("document.documentElement.clientWidth"))
    page.screenshot(path=str(out), full_page=True, clip={"x": 0, "y": 0, "width": width, "height": height})
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}  ({path})")


def screenshots(base: str, ids: dict[str, str], out_dir: Path) -> list[str]:
    from playwright.sync_api import sync_playwright

    skipped: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for size, (width, height) in SIZES.items():
                phone = size == "phone"
                context = browser.new_context(
                    base_url=base,
                    viewport={"width": width, "height": height},
                    is_mobile=phone,
                    has_touch=phone,
                    color_scheme="light",
                )
                context.set_default_timeout(30_000)
                page = context.new_page()
                page.goto("/ui/login")
                shoot(page, "/ui/login", out_dir / f"login-{size}.png")
                page.get_by_label("API token").fill(TOKEN)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(lambda url: "/ui/login" not in url)
                for name, candidates in PAGES:
                    for candidate in candidates:
                        path = candidate.format(job=ids["failed"])
                        response = page.goto(path)
                        if response is not None and response.status != 404:
                            break
                    else:
                        if size == "desktop":
                            print(f"note: {name} skipped: {' and '.join(candidates)} answer 404 (not merged yet?)")
                            skipped.append(name)
                        continue
                    assert response is not None
                    if response.status >= 400:
                        raise SystemExit(f"{path} answered {response.status}: {page.content()[:500]}")
                    page.wait_for_load_state("networkidle")
                    shoot(page, path, out_dir / f"{name}-{size}.png")
                context.close()
        finally:
            browser.close()
    return skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "ui")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing (apt-get install chromium); no browser is downloaded")
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="ductile-screens-"))
    port = free_port()
    proc = None
    try:
        write_config(workdir, port)
        proc = start_gateway(workdir, port)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as api:
            ids = run_jobs(api)
        time.sleep(4)  # a few ticker slots, so the overview's run strips have cells
        skipped = screenshots(base, ids, args.out)
        if skipped:
            print(f"skipped (rerun `make screenshots` after merging them): {', '.join(skipped)}")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
