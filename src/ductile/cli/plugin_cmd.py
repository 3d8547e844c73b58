"""`ductile plugin list|run`."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ductile.api import jsonio
from ductile.cli import target
from ductile.cli.api_client import ApiClient, ApiClientError
from ductile.cli.common import ConfigOption, JsonOption, TokenOption, fail, print_json, setup_or_exit
from ductile.lifecycle import TERMINAL
from ductile.lock import lock_holder
from ductile.redact import redact, redact_text
from ductile.store import StoreError, open_store
from ductile.submission import UnknownTarget, submit

app = typer.Typer(help="List plugins and run them.", no_args_is_help=True)


@app.command("list")
def list_plugins(
    config: ConfigOption = None,
    json_out: JsonOption = False,
    api_url: Annotated[
        str | None, typer.Option("--api-url", help="Ask this gateway (GET /plugins) instead of reading the config.")
    ] = None,
    token: TokenOption = None,
) -> None:
    """Configured instances with their plugin, commands and schedules (or a gateway's catalog with --api-url)."""
    if api_url:
        _list_via_api(api_url, target.token_from(token), json_out)
        return
    setup = setup_or_exit(config)
    rows = []
    for name, inst in sorted(setup.registry.instances.items()):
        rows.append(
            {
                "instance": name,
                "plugin": inst.base,
                "version": inst.plugin.manifest.version,
                "commands": [f"{c.name}({c.type})" for c in inst.plugin.manifest.commands],
                "schedules": [
                    f"{s.id}:{s.command} " + (f"every {s.every:g}s" if s.every else f"cron '{s.cron}'")
                    for s in inst.spec.schedules
                ],
                "parallelism": inst.parallelism,
                "directory": str(inst.plugin.directory),
            }
        )
    if json_out:
        print_json({"plugins": rows})
        return
    if not rows:
        typer.echo("no plugin instances configured")
    for row in rows:
        typer.echo(f"{row['instance']}  ({row['plugin']} {row['version'] or '?'})  {row['directory']}")
        typer.echo(f"    commands:  {', '.join(row['commands'])}")
        if row["schedules"]:
            typer.echo(f"    schedules: {'; '.join(row['schedules'])}")


def _list_via_api(url: str, key: str | None, json_out: bool) -> None:
    """Ductile's `plugin list --api-url`: the gateway's catalog as `NAME  VERSION  COMMANDS`."""
    try:
        with ApiClient(url, key) as client:
            body = client.get("/plugins")
    except ApiClientError as exc:
        fail(f"API error: {exc}")
    if json_out:
        print_json(body)
        return
    rows = [[p["name"], p.get("version") or "-", ", ".join(p.get("commands") or [])] for p in body["plugins"]]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(("NAME", "VERSION", "COMMANDS"))]
    for row in [["NAME", "VERSION", "COMMANDS"], *rows]:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@app.command("run")
