"""Start-up fast path: the API-only commands answered without building the Typer app.

Typer imports pydantic and builds a TypeAdapter per parameter when it parses, which costs several
times the HTTP request a `ductile job list --api-url …` makes (bench/cli.py). So `main()` first
offers argv to `parse()` here: a small parser that knows exactly the options of
`job list|show|logs|retry|cancel`, `schedule list|pause|resume|run`, `system status` and `api`. When the
argv is one it fully understands (every word a known option or the expected arguments, values in
plain form, an API URL given by option or environment) the command runs the very same body as its
Typer command (client_views.py). Anything else — `--help`, an unknown or malformed option, a
missing value, no API URL (the local database for `job …`, the config's own address for `cancel`
and `system status`), `--follow` — returns None and Typer handles it, so help texts and error
messages are Typer's own.

The option tables below mirror the Typer declarations in job_cmd.py, job_actions.py,
schedule_cmd.py, system_cmd.py, api_cmd.py and common.py; tests/cli/test_cli_fast.py (and
test_cli_api.py for `api`) fail when they drift apart and check that both paths give the same
output and exit code for the same argv.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Mapping

TYPE_CHECKING = False  # not `typing`: this module is on every start-up's critical path
if TYPE_CHECKING:
    from typing import Any

STR, INT, FLAG, LIST = "str", "int", "flag", "list"  # LIST: repeatable, values collected in order
# option dest → the environment variable Typer reads when the option is absent
ENVVARS = {"api_url": "DUCTILE_API_URL", "token": "DUCTILE_TOKEN"}

_COMMON = {
    "--api-url": ("api_url", STR),
    "--token": ("token", STR),
    "--config": ("config", STR),
    "-c": ("config", STR),
    "--json": ("json_out", FLAG),
}
_FILTERS = {
    "--plugin": ("plugin", STR),
    "--command": ("command", STR),
    "--status": ("status", STR),
    "--submitted-by": ("submitted_by", STR),
    "--since": ("since", STR),
    "--from": ("since", STR),
    "--created-after": ("since", STR),
    "--until": ("until", STR),
    "--to": ("until", STR),
    "--created-before": ("until", STR),
    "--limit": ("limit", INT),
}
# `job retry|cancel` (job_actions.py): one job by id, or the jobs matching these filters
_ACTION = {
    "--plugin": ("plugin", STR),
    "--command": ("command", STR),
    "--status": ("status", STR),
    "--submitted-by": ("submitted_by", STR),
    "--pipeline": ("pipeline", STR),
    "--created-after": ("created_after", STR),
    "--created-before": ("created_before", STR),
    "--dry-run": ("dry_run", FLAG),
    "--yes": ("yes", FLAG),
    "-y": ("yes", FLAG),
    "--api-key": ("api_key", STR),
    **_COMMON,
}


class Spec:
    """One command: its options (flag → (dest, kind)), positional arguments and body."""

    def __init__(
        self,
        run: str,
        options: dict[str, tuple[str, str]],
        arguments: tuple[str, ...] = (),
        defaults: dict[str, Any] | None = None,
        divert: tuple[str, ...] = (),
        optional: tuple[str, ...] = (),
        module: str = "ductile.cli.client_views",
        same_as: dict[str, str] | None = None,
    ):
        self.run = run  # function of `module` taking the parsed values (an int it returns: the exit code)
        self.module = module
        self.options = options
        self.arguments = arguments  # required, in order
        self.optional = optional  # positional arguments that may follow them (`job retry [JOB_ID]`)
        self.defaults = defaults or {}
        self.divert = divert  # flags that make the command do more than client_views: Typer runs it
        self.same_as = same_as or {}  # a positional argument that is another name for an option


SPECS: dict[tuple[str, str], Spec] = {
    ("job", "list"): Spec("job_list_api", {**_FILTERS, "--cursor": ("cursor", STR), **_COMMON}, defaults={"limit": 50}),
    ("job", "show"): Spec("job_show_api", dict(_COMMON), arguments=("job_id",)),
    ("job", "logs"): Spec(
        "job_logs_api",
        {
            **_FILTERS,
            "--job-id": ("job_id", STR),
            "--query": ("query", STR),
            "-q": ("query", STR),
            "--include-result": ("include_result", FLAG),
            "--follow": ("follow", FLAG),
            "-f": ("follow", FLAG),
            **_COMMON,
        },
        defaults={"limit": 50},
        divert=("follow",),
        optional=("job",),
        same_as={"job": "job_id"},  # `job logs JOB_ID` = `job logs --job-id JOB_ID`
    ),
    ("schedule", "list"): Spec("schedule_list", dict(_COMMON)),
    ("schedule", "pause"): Spec(
        "schedule_pause", {"--reason": ("reason", STR), **_COMMON}, arguments=("plugin", "schedule_id")
    ),
    ("schedule", "resume"): Spec("schedule_resume", dict(_COMMON), arguments=("plugin", "schedule_id")),
    ("schedule", "run"): Spec("schedule_run", dict(_COMMON), arguments=("plugin", "schedule_id")),
    ("job", "retry"): Spec("job_retry_api", dict(_ACTION), optional=("job_id",)),
    ("job", "cancel"): Spec("job_cancel_api", dict(_ACTION), optional=("job_id",)),
    ("system", "status"): Spec("system_status", dict(_COMMON)),
}


# `ductile api <endpoint>` (api_cmd.py): one word, its body in api_request.py, an exit code back
SPECS[("api",)] = Spec(
    "call",
    {
        "--method": ("method", STR),
        "-X": ("method", STR),
        "--field": ("field", LIST),
        "-f": ("field", LIST),
        "--header": ("header", LIST),
        "-H": ("header", LIST),
        "--body": ("body", STR),
        "-b": ("body", STR),
        "--api-url": ("api_url", STR),
        "--api-key": ("api_key", STR),
        "--token": ("token", STR),
        "--config": ("config", STR),
        "-c": ("config", STR),
    },
    arguments=("endpoint",),
    module="ductile.cli.api_request",
)


def parse(argv: list[str], env: Mapping[str, str]) -> tuple[Spec, dict[str, Any]] | None:
    """The command and its values, or None when Typer should handle this argv."""
    if argv and (spec := SPECS.get((argv[0],))) is not None:
        words = argv[1:]
    elif len(argv) >= 2 and (spec := SPECS.get((argv[0], argv[1]))) is not None:
        words = argv[2:]
    else:
        return None
    values: dict[str, Any] = {}
    positional: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if not word.startswith("-"):
            positional.append(word)
            continue
        name, attached = word, None
        if word.startswith("--") and "=" in word:
            name, attached = word.split("=", 1)
        known = spec.options.get(name)
        if known is None:
            return None  # --help, --, unknown or bundled options: Typer says what is wrong
        dest, kind = known
        if kind == FLAG:
            if attached is not None:
                return None
            values[dest] = True
            continue
        if attached is None:
            if i >= len(words) or (words[i].startswith("-") and words[i] != "-"):
                return None  # a missing value (or one that looks like an option; `-` is stdin)
            attached = words[i]
            i += 1
        if kind == LIST:
            values.setdefault(dest, []).append(attached)
        elif kind == INT:
            if not (attached.isascii() and attached.isdigit()):
                return None
            values[dest] = int(attached)
        else:
            values[dest] = attached
    names = spec.arguments + spec.optional
    if not len(spec.arguments) <= len(positional) <= len(names):
        return None
    values.update(zip(names, positional, strict=False))
    for alias, dest in spec.same_as.items():
        if alias in values:
            if dest in values:
                return None  # given both as the argument and as the option: Typer's command says so
            values[dest] = values.pop(alias)
    for dest, var in ENVVARS.items():
        if dest not in values and env.get(var):
            values[dest] = env[var]
    if not values.get("api_url") or any(values.get(d) for d in spec.divert):
        return None  # the local database, or a follow: Typer's command does it
    return spec, {**spec.defaults, **values}


def run(argv: list[str], env: Mapping[str, str]) -> int | None:
    """Run argv if it is ours: its exit code; None to hand it to Typer."""
    parsed = parse(argv, env)
    if parsed is None:
        return None
    spec, values = parsed
    from importlib import import_module

    try:
        code = getattr(import_module(spec.module), spec.run)(values)
    except KeyboardInterrupt:
        return 130  # as Typer
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        _quiet_stdout()  # `| head` closed the pipe: exit 1 without a traceback, as click does
        return 1
    return code if isinstance(code, int) else 0


def _quiet_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)
