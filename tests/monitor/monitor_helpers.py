"""Shared bits for the monitor tests: a gateway config with a failing plugin, and Pilot waits."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from conftest import BUNDLED_PLUGINS, base_config, free_port, make_plugin

GRUMPY = """\
#!/usr/bin/env python3
import json, sys
json.load(sys.stdin)
sys.stderr.write("grumpy-stderr-marker: refusing politely\\n")
print(json.dumps({"status": "error", "error": "grumpy says no", "retry": False}))
"""


def monitor_config(root: Path, *, schedules: bool = False) -> dict[str, Any]:
    make_plugin(root, "grumpy", GRUMPY)
    echo: dict[str, Any] = {"config": {"api_key": "hunter2"}}
    if schedules:
        echo["schedules"] = [{"id": "tick", "every": "1s"}]
    return base_config([BUNDLED_PLUGINS, root], {"echo": echo, "grumpy": {}}, port=free_port())


async def until(pilot: Any, predicate: Any, timeout: float = 15.0, what: str = "condition") -> Any:
    """Let the app run until predicate() is truthy; a deadline, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await pilot.pause(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
