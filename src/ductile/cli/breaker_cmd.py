"""`ductile system breaker <plugin>` and `ductile system reset <plugin>` (pipelines.md §8, L8).

Both work on the database file directly (safe beside a running gateway: the breaker's state lives
in the database and the scheduler's gate reads it there, so a reset takes effect at the next due
run), or through a gateway's API when `--api-url`/$DUCTILE_API_URL is given or a token is at hand
and the configured gateway answers — then the gateway also publishes the SSE transition.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Annotated, Any

import typer

from ductile.cli import target
from ductile.cli.api_client import ApiClient, ApiClientError
from ductile.cli.common import ConfigOption, JsonOption, TokenOption, config_or_exit, fail, print_json, require_database
from ductile.durations import format_duration
from ductile.store import StoreError, open_store
from ductile.timeutil import utcnow

CommandOption = Annotated[str, typer.Option("--command", help="The scheduled command (default poll).")]
ApiUrlOption = Annotated[
    str | None,
    typer.Option("--api-url", envvar="DUCTILE_API_URL", help="Use this gateway's API instead of the database file."),
]


def register(app: typer.Typer) -> None:
    app.command("breaker")(breaker)
    app.command("reset")(reset)


def _api(api_url: str | None, token: str | None, config: str | None) -> tuple[str, str | None] | None:
    key = target.token_from(token)
    url = target.configured_api_url(api_url, config)
    explicit = bool(api_url or os.environ.get("DUCTILE_API_URL"))
    if url and (explicit or (key and target.reachable(url))):
        return url, key
    return None


def _local(config: str | None, plugin: str, work: Callable[[Any], Any]) -> Any:
    loaded = config_or_exit(config)
    if plugin not in loaded.config.plugins:
        fail(f"Unknown plugin: {plugin}")
    require_database(loaded)
    try:
        store = open_store(loaded.store_target)
    except StoreError as exc:
        fail(str(exc), getattr(exc, "exit_code", 1))
    try:
        return work(store), loaded.config.plugins[plugin].circuit_breaker
    except StoreError as exc:
        fail(str(exc), getattr(exc, "exit_code", 1))
    finally:
        store.close()


def _unknown_or(exc: ApiClientError, plugin: str) -> None:
    if exc.status == 404 and "Unknown plugin" in str(exc):
        fail(f"Unknown plugin: {plugin}")
    fail(f"API error: {exc}")


def breaker(
    plugin: Annotated[str, typer.Argument(help="Plugin instance name.")],
    command: CommandOption = "poll",
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="How many recent transitions.")] = 20,
    api_url: ApiUrlOption = None,
    token: TokenOption = None,
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """A circuit breaker's state and its recent transitions (newest first)."""
    remote = _api(api_url, token, config)
    if remote is not None:
        try:
            with ApiClient(*remote) as client:
                body = client.get(f"/breakers/{plugin}", {"command": command, "limit": limit})
        except ApiClientError as exc:
            _unknown_or(exc, plugin)
    else:

        def read(store: Any) -> dict[str, Any]:
            return {
                "breaker": store.breaker_row(plugin, command),
                "transitions": store.breaker_transitions(plugin, command, limit),
            }

        body, settings = _local(config, plugin, read)
        body["breaker"] = {
            **(body["breaker"] or {"plugin": plugin, "command": command, "state": "closed", "failure_count": 0}),
            "threshold": settings.threshold,
            "reset_after": format_duration(settings.reset_after),
        }
    if json_out:
        print_json(body)
        return
    typer.echo(render(body))


def render(body: dict[str, Any]) -> str:
    b = body["breaker"]
    lines = [
        f"{b['plugin']} ({b['command']}): {b['state']}, {b.get('failure_count', 0)} consecutive failure(s)"
        + (f", threshold {b['threshold']}, reset_after {b['reset_after']}" if "threshold" in b else "")
    ]
    if b.get("opened_at"):
        lines.append(f"opened_at: {b['opened_at']}")
    if b.get("last_failure_at"):
        lines.append(f"last_failure_at: {b['last_failure_at']}")
    if b.get("last_job_id"):
        lines.append(f"last_job_id: {b['last_job_id']}")
    transitions = body.get("transitions") or []
    lines.append("transitions:" if transitions else "transitions: none")
    for t in transitions:
        job = f" job {t['job_id']}" if t.get("job_id") else ""
        lines.append(
            f"  {t['created_at']}  {t['from_state'] or '-'} -> {t['to_state']}  {t['reason']}"
            f"  (failures {t['failure_count']}){job}"
        )
    return "\n".join(lines)


def reset(
    plugin: Annotated[str, typer.Argument(help="Plugin instance name.")],
    command: CommandOption = "poll",
    api_url: ApiUrlOption = None,
    token: TokenOption = None,
    config: ConfigOption = None,
) -> None:
    """Reset a circuit breaker to closed (Ductile's default: the poll breaker)."""
    remote = _api(api_url, token, config)
    if remote is not None:
        try:
            with ApiClient(*remote) as client:
                client.post(f"/breakers/{plugin}/{command}/reset")
        except ApiClientError as exc:
            _unknown_or(exc, plugin)
    else:
        _local(config, plugin, lambda store: store.reset_breaker(plugin, command, utcnow()))
    typer.echo(f"Reset circuit breaker for {plugin} ({command})")
