"""The bodies of the CLI commands that only talk to a gateway's HTTP API, free of Typer.

`ductile job list|show|logs|retry|cancel` and `ductile system status` (over the API) and
`ductile schedule …` run this code both from their Typer commands (job_cmd.py, job_actions.py,
system_cmd.py, schedule_cmd.py) and from the start-up fast path (fast.py), which answers without
importing Typer, pydantic or the gateway (bench/cli.py). One body for both is what keeps their
output identical; tests/cli/test_cli_fast.py checks it.
"""

from __future__ import annotations

import json
import re
import sys

from ductile.cli import target
from ductile.cli.api_client import ApiClient, ApiClientError

TYPE_CHECKING = False  # not `typing`: on the CLI fast path (fast.py)
if TYPE_CHECKING:
    from typing import Any, NoReturn, TextIO

# click.echo strips ANSI styles when the stream is not a terminal; so does echo() here (the
# pattern is click's; compiled on first need, as most output has no escape at all).
_ANSI = r"\033\[[;?0-9]*[a-zA-Z]"


def echo(message: str = "", err: bool = False) -> None:
    """typer.echo for text: a newline, styles stripped off a terminal, flushed."""
    stream: TextIO = sys.stderr if err else sys.stdout
    out = message + "\n"
    if "\033" in out and not _isatty(stream):
        out = re.sub(_ANSI, "", out)
    stream.write(out)
    stream.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except Exception:  # a closed or odd stream counts as not a terminal, as in click
        return False


def fail(message: str, code: int = 1) -> NoReturn:
    """The message on stderr and exit `code` (Typer and CliRunner turn SystemExit into the code)."""
    echo(message, err=True)
    raise SystemExit(code)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def client(api_url: str, token: str | None) -> ApiClient:
    try:
        return ApiClient(api_url, token)
    except ApiClientError as exc:
        fail(str(exc))


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def when(stamp: str | None) -> str:
    return stamp.replace("T", " ")[:19] if stamp else "-"


# --- job list | show | logs: rendering of the API bodies -------------------------------------


def show_job_list(body: dict[str, Any], json_out: bool) -> None:
    if json_out:
        print_json(body)
        return
    rows = [
        [
            j["job_id"],
            j["plugin"],
            j["command"],
            j["status"],
            str(j["attempt"]),
            when(j["created_at"]),
            when(j.get("completed_at")),
        ]
        for j in body["jobs"]
    ]
    echo(table(rows, ["JOB ID", "PLUGIN", "COMMAND", "STATUS", "ATT", "CREATED (UTC)", "COMPLETED"]))
    footer = f"{len(rows)} of {body['total']} matching"
    if body.get("next_cursor"):
        footer += f"; next page: --cursor {body['next_cursor']}"
    echo(footer)


def show_job(job: dict[str, Any], attempts: list[dict[str, Any]], json_out: bool) -> None:
    if json_out:
        print_json({**job, "attempts": list(reversed(attempts))})
        return
    for key in ("job_id", "plugin", "command", "status", "attempt", "submitted_by"):
        echo(f"{key + ':':14}{job[key]}")
    for key in ("created_at", "started_at", "completed_at"):
        echo(f"{key + ':':14}{when(job.get(key))}")
    if job.get("last_error"):
        echo(f"{'last_error:':14}{job['last_error']}")
    for a in reversed(attempts):
        took = f", {a['duration_ms']:.0f} ms" if a.get("duration_ms") is not None else ""
        echo(f"\nattempt {a['attempt']}: {a.get('outcome') or 'running'} -> {a.get('status') or '-'}{took}")
        echo(f"  started {when(a['started_at'])}, completed {when(a.get('completed_at'))}")
        if a.get("error"):
            echo(f"  error: {a['error']}")
        for line in a.get("logs") or []:
            echo(f"  [{line.get('level', 'info')}] {line.get('message', '')}")
        if a.get("stderr"):
            echo("  stderr:\n" + "\n".join("    " + s for s in a["stderr"].splitlines()[-20:]))
    if "result" in job:
        echo("\nresult:\n" + json.dumps(job["result"], indent=2, ensure_ascii=False))


def show_job_logs(body: dict[str, Any], include_result: bool, json_out: bool) -> None:
    if json_out:
        print_json(body)
        return
    for a in body["attempts"]:
        echo(
            f"{when(a['started_at'])}  {a['plugin']}:{a['command']}  {a['job_id']} #{a['attempt']}  "
            f"{a.get('outcome') or 'running'} -> {a.get('status') or '-'}"
        )
        if a.get("error"):
            echo(f"    error: {a['error']}")
        for line in a.get("logs") or []:
            echo(f"    [{line.get('level', 'info')}] {line.get('message', '')}")
        if include_result and a.get("result") is not None:
            echo("    result: " + json.dumps(a["result"], ensure_ascii=False)[:500])
    echo(f"{body['count']} attempt record(s)")


