"""`job retry|cancel` and `system status` on the start-up fast path answer exactly as through Typer.

Refusals (a job that cannot be retried or cancelled, a missing scope, a job id with filters, no
gateway) must give the same message and exit code either way. Acting changes the jobs, so these
run against their own gateway, apart from test_cli_fast.py's property test, which only sends
actions that change nothing; where acting makes the second call's answer differ (a new job id,
the next audit number), both answers are matched against the same shape.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ADMIN_TOKEN
from test_cli_fast import steady_status, via_fast, via_typer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api"))
from live_gateway import scope_token, seed, stamp, start_gateway

DOWN = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    gateway = start_gateway(tmp_path_factory.mktemp("fast_actions"), plugins={"alpha": {}})
    # queued rows wait for 2999 (seed): the dispatcher leaves them for the cancels below, which
    # act on the `poll` ones only (HELD stays queued whichever test runs first)
    gateway.ids = dict(
        zip(
            ["SUCCEEDED", "FAILED", "QUEUED", "QUEUED2", "QUEUED3", "HELD"],
            seed(
                gateway.db_path,
                [
                    {"plugin": "alpha", "command": c, "status": s, "created_at": stamp(3, i)}
                    for i, (s, c) in enumerate(
                        [("succeeded", "poll"), ("failed", "poll"), *[("queued", "poll")] * 3, ("queued", "handle")]
                    )
                ],
            ),
            strict=True,
        )
    )
    yield gateway
    gateway.stop()


def both(gw: Any, argv: list[str], token: str | None = ADMIN_TOKEN) -> tuple[tuple[int, str, str], ...]:
    """The fast path's answer, then Typer's, for argv against gw (a seeded job by its status in capitals)."""
    full = [gw.ids.get(word, word) for word in argv]
    if "--api-url" not in full:
        full += ["--api-url", gw.url]
    if token is not None:
        full += ["--token", token]
    fast_answer = via_fast(full, {})
    assert fast_answer is not None, f"expected the fast path to take {full}"
    return fast_answer, via_typer(full, {})


@pytest.mark.parametrize(
    ("argv", "token", "message"),
    [
        (["job", "retry", "HELD"], ADMIN_TOKEN, r"^API 409: job \S+ is queued; only finished jobs \("),
        (["job", "retry", "SUCCEEDED"], scope_token("jobs:ro"), r"^API 403: .*jobs:rw"),
        (["job", "retry", "SUCCEEDED", "--plugin", "alpha"], ADMIN_TOKEN, r"^give a job id or filters, not both\n$"),
        (["job", "retry", "--status", "failed"], "nope-nope-nope", r"^API 401: "),
        (["job", "retry", "--status", "failed", "--yes"], scope_token("jobs:status:ro"), r"^API 403: "),
        (["job", "retry", "no-such-job", "--api-key", scope_token("jobs:ro")], None, r"^API 403: "),
        (["job", "retry", "no-such-job", "--api-url", DOWN], ADMIN_TOKEN, r"^cannot reach the ductile API at "),
        (["job", "retry", "x", "--api-url", "ftp://x"], ADMIN_TOKEN, r"^invalid API URL 'ftp://x'"),
        (["job", "cancel", "SUCCEEDED"], ADMIN_TOKEN, r"^API 409: "),
        (["job", "cancel", "QUEUED"], scope_token("jobs:status:ro"), r"^API 403: .*jobs:rw"),
        (["job", "cancel", "--status", "queued", "-y", "--command", "poll", "no-such-job"], ADMIN_TOKEN, r"^give a"),
        (["job", "cancel", "no-such-job", "--json"], ADMIN_TOKEN, r"^API 404: "),
        (["job", "cancel", "x", "--api-url", DOWN], ADMIN_TOKEN, r"cancel needs one: it owns the job's processes\)\n$"),
        (["job", "cancel", "--plugin", "alpha", "--api-url", "x"], None, r"^invalid API URL 'x' .*is a gateway running"),
    ],
)
def test_refusals_give_the_same_message_and_exit_code(gw: Any, argv: list[str], token: str, message: str) -> None:
    fast_answer, typer_answer = both(gw, argv, token)
    assert fast_answer == typer_answer
    code, out, err = fast_answer
    assert (code, out) == (1, "") and re.search(message, err), fast_answer


def test_single_retry_and_cancel_act_the_same(gw: Any) -> None:
    fast_answer, typer_answer = both(gw, ["job", "retry", "FAILED"])
    failed = gw.ids["FAILED"]
    shape = rf"^Queued job \S+, a retry of {failed}( \(already queued or running: not started twice\))?\n$"
    for code, out, err in (fast_answer, typer_answer):
        assert code == 0 and err == "" and re.match(shape, out), (code, out, err)

    fast_answer = via_fast(["job", "cancel", gw.ids["QUEUED"], "--api-url", gw.url, "--token", ADMIN_TOKEN], {})
    typer_answer = via_typer(["job", "cancel", gw.ids["QUEUED2"], "--api-url", gw.url, "--token", ADMIN_TOKEN], {})
    assert fast_answer is not None and fast_answer[0] == 0 and fast_answer[1].startswith(gw.ids["QUEUED"] + " ")
    assert fast_answer == (typer_answer[0], typer_answer[1].replace(gw.ids["QUEUED2"], gw.ids["QUEUED"]), "")
    # cancelling it again is refused, in the same words
    again, typer_again = both(gw, ["job", "cancel", "QUEUED"])
    assert again == typer_again and again[0] == 1 and again[2].startswith("API 409: "), again


def test_bulk_actions_act_the_same(gw: Any) -> None:
    # the audit number goes up with every action: the only difference allowed
    for action in ("retry", "cancel"):
        fast_answer, typer_answer = both(gw, ["job", action, "--plugin", "nope", "--yes"])
        assert fast_answer[1] == f"{action}: 0 of 0 matching job(s) acted on (audit #{fast_answer[1].split('#')[1]}"
        assert re.sub(r"#\d+", "#N", fast_answer[1]) == re.sub(r"#\d+", "#N", typer_answer[1])
        assert fast_answer[0] == typer_answer[0] == 0 and fast_answer[2] == typer_answer[2] == ""
    fast_answer, typer_answer = both(gw, ["job", "cancel", "--status", "queued", "--json"])  # a dry run
    assert fast_answer == typer_answer and '"dry_run": true' in fast_answer[1], fast_answer
    # the single cancels above took two of the three `poll` ones if they ran on this gateway
    fast_answer, typer_answer = both(gw, ["job", "cancel", "--status", "queued", "--command", "poll", "-y"])
    assert fast_answer[0] == typer_answer[0] == 0
    assert re.match(r"^cancel: ([1-9]) of \1 matching job\(s\) acted on \(audit #\d+\)\n$", fast_answer[1]), fast_answer
    assert re.match(r"^cancel: 0 of 0 matching job\(s\) acted on \(audit #\d+\)\n$", typer_answer[1]), typer_answer


@pytest.mark.parametrize(
    ("argv", "token", "code", "expected"),
    [
        (["system", "status"], ADMIN_TOKEN, 0, r"^ok  http://127\.0\.0\.1:\d+  ductile "),
        (["system", "status", "--json"], ADMIN_TOKEN, 0, r'"ok": true'),
        (["system", "status"], None, 0, r"schedules: unavailable \(no token given: schedules need jobs:ro\)"),
        (["system", "status"], "nope-nope-nope", 0, r"schedules: unavailable \("),
        (["system", "status", "--json"], scope_token("plugin:invoke:ro"), 0, r'"schedules_error": '),
        (["system", "status", "--api-url", DOWN], ADMIN_TOKEN, 1, r"^✖ http://127\.0\.0\.1:9: gateway unreachable: "),
        (["system", "status", "--api-url", DOWN, "--json"], None, 1, r'"error": "gateway unreachable: '),
        (["system", "status", "--api-url", "ftp://x"], None, 1, r"^✖ ftp://x: gateway unreachable: invalid API URL"),
    ],
)
def test_system_status_answers_the_same(gw: Any, argv: list[str], token: str, code: int, expected: str) -> None:
    fast_answer, typer_answer = both(gw, argv, token)
    assert steady_status(fast_answer) == steady_status(typer_answer)
    assert fast_answer[0] == code and fast_answer[2] == "" and re.search(expected, fast_answer[1]), fast_answer
