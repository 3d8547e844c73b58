"""`ductile api <endpoint>`: the request rules (pure) and the real CLI against a real gateway."""

from __future__ import annotations

import io
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ADMIN_TOKEN, DUCTILE, GatewayProcess, base_config, free_port, make_plugin, wait_for, write_config
from hypothesis import given
from hypothesis import strategies as st

from ductile.cli.api_request import RequestError, build_request, field_value, fields_body, render

ECHO = """\
#!/usr/bin/env python3
import json, sys
request = json.load(sys.stdin)
print(json.dumps({"status": "ok", "result": request.get("payload")}))
"""


# -- the request rules ------------------------------------------------------------------------


def test_method_defaults_to_get_and_to_post_with_a_body() -> None:
    assert build_request("jobs", None, [], [], None).method == "GET"
    assert build_request("/jobs", None, [], [], None).target == "/jobs"
    assert build_request("/x", None, ["a=1"], [], None).method == "POST"
    assert build_request("/x", None, [], [], "{}").method == "POST"
    assert build_request("/x", "delete", [], [], None).method == "DELETE"


def test_fields_make_one_json_object_and_dotted_keys_nest() -> None:
    request = build_request("/plugin/echo/poll", None, ["payload.name=ada", "payload.n=3", "payload.ok=TRUE"], [], None)
    assert json.loads(request.body or b"") == {"payload": {"name": "ada", "n": 3, "ok": True}}
    assert request.headers == {"Content-Type": "application/json"}
    assert fields_body(["a=x=y", "b="]) == {"a": "x=y", "b": ""}


@given(st.integers(-(10**12), 10**12))
def test_an_integer_field_is_a_number(n: int) -> None:
    assert field_value(str(n)) == n


@given(st.text(min_size=1).filter(lambda t: t.lower() not in ("true", "false") and not t.lstrip("-").isdigit()))
def test_any_other_field_stays_the_string_given(text: str) -> None:
    assert field_value(text) == text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("http://evil.example/jobs", None, [], [], None), "endpoint: 'http://evil.example/jobs' is not accepted"),
        (("//evil.example/jobs", None, [], [], None), "(accepted: a path such as /jobs?status=failed)"),
        (("/events?types=job.completed", None, [], [], None), "follow it with `ductile events`"),
        (("/jobs?plugin=a b", None, [], [], None), "holds a space or control character (accepted: encoded, e.g. %20)"),
        (("/jobs\r\nX: y", None, [], [], None), "holds a space or control character"),
        (("/x", None, ["a=1"], [], "{}"), "--body and --field both give the body"),
        (("/x", "GE T", [], [], None), "--method: 'GE T' is not accepted"),
        (("/x", None, ["novalue"], [], None), "--field: 'novalue' is not accepted (accepted: key=value"),
        (("/x", None, ["a..b=1"], [], None), "--field: 'a..b=1' is not accepted"),
        (("/x", None, ["a=1", "a.b=2"], [], None), "puts a key inside 'a', which already has a value"),
        (("/x", None, ["a.b=1", "a=2"], [], None), "gives a value to 'a', which already holds keys"),
        (("/x", None, [], ["X-Evil: a\r\nHost: other"], None), "--header: 'X-Evil: a\\r\\nHost: other' is not accepted"),
        (("/x", None, [], ["no colon"], None), "(accepted: 'Name: value' on one line)"),
        (("/x", None, [], ["Bad Name: v"], None), "--header: 'Bad Name: v' is not accepted"),
    ],
)
def test_what_cannot_be_sent_is_refused_naming_the_argument(args: tuple, message: str) -> None:
    with pytest.raises(RequestError) as caught:
        build_request(*args)
    assert message in str(caught.value)


def test_a_given_content_type_is_kept_and_stdin_is_read_for_a_dash() -> None:
    class Stdin:
        buffer = io.BytesIO(b"raw text")

    request = build_request("/x", None, [], ["content-type: text/plain"], "-", stdin=Stdin())
    assert request.body == b"raw text" and request.headers == {"content-type": "text/plain"}


