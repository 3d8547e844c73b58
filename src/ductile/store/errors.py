"""Which SQLite failures are storage faults, and how to name them to an operator.

Two kinds matter to the gateway. A fault that may pass by itself or once the operator acts
(disk full, I/O error, read-only file, another process holding the write lock) is
`StoreUnavailable`: writes are refused with 503, the dispatcher pauses and probes until a write
succeeds again. A file that is not a usable ductile database (malformed, not a database at all,
another program's database) is `StoreDamaged`: waiting cannot fix it, so the gateway stops.
Anything else from sqlite3 is a bug in our SQL and stays as it is.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ductile.store.base import StoreError

EXIT_UNAVAILABLE = 1  # the gateway could not run; restarting later may work (systemd Restart=on-failure)
EXIT_DAMAGED = 65  # EX_DATAERR: the database file itself is unusable; a restart will not help
EXIT_UNSUPPORTED = 69  # EX_UNAVAILABLE: this Python's SQLite library cannot run the store
MIN_SQLITE = (3, 35, 0)  # UPDATE … RETURNING (3.35); aggregate FILTER (3.30)

# primary SQLite result code → (kind, what it means, what to do about it)
_TRANSIENT = {
    5: (
        "busy",
        "another process holds a write lock on it",
        "find the process writing to it (fuser {path}) and stop it",
    ),
    6: ("busy", "a table in it is locked", "find the process writing to it (fuser {path}) and stop it"),
    7: ("memory", "SQLite ran out of memory", "free memory on this host"),
    8: ("readonly", "it is read-only", "check the file's owner and permissions and that {dir} is mounted read-write"),
    3: ("readonly", "access to it was denied", "check the file's owner and permissions"),
    10: ("io", "the disk reported an I/O error", "check the disk and the kernel log (dmesg)"),
    13: ("full", "the filesystem holding it is full", "free space on it (df -h {dir})"),
    14: ("cantopen", "SQLite could not open it", "check that {dir} exists and is writable by this user"),
    15: ("busy", "the locking protocol failed", "make sure no other host shares it (no NFS)"),
}
_DAMAGED = {
    11: "the database file is malformed (damaged)",
    26: "the file is not an SQLite database",
}


class StoreUnavailable(StoreError):
    """The database cannot be written (or read) right now; trying again later may succeed."""

    retryable = True
    exit_code = EXIT_UNAVAILABLE

    def __init__(self, path: Path, operation: str, kind: str, meaning: str, advice: str, sqlite_says: str):
        self.path = path
        self.operation = operation  # "write" or "read"
        self.kind = kind
        self.meaning = meaning
        self.sqlite_says = sqlite_says
        self.advice = advice.format(path=path, dir=path.parent)
        super().__init__(
            f"database {path} cannot be {'written' if operation == 'write' else 'read'}: {meaning} "
            f"(SQLite: {sqlite_says}); {self.advice}"
        )

    @property
    def reason(self) -> str:
        """The fault without the file path or advice: what an API caller is told."""
        return f"the database cannot be {'written' if self.operation == 'write' else 'read'}: {self.meaning}"


class StoreDamaged(StoreError):
    """The file is not a usable ductile database; the gateway refuses to run on it."""

    retryable = False
    exit_code = EXIT_DAMAGED

    def __init__(self, path: Path, meaning: str, sqlite_says: str | None = None, *, advice: str | None = None):
        self.path = path
        self.meaning = meaning
        said = f" (SQLite: {sqlite_says})" if sqlite_says else ""
        advice = advice or (
            f"restore it from a backup, or move it away (mv {path} {path}.broken) to start with an empty database"
        )
        super().__init__(f"database {path} is unusable: {meaning}{said}; {advice}")

    @property
    def reason(self) -> str:
        return f"the database file is unusable: {self.meaning}"


def sqlite_too_old(version: tuple[int, int, int], text: str) -> str | None:
    """Why the linked SQLite `version` cannot run the store, or None when it can. Checked when a
    store opens, so an old library is named up front instead of by the first `RETURNING` that fails."""
    if tuple(version) >= MIN_SQLITE:
        return None
    need = ".".join(map(str, MIN_SQLITE))
    return (
        f"this Python's sqlite3 module links SQLite {text}; ductile needs SQLite >= {need} "
        "(UPDATE … RETURNING, aggregate FILTER). Use a Python built against a newer SQLite "
        "(python3 -c 'import sqlite3; print(sqlite3.sqlite_version)' shows the version), "
        "or the PostgreSQL store (docs/DEPLOYMENT.md)"
    )


class SqliteTooOld(StoreError):
    """The SQLite library this Python links is older than the store's SQL needs."""

    retryable = False
    exit_code = EXIT_UNSUPPORTED

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def classify(exc: BaseException, path: Path, operation: str) -> StoreError | None:
    """The storage fault `exc` stands for, or None when it is not one (a bug: let it surface)."""
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else _code_from_text(str(exc))
    name = getattr(exc, "sqlite_errorname", None)
    said = f"{exc}, {name}" if name else str(exc)
    if primary in _DAMAGED:
        return StoreDamaged(path, _DAMAGED[primary], said)
    if primary == 10 and _filesystem_full(path):
        # SQLite reports a failed allocation of its shared-memory file (-shm) or a short write
        # as an I/O error; on a full filesystem the full disk is what the operator must fix.
        primary = 13
    if primary in _TRANSIENT:
        kind, meaning, advice = _TRANSIENT[primary]
        return StoreUnavailable(path, operation, kind, meaning, advice, said)
    return None


def _filesystem_full(path: Path) -> bool:
    try:
        stats = os.statvfs(path.parent)
    except OSError:
        return False
    return stats.f_bavail == 0


def _code_from_text(text: str) -> int | None:
    """Older sqlite3 modules carry no error code; SQLite's fixed messages still identify it."""
    for fragment, code in (
        ("database or disk is full", 13),
        ("disk I/O error", 10),
        ("readonly database", 8),
        ("database is locked", 5),
        ("unable to open database file", 14),
        ("database disk image is malformed", 11),
        ("file is not a database", 26),
    ):
        if fragment in text:
            return code
    return None
