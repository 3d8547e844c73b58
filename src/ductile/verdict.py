"""Judging one finished plugin process against the protocol's outcome table. Pure.

Kept apart from `dispatch.py` (which runs processes and records attempts) so the rule can be read
and tested on its own; `dispatch` re-exports `judge` and `Verdict`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ductile import protocol
from ductile.executor import RunResult
from ductile.lifecycle import Outcome


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    response: protocol.Response | None
    error: str | None


def judge(run: RunResult, timeout: float) -> Verdict:
    """Apply the protocol's outcome table to one finished process. Pure."""
    if run.spawn_error:
        return Verdict(Outcome.ERROR, None, run.spawn_error)
    if run.stdout_overflow:
        return Verdict(
            Outcome.ERROR,
            None,
            f"plugin stdout exceeded the {protocol.STDOUT_LIMIT // (1024 * 1024)} MiB limit; "
            f"first bytes: {protocol.quote(run.stdout)}",
        )
    try:
        response: protocol.Response | None = protocol.parse_response(run.stdout)
        violation = None
    except protocol.ProtocolViolation as exc:
        response, violation = None, str(exc)
    if run.exit_code == protocol.EXIT_CONFIG:
        detail = (response.error if response and response.error else None) or _tail(run.stderr) or "no message"
        return Verdict(Outcome.FATAL, response, f"plugin exited 78 (EX_CONFIG, never retried): {detail}")
    if run.timed_out and response is None:
        return Verdict(
            Outcome.TIMEOUT, None, f"plugin still running after its {timeout:g}s timeout; process group killed"
        )
    if response is None:
        suffix = f" (exit code {run.exit_code})" if run.exit_code not in (0, None) else ""
        tail = _tail(run.stderr)
        return Verdict(Outcome.ERROR, None, f"{violation}{suffix}" + (f"; stderr: {tail}" if tail else ""))
    if response.status == "ok":
        return Verdict(Outcome.SUCCESS, response, None)
    return Verdict(Outcome.ERROR if response.retry else Outcome.FATAL, response, response.error)


def _tail(text: str, size: int = 300) -> str:
    text = text.strip()
    return ("…" + text[-size:]) if len(text) > size else text