def test_answers_are_shown_indented_when_json_and_as_they_came_otherwise() -> None:
    assert render(b'{"a":[1]}') == '{\n  "a": [\n    1\n  ]\n}'
    assert render(b"plain\n") == "plain\n"
    assert render(b"") is None


# -- against a real gateway -----------------------------------------------------------------


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    root = tmp_path_factory.mktemp("api-cmd")
    make_plugin(root / "plugins", "echo", ECHO)
    port = free_port()
    write_config(root / "gw", base_config([root / "plugins"], {"echo": {}}, port=port))
    gateway = GatewayProcess(root / "gw", port=port).start()
    try:
        yield gateway
    finally:
        gateway.stop()


def cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DUCTILE_")}
    return subprocess.run(
        [DUCTILE, "api", *args], capture_output=True, text=True, timeout=60, input=stdin, env={**clean, **(env or {})}
    )


def finished(job_id: str, env: dict[str, str]) -> dict:
    """GET /job/{id} through `ductile api` until the job has ended."""
    box: dict = {}

    def done() -> bool:
        box.update(json.loads(cli(f"/job/{job_id}", env=env).stdout))
        return box.get("status") in ("succeeded", "failed")

    wait_for(done, timeout=30, message=f"job {job_id} to end")
    return box


def test_get_prints_the_answer_as_indented_json(gw: GatewayProcess) -> None:
    out = cli("/jobs?limit=1", "--api-url", gw.url, "--api-key", ADMIN_TOKEN)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("{\n  ")
    assert "jobs" in json.loads(out.stdout)


def test_fields_queue_a_job_and_a_header_reaches_the_server(gw: GatewayProcess) -> None:
    env = {"DUCTILE_API_URL": gw.url, "DUCTILE_TOKEN": ADMIN_TOKEN}
    args = ("plugin/echo/poll", "-f", "payload.greeting=hello", "-f", "payload.n=2", "-H", "Idempotency-Key: api-cmd-1")
    first = cli(*args, env=env)
    assert first.returncode == 0, first.stderr
    job_id = json.loads(first.stdout)["job_id"]
    again = cli(*args, env=env)  # the same Idempotency-Key: the same job, not a second one
    assert json.loads(again.stdout)["job_id"] == job_id
    assert finished(job_id, env)["result"]["result"] == {"greeting": "hello", "n": 2}  # the echo plugin's answer


def test_a_body_from_stdin_is_sent_as_given(gw: GatewayProcess) -> None:
    out = cli(
        "/plugin/echo/poll", "-b", "-", "--api-url", gw.url, "--token", ADMIN_TOKEN, stdin='{"payload": {"from": "stdin"}}'
    )
    assert out.returncode == 0, out.stderr
    job_id = json.loads(out.stdout)["job_id"]
    env = {"DUCTILE_API_URL": gw.url, "DUCTILE_TOKEN": ADMIN_TOKEN}
    assert finished(job_id, env)["result"]["result"] == {"from": "stdin"}


def test_an_error_answer_is_printed_and_exits_1_with_its_status(gw: GatewayProcess) -> None:
    missing = cli("/job/no-such-job", "--api-url", gw.url, "--api-key", ADMIN_TOKEN)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "Response Status: 404 Not Found"
    assert "error" in json.loads(missing.stdout)
    anonymous = cli("/jobs", "--api-url", gw.url)
    assert anonymous.returncode == 1 and anonymous.stderr.strip() == "Response Status: 401 Unauthorized"


def test_the_url_comes_from_the_config_like_every_other_command(gw: GatewayProcess) -> None:
    out = cli("/healthz", "--config", str(gw.config_dir))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "ok"


