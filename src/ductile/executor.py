"""Run one plugin process: spawn in its own session, feed the request, collect capped output,
enforce the timeout by killing the whole process group.

Two steps, so the dispatcher can spawn inside the transaction that claims the job and records
the pid (`spawn`), then watch the process from the event loop (`supervise`). `run_plugin` does
both for callers that have no transaction to share.

Why not asyncio's subprocess layer: per job it builds two read transports, a write transport,
three protocols, two StreamReaders, a child-watcher registration and four tasks; that was ~0.5 ms
of the event loop's CPU per job, more than the spawn itself. Here the pipes are raw non-blocking
fds in the loop's one epoll set of plugin fds (`fdwatch.py`; cheaper than `loop.add_reader` per
fd), the exit is a pidfd in the same set (a thread blocked in `waitpid` where pidfds are
missing), a request larger than the pipe is finished through `loop.add_writer`, and one future
with one timer waits for "exited" or "deadline" (the pipes are read as soon as the exit is reaped,
so the wait for "drained" rarely needs a second one) — `bench/dispatch.py` measures the difference.

Returns what happened (`RunResult`); judging it against the protocol is `protocol.py`'s job and
deciding the job's next status is `lifecycle.py`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ductile import spawning
from ductile.fdwatch import fd_set
from ductile.protocol import STDERR_LIMIT, STDOUT_LIMIT

ENV_ALLOWLIST = ("PATH", "HOME", "TZ", "LANG", "LANGUAGE", "TMPDIR")
_CHUNK = 65536
LINGER = 0.5  # seconds the pipes may stay open after the plugin process exits
_HAS_PIDFD = hasattr(os, "pidfd_open")


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
    """Python 3.11's default watcher costs ~1 ms per child; pidfd avoids it (3.12+ does this itself).

    Plugins no longer go through asyncio's subprocess layer (see the module docstring); this
    stays for any other `asyncio.create_subprocess_*` caller in the gateway process."""
    if sys.version_info >= (3, 12) or not _HAS_PIDFD:
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


@dataclass
class Child:
    """A spawned plugin: its pid (also its session and process group) and the parent's
    non-blocking ends of its pipes. `started` is `time.perf_counter()` just before the spawn;
    `returncode` is set once the process has been reaped."""

    pid: int
    stdin: int
    stdout: int
    stderr: int
    started: float
    popen: subprocess.Popen[bytes] | None = None  # only on the fallback path (see `spawn`)
    returncode: int | None = None

    def reaped(self, code: int) -> None:
        self.returncode = code
        if self.popen is not None:
            self.popen.returncode = code  # Popen's own bookkeeping: reaped, nothing to warn about


def spawn(entrypoint: Path, *, cwd: Path, env: dict[str, str]) -> Child:
    """Start the plugin in a new session with three pipes; raises OSError when it cannot start.

    The pipes are made here so that the parent's ends are bare fds (no file objects). The child
    is started by `spawning.fork_exec` — the same vfork+exec in C that `subprocess.Popen` uses
    (close every other fd, `setsid`, signals restored, cwd, env), without Popen's Python-level
    bookkeeping, which cost about as much parent CPU again as the spawn itself. Where that entry
    point is not known to match (another Python version), `subprocess.Popen` does the same job.
    """
    started = time.perf_counter()
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    popen: subprocess.Popen[bytes] | None = None
    try:
        if spawning.available:
            pid = spawning.fork_exec(str(entrypoint), str(cwd), env, in_r, out_w, err_w)
        else:
            popen = subprocess.Popen(
                [str(entrypoint)],
                stdin=in_r,
                stdout=out_w,
                stderr=err_w,
                cwd=str(cwd),
                env=env,
                start_new_session=True,
            )
            pid = popen.pid
    except BaseException:
        for fd in (in_w, out_r, err_r):
            os.close(fd)
        raise
    finally:
        for fd in (in_r, out_w, err_w):
            os.close(fd)
    for fd in (in_w, out_r, err_r):
        # A new pipe end has no status flags but its access mode (which F_SETFL ignores): one
        # fcntl instead of `os.set_blocking`'s read-modify-write pair.
        fcntl.fcntl(fd, fcntl.F_SETFL, os.O_NONBLOCK)
    return Child(pid, in_w, out_r, err_r, started, popen)


def discard(child: Child) -> None:
    """Kill and reap a spawned plugin that will not be supervised (its claim did not commit)."""
    _signal_group(child.pid, signal.SIGKILL)
    for fd in (child.stdin, child.stdout, child.stderr):
        with contextlib.suppress(OSError):
            os.close(fd)
    with contextlib.suppress(ChildProcessError):
        child.reaped(os.waitstatus_to_exitcode(os.waitpid(child.pid, 0)[1]))


class _Watch:
    """Event-loop callbacks for one child: feed stdin, drain stdout (head) and stderr (tail),
    reap the exit. `until(condition, timeout)` waits for one of them with a single future."""

    def __init__(self, loop: asyncio.AbstractEventLoop, child: Child, request: bytes):
        self.loop = loop
        self.child = child
        self.out = bytearray()
        self.err = bytearray()
        self.out_overflow = False
        self.err_truncated = False
        self.returncode: int | None = None
        self.open_pipes = 2
        self._watched = {child.stdout, child.stderr}
        self._pending = memoryview(request)
        self._stdin: int | None = child.stdin
        self._writing = False  # add_writer is only needed when the request does not fit the pipe
        self._pidfd: int | None = None
        self._waiter: asyncio.Future[bool] | None = None
        self._condition: Callable[[], bool] | None = None
        self._write()
        if self._stdin is not None:
            self._writing = True
            loop.add_writer(self._stdin, self._write)
        self._fds = fds = fd_set(loop)
        fds.add(child.stdout, self._read_out)
        fds.add(child.stderr, self._read_err)
        self._watch_exit()

    # -- conditions ------------------------------------------------------------------------
    def exited(self) -> bool:
        return self.returncode is not None

    def drained(self) -> bool:
        return self.open_pipes == 0

    async def until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Wait until `condition()` holds (True) or `timeout` seconds pass (its value then)."""
        if condition():
            return True
        waiter = self.loop.create_future()
        self._waiter, self._condition = waiter, condition
        timer = self.loop.call_later(timeout, _expire, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()
            self._waiter = self._condition = None

    def _changed(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done() and self._condition is not None and self._condition():
            waiter.set_result(True)

    # -- stdin -----------------------------------------------------------------------------
    def _write(self) -> None:
        fd = self._stdin
        if fd is None:
            return
        try:
            while self._pending:
                written = os.write(fd, self._pending[:_CHUNK])
                self._pending = self._pending[written:]
        except BlockingIOError:
            return  # the pipe is full; add_writer calls again when the plugin has read some
        except OSError:
            pass  # EPIPE: the plugin did not read its input; its output still decides
        self._close_stdin()

    def _close_stdin(self) -> None:
        fd, self._stdin = self._stdin, None
        if fd is not None:
            if self._writing:
                self.loop.remove_writer(fd)
            os.close(fd)

    # -- stdout / stderr -------------------------------------------------------------------
    def _read_out(self) -> None:
        fd = self.child.stdout
        for _ in range(2):  # after a short read, look for the EOF now rather than a loop pass later
            data = self._read(fd)
            if data is None:
                return
            if not data:
                self._eof(fd)
                return
            if not self.out_overflow:  # past the limit: keep draining so the plugin is not blocked
                kept = self.out
                kept += data
                if len(kept) > STDOUT_LIMIT:
                    self.out_overflow = True
                    del kept[STDOUT_LIMIT:]
            if len(data) == _CHUNK:
                return  # the pipe may hold more: the next pass reads it (one chunk per pass)

    def _read_err(self) -> None:
        fd = self.child.stderr
        for _ in range(2):
            data = self._read(fd)
            if data is None:
                return
            if not data:
                self._eof(fd)
                return
            kept = self.err
            kept += data
            if len(kept) > STDERR_LIMIT:
                self.err_truncated = True
                del kept[: len(kept) - STDERR_LIMIT]
            if len(data) == _CHUNK:
                return

    def _read(self, fd: int) -> bytes | None:
        try:
            return os.read(fd, _CHUNK)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    def _eof(self, fd: int) -> None:
        self._fds.remove(self.loop, fd)
        self._watched.discard(fd)
        self.open_pipes -= 1
        self._changed()

    # -- exit ------------------------------------------------------------------------------
    def _watch_exit(self) -> None:
        if _HAS_PIDFD:
            try:
                self._pidfd = os.pidfd_open(self.child.pid)
            except OSError:  # kernel without pidfds (< 5.3), or a sandbox that forbids them
                self._pidfd = None
            else:
                self._fds.add(self._pidfd, self._reap)
                return
        thread = threading.Thread(target=self._wait_blocking, name=f"reap-{self.child.pid}", daemon=True)
        thread.start()

    def _reap(self) -> None:
        try:
            pid, status = os.waitpid(self.child.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self.child.pid, 255 << 8
        if pid == 0:
            return
        self._exited(os.waitstatus_to_exitcode(status))

    def _wait_blocking(self) -> None:
        try:
            status = os.waitpid(self.child.pid, 0)[1]
        except ChildProcessError:
            status = 255 << 8
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            self.loop.call_soon_threadsafe(self._exited, os.waitstatus_to_exitcode(status))

    def _exited(self, code: int) -> None:
        if self._pidfd is not None:
            self._fds.remove(self.loop, self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        self.returncode = code
        self.child.reaped(code)
        # The plugin is gone, so its pipes are usually at EOF already: read them now, and the
        # job's task resumes once with both conditions met instead of once per condition.
        if self.child.stdout in self._watched:
            self._read_out()
        if self.child.stderr in self._watched:
            self._read_err()
        self._changed()

    # -- cleanup ---------------------------------------------------------------------------
    def close_pipes(self) -> None:
        """Stop watching the pipes and close them; the exit watch stays until the child is reaped."""
        self._close_stdin()
        for fd in self._watched:  # the ones not already unregistered at their EOF
            self._fds.remove(self.loop, fd)
        self._watched.clear()
        for fd in (self.child.stdout, self.child.stderr):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.open_pipes = 0


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


async def supervise(child: Child, request: bytes, *, timeout: float, kill_grace: float = 5.0) -> RunResult:
    """Feed `request`, collect output and wait for the exit; past `timeout` SIGTERM the group,
    past `kill_grace` more SIGKILL it. Whatever is left of the group afterwards is killed.
    Cancelled: the group is killed at once and the cancellation propagates."""
    watch = _Watch(asyncio.get_running_loop(), child, request)
    pgid = child.pid  # start_new_session makes the child a session and group leader
    timed_out = False
    try:
        if not await watch.until(watch.exited, timeout):
            timed_out = True
            _signal_group(pgid, signal.SIGTERM)
            if not await watch.until(watch.exited, kill_grace):
                _signal_group(pgid, signal.SIGKILL)
                await watch.until(watch.exited, 5.0)
        # The leader is gone. Output normally ends with it; a child that still holds the pipes
        # gets a moment, then the whole group is killed so nothing of the job outlives it.
        await watch.until(watch.drained, LINGER)
    except asyncio.CancelledError:
        _signal_group(pgid, signal.SIGKILL)
        watch.close_pipes()
        raise
    finally:
        if _group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)
    # A process outside the group (it called setsid) may still hold the pipes: give up on them.
    await watch.until(watch.drained, 1.0)
    watch.close_pipes()
    exit_code = watch.returncode
    return RunResult(
        stdout=bytes(watch.out),
        stdout_overflow=watch.out_overflow,
        stderr=bytes(watch.err).decode("utf-8", errors="replace"),
        stderr_truncated=watch.err_truncated,
        exit_code=None if timed_out and (exit_code is None or exit_code < 0) else exit_code,
        timed_out=timed_out,
        duration_ms=(time.perf_counter() - child.started) * 1000,
    )


def spawn_failure(entrypoint: Path, exc: OSError, started: float) -> RunResult:
    """The result of a plugin that could not be started at all."""
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
    """`spawn` then `supervise`, for callers with no claim transaction to spawn in."""
    started = time.perf_counter()
    try:
        child = spawn(entrypoint, cwd=cwd, env=env)
    except OSError as exc:
        return spawn_failure(entrypoint, exc, started)
    if on_spawn is not None:
        try:
            on_spawn(child.pid)
        except BaseException:
            discard(child)
            raise
    return await supervise(child, request, timeout=timeout, kill_grace=kill_grace)


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
