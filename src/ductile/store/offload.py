"""Store calls made from the event loop: inline on SQLite, on a small thread pool on PostgreSQL.

The store interface stays synchronous (the CLI, recovery and the tests call it directly). What
differs is what a call can wait for. SQLite answers an indexed read in microseconds from a file
this process maps, and a thread hop (tens of microseconds) would cost more than the call, so
`off_loop` calls it inline and the SQLite hot path is unchanged (bench/dispatch.py). PostgreSQL
answers over a socket: a statement waiting on a row or table lock held elsewhere, or a busy
server, would otherwise stall every request, timer and dispatcher step of the gateway for as
long as it waits (a /healthz took over 10 s on a loaded node). So a store that owns an
`executor` (PostgresStore) has its calls run there, and the loop only awaits the result.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")
# The event loop that handed the current call to a worker thread (unset on the loop itself).
_CALLER: ContextVar[asyncio.AbstractEventLoop | None] = ContextVar("ductile_offload_caller", default=None)


def blocking(store: Any) -> bool:
    """True when calls on `store` may wait on a server, so they are run off the event loop."""
    return getattr(store, "executor", None) is not None


async def off_loop(store: Any, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)`, run on `store`'s executor when it has one, else inline.

    `fn` may be a store method or any function doing store calls (a whole response body is
    built in the worker, so one request costs one hop, not one per statement). Context
    variables travel with the call, as with `asyncio.to_thread`."""
    executor = getattr(store, "executor", None)
    if executor is None:
        return fn(*args, **kwargs)
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    context.run(_CALLER.set, loop)
    return await loop.run_in_executor(executor, functools.partial(context.run, fn, *args, **kwargs))


def on_loop(fn: Callable[..., Any], /, *args: Any) -> None:
    """Call `fn(*args)` on the event loop: right here when this is not an offloaded call, else
    handed to the loop that made it. For what a store call announces from inside (a circuit
    breaker listener publishing events): the event hub is not thread-safe. Callbacks handed over
    run in order, and before the awaiting coroutine resumes (its result is handed over after)."""
    loop = _CALLER.get()
    if loop is None:
        fn(*args)
    else:
        loop.call_soon_threadsafe(fn, *args)
