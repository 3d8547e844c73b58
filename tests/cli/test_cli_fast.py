"""The start-up fast path (ductile.cli.fast) answers exactly as the Typer commands it stands in for.

Same argv → same stdout, stderr and exit code, against a real gateway over loopback; its option
tables match the Typer declarations; argv it does not fully understand (help, bad flags, missing
values, no API URL) goes to Typer, whose messages stay the ones users see; and a real `ductile`
process on the fast path imports neither Typer nor pydantic (nor httpx, Textual or asyncio).
Acting `job retry|cancel` and their refusals: test_cli_fast_actions.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ADMIN_TOKEN, DUCTILE
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.main import get_command
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api"))
from live_gateway import scope_token, seed, stamp, start_gateway

from ductile.cli import fast
from ductile.cli.main import build

runner = CliRunner()
CLEAN_ENV = {"DUCTILE_API_URL": "", "DUCTILE_TOKEN": "", "DUCTILE_API_KEY": ""}


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    plugins = {"alpha": {"schedules": [{"id": "tick", "every": "1h"}]}, "beta": {"uses": "alpha"}}
    gateway = start_gateway(tmp_path_factory.mktemp("fast"), plugins=plugins)
    seed(
        gateway.db_path,
        [
            {"plugin": "alpha", "command": "poll", "status": s, "created_at": stamp(2, i), "submitted_by": by}
            for i, (s, by) in enumerate([("succeeded", "api"), ("failed", "cli"), ("dead", "scheduler")])
        ],
    )
    yield gateway
    gateway.stop()


@contextlib.contextmanager
def environ(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def via_typer(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    result = runner.invoke(build(argv[0]), argv, env={**CLEAN_ENV, **env})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def via_fast(argv: list[str], env: dict[str, str]) -> tuple[int, str, str] | None:
    """None when the fast path hands the argv to Typer."""
    out, err = io.StringIO(), io.StringIO()
    with environ({**CLEAN_ENV, **env}), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = fast.run(argv, os.environ)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    if code is None:
        return None
    return code, out.getvalue(), err.getvalue()


# --- the option tables mirror the Typer declarations ---------------------------------------------


# `noun action` commands; the one-word `api` has its own checks in test_cli_api.py
NOUN_ACTION = sorted(key for key in fast.SPECS if len(key) == 2)


@pytest.mark.parametrize(("noun", "action"), NOUN_ACTION)
def test_spec_matches_the_typer_command(noun: str, action: str) -> None:
    command = get_command(build(noun)).commands[noun].commands[action]  # type: ignore[attr-defined]
    spec = fast.SPECS[(noun, action)]
    flags: dict[str, tuple[str, str]] = {}
    arguments, optional = [], []
    for param in command.params:
        if param.param_type_name == "argument":
            (arguments if param.required else optional).append(param.name)
            continue
        if "--help" in param.opts:
            continue
        assert not param.secondary_opts, f"{param.name}: {param.secondary_opts} (fast.py knows no --no- flags)"
        kind = fast.FLAG if param.is_flag else fast.INT if param.name == "limit" else fast.STR
        for opt in param.opts:
            flags[opt] = (param.name, kind)
        assert param.envvar == fast.ENVVARS.get(param.name), param.name
        if param.name in spec.defaults:
            assert param.default == spec.defaults[param.name], param.name
    assert flags == spec.options
    assert tuple(arguments) == spec.arguments
    assert tuple(optional) == spec.optional


# --- same argv, same answer ---------------------------------------------------------------------

# option → (values the API accepts, values it or the parser refuses); refused ones drawn 1 time in 6
VALUES = {
    "--plugin": (["alpha", "beta", "nope"], [""]),
    "--command": (["poll", "handle"], []),
    "--status": (["ok", "failed", "pending,error"], ["bogus"]),
    "--submitted-by": (["api", "cli", "scheduler"], []),
    "--since": (["2020-01-01T00:00:00Z"], ["not-a-time"]),
    "--from": (["2020-01-02T00:00:01Z"], []),
    "--created-after": (["2019-12-31T00:00:00Z"], []),
    "--until": (["2020-01-02T00:00:02Z", "2999-01-01T00:00:00Z"], []),
    "--to": (["2020-01-03T00:00:00Z"], []),
    "--created-before": (["2020-01-02T00:00:01Z"], []),
    "--limit": (["1", "2", "007", "200"], ["0", "201", "x", "-1", "1.5", " 3"]),
    "--cursor": ([], ["garbage"]),
    "--job-id": (["no-such-job"], []),
    "--query": (["boom", "nothing-matches"], []),
    "-q": (["boom"], []),
    "--reason": (["night work"], []),
    "--pipeline": (["nope"], []),
    "--token": ([ADMIN_TOKEN], [scope_token("jobs:status:ro"), "nope-nope-nope", ""]),
    "--api-key": ([ADMIN_TOKEN], [scope_token("jobs:ro"), "nope-nope-nope"]),
    "--config": (["/nonexistent"], []),
    "-c": (["/nonexistent"], []),
}
# `job retry|cancel --yes` is left out: acting changes what the next example sees (test_cli_fast_actions.py)
FLAGS = ["--json", "--include-result", "--follow", "-f", "--dry-run"]
ARGS = {"job_id": ["no-such-job"], "job": ["no-such-job"], "plugin": ["alpha", "nope"], "schedule_id": ["nope", "missing"]}
NOISE = ["--bogus", "--help", "--", "-", "--json=yes", "extra", "-x"]


@st.composite
def argvs(draw: st.DrawFn, url: str, noun: str, action: str) -> tuple[list[str], dict[str, str]]:
    spec = fast.SPECS[(noun, action)]
    words: list[list[str]] = [[draw(st.sampled_from(ARGS[a]))] for a in spec.arguments]
    words += [[draw(st.sampled_from(ARGS[a]))] for a in spec.optional if draw(st.booleans())]
    names = sorted(o for o in spec.options if o not in ("--api-url",) and (o in VALUES or o in FLAGS))
    for name in draw(st.lists(st.sampled_from(names), max_size=5)):
        if name in FLAGS:
            words.append([name])
        else:
            good, bad = VALUES[name]
            value = draw(st.sampled_from(bad if not good or (bad and draw(st.integers(0, 5)) == 0) else good))
            attached = name.startswith("--") and draw(st.booleans())
            words.append([f"{name}={value}"] if attached else [name, value])
    env: dict[str, str] = {}
    where = draw(st.sampled_from(["option", "option", "option=", "env", "env", "none", "unreachable"]))
    if where == "option":
        words.append(["--api-url", url])
    elif where == "option=":
        words.append([f"--api-url={url}"])
    elif where == "env":
        env["DUCTILE_API_URL"] = url
    elif where == "unreachable":
        words.append(["--api-url", "http://127.0.0.1:9"])
    if draw(st.integers(0, 3)):
        env["DUCTILE_TOKEN"] = ADMIN_TOKEN
    if draw(st.integers(0, 9)) == 0:
        words.append([draw(st.sampled_from(NOISE))])
    valued = [n for n in names if n not in FLAGS]
    if valued and draw(st.integers(0, 9)) == 0:
        words.append([draw(st.sampled_from(valued))])  # a value missing at the end
    order = draw(st.permutations(range(len(words))))
    return [noun, action, *(w for i in order for w in words[i])], env


@pytest.mark.parametrize(("noun", "action"), NOUN_ACTION)  # each command gets its share of examples
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fast_path_and_typer_give_the_same_output_and_exit_code(
    gw: Any, noun: str, action: str, data: st.DataObject
) -> None:
    # schedule actions only on unknown entries, job actions only on unknown jobs or as dry runs:
    # no state changes
    argv, env = data.draw(argvs(gw.url, noun, action))
    fast_answer = via_fast(argv, env)
    event("fast path" if fast_answer is not None else "handed to Typer")
    if fast_answer is None:  # Typer's own case; it must not be one the fast path claims to know
        assert fast.parse(argv, {**CLEAN_ENV, **env}) is None
        return
    event(f"exit {fast_answer[0]}")
    assert steady(argv, fast_answer) == steady(argv, via_typer(argv, env)), argv


def steady(argv: list[str], answer: tuple[int, str, str]) -> tuple[int, str, str]:
    return steady_status(answer) if argv[:2] == ["system", "status"] else answer


# a duration as monitor.fmt.span writes it: 850ms, 12.3s, 4m05s, 3h12m, 2d04h
_SPAN = re.compile(r"\b[0-9][0-9.]*(ms|s|m[0-9]+s|h[0-9]+m|d[0-9]+h)\b")


def steady_status(answer: tuple[int, str, str]) -> tuple[int, str, str]:
    """`system status` shows the gateway's uptime and the schedules' ages, which change between two
    calls (also in unit: 850ms, then 1.0s): durations and numbers are masked, the rest compared."""
    code, out, err = answer
    return code, re.sub(r"[0-9]+", "9", _SPAN.sub("<span>", out)), re.sub(r"[0-9]+", "9", _SPAN.sub("<span>", err))


@pytest.mark.parametrize(
    "argv",
    [
        ["job", "list", "--plugin", "alpha", "--limit", "2"],
        ["job", "list", "--status", "failed", "--json"],
        ["job", "list", "--limit", "007", "--since=2020-01-02T00:00:01Z"],
        ["job", "logs", "--plugin", "alpha", "--include-result"],
        ["job", "logs", "no-such-job", "--json"],
        ["job", "show", "no-such-job"],
        ["schedule", "list"],
        ["schedule", "list", "--json"],
        ["schedule", "run", "alpha", "nope"],
        ["job", "retry", "no-such-job"],
        ["job", "retry", "--plugin", "alpha", "--json"],
        ["job", "retry", "--status", "failed,dead", "--dry-run"],
        ["job", "retry"],
        ["job", "cancel", "no-such-job", "--json"],
        ["job", "cancel", "--plugin", "alpha"],
        ["job", "cancel", "--submitted-by", "cli", "-y", "--dry-run"],
        ["system", "status"],
        ["system", "status", "--json"],
    ],
)
def test_plain_argv_takes_the_fast_path_with_identical_output(gw: Any, argv: list[str]) -> None:
    full = [*argv, "--api-url", gw.url, "--token", ADMIN_TOKEN]
    fast_answer = via_fast(full, {})
    assert fast_answer is not None, "expected the fast path to take this argv"
    assert steady(argv, fast_answer) == steady(argv, via_typer(full, {}))
    assert fast_answer[1] or fast_answer[2]


def test_seeded_jobs_and_a_real_job_show_identically(gw: Any) -> None:
    with gw.client() as api:
        job_id = api.post("/plugin/alpha/poll", json={"payload": {"n": 1}}).json()["job_id"]
    for _ in range(200):
        with gw.client() as api:
            if api.get(f"/job/{job_id}").json()["status"] == "succeeded":
                break
    for argv in (["job", "show", job_id], ["job", "show", job_id, "--json"], ["job", "logs", "--job-id", job_id], ["job", "logs", job_id]):
        full = [*argv, "--api-url", gw.url, "--token", ADMIN_TOKEN]
        answer = via_fast(full, {})
        assert answer is not None and answer[0] == 0, answer
        assert answer == via_typer(full, {})
    assert '"n": 1' in via_fast(["job", "show", job_id, "--api-url", gw.url, "--token", ADMIN_TOKEN], {})[1]  # type: ignore[index]


def test_schedule_pause_and_resume_on_the_fast_path(gw: Any) -> None:
    base = ["--api-url", gw.url, "--token", ADMIN_TOKEN]
    paused = via_fast(["schedule", "pause", "alpha", "tick", "--reason", "night work", *base], {})
    assert paused is not None and paused[0] == 0
    assert paused[1].startswith("alpha/tick: paused_manual (night work) by admin at "), paused
    again = via_fast(["schedule", "pause", "alpha", "tick", *base], {})
    assert again is not None and again[1].startswith("already paused: alpha/tick")
    assert again == via_typer(["schedule", "pause", "alpha", "tick", *base], {})
    resumed = via_fast(["schedule", "resume", "alpha", "tick", *base, "--json"], {})
    assert resumed is not None and json.loads(resumed[1])["changed"] is True
    assert via_fast(["schedule", "resume", "alpha", "tick", *base], {}) == via_typer(
        ["schedule", "resume", "alpha", "tick", *base], {}
    )


# --- what goes to Typer, and what users then see -------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["job", "list", "--help"],
        ["job", "list", "--bogus"],
        ["job", "list", "--limit"],
        ["job", "list", "--limit", "x"],
        ["job", "list", "--plugin", "--json"],
        ["job", "list", "--json=yes"],
        ["job", "show"],
        ["job", "show", "a", "b"],
        ["job", "logs", "--job-id", "j", "--follow"],
        ["job", "logs", "j", "--job-id", "k"],
        ["job", "logs", "j", "--job-id", "j"],
        ["job", "list", "--", "x"],
        ["job", "inspect", "j"],
        ["schedule", "pause", "alpha"],
        ["job", "retry", "a", "b"],
        ["job", "cancel", "--yes=true"],
        ["job", "retry", "-yq"],
        ["system", "status", "--help"],
        ["system", "monitor"],
        ["system", "start"],
        ["--version"],
        [],
    ],
)
def test_argv_it_does_not_fully_understand_goes_to_typer(argv: list[str]) -> None:
    assert fast.parse([*argv, "--api-url", "http://127.0.0.1:9"], {}) is None


def test_no_api_url_goes_to_typer_for_the_local_database() -> None:
    assert fast.parse(["job", "list"], {}) is None
    for argv in (["job", "retry", "j"], ["job", "cancel", "j"], ["system", "status"]):
        assert fast.parse(argv, {}) is None  # the local database, or the config's own address
        assert fast.parse(argv, {"DUCTILE_API_URL": "http://h:1"}) is not None
    assert fast.parse(["job", "list", "--api-url", ""], {}) is None
    assert fast.parse(["job", "list"], {"DUCTILE_API_URL": ""}) is None
    assert fast.parse(["job", "list"], {"DUCTILE_API_URL": "http://h:1"}) is not None
    parsed = fast.parse(["job", "list", "--api-url", "http://a:1", "--limit", "3", "--json"], {"DUCTILE_TOKEN": "t"})
    assert parsed is not None
    assert parsed[1] == {"api_url": "http://a:1", "limit": 3, "json_out": True, "token": "t"}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    return subprocess.run([DUCTILE, *args], capture_output=True, text=True, timeout=60, env=env)


def test_errors_from_a_real_process_name_what_was_wrong(gw: Any) -> None:
    base = ["--api-url", gw.url, "--token", ADMIN_TOKEN]
    missing = cli("job", "list", *base, "--limit")
    assert missing.returncode == 2 and "--limit" in missing.stderr and "requires an argument" in missing.stderr
    bogus = cli("job", "list", "--bogus", *base)
    assert bogus.returncode == 2 and "No such option: --bogus" in bogus.stderr
    not_int = cli("job", "list", "--limit", "many", *base)
    assert not_int.returncode == 2 and "Invalid value for '--limit'" in not_int.stderr
    api_says = cli("job", "list", "--limit", "0", *base)
    assert api_says.returncode == 1 and api_says.stderr.startswith("API 400: limit: '0' is not accepted")
    down = cli("job", "list", "--api-url", "http://127.0.0.1:9", "--token", "x")
    assert down.returncode == 1 and "cannot reach the ductile API at http://127.0.0.1:9" in down.stderr
    bad_url = cli("job", "list", "--api-url", "ftp://x")
    assert bad_url.returncode == 1 and "accepted: http://host:port" in bad_url.stderr
    helped = cli("job", "list", *base, "--help")
    assert helped.returncode == 0 and "--api-url" in helped.stdout and "--submitted-by" in helped.stdout


HEAVY = ("typer", "click", "pydantic", "fastapi", "httpx", "textual", "rich", "asyncio")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["job", "list", "--json"], 0),
        (["job", "retry", "no-such-job"], 1),
        (["job", "retry", "--status", "failed", "--json"], 0),
        (["job", "cancel", "no-such-job"], 1),
        (["job", "cancel", "--plugin", "alpha", "--json"], 0),
        (["system", "status", "--json"], 0),
    ],
)
def test_a_real_process_on_the_fast_path_imports_no_typer_or_pydantic(gw: Any, argv: list[str], expected: int) -> None:
    code = (
        "import json, sys; from ductile.cli.main import main\n"
        f"sys.argv = ['ductile', *{argv!r}, '--api-url', {gw.url!r}, '--token', {ADMIN_TOKEN!r}]\n"
        "try:\n    code = main()\nexcept SystemExit as exc:\n    code = exc.code\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "print(json.dumps({'code': code, 'heavy': heavy}), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report == {"code": expected or 0, "heavy": []}, done.stderr
    if argv[:2] == ["job", "list"]:
        assert json.loads(done.stdout)["total"] >= 3


@pytest.mark.parametrize("message", ["", "plain", "a\x1b[31mred\x1b[0m b", "ünïcode ✓", "two\nlines"])
def test_echo_writes_what_typer_echo_writes(message: str, capsys: pytest.CaptureFixture[str]) -> None:
    import typer

    from ductile.cli import client_views

    typer.echo(message)
    typer.echo(message, err=True)
    typers = capsys.readouterr()
    client_views.echo(message)
    client_views.echo(message, err=True)
    assert capsys.readouterr() == typers
