"""Start a plugin process the way `subprocess.Popen` does, minus Popen's Python-level work.

Why: on the dispatcher's hot path, `Popen.__init__` cost the gateway ~0.12-0.15 ms of CPU per job
in Python bookkeeping (argument checks, handle juggling, the `_active` list, the object itself)
on top of the spawn, about as much again as the spawn itself (`bench/dispatch.py`, issue 11).
This calls the same C entry point Popen ends in, `_posixsubprocess.fork_exec` (vfork+exec, with
the GIL released while the parent is suspended), with Popen's own arguments for
`start_new_session=True, close_fds=True, restore_signals=True`, and reads the child's error pipe
the way Popen does, so a plugin that cannot be started raises the same `OSError`.

`fork_exec` is private; its signature is pinned per Python version below (identical in 3.11,
3.12 and 3.13). On any other version `available` is False and the executor uses Popen.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from typing import Any

_fork_exec: Callable[..., int] | None = None
if sys.platform.startswith("linux") and (3, 11) <= sys.version_info[:2] <= (3, 13):
    try:
        from _posixsubprocess import fork_exec as _fork_exec
    except ImportError:  # pragma: no cover - a build without it
        _fork_exec = None

available = _fork_exec is not None


def fork_exec(program: str, cwd: str, env: dict[str, str], stdin: int, stdout: int, stderr: int) -> int:
    """Spawn `program` (an absolute path) in a new session with `stdin`/`stdout`/`stderr` as its
    fds 0-2, every other fd closed, default signal dispositions restored; returns its pid.
    Raises OSError (errno and filename set as Popen sets them) when it could not be started."""
    assert _fork_exec is not None
    executable = os.fsencode(program)
    env_list = _encoded_env(env)
    errpipe_read, errpipe_write = os.pipe()
    low: list[int] = []
    while errpipe_write < 3:  # fds 0-2 are overwritten in the child: keep the error pipe above them
        low.append(errpipe_write)
        errpipe_write = os.dup(errpipe_write)
    for fd in low:
        os.close(fd)
    try:
        try:
            pid = _fork_exec(
                [executable],
                (executable,),
                True,  # close_fds
                (errpipe_write,),  # pass_fds: the error pipe survives close_fds until exec
                cwd,
                env_list,
                stdin,
                -1,  # p2cwrite: ours is close-on-exec
                -1,  # c2pread
                stdout,
                -1,  # errread
                stderr,
                errpipe_read,
                errpipe_write,
                True,  # restore_signals (SIGPIPE, SIGXFSZ back to default)
                True,  # call_setsid: the plugin leads its own session and process group
                -1,  # pgid_to_set / process_group
                None,  # gid
                None,  # extra_groups
                None,  # uid
                -1,  # child_umask
                None,  # preexec_fn
                True,  # allow_vfork
            )
        finally:
            os.close(errpipe_write)
        # With vfork the child has exec'd (the pipe closed on exec) or failed by now: EOF or its error.
        data = _read_all(errpipe_read)
    finally:
        os.close(errpipe_read)
    if data:
        _reap(pid)
        raise _child_error(data, program, cwd)
    return pid


_ENV_CACHE: dict[tuple[tuple[str, str], ...], list[bytes]] = {}


def _encoded_env(env: dict[str, str]) -> list[bytes]:
    """`KEY=value` bytes for the child. The dispatcher passes the same allowlisted env to every
    plugin, so the encoding is kept per distinct env (a handful per process) instead of redone
    per spawn; the key is the env's items, so a changed env is encoded afresh."""
    key = tuple(env.items())
    encoded = _ENV_CACHE.get(key)
    if encoded is None:
        if len(_ENV_CACHE) >= 64:
            _ENV_CACHE.clear()
        encoded = _ENV_CACHE[key] = [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in key]
    return encoded


def _read_all(fd: int) -> bytes:
    parts = []
    while True:
        chunk = os.read(fd, 50000)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _child_error(data: bytes, program: str, cwd: str) -> OSError:
    """The `OSError` Popen raises for the child's report `<Exception>:<hex errno>:<where>`."""
    try:
        name, hex_errno, where = data.split(b":", 2)
        number = int(hex_errno, 16)
    except ValueError:
        return OSError(errno.EINVAL, f"bad exception data from the child: {data!r}")
    if name != b"OSError" or number == 0:
        detail: Any = where.decode(errors="replace") or name.decode(errors="replace")
        return OSError(errno.EINVAL, f"the child failed before exec: {detail}")
    filename = cwd if where == b"noexec:chdir" else (None if where == b"noexec" else program)
    return OSError(number, os.strerror(number), filename)
