"""Run one plugin process: spawn in its own session, feed the request, collect capped output,
enforce the timeout by killing the whole process group.

Returns what happened (`RunResult`); judging it against the protocol is `protocol.py`'s job and
deciding the job's next status is `lifecycle.py`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ductile.protocol import STDERR_LIMIT, STDOUT_LIMIT

ENV_ALLOWLIST = ("PATH", "HOME", "TZ", "LANG", "LANGUAGE", "TMPDIR")
_CHUNK = 65536
LINGER = 0.5  # seconds the pipes may stay open after the plugin process exits


@dataclass(frozen=True)
class RunResult:
    stdout: bytes
    stdout_overflow: bool  # more than STDOUT_LIMIT arrived; stdout holds the prefix
    stderr: str  # tail, at most STDERR_LIMIT bytes
    stderr_truncated: bool
    exit_code: int | None  # None when killed by us
    timed_out: bool
    duration_ms: float
    spawn_error: str | None = None


def plugin_env(passthrough: list[str], source: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a plugin sees: an allowlist plus the configured passthrough names, nothing else."""
    source = os.environ if source is None else source
    names = set(ENV_ALLOWLIST) | set(passthrough)
    return {k: v for k, v in source.items() if k in names or k.startswith("LC_")}


def install_child_watcher() -> None:
    """Python 3.11's default watcher costs ~1 ms per child; pidfd avoids it (3.12+ does this itself)."""
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = asyncio.get_running_loop()
            watcher = asyncio.PidfdChildWatcher()
            watcher.attach_loop(loop)
            asyncio.set_child_watcher(watcher)
        except (OSError, RuntimeError, NotImplementedError):
            pass


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


async def _read_capped(stream: asyncio.StreamReader, limit: int, keep_tail: bool, kept: bytearray) -> bool:
    """Read to EOF into `kept`, holding at most `limit` bytes (head or tail); True if more arrived.

    The buffer belongs to the caller so that what arrived survives a cancelled read (timeouts).
    """
    overflow = False
    while True:
        chunk = await stream.read(_CHUNK)
        if not chunk:
            break
        kept += chunk
        if len(kept) > limit:
            overflow = True
            if keep_tail:
                del kept[: len(kept) - limit]
            else:
                del kept[limit:]
    return overflow


async def _exited(proc: asyncio.subprocess.Process, leader: asyncio.Future[int], timeout: float) -> bool:
    """Wait up to `timeout` for the plugin process to exit.

    asyncio's `wait()` only returns once the pipes close too, so a child holding stdout would
    hide the exit; `returncode` is set as soon as the process is reaped, so check it as well.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return proc.returncode is not None
        done, _ = await asyncio.wait([leader], timeout=min(remaining, 0.25))
        if done or proc.returncode is not None:
            return True


async def run_plugin(
    entrypoint: Path,
    request: bytes,
    *,
    cwd: Path,
    env: dict[str, str],
    timeout: float,
    kill_grace: float = 5.0,
    on_spawn: Callable[[int], None] | None = None,
) -> RunResult:
    started = time.perf_counter()
    try:
        proc = await asyncio.create_subprocess_exec(
            str(entrypoint),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=str(cwd),
            env=env,
            start_new_session=True,
            limit=_CHUNK,
        )
    except OSError as exc:
        return RunResult(
            b"",
            False,
            "",
            False,
            None,
            False,
            (time.perf_counter() - started) * 1000,
            spawn_error=f"could not start {entrypoint}: {exc.strerror or exc}",
        )
    pgid = proc.pid  # start_new_session makes the child a session and group leader
    if on_spawn is not None:
        on_spawn(pgid)
    assert proc.stdin and proc.stdout and proc.stderr

    async def feed() -> None:
        try:
            proc.stdin.write(request)
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the plugin did not read its input; its output still decides
        finally:
            with contextlib.suppress(Exception):
                proc.stdin.close()

    out_buf, err_buf = bytearray(), bytearray()
    out_task = asyncio.ensure_future(_read_capped(proc.stdout, STDOUT_LIMIT, False, out_buf))
    err_task = asyncio.ensure_future(_read_capped(proc.stderr, STDERR_LIMIT, True, err_buf))
    feed_task = asyncio.ensure_future(feed())
    leader = asyncio.ensure_future(proc.wait())
    readers = asyncio.gather(out_task, err_task, feed_task)
    timed_out = False
    try:
        if not await _exited(proc, leader, timeout):
            timed_out = True
            _signal_group(pgid, signal.SIGTERM)
            if not await _exited(proc, leader, kill_grace):
                _signal_group(pgid, signal.SIGKILL)
                await _exited(proc, leader, 5.0)
        # The leader is gone. Output normally ends with it; a child that still holds the pipes
        # gets a moment, then the whole group is killed so nothing of the job outlives it.
        if not readers.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(readers), LINGER)
    except asyncio.CancelledError:
        _signal_group(pgid, signal.SIGKILL)
        raise
    finally:
        if _group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)
    if not readers.done():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(readers), 1.0)
    if not readers.done():  # a process outside the group (it called setsid) holds the pipes
        for task in (out_task, err_task, feed_task):
            task.cancel()
        with contextlib.suppress(BaseException):
            await readers
    leader.cancel()
    overflow = bool(out_task.result()) if out_task.done() and not out_task.cancelled() else len(out_buf) >= STDOUT_LIMIT
    err_trunc = bool(err_task.result()) if err_task.done() and not err_task.cancelled() else False
    stdout, stderr_bytes = bytes(out_buf), bytes(err_buf)
    exit_code = proc.returncode
    return RunResult(
        stdout=stdout,
        stdout_overflow=overflow,
        stderr=stderr_bytes.decode("utf-8", errors="replace"),
        stderr_truncated=err_trunc,
        exit_code=None if timed_out and (exit_code is None or exit_code < 0) else exit_code,
        timed_out=timed_out,
        duration_ms=(time.perf_counter() - started) * 1000,
    )


def kill_orphan(pid: int, wait: float = 3.0) -> bool:
    """Kill the process group of a plugin a dead gateway left behind; True if one was found.

    Only a process that still leads its own session and group (as every plugin we spawn does)
    is touched, so a recycled pid belonging to some unrelated process is left alone.
    """
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    state, pgrp, session = fields[0], int(fields[2]), int(fields[3])
    if state == "Z" or pgrp != pid or session != pid:
        return False
    _signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + wait
    while _group_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return True
