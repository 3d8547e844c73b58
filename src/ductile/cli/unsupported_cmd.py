"""Ductile nouns this runtime does not offer: `relay`, `vault`, `secrets`.

They are accepted so a Ductile user (or a script written for Ductile) gets one line saying what
is not here and what to use instead, and exit 1, rather than "No such command".
"""

from __future__ import annotations

from collections.abc import Callable

import typer

from ductile.cli.common import fail

MESSAGES = {
    "relay": (
        "ductile relay is not supported here: gateway-to-gateway relay (and pipeline relay steps) are "
        "out of scope. To start work on another gateway, call its API: "
        "ductile api /plugin/<p>/<command> --api-url URL -f payload.key=value, or a webhook "
        "(docs/MIGRATING_FROM_DUCTILE.md)."
    ),
    "vault": (
        "ductile vault is not supported here: there is no owned secret store. Give plugins their secrets "
        "through the environment (${VAR} in config, secret_ref: env:NAME) - docs/CONFIG.md, "
        "'Files, includes, variables'."
    ),
    "secrets": (
        "ductile secrets is not supported here: config values are not encrypted at rest by ductile. Keep "
        "secrets in the environment or an env file readable only by the service user (${VAR} in config, "
        "environment_vars.include) - docs/CONFIG.md, 'Files, includes, variables'."
    ),
}


def register(app: typer.Typer) -> None:
    for noun, message in MESSAGES.items():
        app.command(
            noun,
            help="Not supported (Ductile compatibility): says what to use instead.",
            context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        )(_refuse(message))


def _refuse(message: str) -> Callable[[typer.Context], None]:
    def refuse(ctx: typer.Context) -> None:
        fail(message)

    return refuse