def run(
    instance: Annotated[str, typer.Argument(help="Plugin instance name.")],
    command_arg: Annotated[str | None, typer.Argument(metavar="[COMMAND]", help="Command (default poll).")] = None,
    command_opt: Annotated[
        str | None, typer.Option("--command", help="Command, Ductile's form (default poll).")
    ] = None,
    payload: Annotated[str | None, typer.Option("--payload", help="JSON payload.")] = None,
    payload_file: Annotated[str | None, typer.Option("--payload-file", help="File holding the JSON payload.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the job to finish and print its result.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait with --wait.")] = 300.0,
    api_url: Annotated[
        str | None, typer.Option("--api-url", envvar="DUCTILE_API_URL", help="Submit through this gateway's API.")
    ] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", help="Token (Ductile's name; $DUCTILE_API_KEY).")] = None,
    token: TokenOption = None,
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """Run a plugin command as a job: through the gateway's API when one is reachable, else into its database.

    The API is used when --api-url/$DUCTILE_API_URL is given, or when the config's API is enabled,
    a token is at hand (--api-key, --token, $DUCTILE_API_KEY, $DUCTILE_TOKEN) and it answers.
    """
    if command_arg and command_opt and command_arg != command_opt:
        fail(f"two commands given ({command_arg!r} and --command {command_opt!r}); give one")
    command = command_opt or command_arg or "poll"
    data = _payload(payload, payload_file)
    key = target.token_from(api_key, token)
    url = target.configured_api_url(api_url, config)
    explicit = bool(api_url or os.environ.get("DUCTILE_API_URL"))
    if url and (explicit or (key and target.reachable(url))):
        _run_via_api(url, key, instance, command, data, wait=wait, timeout=timeout, json_out=json_out)
        return
    _run_local(config, instance, command, data, wait=wait, timeout=timeout, json_out=json_out)


def _payload(payload: str | None, payload_file: str | None) -> Any:
    if payload is not None and payload_file is not None:
        fail("give either --payload or --payload-file, not both")
    text, source = payload, "--payload"
    if payload_file is not None:
        try:
            text, source = Path(payload_file).expanduser().read_text(encoding="utf-8"), f"--payload-file {payload_file}"
        except OSError as exc:
            fail(f"--payload-file: cannot read {payload_file} ({exc.strerror})")
    if text is None:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{source} is not valid JSON ({exc.msg} at char {exc.pos})")
    try:  # the API's body rule (depth, lone surrogates, NaN), so the CLI refuses what the API refuses
        jsonio.decode(text.encode("utf-8", "surrogatepass"))
    except jsonio.BodyProblem as exc:
        fail(f"{source}: {exc.message.replace('body', 'payload', 1)}")
    return data


def _run_via_api(
    url: str, key: str | None, instance: str, command: str, data: Any, *, wait: bool, timeout: float, json_out: bool
) -> None:
    try:
        with ApiClient(url, key) as client:
            queued = client.post(f"/plugin/{instance}/{command}", {"payload": data} if data is not None else None)
            if not wait:
                if json_out:
                    print_json(queued)
                else:
                    typer.echo(f"Queued job {queued['job_id']} ({instance} {command})")
                return
            deadline = time.monotonic() + timeout
            job = client.get(f"/job/{queued['job_id']}")
            while job["status"] not in {s.value for s in TERMINAL}:
                if time.monotonic() > deadline:
                    fail(f"job {queued['job_id']} still {job['status']} after {timeout:g}s", 2)
                time.sleep(0.2)
                job = client.get(f"/job/{queued['job_id']}")
    except ApiClientError as exc:
        fail(f"API error: {exc}")
    if json_out:
        print_json(job)
    else:
        typer.echo(f"{job['job_id']} {job['status']} (attempt {job.get('attempt', '?')})")
        if "result" in job:
            typer.echo(json.dumps(job["result"], indent=2))
        if job.get("last_error"):
            typer.echo(f"error: {job['last_error']}", err=True)
    if job["status"] != "succeeded":
        raise typer.Exit(1)


def _run_local(
    config: str | None, instance: str, command: str, data: Any, *, wait: bool, timeout: float, json_out: bool
) -> None:
    setup = setup_or_exit(config)
    try:
        store = open_store(setup.loaded.store_target)
    except StoreError as exc:
        fail(str(exc), getattr(exc, "exit_code", 1))
    try:
        try:
            result = submit(store, setup.registry, instance=instance, command=command, payload=data, submitted_by="cli")
        except UnknownTarget as exc:
            fail(str(exc))
        except StoreError as exc:
            fail(f"nothing was queued: {exc}", getattr(exc, "exit_code", 1))
        if not wait:
            out = {"job_id": result.job_id, "status": result.status.value, "plugin": instance, "command": command}
            print_json(out) if json_out else typer.echo(result.job_id)
            return
        if setup.loaded.config.database.postgres:  # a registered node will run it (any host)
            holder = "node" if store.nodes() else None  # type: ignore[attr-defined]
        else:
            holder = lock_holder(setup.loaded.db_path)
        job = store.get_job(result.job_id)
        if holder is None and job is not None and job.status not in TERMINAL:
            fail(
                f"job {result.job_id} is queued, but no gateway is running on {setup.loaded.db_path} to run it; "
                "not waiting (start one with `ductile system start`; the job runs then)",
                2,
            )
        deadline = time.monotonic() + timeout
        while job is not None and job.status not in TERMINAL:
            if time.monotonic() > deadline:
                fail(f"job {result.job_id} still {job.status.value} after {timeout:g}s (is a gateway running?)", 2)
            time.sleep(0.1)
            job = store.get_job(result.job_id)
        assert job is not None
        attempts = store.attempts(job.job_id)
        last = attempts[-1] if attempts else None
        # It reads the database directly, so it applies the read surfaces' redaction rule itself.
        response = redact(last.response) if last and last.response is not None else None
        last_error = redact_text(job.last_error) if job.last_error else None
        out = {**job.summary(), "last_error": last_error, "result": response}
        if json_out:
            print_json(out)
        else:
            typer.echo(f"{job.job_id} {job.status.value} (attempt {job.attempt})")
            if response is not None:
                typer.echo(json.dumps(response.get("result", response), indent=2))
            if last_error:
                typer.echo(f"error: {last_error}", err=True)
        if job.status.value != "succeeded":
            raise typer.Exit(1)
    finally:
        store.close()
