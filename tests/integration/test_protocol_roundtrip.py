"""Full protocol round trips with real Python and bash plugins, and every malformed-response case."""

from __future__ import annotations

import os

from conftest import make_plugin

from ductile.lifecycle import Status
from ductile.timeutil import from_text

from .conftest import TEST_PLUGINS

ALLOWED_ENV = {"PATH", "HOME", "TZ", "LANG", "LANGUAGE", "TMPDIR"}


async def test_python_plugin_full_round_trip(rig, monkeypatch):
    monkeypatch.setenv("DUCTILE_TEST_PASS", "let-me-through")
    monkeypatch.setenv("DUCTILE_TEST_SECRET", "must-not-leak")
    monkeypatch.setenv("GREETING_FROM_ENV", "hello")
    r = rig(
        {
            "py_alias": {
                "uses": "proto_py",
                "config": {"greeting": "${GREETING_FROM_ENV}", "n": 3},
                "timeouts": {"poll": "7s"},
            }
        },
        roots=[TEST_PLUGINS],
        plugin_env_passthrough=["DUCTILE_TEST_PASS"],
    )
    job, [attempt] = await r.run_one("py_alias", payload={"since": "yesterday"})
    assert job.status is Status.SUCCEEDED, job.last_error
    assert attempt.outcome == "success" and attempt.exit_code == 0
    result = attempt.response["result"]
    request = result["request"]
    assert request["protocol"] == 2
    assert request["job_id"] == job.job_id
    assert request["command"] == "poll"
    assert request["config"] == {"greeting": "hello", "n": 3}
    assert request["state"] == {}
    assert request["payload"] == {"since": "yesterday"}
    assert request["context"] == {"ductile_plugin": "py_alias"}
    assert request["instance"] == "py_alias"
    assert "event" not in request
    workspace = request["workspace_dir"]
    assert workspace == str(r.setup.loaded.db_path.parent / "workspaces" / "py_alias")
    with open(os.path.join(workspace, "touched")) as handle:
        assert handle.read() == "1\n"
    deadline = from_text(request["deadline_at"])
    assert request["deadline_at"].endswith("Z")
    started = from_text(attempt.started_at)
    assert 7.0 <= (deadline - started).total_seconds() < 7.0 + 10  # spawn time + the 7s per-command timeout
    # spawned by absolute path, no arguments, in the plugin directory
    assert result["argv"] == []
    assert result["cwd"] == str(TEST_PLUGINS / "proto_py")
    # environment: the allowlist (+ LC_*) and the passthrough name, nothing else
    env = result["env"]
    assert env["DUCTILE_TEST_PASS"] == "let-me-through"
    assert "DUCTILE_TEST_SECRET" not in env and "GREETING_FROM_ENV" not in env
    unexpected = {k for k in env if k not in ALLOWED_ENV | {"DUCTILE_TEST_PASS"} and not k.startswith("LC_")}
    assert unexpected <= {"PWD", "SHLVL", "_"}, unexpected  # only what the interpreter itself sets
    # state merged, events, logs and stderr stored with the attempt
    assert r.store.get_state("py_alias") == {"count": 1, "last_job": job.job_id}
    assert [e["type"] for e in r.store.emitted_events(job.job_id)] == ["proto.counted"]
    assert attempt.logs == [{"level": "info", "message": "count is 1"}, {"level": "warn", "message": "w"}]
    assert attempt.stderr == "proto_py ran\n"


async def test_handle_gets_an_event_envelope(rig):
    r = rig({"proto_py": {"config": {"greeting": "hi"}}}, roots=[TEST_PLUGINS])
    job, [attempt] = await r.run_one("proto_py", "handle", payload={"x": 1})
    assert job.status is Status.SUCCEEDED
    request = attempt.response["result"]["request"]
    assert request["event"]["type"] == "cli.trigger"
    assert request["event"]["payload"] == {"x": 1, "ductile_plugin": "proto_py"}  # context keys merged (§4.2)
    assert set(request["event"]) >= {"type", "payload", "source", "timestamp", "event_id"}


async def test_bash_plugin_full_round_trip(rig, monkeypatch):
    monkeypatch.setenv("DUCTILE_TEST_PASS", "bash-pass")
    monkeypatch.setenv("DUCTILE_TEST_SECRET", "bash-secret")
    r = rig({"proto_sh": {"config": {"k": "v"}}}, roots=[TEST_PLUGINS], plugin_env_passthrough=["DUCTILE_TEST_PASS"])
    job, [attempt] = await r.run_one("proto_sh")
    assert job.status is Status.SUCCEEDED, job.last_error
    result = attempt.response["result"]
    request = result["request"]
    assert (request["job_id"], request["command"], request["config"]) == (job.job_id, "poll", {"k": "v"})
    assert request["instance"] == "proto_sh" and request["context"] == {"ductile_plugin": "proto_sh"}
    assert "payload" not in request
    assert request["deadline_at"].endswith("Z") and os.path.isdir(request["workspace_dir"])
    assert (result["pass"], result["secret"], result["home_set"]) == ("bash-pass", "", "yes")
    assert result["cwd"] == str(TEST_PLUGINS / "proto_sh") and result["args"] == 0
    assert attempt.logs[0]["level"] == "debug" and attempt.logs[0]["message"].startswith("bash ")
    assert r.store.get_state("proto_sh") == {"bash_seen": True}


# -- malformed output: each ends with the documented status and a message saying what was wrong --

PY = "#!/usr/bin/env python3\nimport sys, json\nsys.stdin.read()\n"
SH = "#!/usr/bin/env bash\ncat >/dev/null\n"