# --- job list | show | logs over the API (the fast path's entry points) -----------------------


def list_params(p: dict[str, Any]) -> dict[str, Any]:
    """`job list` options → GET /jobs parameters."""
    return {
        "plugin": p.get("plugin"),
        "command": p.get("command"),
        "status": p.get("status"),
        "submitted_by": p.get("submitted_by"),
        "created_after": p.get("since"),
        "created_before": p.get("until"),
        "limit": p.get("limit", 50),
        "cursor": p.get("cursor"),
    }


def logs_params(p: dict[str, Any]) -> dict[str, Any]:
    """`job logs` options → GET /job-attempts parameters."""
    return {
        "job_id": p.get("job_id"),
        "plugin": p.get("plugin"),
        "command": p.get("command"),
        "status": p.get("status"),
        "submitted_by": p.get("submitted_by"),
        "from": p.get("since"),
        "to": p.get("until"),
        "query": p.get("query"),
        "limit": p.get("limit", 50),
        "include_result": p.get("include_result") or None,
    }


def job_list_api(p: dict[str, Any]) -> None:
    with client(p["api_url"], p.get("token")) as api:
        body = _api(lambda: api.list_jobs(**list_params(p)))
    show_job_list(body, bool(p.get("json_out")))


def job_show_api(p: dict[str, Any]) -> None:
    with client(p["api_url"], p.get("token")) as api:
        job = _api(lambda: api.get_job(p["job_id"]))
        attempts = _api(lambda: api.job_logs(job_id=p["job_id"], include_result=True, limit=200))["attempts"]
    show_job(job, attempts, bool(p.get("json_out")))


def job_logs_api(p: dict[str, Any]) -> None:
    with client(p["api_url"], p.get("token")) as api:
        body = _api(lambda: api.job_logs(**logs_params(p)))
    show_job_logs(body, bool(p.get("include_result")), bool(p.get("json_out")))


def _api(call: Any) -> Any:
    try:
        return call()
    except ApiClientError as exc:
        fail(str(exc))


# --- schedule list | pause | resume | run (always over the API) --------------------------------


def schedule_call(
    api_url: str | None, token: str | None, config: str | None, path: str, body: Any = None, *, get: bool = False
) -> dict[str, Any]:
    url = target.api_url(api_url, config)
    try:
        with ApiClient(url, target.token_from(token)) as api:
            return api.get(path) if get else api.post(path, body)
    except ApiClientError as exc:
        fail(str(exc))


def schedule_line(entry: dict[str, Any]) -> str:
    who = f" by {entry['paused_by']} at {entry['paused_at']}" if entry.get("paused_by") else ""
    reason = f" ({entry['reason']})" if entry.get("reason") else ""
    nxt = f", next run {entry['next_run_at']}" if entry.get("next_run_at") else ""
    return f"{entry['plugin']}/{entry['schedule_id']}: {entry['status']}{reason}{who}{nxt}"


def schedule_pause(p: dict[str, Any]) -> None:
    body = {"reason": p["reason"]} if p.get("reason") else None
    path = f"/schedules/{p['plugin']}/{p['schedule_id']}/pause"
    entry = schedule_call(p.get("api_url"), p.get("token"), p.get("config"), path, body)
    if p.get("json_out"):
        print_json(entry)
    else:
        echo(schedule_line(entry) if entry["changed"] else f"already paused: {schedule_line(entry)}")


def schedule_resume(p: dict[str, Any]) -> None:
    path = f"/schedules/{p['plugin']}/{p['schedule_id']}/resume"
    entry = schedule_call(p.get("api_url"), p.get("token"), p.get("config"), path)
    if p.get("json_out"):
        print_json(entry)
    else:
        echo(schedule_line(entry) if entry["changed"] else f"not paused: {schedule_line(entry)}")


def schedule_run(p: dict[str, Any]) -> None:
    path = f"/schedules/{p['plugin']}/{p['schedule_id']}/run"
    out = schedule_call(p.get("api_url"), p.get("token"), p.get("config"), path)
    if p.get("json_out"):
        print_json(out)
    else:
        echo(f"queued job {out['job_id']} for {p['plugin']}/{p['schedule_id']}")


