"""The monitor's job cache: merges `/jobs` snapshots and live events, filters and sorts rows.

Pure and synchronous so a flood of events costs only dict updates; the table redraws from it
on a timer. Bounded, because a monitor left open for a week must not grow without limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FIELDS = ("job_id", "plugin", "command", "status", "attempt", "created_at", "started_at", "completed_at")
FINISHED = {"job.succeeded", "job.failed", "job.timed_out", "job.dead"}


@dataclass(frozen=True)
class Filters:
    plugin: str | None = None
    command: str | None = None
    status: str | None = None

    def allows(self, job: dict[str, Any]) -> bool:
        return (
            (self.plugin is None or job.get("plugin") == self.plugin)
            and (self.command is None or job.get("command") == self.command)
            and (self.status is None or job.get("status") == self.status)
        )

    def describe(self) -> str:
        parts = [
            f"{k}={v}" for k, v in (("plugin", self.plugin), ("command", self.command), ("status", self.status)) if v
        ]
        return " ".join(parts) or "none"


@dataclass
class JobBook:
    limit: int = 500
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    unknown_seen: bool = False  # an event named a job we never listed: a refetch will fill it in

    def merge(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            row = self.jobs.setdefault(item["job_id"], {})
            row.update({k: item[k] for k in FIELDS if k in item})
            for key in ("started_at", "completed_at"):
                if key not in item and item.get("status") == "queued":
                    row.pop(key, None)
        self._trim()

    def apply(self, kind: str, data: dict[str, Any], at: str) -> None:
        job_id = data.get("job_id")
        if not job_id or not kind.startswith("job."):
            return
        row = self.jobs.get(job_id)
        if row is None:
            if kind != "job.queued":
                self.unknown_seen = True
            row = self.jobs[job_id] = {"job_id": job_id, "created_at": at}
        for key in ("plugin", "command", "status", "attempt"):
            if key in data:
                row[key] = data[key]
        if kind == "job.started":
            row["started_at"] = at
            row.pop("completed_at", None)
            row.pop("duration_ms", None)
        elif kind in FINISHED:
            row["completed_at"] = at
            if data.get("duration_ms") is not None:
                row["duration_ms"] = data["duration_ms"]
        elif kind == "job.retrying":
            row["status"] = "queued"
            if data.get("duration_ms") is not None:
                row["duration_ms"] = data["duration_ms"]
        self._trim()

    def _trim(self) -> None:
        if len(self.jobs) > self.limit:
            keep = sorted(self.jobs.values(), key=_order, reverse=True)[: self.limit]
            self.jobs = {j["job_id"]: j for j in keep}

    def rows(self, filters: Filters, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first (created_at, then id, like `GET /jobs`)."""
        matching = [j for j in self.jobs.values() if filters.allows(j)]
        return sorted(matching, key=_order, reverse=True)[:limit]

    def values(self, key: str) -> list[str]:
        return sorted({str(j[key]) for j in self.jobs.values() if j.get(key)})


def _order(job: dict[str, Any]) -> tuple[str, str]:
    return (job.get("created_at") or "", job["job_id"])
