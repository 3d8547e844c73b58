"""`ductile job inspect <job_id>`: everything about one job and where it sits in a pipeline.

Reads the database directly (pipelines spec §6.3), so it works while the gateway is down and
needs no token: the job row, its event-context lineage root→leaf, the accumulated baggage, its
transitions, attempts and their logs, the events it emitted and the children they started.
Every payload, result and baggage value passes the same secret redaction as the API.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from ductile.cli.common import ConfigOption, JsonOption, config_or_exit, fail, print_json, require_database
from ductile.jobs import Attempt, Job
from ductile.redact import redact

STDERR_TAIL = 20  # lines of each attempt's stderr shown in text mode
JOB_FIELDS = (
    "job_id",
    "plugin",
    "command",
    "status",
    "attempt",
    "max_attempts",
    "submitted_by",
    "dedupe_key",
    "parent_job_id",
    "source_event_id",
    "event_context_id",
    "route_key",
    "pipeline",
    "step_id",
    "created_at",
    "started_at",
    "completed_at",
    "next_retry_at",
    "last_error",
)


def inspect_report(store: Any, job_id: str) -> dict[str, Any] | None:
    """The `--json` object, or None for an unknown job."""
    job: Job | None = store.get_job(job_id)
    if job is None:
        return None
    row = {key: getattr(job, key) for key in JOB_FIELDS}
    row["status"] = job.status.value
    row["payload"] = redact(job.payload)
    lineage, baggage = [], None
    if job.event_context_id:
        contexts = store.context_lineage(job.event_context_id)
        lineage = [
            {
                "context_id": c["id"],
                "parent_id": c["parent_id"],
                "pipeline": c["pipeline"],
                "step_id": c["step_id"],
                "instance_id": c["instance_id"],
                "created_at": c["created_at"],
            }
            for c in contexts
        ]
        if contexts and contexts[-1]["id"] == job.event_context_id:
            baggage = redact(contexts[-1]["accumulated"])
    attempts: list[Attempt] = store.attempts(job.job_id)
    return {
        "job": row,
        "lineage": lineage,
        "baggage": baggage,
        "transitions": [
            {"from": t.from_status, "to": t.to_status, "reason": t.reason, "at": t.at}
            for t in store.transitions(job.job_id)
        ],
        "attempts": [
            {
                "attempt": a.attempt,
                "started_at": a.started_at,
                "completed_at": a.completed_at,
                "outcome": a.outcome,
                "status": a.status,
                "duration_ms": a.duration_ms,
                "exit_code": a.exit_code,
            }
            for a in attempts
        ],
        "logs": [
            {
                "id": f"{a.job_id}-{a.attempt}",
                "status": a.status,
                "last_error": a.error,
                "logs": a.logs,
                "stderr": a.stderr,
                "result": redact(a.response),
            }
            for a in attempts
        ],
        "events": [{**e, "payload": redact(e["payload"])} for e in store.emitted_with_children(job.job_id)],
        "children": [
            {
                "job_id": c.job_id,
                "plugin": c.plugin,
                "command": c.command,
                "pipeline": c.pipeline,
                "step_id": c.step_id,
                "status": c.status.value,
            }
            for c in store.children(job.job_id)
        ],
    }


def render_text(report: dict[str, Any], *, verbose: bool = False) -> str:
    """The human layout: one titled block per part, empty parts say so rather than vanish."""
    job = report["job"]
    out = [f"job {job['job_id']}"]
    for key in JOB_FIELDS[1:]:
        if job.get(key) is not None:
            out.append(f"  {key + ':':18}{job[key]}")
    out.append("\nlineage (root → leaf):")
    if not report["lineage"]:
        out.append("  (not a pipeline step)")
    for depth, c in enumerate(report["lineage"]):
        step = c["step_id"] or "(instance root)"
        out.append(f"  {'  ' * depth}{c['context_id']}  {c['pipeline']}/{step}  {c['created_at']}")
    out.append("\nbaggage:")
    out.append(_indent(json.dumps(report["baggage"], indent=2, sort_keys=True, ensure_ascii=False)))
    out.append("\ntransitions:")
    for t in report["transitions"]:
        out.append(f"  {t['at']}  {t['from'] or '·'} → {t['to']}  {t['reason']}")
    out.append("\nattempts:")
    if not report["attempts"]:
        out.append("  (none yet)")
    for a in report["attempts"]:
        took = f"{a['duration_ms']:.0f} ms" if a["duration_ms"] is not None else "-"
        code = a["exit_code"] if a["exit_code"] is not None else "-"
        out.append(
            f"  #{a['attempt']}  {a['outcome'] or 'running'} → {a['status'] or '-'}  {took}  exit {code}"
            f"  started {a['started_at']}"
        )
    out.append("\nlogs:")
    for entry in report["logs"]:
        out.append(f"  {entry['id']}: {entry['status'] or 'running'}")
        if entry["last_error"]:
            out.append(f"    last_error: {entry['last_error']}")
        for line in entry["logs"] or []:
            out.append(f"    [{line.get('level', 'info')}] {line.get('message', '')}")
        if entry["stderr"]:
            tail = entry["stderr"].splitlines()[-STDERR_TAIL:]
            out.append("    stderr (tail):")
            out.extend("      " + line for line in tail)
        if verbose and entry["result"] is not None:
            out.append("    result:")
            out.append(_indent(json.dumps(entry["result"], indent=2, ensure_ascii=False), 6))
    out.append("\nemitted events:")
    if not report["events"]:
        out.append("  (none)")
    for e in report["events"]:
        started = ", ".join(e["children"]) or "no jobs"
        out.append(f"  {e['created_at']}  {e['type']}  {e['event_id'] or '-'}  → {started}")
    out.append("\nchildren:")
    if not report["children"]:
        out.append("  (none)")
    for c in report["children"]:
        step = f"{c['pipeline']}/{c['step_id']}" if c["pipeline"] else "-"
        out.append(f"  {c['job_id']}  {c['plugin']}  {step}  {c['status']}")
    return "\n".join(out)


def _indent(text: str, by: int = 2) -> str:
    return "\n".join(" " * by + line for line in text.splitlines())


def inspect(
    job_id: Annotated[str, typer.Argument(help="Job id.")],
    config: ConfigOption = None,
    json_out: JsonOption = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also print each attempt's result.")] = False,
) -> None:
    """One job with its pipeline lineage, baggage, transitions, attempts, logs and children
    (reads the local database; options may come before or after the id)."""
    from ductile.store import open_store

    loaded = config_or_exit(config)
    require_database(loaded, prefix="Inspect failed: ")
    store = open_store(loaded.store_target)
    try:
        report = inspect_report(store, job_id)
    finally:
        store.close()
    if report is None:
        fail("Inspect failed: job not found")
    if json_out:
        print_json(report)
    else:
        typer.echo(render_text(report, verbose=verbose))
