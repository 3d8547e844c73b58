"""sd_notify spoken to a real datagram socket, and a real gateway process under a fake service
manager: READY=1 only once the API answers, watchdog pings from the event loop, STOPPING=1 on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest
from conftest import base_config, free_port

from ductile import sdnotify


def listener(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.2)
    return sock


def drain(sock: socket.socket, until: float) -> list[str]:
    out = []
    while time.monotonic() < until:
        try:
            out.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
    return out


def test_watchdog_interval_is_half_of_watchdog_usec_and_honours_watchdog_pid():
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, pid=42) == 15.0
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, pid=43) is None
    for bad in ({}, {"WATCHDOG_USEC": ""}, {"WATCHDOG_USEC": "0"}, {"WATCHDOG_USEC": "-5"}, {"WATCHDOG_USEC": "x"}):
        assert sdnotify.watchdog_interval(bad) is None


def test_notify_is_a_no_op_outside_systemd(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.notify("READY=1") is False


def test_notify_reaches_a_path_socket_and_an_abstract_one(tmp_path, monkeypatch):
    with listener(tmp_path / "notify") as sock:
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
        assert sdnotify.notify("READY=1\nSTATUS=x") is True
        assert sock.recv(4096) == b"READY=1\nSTATUS=x"
    name = f"ductile-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as abstract:
        abstract.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.notify("WATCHDOG=1") is True
        assert abstract.recv(4096) == b"WATCHDOG=1"


def test_a_dead_notify_socket_is_reported_not_raised(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    assert sdnotify.notify("READY=1") is False
    assert any(r.getMessage() == "sd_notify failed" for r in caplog.records)


@pytest.mark.slow
def test_gateway_tells_the_service_manager_ready_watchdog_and_stopping(tmp_path, gateway_factory, monkeypatch):
    (tmp_path / "plugins").mkdir()
    with listener(tmp_path / "notify") as sock:
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
        monkeypatch.setenv("WATCHDOG_USEC", "400000")  # a ping every 0.2 s
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
        port = free_port()
        gw = gateway_factory(base_config([tmp_path / "plugins"], {}, port=port), start=False)
        gw.start(wait=False)
        deadline = time.monotonic() + 60
        ready = None
        while ready is None and time.monotonic() < deadline:
            assert gw.proc is not None and gw.proc.poll() is None, gw.log()
            try:
                message = sock.recv(4096).decode()
            except TimeoutError:
                continue
            if message.startswith("READY=1"):
                ready = message
        assert ready is not None, "no READY=1 within 60 s:\n" + gw.log()
        assert "STATUS=running" in ready
        # READY means bound: the API answers at once, without a retry loop.
        assert httpx.get(f"{gw.url}/healthz", timeout=5).status_code == 200
        pings = [m for m in drain(sock, time.monotonic() + 1.5) if m == "WATCHDOG=1"]
        assert len(pings) >= 2, pings
        gw.proc.send_signal(signal.SIGTERM)
        after = drain(sock, time.monotonic() + 3)
        assert gw.proc.wait(30) == 0
        assert any(m.startswith("STOPPING=1") for m in after), after
