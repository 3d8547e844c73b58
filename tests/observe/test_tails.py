"""`ductile events` and `ductile job logs --follow` as real CLI processes against a real gateway,
including a gateway restart in the middle of a tail (the tail reconnects and carries on)."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from conftest import ADMIN_TOKEN, DUCTILE, base_config, enqueue, free_port, make_plugin, wait_for

pytestmark = pytest.mark.slow
NO_EVENTS = "tails-no-events-token-0123456789"


def plugins(root: Path, flag: Path) -> None:
    make_plugin(root, "quick", '#!/usr/bin/env bash\ncat >/dev/null\necho \'{"status":"ok","result":"q"}\'\n')
    make_plugin(
        root,
        "twice",
        f"""\
        #!/usr/bin/env bash
        cat >/dev/null
        if [ -e {flag} ]; then echo '{{"status":"ok","result":"second time lucky"}}'; exit 0; fi
        touch {flag}
        echo "first attempt stderr" >&2
        sleep 1
        echo '{{"status":"error","error":"first attempt fails","retry":true}}'
        """,
    )


def config(tmp_path: Path, port: int) -> dict:
    plugins(tmp_path / "plugins", tmp_path / "flag")
    cfg = base_config(
        [tmp_path / "plugins"],
        {"quick": {}, "twice": {"retry": {"max_attempts": 3, "backoff_base": "200ms"}}},
        port=port,
    )
    cfg["api"]["auth"]["tokens"].append({"name": "nope", "token": NO_EVENTS, "scopes": ["jobs:ro"]})
    return cfg


class Tail:
    """A CLI process whose stderr is read as it comes, so a test can wait for `connected`."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen([DUCTILE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.err: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err.append(line)

    def connections(self) -> int:
        return sum("connected to" in line for line in self.err)

    def wait_connected(self, times: int = 1) -> None:
        wait_for(lambda: self.connections() >= times, timeout=60, message=f"connection {times} of the tail")

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        assert self.proc.stdout is not None
        out = self.proc.stdout.read() if self.proc.wait(timeout) is not None else ""
        self._reader.join(5)
        return self.proc.returncode, out, "".join(self.err)


def test_events_tail_filters_by_plugin_and_stops_after_count(tmp_path, gateway_factory):
    gw = gateway_factory(config(tmp_path, free_port()))
    tail = Tail(
        "events",
        "--api-url",
        gw.url,
        "--token",
        ADMIN_TOKEN,
        "--plugin",
        "quick",
        "--type",
        "job.",
        "--count",
        "4",
        "--json",
    )
    tail.wait_connected()  # events published before a tail connects are not part of it
    enqueue(gw.url, ADMIN_TOKEN, "twice", "poll")  # another plugin's events are filtered out
    ids = [enqueue(gw.url, ADMIN_TOKEN, "quick", "poll") for _ in range(2)]
    code, out, err = tail.finish()
    assert code == 0, err
    # only its own notes on stderr: no "error occurred during closing of asynchronous generator"
    assert err and all(note.startswith("ductile events: ") for note in err.splitlines()), err
    events = [json.loads(line) for line in out.splitlines()]
    assert len(events) == 4 and all(e["data"]["plugin"] == "quick" for e in events)
    assert all(e["type"].startswith("job.") and isinstance(e["id"], int) for e in events)
    assert {e["data"]["job_id"] for e in events} <= set(ids)


def test_events_tail_survives_a_gateway_restart(tmp_path, gateway_factory):
    port = free_port()
    gw = gateway_factory(config(tmp_path, port))
    tail = Tail("events", "--api-url", gw.url, "--token", ADMIN_TOKEN, "--type", "job.queued", "--count", "2")
    tail.wait_connected()
    first = enqueue(gw.url, ADMIN_TOKEN, "quick", "poll")
    assert gw.stop(signal.SIGTERM, timeout=30) == 0
    gw.start()  # same port, same database
    tail.wait_connected(2)
    second = enqueue(gw.url, ADMIN_TOKEN, "quick", "poll")
    code, out, err = tail.finish()
    assert code == 0, err
    assert all(note.startswith("ductile events: ") for note in err.splitlines()), err
    lines = out.splitlines()
    assert len(lines) == 2 and first in lines[0] and second in lines[1], out
    assert "reconnecting" in err and "resuming after event" in err


def test_events_tail_refused_without_the_scope(tmp_path, gateway_factory):
    gw = gateway_factory(config(tmp_path, free_port()))
    code, _, err = Tail("events", "--api-url", gw.url, "--token", NO_EVENTS).finish()
    assert code == 1 and "lacks scope 'events:ro'" in err


def test_job_logs_follow_prints_each_attempt_and_exits_with_the_outcome(tmp_path, gateway_factory):
    gw = gateway_factory(config(tmp_path, free_port()))
    job_id = enqueue(gw.url, ADMIN_TOKEN, "twice", "poll")
    code, out, err = Tail(
        "job", "logs", "--job-id", job_id, "--follow", "--api-url", gw.url, "--token", ADMIN_TOKEN
    ).finish(90)
    assert code == 0, out + err
    assert f"{job_id} #1" in out and "first attempt fails" in out and "stderr: first attempt stderr" in out
    assert f"{job_id} #2" in out and out.rstrip().endswith(f"job {job_id} succeeded")
    # a finished job: prints what there is and exits at once with its outcome
    again = subprocess.run(
        [DUCTILE, "job", "logs", "--job-id", job_id, "-f", "--api-url", gw.url, "--token", ADMIN_TOKEN],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0 and again.stdout.count(f"{job_id} #") == 2
    no_id = subprocess.run([DUCTILE, "job", "logs", "-f", "--api-url", gw.url], capture_output=True, text=True)
    assert no_id.returncode == 1 and "--follow needs --job-id" in no_id.stderr
