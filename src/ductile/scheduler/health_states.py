"""The names of a schedule's health states (judged in health.py), apart from the judgement.

`ductile system status` needs only which states are unhealthy, and it runs on the CLI start-up
fast path (cli/fast.py): this module imports nothing, where health.py's dataclasses pull in
`inspect` and `ast`.
"""

from __future__ import annotations

OK, LATE, FAILING, STALE, PAUSED = "ok", "late", "failing", "stale", "paused"
UNHEALTHY = frozenset({LATE, FAILING, STALE})
