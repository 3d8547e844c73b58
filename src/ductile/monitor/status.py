"""`ductile system status`: the monitor's header and schedules, fetched once and printed.

Synchronous and over the CLI's own ApiClient (not the monitor's httpx client): the command runs on
the start-up fast path (cli/fast.py), which imports neither httpx nor Textual. It reads each answer
as the monitor's client does: a 5xx or no answer at all is "unavailable", a 4xx is a refusal
carrying the gateway's `error` text.
"""

from __future__ import annotations

import json

from ductile.cli import http1
from ductile.cli.api_client import ApiClient, ApiClientError
from ductile.monitor.fmt import age, breaker_text, countdown, shown_status, span, spec_text
from ductile.scheduler.health_states import UNHEALTHY
from ductile.timeutil import utcnow

TYPE_CHECKING = False  # not `typing`: on the CLI fast path
if TYPE_CHECKING:
    from typing import Any

# `ductile system status` exit codes: 0 all well, 1 gateway unreachable or degraded, 2 the
# gateway is fine but at least one schedule is late, failing or stale.
EXIT_GATEWAY, EXIT_SCHEDULES = 1, 2
TIMEOUT = 5.0  # seconds per request, as the monitor's client


class Unavailable(Exception):
    """No answer, or a server error."""


class Refused(Exception):
    """A 4xx: bad token, missing scope. `message` is the gateway's `error` text."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.message = message


def exit_code(report: dict[str, Any]) -> int:
    if not report["ok"]:
        return EXIT_GATEWAY
    return EXIT_SCHEDULES if report.get("unhealthy") else 0


def gather(api_url: str, token: str | None) -> dict[str, Any]:
    """`ok` is false when the gateway is unreachable or reports a status other than ok."""
    report: dict[str, Any] = {"api_url": api_url, "ok": False, "health": None, "schedules": None, "error": None}
    try:
        try:
            api = ApiClient(api_url, token, timeout=TIMEOUT)
        except ApiClientError as exc:  # not an http(s) URL
            raise Unavailable(str(exc)) from None
        with api:
            report["health"] = health = _get(api, "/healthz")
            report["ok"] = health.get("status") == "ok"
            if not report["ok"]:
                reason = health.get("reason")
                report["error"] = f"gateway reports status {health.get('status')!r}" + (f": {reason}" if reason else "")
            try:
                report["schedules"] = _get(api, "/schedules")["schedules"]
                report["unhealthy"] = [
                    f"{s['instance']}/{s['schedule_id']}"
                    for s in report["schedules"]
                    if (s.get("health") or {}).get("state") in UNHEALTHY
                ]
            except Refused as exc:
                report["schedules_error"] = exc.message if token else "no token given: schedules need jobs:ro"
    except (Unavailable, Refused) as exc:
        report["error"] = f"gateway unreachable: {exc}"
    return report


def _get(api: ApiClient, path: str) -> Any:
    try:
        status, raw = api.exchange("GET", path)
    except (OSError, http1.ProtocolError) as exc:
        raise Unavailable(f"{api.base_url}: {exc.__class__.__name__}: {exc}") from None
    if status >= 500:
        raise Unavailable(f"{path}: HTTP {status}")
    text = raw.decode("utf-8", "replace")
    if status >= 400:
        try:
            decoded = json.loads(raw)
        except ValueError:
            decoded = None
        message = decoded.get("error", text) if isinstance(decoded, dict) else text
        raise Refused(status, str(message))
    return json.loads(raw)


def render_text(report: dict[str, Any]) -> str:
    if report["health"] is None:
        return f"✖ {report['api_url']}: {report['error']}"
    h = report["health"]
    lines = [
        f"{'ok' if report['ok'] else 'UNHEALTHY'}  {report['api_url']}  ductile {h.get('version')}  "
        f"up {span(float(h.get('uptime_seconds', 0)))}",
        f"queue {h.get('queue_depth')}  running {h.get('running', '?')}  "
        f"workers {h.get('workers_busy', '?')}/{h.get('max_workers', '?')}  plugins {h.get('plugins_loaded')}"
        + (f"  circuit open {h['plugins_circuit_open']}" if h.get("plugins_circuit_open") else ""),
    ]
    if report.get("error") and report["ok"] is False:
        lines.append(report["error"])
    schedules = report.get("schedules")
    if schedules is None:
        lines.append(f"schedules: unavailable ({report.get('schedules_error', 'unknown error')})")
        return "\n".join(lines)
    bad = report.get("unhealthy") or []
    lines.append(f"schedules: {len(schedules)}" + (f"  UNHEALTHY: {', '.join(bad)}" if bad else ""))
    now = utcnow()
    for s in schedules:
        fired = f"{age(s['last_fired'], now)} ago" if s.get("last_fired") else "never"
        lines.append(
            f"  {s['instance']}/{s['schedule_id']} {s['command']}  {spec_text(s['spec'])}  {shown_status(s)}  "
            f"last {fired} → {s.get('last_outcome') or '—'}  next {countdown(s.get('next_due'), now)}"
            + _why(s)
            + _health(s)
            + (
                f"  breaker {breaker_text(s['breaker'])}"
                if (s.get("breaker") or {}).get("state", "closed") != "closed"
                else ""
            )
        )
    return "\n".join(lines)


def _health(s: dict[str, Any]) -> str:
    """`  health failing: the last 3 runs failed …` when the schedule is not ok."""
    health = s.get("health") or {}
    if health.get("state") in (None, "ok"):
        return ""
    return f"  health {health['state']}: {health.get('reason', '')}"


def _why(s: dict[str, Any]) -> str:
    """The reason behind a non-active entry, and who paused it when."""
    if not s.get("entry_status") or s["entry_status"] == "active":
        return ""
    who = f" by {s['paused_by']} at {s['paused_at']}" if s.get("paused_by") else ""
    return f"  ({s.get('reason') or s['entry_status']}{who})"