async def bad_output(rig, tmp_path, script: str, max_attempts: int = 2):
    make_plugin(tmp_path / "plugins", "bad", script)
    r = rig({"bad": {"retry": {"max_attempts": max_attempts, "backoff_base": "100ms"}}})
    return await r.run_one("bad")


async def test_garbage_stdout_is_retried_then_failed(rig, tmp_path):
    job, attempts = await bad_output(rig, tmp_path, SH + "echo 'this is not json'\n")
    assert job.status is Status.FAILED
    assert [a.attempt for a in attempts] == [1, 2]
    assert job.last_error == (
        "plugin stdout is not JSON (Expecting value at char 0): 'this is not json' (attempt 2 of 2; retries exhausted)"
    )
    assert job.last_error.startswith(attempts[0].error) and attempts[0].status == "queued"


async def test_empty_stdout(rig, tmp_path):
    job, attempts = await bad_output(rig, tmp_path, SH + "echo 'oops' >&2\nexit 3\n")
    assert job.status is Status.FAILED and len(attempts) == 2
    assert job.last_error == (
        "plugin wrote nothing to stdout (expected one JSON object) (exit code 3); stderr: oops"
        " (attempt 2 of 2; retries exhausted)"
    )
    assert attempts[-1].exit_code == 3


async def test_two_objects(rig, tmp_path):
    script = SH + 'echo \'{"status":"ok","result":"one"}\'\necho \'{"status":"ok","result":"two"}\'\n'
    job, _ = await bad_output(rig, tmp_path, script, max_attempts=1)
    assert job.status is Status.FAILED
    assert job.last_error == (
        "plugin stdout holds more than one JSON value (expected exactly one object); "
        'extra data starts with \'{"status":"ok","result":"two"}\' (attempt 1 of 1; no retries configured)'
    )


async def test_body_breaking_the_rules(rig, tmp_path):
    job, _ = await bad_output(rig, tmp_path, SH + 'echo \'{"status":"ok","result":"x","events":[{"type":""}]}\'\n', 1)
    assert job.status is Status.FAILED
    assert job.last_error == (
        "response events[0] has an empty 'type' (a non-empty string is required) (attempt 1 of 1; no retries configured)"
    )


async def test_eleven_mebibytes_of_stdout(rig, tmp_path):
    script = PY + 'sys.stdout.write(\'{"status":"ok","result":"\' + \'x\' * (11 * 1024 * 1024) + \'"}\')\n'
    job, [attempt] = await bad_output(rig, tmp_path, script, max_attempts=1)
    assert job.status is Status.FAILED
    assert job.last_error.startswith(
        'plugin stdout exceeded the 10 MiB limit; first bytes: \'{"status":"ok","result":"xxx'
    )
    assert len(job.last_error) < 400
    assert attempt.exit_code == 0  # the plugin was drained to the end, not left blocked on a full pipe


async def test_exit_78_fails_at_once_whatever_the_body_says(rig, tmp_path):
    script = SH + 'echo \'{"status":"ok","result":"looks fine"}\'\necho "missing api key" >&2\nexit 78\n'
    job, attempts = await bad_output(rig, tmp_path, script, max_attempts=4)
    assert job.status is Status.FAILED
    assert len(attempts) == 1 and attempts[0].exit_code == 78
    assert job.last_error == "plugin exited 78 (EX_CONFIG, never retried): missing api key"


async def test_nonzero_exit_with_valid_body_lets_the_body_decide(rig, tmp_path):
    job, [attempt] = await bad_output(rig, tmp_path, SH + 'echo \'{"status":"ok","result":"fine"}\'\nexit 2\n')
    assert job.status is Status.SUCCEEDED and attempt.exit_code == 2


async def test_stderr_over_64k_is_truncated_keeping_the_tail(rig, tmp_path):
    script = PY + (
        "sys.stderr.write('HEAD-MARKER\\n' + 'e' * (100 * 1024) + '\\nTAIL-MARKER\\n')\n"
        "print(json.dumps({'status': 'ok', 'result': 'done'}))\n"
    )
    job, [attempt] = await bad_output(rig, tmp_path, script)
    assert job.status is Status.SUCCEEDED  # outcome unaffected
    header = "[stderr truncated to the last 65536 bytes]\n"
    assert attempt.stderr.startswith(header)
    body = attempt.stderr[len(header) :]
    assert len(body.encode()) == 64 * 1024
    assert body.endswith("\nTAIL-MARKER\n") and "HEAD-MARKER" not in body


async def test_entrypoint_that_cannot_start(rig, tmp_path):
    # a valid executable whose interpreter does not exist
    job, _ = await bad_output(rig, tmp_path, "#!/nonexistent/interpreter\n", max_attempts=1)
    assert job.status is Status.FAILED
    assert "could not start" in job.last_error and "bad/run" in job.last_error


async def test_state_updates_too_large_fail_the_job_and_keep_state(rig, tmp_path):
    script = PY + (
        "print(json.dumps({'status': 'ok', 'result': 'big', 'state_updates': {'blob': 'x' * (1024 * 1024 + 10)}}))\n"
    )
    make_plugin(tmp_path / "plugins", "big", script)
    r = rig({"big": {"retry": {"max_attempts": 3, "backoff_base": "100ms"}}})
    job, [attempt] = await r.run_one("big")
    assert job.status is Status.FAILED
    assert job.last_error.startswith("state of big would be ")
    assert job.last_error.endswith("(limit 1048576 bytes); state left unchanged")
    assert attempt.outcome == "fatal"
    assert r.store.get_state("big") == {}


def test_test_plugins_are_not_world_writable():
    for name in ("proto_py", "proto_sh"):
        assert not os.stat(TEST_PLUGINS / name).st_mode & 0o002
