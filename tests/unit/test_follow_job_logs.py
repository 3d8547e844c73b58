"""`job logs --follow` when the job ends between the first read and the event subscription: the
follow must read the job again once the stream is open (`follow(on_open=…)`), because the event
that would have told it has already gone. Made deterministic with a stand-in gateway on loopback
whose job is `running` at the first read and `succeeded` at every later one, and whose event
stream opens and then stays silent — the window the race needs, every time."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ductile.cli.events_cmd import follow_job_logs

JOB = "0b7d6a52-1c1e-4f43-9a43-5f1d2a0c9e11"
ATTEMPT = {
    "job_id": JOB,
    "attempt": 1,
    "plugin": "p",
    "command": "poll",
    "outcome": "success",
    "status": "succeeded",
    "started_at": "2026-11-30T05:00:00Z",
    "completed_at": "2026-11-30T05:00:01Z",
    "error": None,
    "logs": [],
}


class Gateway(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.job_reads = 0
        self.streams = 0
        self.closing = threading.Event()


class Handler(BaseHTTPRequestHandler):
    server: Gateway

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.startswith(f"/job/{JOB}"):
            self.server.job_reads += 1
            ended = self.server.job_reads > 1  # running at the first read, over ever after
            self._json({"job_id": JOB, "status": "succeeded" if ended else "running", "attempt": 1})
        elif self.path.startswith("/job-attempts"):
            self._json({"attempts": [ATTEMPT] if self.server.job_reads > 1 else []})
        elif self.path.startswith("/events"):
            self.server.streams += 1
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            opened = {"last_id": 7, "boot": "b", "resumed_from": None}
            self.wfile.write(f"retry: 1000\n\nevent: stream.open\ndata: {json.dumps(opened)}\n\n".encode())
            self.wfile.flush()
            self.server.closing.wait(30)  # then silence: the job's events went out before we subscribed
        else:
            self.send_error(404)


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    server = Gateway()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.closing.set()
    server.shutdown()
    server.server_close()


@pytest.mark.timeout(30)
def test_a_job_that_ends_before_the_stream_opens_is_still_reported(gateway: Gateway, capsys: Any) -> None:
    shown: list[dict[str, Any]] = []
    url = f"http://127.0.0.1:{gateway.server_address[1]}"
    code = follow_job_logs(url, "t", JOB, shown.append)
    assert code == 0
    assert [a["attempt"] for a in shown] == [1]  # the attempt, printed once
    assert gateway.job_reads == 2 and gateway.streams == 1  # read, subscribe, read again on open
    assert f"job {JOB} succeeded" in capsys.readouterr().out
