"""`GET /system/doctor`: `ductile config check` on the config files as they are now, as a report.

The report is the shape Ductile's console badge reads — `{ok, captured_at, checks: [{name, status,
detail, field?}]}` — with one entry per problem (`fail`) or warning (`warn`), named by the check
that found it (config, discovery, plugins, pipelines, webhooks). A clean config has no entries.
It reads the files on disk, not the running config: what a reload or a restart would meet.
"""

from __future__ import annotations

import re
from typing import Any

from ductile.config_check import ConfigReport

# "<file>: <dotted.key.path>: message" — the field is the key path when a problem names one.
_FIELD = re.compile(r"^(?:[^:]*/[^:]*|[^:/]*\.ya?ml): ([A-Za-z_][\w-]*(?:\.[\w-]+)+): ")


def field_of(problem: str) -> str | None:
    match = _FIELD.match(problem)
    return match.group(1) if match else None


def doctor_report(report: ConfigReport, captured_at: str) -> dict[str, Any]:
    checks: list[dict[str, Any]] = []
    for status, texts in (("fail", report.problems), ("warn", report.warnings)):
        for text in texts:
            entry: dict[str, Any] = {"name": report.kinds.get(text, "config"), "status": status, "detail": text}
            field = field_of(text)
            if field:
                entry["field"] = field
            checks.append(entry)
    return {"ok": not report.problems, "captured_at": captured_at, "checks": checks}
