"""`ductile relay …`: Ductile's gateway-to-gateway relay is not part of this runtime.

The noun is accepted so a Ductile user (or a script written for Ductile) gets one line saying
so and what to use instead, rather than "No such command".
"""

from __future__ import annotations

import typer

from ductile.cli.common import fail

MESSAGE = (
    "ductile relay is not supported here: gateway-to-gateway relay (and pipeline relay steps) are "
    "out of scope. To start work on another gateway, call its API: "
    "ductile api /plugin/<p>/<command> --api-url URL -f payload.key=value, or a webhook "
    "(docs/MIGRATING_FROM_DUCTILE.md)."
)


def register(app: typer.Typer) -> None:
    app.command(
        "relay",
        help="Not supported (Ductile compatibility): says what to use instead.",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(relay)


def relay(ctx: typer.Context) -> None:
    fail(MESSAGE)
