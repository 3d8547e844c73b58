"""protocol.build_request / parse_response and dispatch.judge: the outcome table, pure."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ductile.dispatch import judge
from ductile.executor import RunResult, plugin_env
from ductile.lifecycle import Outcome
from ductile.protocol import (
    MAX_DEPTH,
    STDOUT_LIMIT,
    ProtocolViolation,
    Response,
    build_request,
    nesting_depth,
    parse_response,
)


def body(**kw) -> bytes:
    return json.dumps(kw).encode()


# -- request -------------------------------------------------------------------------------


def test_request_is_one_json_line_with_every_field():
    raw = build_request(
        job_id="j1",
        command="poll",
        config={"a": 1},
        state={"n": 2},
        payload={"x": 1},
        context={"ductile_plugin": "inst"},
        instance="inst",
        workspace_dir="/tmp/ws",
        deadline_at="2026-11-29T10:01:00.000000Z",
    )
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    request = json.loads(raw)
    assert request == {
        "protocol": 2,
        "job_id": "j1",
        "command": "poll",
        "config": {"a": 1},
        "state": {"n": 2},
        "payload": {"x": 1},
        "context": {"ductile_plugin": "inst"},
        "instance": "inst",
        "workspace_dir": "/tmp/ws",
        "deadline_at": "2026-11-29T10:01:00.000000Z",
    }


@pytest.mark.parametrize("payload", [None, {}, [], ""])
def test_empty_payload_is_omitted_and_config_state_default_to_objects(payload):
    request = json.loads(
        build_request(
            job_id="j",
            command="poll",
            config=None,
            state=None,
            payload=payload,
            context={"ductile_plugin": "p"},
            instance="p",
            workspace_dir="/w",
            deadline_at="t",
        )
    )
    assert "payload" not in request and "event" not in request
    assert request["config"] == {} and request["state"] == {}


def test_handle_request_carries_the_event():
    event = {"type": "t", "payload": {}, "source": "api", "timestamp": "ts", "event_id": "e"}
    request = json.loads(
        build_request(
            job_id="j",
            command="handle",
            config={},
            state={},
            payload=event,
            context={"ductile_plugin": "p"},
            instance="p",
            workspace_dir="/w",
            deadline_at="t",
            event=event,
        )
    )
    assert request["event"] == event and request["payload"] == event


# -- response ------------------------------------------------------------------------------


def test_full_ok_response():
    response = parse_response(
        body(
            status="ok",
            result="fetched 12",
            state_updates={"token": "a2"},
            events=[{"type": "x.y", "payload": {"n": 1}, "dedupe_key": "k"}],
            logs=[{"level": "WARNING", "message": "careful"}, {"level": "loud", "message": {"m": 1}}],
            unknown_key="ignored",
        )
        + b"\n"
    )
    assert response.status == "ok" and response.result == "fetched 12"
    assert response.retry is True
    assert response.state_updates == {"token": "a2"}
    assert response.events == [{"type": "x.y", "payload": {"n": 1}, "dedupe_key": "k"}]
    assert response.logs == [{"level": "warn", "message": "careful"}, {"level": "info", "message": '{"m": 1}'}]


def test_error_response_and_retry_flag():
    response = parse_response(body(status="error", error="nope", retry=False))
    assert (response.status, response.error, response.retry) == ("error", "nope", False)
    assert parse_response(body(status="error", error={"code": 3})).error == '{"code": 3}'


def test_result_may_be_any_non_blank_json_value():
    assert parse_response(body(status="ok", result={"n": 1})).result == {"n": 1}
    assert parse_response(body(status="ok", result=0)).result == 0
    assert parse_response(body(status="ok", result=False)).result is False


@pytest.mark.parametrize(
    ("stdout", "message"),
    [
        (b"", "plugin wrote nothing to stdout (expected one JSON object)"),
        (b"  \n\t\n", "plugin wrote nothing to stdout (expected one JSON object)"),
        (b"hello world", "plugin stdout is not JSON (Expecting value at char 0): 'hello world'"),
        (
            b'{"status": "ok", "result": ',
            'plugin stdout is not JSON (Expecting value at char 26): \'{"status": "ok", "result":\'',
        ),
        (
            b'{"status":"ok","result":"a"}\n{"status":"ok","result":"b"}\n',
            "plugin stdout holds more than one JSON value (expected exactly one object); "
            'extra data starts with \'{"status":"ok","result":"b"}\'',
        ),
        (b'[{"status":"ok"}]', 'plugin stdout is a JSON list, expected an object: \'[{"status":"ok"}]\''),
        (b"\xff\xfe garbage", "plugin stdout is not UTF-8 text: '\ufffd\ufffd garbage'"),
        (body(result="x"), "response 'status' is None (accepted: 'ok' or 'error')"),
        (body(status="fine", result="x"), "response 'status' is 'fine' (accepted: 'ok' or 'error')"),
        (body(status="ok"), "response has status 'ok' but no non-blank 'result'"),
        (body(status="ok", result="   "), "response has status 'ok' but no non-blank 'result'"),
        (body(status="error"), "response has status 'error' but no 'error' message"),
        (body(status="ok", result="x", retry="no"), "response 'retry' is 'no' (accepted: true or false)"),
        (body(status="ok", result="x", events={}), "response 'events' must be a list, got dict"),
        (
            body(status="ok", result="x", events=[{"type": ""}]),
            "response events[0] has an empty 'type' (a non-empty string is required)",
        ),
        (
            body(status="ok", result="x", events=[{"type": "a"}, {"payload": 1}]),
            "response events[1] has an empty 'type' (a non-empty string is required)",
        ),
        (body(status="ok", result="x", state_updates=[1]), "response 'state_updates' must be an object, got list"),
        (body(status="ok", result="x", logs="hi"), "response 'logs' must be a list, got str"),
        (body(status="ok", result="x", logs={}), "response 'logs' must be a list, got dict"),
    ],
)
def test_malformed_responses_say_what_was_wrong(stdout, message):
    with pytest.raises(ProtocolViolation) as info:
        parse_response(stdout)
    assert str(info.value).startswith(message)


def test_garbage_is_quoted_but_only_its_first_bytes():
    with pytest.raises(ProtocolViolation) as info:
        parse_response(b"x" * 5000)
    text = str(info.value)
    assert text.endswith("…") and len(text) < 300


# -- judge: the outcome table -------------------------------------------------------------


def run(stdout=b"", exit_code=0, stderr="", timed_out=False, overflow=False, spawn_error=None) -> RunResult:
    return RunResult(stdout, overflow, stderr, False, exit_code, timed_out, 1.0, spawn_error)


def test_judge_ok_and_error():
    assert judge(run(body(status="ok", result="r")), 60).outcome is Outcome.SUCCESS
    verdict = judge(run(body(status="error", error="bad")), 60)
    assert (verdict.outcome, verdict.error) == (Outcome.ERROR, "bad")
    verdict = judge(run(body(status="error", error="bad", retry=False)), 60)
    assert (verdict.outcome, verdict.error) == (Outcome.FATAL, "bad")


def test_judge_exit_78_is_fatal_whatever_the_body_says():
    verdict = judge(run(body(status="ok", result="fine"), exit_code=78), 60)
    assert verdict.outcome is Outcome.FATAL
    assert verdict.error.startswith("plugin exited 78 (EX_CONFIG, never retried)")
    verdict = judge(run(b"", exit_code=78, stderr="missing api_key\n"), 60)
    assert verdict.error == "plugin exited 78 (EX_CONFIG, never retried): missing api_key"
    verdict = judge(run(body(status="error", error="no token", retry=True), exit_code=78), 60)
    assert (verdict.outcome, verdict.error) == (Outcome.FATAL, "plugin exited 78 (EX_CONFIG, never retried): no token")


def test_judge_other_nonzero_exit_with_valid_body_lets_the_body_decide():
    assert judge(run(body(status="ok", result="r"), exit_code=3), 60).outcome is Outcome.SUCCESS
    assert judge(run(body(status="error", error="e"), exit_code=1), 60).outcome is Outcome.ERROR


def test_judge_malformed_output_is_a_retryable_error_with_exit_code_and_stderr():
    verdict = judge(run(b"Traceback", exit_code=1, stderr="ZeroDivisionError: division by zero\n"), 60)
    assert verdict.outcome is Outcome.ERROR
    assert verdict.error == (
        "plugin stdout is not JSON (Expecting value at char 0): 'Traceback' (exit code 1); "
        "stderr: ZeroDivisionError: division by zero"
    )


def test_judge_overflow_is_an_error_that_quotes_the_prefix():
    verdict = judge(run(b'{"status":"ok","result":"' + b"a" * 200, overflow=True), 60)
    assert verdict.outcome is Outcome.ERROR
    assert verdict.error.startswith('plugin stdout exceeded the 10 MiB limit; first bytes: \'{"status":"ok"')
    assert STDOUT_LIMIT == 10 * 1024 * 1024


def test_judge_timeout_unless_a_complete_result_arrived_first():
    verdict = judge(run(b"", exit_code=None, timed_out=True), 2.5)
    assert verdict.outcome is Outcome.TIMEOUT
    assert verdict.error == "plugin still running after its 2.5s timeout; process group killed"
    assert judge(run(body(status="ok", result="r"), exit_code=None, timed_out=True), 1).outcome is Outcome.SUCCESS


def test_judge_spawn_error():
    verdict = judge(run(spawn_error="could not start /x: Permission denied"), 60)
    assert (verdict.outcome, verdict.error) == (Outcome.ERROR, "could not start /x: Permission denied")


def test_plugin_env_is_an_allowlist_plus_passthrough():
    source = {
        "PATH": "/bin",
        "HOME": "/h",
        "TZ": "UTC",
        "LANG": "C",
        "LC_ALL": "C",
        "LC_TIME": "C",
        "TMPDIR": "/t",
        "SECRET_TOKEN": "s",
        "MY_VAR": "m",
        "PYTHONPATH": "x",
    }
    assert plugin_env([], source) == {
        "PATH": "/bin",
        "HOME": "/h",
        "TZ": "UTC",
        "LANG": "C",
        "LC_ALL": "C",
        "LC_TIME": "C",
        "TMPDIR": "/t",
    }
    assert plugin_env(["MY_VAR", "ABSENT"], source)["MY_VAR"] == "m"
    assert "ABSENT" not in plugin_env(["ABSENT"], source)


# -- output that would crash a naive judge -------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='ab[]{}"\\ ,:'),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(alphabet='k[]{}"', max_size=3), children, max_size=3)
    ),
    max_leaves=40,
)


def true_depth(value) -> int:
    if isinstance(value, list):
        return 1 + max((true_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((true_depth(v) for v in value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(json_values, st.integers(min_value=0, max_value=80))
def test_nesting_depth_counts_brackets_outside_strings_only(value, wrap):
    # wrapped deep enough, the scan runs (a short text with few brackets takes a shortcut)
    text = "[" * wrap + json.dumps(value) + "]" * wrap
    depth = true_depth(value) + wrap
    measured = nesting_depth(text)
    if depth > MAX_DEPTH or measured > MAX_DEPTH:
        assert measured == depth
    else:
        assert depth <= measured <= MAX_DEPTH


def test_nesting_past_the_limit_is_a_violation_without_recursing():
    ok = b'{"status": "ok", "result": ' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}"
    assert parse_response(ok).status == "ok"
    for raw in (
        b'{"status": "ok", "result": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}",
        b"[" * 200_000,
        b'{"a":' * 100_000,
    ):
        with pytest.raises(ProtocolViolation, match=rf"levels deep \(accepted: at most {MAX_DEPTH}\)"):
            parse_response(raw)


@pytest.mark.parametrize(
    ("stdout", "where"),
    [
        (b'{"status": "ok", "result": "\\ud800"}', "in result "),
        (b'{"status": "ok", "result": {"\\udbff": 1}}', "in a key in result "),
        (b'{"status": "ok", "result": 1, "state_updates": {"a": ["x", "\\udc00"]}}', "in state_updates.a[1] "),
        (b'{"status": "ok", "result": 1, "events": [{"type": "\\ud800"}]}', "in events[0].type "),
        (b'{"status": "error", "error": "\\udfff"}', "in error "),
        (b'{"status": "ok", "result": 1, "logs": [{"message": "\\ud83d"}]}', "in logs[0].message "),
    ],
)
def test_lone_surrogates_anywhere_are_violations_naming_where(stdout, where):
    with pytest.raises(ProtocolViolation) as info:
        parse_response(stdout)
    assert str(info.value).startswith("plugin stdout holds invalid Unicode: an unpaired surrogate escape")
    assert where in str(info.value)
    str(info.value).encode("utf-8")  # the message itself can always be stored


def test_surrogate_pairs_and_escaped_backslashes_are_fine():
    assert parse_response(b'{"status": "ok", "result": "\\ud83d\\ude00"}').result == "\U0001f600"
    assert parse_response(b'{"status": "ok", "result": "\\\\ud800"}').result == "\\ud800"


@pytest.mark.parametrize(
    ("stdout", "message"),
    [
        (b'{"status": "ok", "result": NaN}', "NaN is not a JSON value"),
        (b'{"status": "ok", "result": -Infinity}', "-Infinity is not a JSON value"),
        (b'{"status": "ok", "result": ' + b"9" * 5000 + b"}", "Exceeds the limit (4300 digits)"),
    ],
)
def test_non_json_numbers_are_violations(stdout, message):
    with pytest.raises(ProtocolViolation, match="plugin stdout is not valid JSON") as info:
        parse_response(stdout)
    assert message in str(info.value)


# -- the orjson fast path agrees with the full path -------------------------------------------


def _both(stdout: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    """parse_response as shipped, and with the fast path switched off (the `json` decoder only)."""

    def outcome() -> object:
        try:
            return parse_response(stdout)
        except ProtocolViolation as exc:
            return f"violation: {exc}"

    fast = outcome()
    with monkeypatch.context() as patched:
        patched.setattr("ductile.protocol._fast_body", lambda _text: None)
        full = outcome()
    return fast, full


@pytest.mark.parametrize(
    "stdout",
    [
        b'{"status":"ok","result":"done"}\n',
        b'  {"status":"ok","result":{"n":1.5,"big":123456789012345678901234567890}}  ',
        b'{"status":"ok","result":18446744073709551616}',
        b'{"status":"ok","result":-9223372036854775809}',
        b'{"status":"ok","result":1e400}',
        b'{"status":"ok","result":NaN}',
        b'{"status":"ok","result":"\\ud800"}',
        b'{"status":"ok","result":"\\ud83d\\ude00 caf\\u00e9"}',
        b'{"status":"ok","result":"x"} {"again":1}',
        b'{"status":"ok","result":"a","result":"b"}',
        b'{"status":"ok","result":"\xff"}',
        b'\xef\xbb\xbf{"status":"ok","result":"bom"}',
        b'{"status":"error","error":{"code":7},"retry":false,"logs":[{"level":"WARNING","message":3}]}',
        b'{"status":"ok","result":"x","events":[{"type":"a","payload":{"k":[1,2,{"z":null}]}}]}',
        b"[" * 65 + b"]" * 65,
        b'{"a":' * 70 + b"1" + b"}" * 70,
        b'{"status":"ok"}',
        b'{"status":"ok","result":"x"',
        b'"just a string"',
    ],
)
def test_the_fast_path_gives_the_full_paths_response_or_message(stdout, monkeypatch):
    fast, full = _both(stdout, monkeypatch)
    assert fast == full
    if isinstance(full, Response):
        assert isinstance(fast, Response) and type(fast.result) is type(full.result)


def test_the_fast_path_keeps_integers_past_64_bits_exact():
    big = 123456789012345678901234567890
    response = parse_response(b'{"status":"ok","result":%d}' % big)
    assert response.result == big and isinstance(response.result, int)
