"""Finding 9: with `log_format: json`, library warnings and uvicorn's 500 tracebacks are JSON too.

A real gateway cannot be made to raise an unexpected exception or a library warning on demand
without test hooks in production code, so this drives the production pieces — `logs.setup`, the
gateway's `create_app` and `api.server.make_server` on a real loopback socket — in a child
process, adds a failing route to the app *in the test script*, and checks every stderr line.
(test_requests.py checks the same for a whole real gateway run through the hostile requests.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import ADMIN_TOKEN, base_config, free_port, make_plugin, write_config

SCRIPT = r"""
import asyncio, sys, warnings
import httpx
from ductile import logs
from ductile.api import listen
from ductile.api.app import create_app
from ductile.api.server import make_server
from ductile.gateway import Gateway, prepare

logs.setup("info", "json")
warnings.simplefilter("always")
warnings.warn("a library says this is deprecated", DeprecationWarning)

gw = Gateway(prepare(sys.argv[1]))
gw.open()
app = create_app(gw)

@app.get("/boom")  # test-only route, defined here in the test script
async def boom():
    raise RuntimeError("boom in a handler")

async def main():
    server = make_server(app, gw.config.api)
    sockets = listen.bind(gw.config.api, "config.yaml")
    task = asyncio.create_task(server.serve(sockets=sockets))
    while not server.started:
        await asyncio.sleep(0.01)
    async with httpx.AsyncClient(base_url=f"http://{gw.config.api.listen}") as client:
        response = await client.get("/boom")
    server.should_exit = True
    await task
    print(response.status_code, response.headers["content-type"], response.text)

asyncio.run(main())
gw.close()
"""


def test_warning_and_unhandled_exception_are_single_json_lines(tmp_path: Path) -> None:
    plugin_root = tmp_path / "plugins"
    make_plugin(plugin_root, "alpha", '#!/bin/sh\necho \'{"status":"ok"}\'\n')
    config = base_config([plugin_root], {"alpha": {}}, port=free_port())
    config["api"]["auth"] = {"tokens": [{"name": "admin", "token": ADMIN_TOKEN, "scopes": ["*"]}]}
    write_config(tmp_path / "gw", config)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "gw")], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    status, ctype, body = proc.stdout.strip().split(" ", 2)
    assert status == "500" and ctype == "application/json"
    assert "internal error" in json.loads(body)["error"]
    records = []
    for line in proc.stderr.splitlines():
        if line.strip():
            records.append(json.loads(line))  # fails on any plain-text line
    warning = [r for r in records if r["logger"] == "py.warnings"]
    assert len(warning) == 1 and warning[0]["category"] == "DeprecationWarning"
    assert "deprecated" in warning[0]["msg"] and "where" in warning[0]
    crash = [r for r in records if "exc" in r]
    assert len(crash) == 1, records
    assert crash[0]["logger"].startswith("uvicorn") and crash[0]["level"] == "error"
    assert "Traceback" in crash[0]["exc"] and "RuntimeError: boom in a handler" in crash[0]["exc"]
