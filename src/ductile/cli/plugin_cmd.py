"""`ductile plugin list|run`."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from ductile.api import jsonio
from ductile.cli.common import ConfigOption, JsonOption, fail, print_json, setup_or_exit
from ductile.gateway import UnknownTarget, submit
from ductile.lifecycle import TERMINAL
from ductile.redact import redact, redact_text
from ductile.store import StoreError, open_store

app = typer.Typer(help="List plugins and run them.", no_args_is_help=True)


@app.command("list")
def list_plugins(config: ConfigOption = None, json_out: JsonOption = False) -> None:
    """Configured instances with their plugin, commands and schedules."""
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


@app.command("run")
def run(
    instance: Annotated[str, typer.Argument(help="Plugin instance name.")],
    command: Annotated[str, typer.Argument(help="Command to run.")] = "poll",
    payload: Annotated[str | None, typer.Option("--payload", help="JSON payload.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the job to finish and print its result.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait with --wait.")] = 300.0,
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """Enqueue a job into the gateway's database (a running gateway picks it up)."""
    setup = setup_or_exit(config)
    data = None
    if payload is not None:
        try:
            data = json.loads(payload)
        except json.JSONDecodeError as exc:
            fail(f"--payload is not valid JSON ({exc.msg} at char {exc.pos})")
        try:  # the API's body rule (depth, lone surrogates, NaN), so the CLI refuses what the API refuses
            jsonio.decode(payload.encode("utf-8", "surrogatepass"))
        except jsonio.BodyProblem as exc:
            fail(f"--payload: {exc.message.replace('body', 'payload', 1)}")
    try:
        store = open_store(setup.loaded.db_path)
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
        deadline = time.monotonic() + timeout
        job = store.get_job(result.job_id)
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
