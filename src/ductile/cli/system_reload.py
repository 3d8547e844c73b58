"""`ductile system reload`: ask a running gateway to re-read its config and plugins (`POST /system/reload`).

Over the API, not a signal, so it works from another host and the answer says what changed (or
every problem, when the new config is refused). Needs a token with `system:rw`.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ductile.cli import target
from ductile.cli.common import ConfigOption, JsonOption, TokenOption, fail, print_json

ApiUrlOption = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        envvar="DUCTILE_API_URL",
        help="Gateway API base URL (default: $DUCTILE_API_URL, then the config's api.listen, then 127.0.0.1:8080).",
    ),
]
KINDS = ("instances", "plugins", "pipelines", "schedules", "webhooks", "tokens", "settings")


def register(app: typer.Typer) -> None:
    app.command("reload")(reload)


def reload(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and show the diff; change nothing.")] = False,
    api_url: ApiUrlOption = None,
    token: TokenOption = None,
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """Re-read config and plugins into the running gateway (same as SIGHUP); prints what changed.
    Exit 1 when refused (every config problem is printed; nothing was changed)."""
    from ductile.cli.api_client import ApiClient, ApiClientError

    url = target.api_url(api_url, config)
    try:
        with ApiClient(url, target.token_from(token), timeout=120.0) as client:
            body = client.post("/system/reload", params={"dry_run": "true"} if dry_run else None)
    except ApiClientError as exc:
        problems = exc.body.get("problems") if isinstance(exc.body, dict) else None
        if problems:
            for problem in problems:
                typer.echo(problem, err=True)
            fail(f"reload refused: {len(problems)} problem(s); nothing was changed")
        fail(str(exc))
    if json_out:
        print_json(body)
        return
    typer.echo(render(body))


def render(body: dict[str, Any]) -> str:
    """The answer as a few lines: one per kind that changed."""
    head = "dry run, nothing applied" if body.get("dry_run") else "reloaded"
    lines = [f"{head}: {body.get('config')} (by {body.get('by')})"]
    diff = body.get("diff") or {}
    for kind in KINDS:
        change = diff.get(kind) or {}
        parts = [f"{what} {', '.join(change[what])}" for what in ("added", "changed", "removed") if change.get(what)]
        if parts:
            lines.append(f"  {kind}: {'; '.join(parts)}")
    if diff.get("needs_restart"):
        lines.append(f"  needs restart (running value kept): {', '.join(diff['needs_restart'])}")
    if diff.get("unchanged"):
        lines.append("  no changes")
    failed = (body.get("failed_jobs") or {}).get("count") or 0
    if failed:
        lines.append(f"  queued jobs of removed instances ended: {failed}")
    return "\n".join(lines)
