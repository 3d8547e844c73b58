"""`ductile api <endpoint>`: the Typer face of `api_request.call` (Ductile's `api` noun). The
start-up fast path (fast.py) runs the same body without Typer when it understands the argv."""

from __future__ import annotations

from typing import Annotated

import typer

from ductile.cli.common import ConfigOption, TokenOption


def register(app: typer.Typer) -> None:
    app.command("api")(api)


def api(
    endpoint: Annotated[str, typer.Argument(help="API path, e.g. /jobs?status=failed or /plugin/echo/poll.")],
    method: Annotated[
        str | None, typer.Option("--method", "-X", help="HTTP method (default GET; POST with --body/--field).")
    ] = None,
    field: Annotated[
        list[str] | None,
        typer.Option("--field", "-f", help="key=value into a JSON object body; key.sub=value nests. Repeatable."),
    ] = None,
    header: Annotated[list[str] | None, typer.Option("--header", "-H", help="'Name: value'. Repeatable.")] = None,
    body: Annotated[str | None, typer.Option("--body", "-b", help="Raw request body, or - for stdin.")] = None,
    api_url: Annotated[
        str | None, typer.Option("--api-url", envvar="DUCTILE_API_URL", help="Gateway API base URL.", show_default=False)
    ] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", help="Bearer token (Ductile's flag).")] = None,
    token: TokenOption = None,
    config: ConfigOption = None,
) -> None:
    """Send one request to the gateway's API and print the answer (Ductile's `api` noun)."""
    from ductile.cli.api_request import call

    code = call(dict(locals()))  # the parameters by name, as the fast path (fast.py) passes them
    if code:
        raise typer.Exit(code)
