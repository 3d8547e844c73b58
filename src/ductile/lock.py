"""An exclusive lock file next to the database: two gateways must never share one SQLite file.

flock is released by the kernel when the process dies, so a kill -9 never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class LockError(RuntimeError):
    """The lock file cannot be taken: held by another gateway, or not creatable at all."""


class LockHeld(LockError):
    pass


class DatabaseLock:
    def __init__(self, db_path: Path):
        self.path = db_path.with_name(db_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LockError(
                f"cannot create the lock file {self.path}: {exc.strerror or exc}; "
                f"check that {self.path.parent} exists and is writable by this user"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise LockHeld(
                f"database {self.path.with_suffix('')} is in use by another gateway (pid {holder}); "
                f"stop it first, or point this one at another database.path"
            )
        try:  # the pid is only a hint for the message above; a full disk must not stop us here
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def lock_holder(db_path: Path) -> str | None:
    """The pid text of the gateway holding the database's lock, or None when nobody holds it.

    Probes with a non-blocking flock on a separate descriptor and lets go at once, so it never
    keeps a gateway from starting (used by `system selfcheck` and `plugin run --wait`).
    """
    path = db_path.with_name(db_path.name + ".lock")
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
