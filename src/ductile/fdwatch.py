"""One epoll set per event loop for the plugins' pipes and pidfds, watched by the loop as one fd.

Why: `loop.add_reader`/`remove_reader` cost ~7.6 µs a pair (a Handle, a SelectorKey, two
KeyError look-ups, the `epoll_ctl`), and every job registers three fds (stdout, stderr, pidfd).
Registering them in an epoll set of our own is the `epoll_ctl` alone (~1.8 µs a pair); the
loop watches that set's fd, and when it is readable `_ready` calls the handlers of the fds
that are ready. Level-triggered like the loop's own selector, so a handler that leaves data
unread is called again on the next pass.

The set exists only while something is watched or someone holds it open: the dispatcher holds it
for as long as its run loop runs (with one worker, the set would otherwise be made and closed
for every job), and the last `remove` or `release` closes it, so a loop that goes idle keeps no
fd open and a gateway that stops leaves none behind. An fd is
always removed before it is closed: a closed fd that another process still shares would stay in
the set under a number the kernel may hand out again.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
from collections.abc import Callable

# loop → its open set. A plain dict (a weak one makes a weakref per look-up): an entry exists only
# while its set watches something, and the last `remove` deletes it.
_SETS: dict[asyncio.AbstractEventLoop, FdSet] = {}
_HAS_EPOLL = hasattr(select, "epoll")


class FdSet:
    """The fds one loop watches for its plugins."""

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self.fileno = self._epoll.fileno()
        self._handlers: dict[int, Callable[[], None]] = {}
        self._holds = 0

    def add(self, fd: int, handler: Callable[[], None]) -> None:
        """Call `handler()` whenever `fd` is readable or hung up, until `remove`."""
        self._epoll.register(fd, select.EPOLLIN)
        self._handlers[fd] = handler

    def remove(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        """Stop watching `fd` (before closing it); the set closes when it watches nothing."""
        if self._handlers.pop(fd, None) is None:
            return
        with contextlib.suppress(OSError):
            self._epoll.unregister(fd)
        if not self._handlers and not self._holds:
            self._close(loop)

    def release(self, loop: asyncio.AbstractEventLoop) -> None:
        """End one `hold`; the set closes if nothing is watched either."""
        self._holds -= 1
        if not self._handlers and not self._holds:
            self._close(loop)

    def _close(self, loop: asyncio.AbstractEventLoop) -> None:
        if _SETS.get(loop) is self:
            del _SETS[loop]
        loop.remove_reader(self.fileno)
        self._epoll.close()

    def __len__(self) -> int:
        return len(self._handlers)

    def _ready(self) -> None:
        for fd, _events in self._epoll.poll(0):
            handler = self._handlers.get(fd)
            if handler is not None:  # removed by an earlier handler of this pass
                handler()


class _LoopFds(FdSet):
    """Where there is no epoll (not Linux): each fd registered with the loop itself, as before."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._handlers = {}
        self._holds = 0

    def add(self, fd: int, handler: Callable[[], None]) -> None:
        self._loop.add_reader(fd, handler)
        self._handlers[fd] = handler

    def remove(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        if self._handlers.pop(fd, None) is not None:
            loop.remove_reader(fd)
        if not self._handlers and not self._holds:
            self._close(loop)

    def _close(self, loop: asyncio.AbstractEventLoop) -> None:
        if _SETS.get(loop) is self:
            del _SETS[loop]


def fd_set(loop: asyncio.AbstractEventLoop) -> FdSet:
    """The loop's open set, made (and watched by the loop) if there is none."""
    watched = _SETS.get(loop)
    if watched is None:
        _drop_closed_loops()
        if _HAS_EPOLL:
            watched = FdSet()
            loop.add_reader(watched.fileno, watched._ready)
        else:
            watched = _LoopFds(loop)
        _SETS[loop] = watched
    return watched


def _drop_closed_loops() -> None:
    """Close the sets of loops that were closed while their sets were still open.

    A loop closed with a child still watched (an abandoned run, a test's loop torn down mid-job)
    never reaches the last `remove`; its epoll fd would stay open for the life of the process.
    Swept only when a new set is made, which is rare, so the per-job path pays nothing.
    """
    for stale in [old for old in _SETS if old.is_closed()]:
        watched = _SETS.pop(stale)
        watched._handlers.clear()
        if isinstance(watched, _LoopFds):
            continue
        with contextlib.suppress(OSError):
            watched._epoll.close()


def hold(loop: asyncio.AbstractEventLoop) -> FdSet:
    """Keep the loop's set open until `release` even while it watches nothing."""
    watched = fd_set(loop)
    watched._holds += 1
    return watched