def test_a_gateway_that_is_not_there_is_named(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    out = cli("/jobs", "--api-url", url, "--api-key", ADMIN_TOKEN)
    assert out.returncode == 1 and out.stderr.startswith(f"cannot reach the ductile API at {url}: ")
    bad = cli("/jobs", "--api-url", "ftp://127.0.0.1:1")
    assert bad.returncode == 1 and "invalid API URL 'ftp://127.0.0.1:1'" in bad.stderr


# -- the start-up fast path (fast.py) answers `api` as the Typer command does -----------------


def test_the_fast_path_table_matches_the_typer_command() -> None:
    from typer.main import get_command

    from ductile.cli import fast
    from ductile.cli.main import build

    command = get_command(build("api")).commands["api"]  # type: ignore[attr-defined]
    spec = fast.SPECS[("api",)]
    flags: dict[str, tuple[str, str]] = {}
    arguments = []
    for param in command.params:
        if param.param_type_name == "argument":
            arguments.append(param.name)
            continue
        if "--help" in param.opts:
            continue
        kind = fast.LIST if param.multiple else fast.STR
        for opt in param.opts:
            flags[opt] = (param.name, kind)
        assert param.envvar == fast.ENVVARS.get(param.name), param.name
    assert flags == spec.options
    assert tuple(arguments) == spec.arguments


FAST_ARGVS = [  # answers that do not change while other jobs of this module run
    ["api", "/plugins"],
    ["api", "plugin/echo"],
    ["api", "/job/no-such-job"],
    ["api", "/plugin/echo/poll", "-f", "payload.a=1", "-f", "payload.b=x", "-H", "X-Note: fast one"],
    ["api", "/plugin/echo/poll", "--field=payload.a=2", "--header=X-Note: fast two", "-X", "POST"],
    ["api", "/plugin/nope/poll", "-b", '{"payload": {}}'],
    ["api", "/x", "-b", "{}", "-f", "a=1"],  # refused before sending
    ["api", "/events"],
    ["api", "/jobs", "--token", "nope-nope"],
]


@pytest.mark.parametrize("argv", FAST_ARGVS, ids=lambda a: " ".join(a[1:])[:40])
def test_the_fast_path_and_typer_give_the_same_answer(gw: GatewayProcess, argv: list[str]) -> None:
    import contextlib
    import io

    from typer.testing import CliRunner

    from ductile.cli import fast
    from ductile.cli.main import build

    env = {"DUCTILE_API_URL": gw.url, "DUCTILE_TOKEN": ADMIN_TOKEN, "DUCTILE_API_KEY": ""}
    full = argv if "--token" in argv else [*argv, "--token", ADMIN_TOKEN]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = fast.run(full, env)
    assert code is not None, "the fast path handed this argv to Typer"
    typer_answer = CliRunner().invoke(build("api"), full, env=env)
    fast_answer = (code, out.getvalue(), err.getvalue())
    assert steady(fast_answer) == steady((typer_answer.exit_code, typer_answer.stdout, typer_answer.stderr))


def steady(answer: tuple[int, str, str]) -> tuple[int, str, str]:
    """Job ids and stamps differ between two calls; the rest must not."""
    import re

    code, out, err = answer
    out = re.sub(r'"(job_id|created_at|ts|time|uptime_seconds|started_at)": [^,\n]+', r'"\1": X', out)
    return code, out, err


def test_a_fast_api_call_imports_neither_typer_nor_pydantic(gw: GatewayProcess) -> None:
    probe = (
        "import sys\n"
        "from ductile.cli.main import main\n"
        f"sys.argv = ['ductile', 'api', '/healthz', '--api-url', {gw.url!r}]\n"
        "code = main()\n"
        "heavy = sorted(m for m in ('typer', 'click', 'pydantic', 'httpx', 'asyncio') if m in sys.modules)\n"
        "print('HEAVY', heavy, code)\n"
    )
    import sys

    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "HEAVY [] 0" in out.stdout, out.stdout