def schedule_list(p: dict[str, Any]) -> None:
    out = schedule_call(p.get("api_url"), p.get("token"), p.get("config"), "/scheduler/jobs", get=True)
    if p.get("json_out"):
        print_json(out)
        return
    if not out["jobs"]:
        echo("no schedule entries")
    for entry in out["jobs"]:
        echo(schedule_line(entry) + f"  [{entry['mode']}, {entry['command']}]")


# --- job retry | cancel over the API: one job by id, or every job matching filters -----------

BULK_FILTERS = ("plugin", "command", "status", "submitted_by", "pipeline", "created_after", "created_before")


def job_filters(p: dict[str, Any]) -> dict[str, str]:
    """The bulk filters given (the local `retry` uses them too); a job id with filters is an error."""
    filters = {k: p[k] for k in BULK_FILTERS if p.get(k) is not None}
    if p.get("job_id") is not None and filters:
        fail("give a job id or filters, not both")
    return filters


def _bulk_params(filters: dict[str, str], p: dict[str, Any]) -> dict[str, str]:
    """Without --yes a bulk action is the API's dry run."""
    return {**filters, "dry_run": str(bool(p.get("dry_run")) or not p.get("yes")).lower()}


def job_retry_api(p: dict[str, Any]) -> None:
    filters = job_filters(p)
    job_id = p.get("job_id")
    try:
        with ApiClient(p["api_url"], target.token_from(p.get("api_key"), p.get("token"))) as api:
            if job_id is not None:
                out = api.post(f"/job/{job_id}/retry")
            else:
                out = api.post("/jobs/retry", params=_bulk_params(filters, p))
    except ApiClientError as exc:
        fail(str(exc))
    show_retry(out, job_id, bool(p.get("json_out")))


def job_cancel_api(p: dict[str, Any]) -> None:
    """Always over the API (the gateway owns the jobs' processes): Typer passes --config for the
    config's own address when no URL is given; the fast path only runs with a URL."""
    filters = job_filters(p)
    job_id = p.get("job_id")
    url = target.api_url(p.get("api_url"), p.get("config"))
    try:
        with ApiClient(url, target.token_from(p.get("api_key"), p.get("token"))) as api:
            if job_id is not None:
                out = api.post(f"/job/{job_id}/cancel")
            else:
                out = api.post("/jobs/cancel", params=_bulk_params(filters, p))
    except ApiClientError as exc:
        hint = " (is a gateway running? cancel needs one: it owns the job's processes)" if exc.status is None else ""
        fail(f"{exc}{hint}")
    if job_id is None:
        show_bulk(out, bool(p.get("json_out")))
    elif p.get("json_out"):
        print_json(out)
    else:
        echo(f"{out['job_id']} {out['status']}: {out.get('last_error') or ''}")


def show_retry(out: dict[str, Any], job_id: str | None, json_out: bool) -> None:
    """A retry's answer, over the API or from the local database (job_actions.py)."""
    if job_id is None:
        show_bulk(out, json_out)
    elif json_out:
        print_json(out)
    else:
        again = " (already queued or running: not started twice)" if out.get("duplicate") else ""
        echo(f"Queued job {out['job_id']}, a retry of {out['retry_of']}{again}")


def show_bulk(out: dict[str, Any], json_out: bool) -> None:
    if json_out:
        print_json(out)
        return
    verb = {"retry": "retry", "cancel": "cancel"}[out["action"]]
    if out["dry_run"]:
        echo(
            f"{out['matched']} job(s) match; a {verb} would act on {min(out['matched'], out['cap'])} (cap {out['cap']})"
        )
        for job in out["sample"]:
            echo(f"  {job['job_id']}  {job['plugin']} {job['command']}  {job['status']}  {job['created_at']}")
        if out["matched"]:
            echo("re-run with --yes to act")
        return
    echo(
        f"{out['action']}: {out['acted']} of {out['matched']} matching job(s) acted on"
        + (f", {len(out['skipped'])} skipped" if out["skipped"] else "")
        + (f", {out['remaining']} left over the cap (run again)" if out["remaining"] else "")
        + f" (audit #{out['action_id']})"
    )
    for skip in out["skipped"]:
        echo(f"  skipped {skip['job_id']}: {skip['reason']}")


# --- system status over the API -------------------------------------------------------------


def system_status(p: dict[str, Any]) -> None:
    """Health and schedules once; exit 1 when the gateway is unreachable or degraded, 2 when a
    schedule is unhealthy (monitor/status.py). Typer resolves the URL (it may come from the
    config); the fast path runs only when one was given."""
    from ductile.monitor.status import exit_code, gather, render_text

    report = gather(p["api_url"], target.token_from(p.get("token")))
    if p.get("json_out"):
        print_json(report)
    else:
        echo(render_text(report))
    code = exit_code(report)
    if code:
        raise SystemExit(code)
