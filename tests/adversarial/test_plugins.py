"""Misbehaving plugins against a real gateway process: each ends in an exact terminal status with
a `last_error` that says what happened, no job is left `running`, no plugin process outlives its
job, and the gateway keeps serving (the next job succeeds).

Every misbehaving instance has `max_attempts: 1`, so its one attempt decides the terminal status
under the status rule: a retryable error on its last attempt → `failed` (as Ductile), a fatal one → `failed`, a timeout → `timed_out`.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ADMIN_TOKEN, GatewayProcess, base_config, free_port, make_plugin, wait_for, write_config

pytestmark = pytest.mark.slow

GOOD = """\
#!/usr/bin/env python3
import json, sys
json.load(sys.stdin)
print(json.dumps({"status": "ok", "result": "fine"}))
"""


def py(body: str) -> str:
    """A Python plugin: reads its request into `request`, then runs `body`."""
    return "#!/usr/bin/env python3\nimport json, os, signal, sys, time\nrequest = json.load(sys.stdin)\n" + body


def emit(raw: str) -> str:
    """A plugin whose stdout is exactly `raw` (Python string literal escapes apply)."""
    return py(f"sys.stdout.write({raw!r})\n")


# name → (plugin script, expected terminal status, fragment of last_error)
CASES: dict[str, tuple[str, str, str]] = {
    "invalid_json": (emit("this is not json\n"), "failed", "plugin stdout is not JSON (Expecting value at char 0)"),
    "empty_output": (py("pass\n"), "failed", "plugin wrote nothing to stdout (expected one JSON object)"),
    "two_values": (
        emit('{"status": "ok", "result": 1}\n{"status": "ok", "result": 2}\n'),
        "failed",
        "plugin stdout holds more than one JSON value",
    ),
    "non_utf8": (
        py('sys.stdout.buffer.write(b\'{"status": "ok", "result": "\\xff\\xfe"}\')\n'),
        "failed",
        "plugin stdout is not UTF-8 text",
    ),
    "deep_nesting": (
        py("sys.stdout.write('[' * 200000)\n"),
        "failed",
        "plugin stdout nests arrays/objects 200000 levels deep (accepted: at most 64)",
    ),
    "deep_valid_nesting": (
        py("sys.stdout.write('{\"status\": \"ok\", \"result\": ' + '[' * 5000 + ']' * 5000 + '}')\n"),
        "failed",
        "plugin stdout nests arrays/objects 5001 levels deep (accepted: at most 64)",
    ),
    "surrogate_result": (
        emit('{"status": "ok", "result": {"text": "a\\ud800b"}}'),
        "failed",
        "plugin stdout holds invalid Unicode: an unpaired surrogate escape (like \\ud800) in result.text",
    ),
    "surrogate_state": (
        emit('{"status": "ok", "result": 1, "state_updates": {"\\udc00key": 1}}'),
        "failed",
        "unpaired surrogate escape (like \\ud800) in a key in state_updates",
    ),
    "surrogate_event": (
        emit('{"status": "ok", "result": 1, "events": [{"type": "t", "payload": {"v": ["\\ud83d"]}}]}'),
        "failed",
        "unpaired surrogate escape (like \\ud800) in events[0].payload.v[0]",
    ),
    "surrogate_log": (
        emit('{"status": "ok", "result": 1, "logs": [{"level": "info", "message": "\\udfff"}]}'),
        "failed",
        "unpaired surrogate escape (like \\ud800) in logs[0].message",
    ),
    "nan_result": (emit('{"status": "ok", "result": NaN}'), "failed", "NaN is not a JSON value"),
    "huge_state": (
        py("print(json.dumps({'status': 'ok', 'result': 1, 'state_updates': {'blob': 'x' * 2_000_000}}))\n"),
        "failed",
        "bytes after this job's state_updates (limit 1048576 bytes); state left unchanged",
    ),
    "exit_78": (
        py("print('missing api_key', file=sys.stderr)\nsys.exit(78)\n"),
        "failed",
        "plugin exited 78 (EX_CONFIG, never retried): missing api_key",
    ),
    "self_kill": (
        py("os.kill(os.getpid(), signal.SIGKILL)\n"),
        "failed",
        "plugin wrote nothing to stdout (expected one JSON object) (exit code -9)",
    ),
    "stdout_100mb": (
        py("chunk = b'x' * (1 << 20)\nfor _ in range(100):\n    sys.stdout.buffer.write(chunk)\n"),
        "failed",
        "plugin stdout exceeded the 10 MiB limit; first bytes: 'xxxx",
    ),
    "hang": (py("time.sleep(300)\n"), "timed_out", "plugin still running after its 1s timeout; process group killed"),
    "ignore_sigterm": (
        py("signal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.1)\n"),
        "timed_out",
        "plugin still running after its 1s timeout; process group killed",
    ),
}

# Plugins that end well, but misbehave on the way; checked one by one below.
SPECIAL = {
    "stderr_100mb": py(
        "chunk = 'e' * (1 << 20)\nfor _ in range(100):\n    sys.stderr.write(chunk)\n"
        "print(json.dumps({'status': 'ok', 'result': 'loud but fine'}))\n"
    ),
    "early_close": py(
        "print(json.dumps({'status': 'ok', 'result': 'said it early'}), flush=True)\n"
        "os.close(1)\ntime.sleep(1.5)\nprint('still working after closing stdout', file=sys.stderr)\n"
    ),
    # The child stays in the plugin's process group and holds stdout open; the parent exits.
    "fork_escape": py(
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    with open(request['config']['pidfile'], 'w') as f: f.write(str(os.getpid()))\n"
        "    time.sleep(300)\n"
        "    os._exit(0)\n"
        "while not os.path.exists(request['config']['pidfile']): time.sleep(0.01)\n"
        "print(json.dumps({'status': 'ok', 'result': 'parent done'}), flush=True)\n"
    ),
    # The same, but the child closes stdio first: nothing holds the pipes, it still must die.
    "fork_quiet": py(
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os.close(0); os.close(1); os.close(2)\n"
        "    with open(request['config']['pidfile'], 'w') as f: f.write(str(os.getpid()))\n"
        "    time.sleep(300)\n"
        "    os._exit(0)\n"
        "while not os.path.exists(request['config']['pidfile']): time.sleep(0.01)\n"
        "print(json.dumps({'status': 'ok', 'result': 'parent done'}), flush=True)\n"
    ),
}


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    root = tmp_path_factory.mktemp("adversarial")
    plugins: dict[str, Any] = {"good": {}}
    make_plugin(root / "plugins", "good", GOOD)
    for name, (script, _, _) in CASES.items():
        make_plugin(root / "plugins", name, script)
        plugins[name] = {"retry": {"max_attempts": 1}, "timeouts": {"poll": "1s"}}
    for name, script in SPECIAL.items():
        make_plugin(root / "plugins", name, script)
        plugins[name] = {"retry": {"max_attempts": 1}, "timeouts": {"poll": "20s"}}
    for name in ("fork_escape", "fork_quiet"):
        plugins[name]["config"] = {"pidfile": str(root / f"{name}.pid")}
    port = free_port()
    config = base_config([root / "plugins"], plugins, port=port)
    write_config(root / "gw", config)
    gateway = GatewayProcess(root / "gw", port=port).start()
    yield gateway
    gateway.stop()


def run_job(gw: GatewayProcess, plugin: str, timeout: float = 60.0) -> dict[str, Any]:
    """Enqueue over the API and wait for a terminal status; the job as GET /job shows it."""
    with httpx.Client(base_url=gw.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as client:
        response = client.post(f"/plugin/{plugin}/poll", json={})
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]

        def terminal() -> dict[str, Any] | None:
            job = client.get(f"/job/{job_id}").json()
            return job if job["status"] not in ("queued", "running") else None

        return wait_for(terminal, timeout=timeout, interval=0.1, message=f"{plugin} job {job_id} to end")


def attempts(gw: GatewayProcess, job_id: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=gw.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as client:
        response = client.get("/job-attempts", params={"job_id": job_id, "include_result": "true"})
        assert response.status_code == 200, response.text
        return response.json()["attempts"]


def gateway_still_serves(gw: GatewayProcess) -> None:
    assert gw.proc is not None and gw.proc.poll() is None, gw.log()
    assert httpx.get(f"{gw.url}/healthz", timeout=10).json()["status"] == "ok"
    assert run_job(gw, "good")["status"] == "succeeded"


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.mark.parametrize("plugin", list(CASES))
def test_misbehaving_plugin_ends_with_exact_status_and_error(gw: GatewayProcess, plugin: str) -> None:
    _, status, fragment = CASES[plugin]
    job = run_job(gw, plugin)
    assert job["status"] == status, job
    assert fragment in job["last_error"], job["last_error"]
    gateway_still_serves(gw)


@pytest.mark.parametrize("plugin", ["surrogate_state", "huge_state"])
def test_refused_state_updates_leave_the_state_unchanged(gw: GatewayProcess, plugin: str) -> None:
    assert run_job(gw, plugin)["status"] in ("dead", "failed")
    with httpx.Client(base_url=gw.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as client:
        response = client.get("/plugin-state", params={"plugin": plugin})
    assert response.status_code == 200, response.text
    assert response.json()["states"].get(plugin) in (None, {})


def test_100mb_of_stdout_keeps_the_gateway_memory_bounded(gw: GatewayProcess) -> None:
    assert gw.proc is not None
    before = peak_rss_kib(gw.proc.pid)
    job = run_job(gw, "stdout_100mb")
    assert job["status"] == "failed"
    grown_mib = (peak_rss_kib(gw.proc.pid) - before) / 1024
    # The cap is 10 MiB (plus copies while judging); holding the whole output would add 100+ MiB.
    assert grown_mib < 60, f"gateway peak RSS grew by {grown_mib:.0f} MiB"


def test_100mb_of_stderr_is_cut_to_its_tail_and_the_job_still_succeeds(gw: GatewayProcess) -> None:
    job = run_job(gw, "stderr_100mb")
    assert job["status"] == "succeeded", job
    [attempt] = attempts(gw, job["job_id"])
    assert attempt["stderr"].startswith("[stderr truncated to the last 65536 bytes]\n")
    assert len(attempt["stderr"]) < 70_000
    gateway_still_serves(gw)


def test_closing_stdout_early_then_working_on_keeps_the_answer(gw: GatewayProcess) -> None:
    job = run_job(gw, "early_close")
    assert job["status"] == "succeeded", job
    assert job["result"]["result"] == "said it early"
    [attempt] = attempts(gw, job["job_id"])
    assert "still working after closing stdout" in attempt["stderr"]
    gateway_still_serves(gw)


@pytest.mark.parametrize("plugin", ["fork_escape", "fork_quiet"])
def test_a_forked_child_that_outlives_the_plugin_is_killed(gw: GatewayProcess, plugin: str) -> None:
    pidfile = gw.config_dir.parent / f"{plugin}.pid"
    pidfile.unlink(missing_ok=True)
    job = run_job(gw, plugin)
    assert job["status"] == "succeeded", job
    child = int(pidfile.read_text())
    try:
        wait_for(lambda: not alive(child), timeout=10, message=f"forked child {child} to be killed")
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)
    gateway_still_serves(gw)


def test_a_plugin_ignoring_sigterm_is_gone_after_its_timeout(gw: GatewayProcess) -> None:
    job = run_job(gw, "ignore_sigterm")
    assert job["status"] == "timed_out"
    [attempt] = attempts(gw, job["job_id"])
    assert attempt["exit_code"] is None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _plugin_processes("ignore_sigterm"):
        time.sleep(0.1)
    assert not _plugin_processes("ignore_sigterm")


def _plugin_processes(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(part.endswith(f"/{name}/run".encode()) for part in cmdline) and alive(int(entry.name)):
            found.append(int(entry.name))
    return found
