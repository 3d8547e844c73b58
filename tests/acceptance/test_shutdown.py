"""`ductile system start` under SIGTERM/SIGINT, as a real process: running jobs may finish within
`drain_grace`; past it they are killed and left `running` for recovery; a second signal stops at once."""

from __future__ import annotations

import signal
import subprocess

import pytest
from conftest import base_config, make_plugin, wait_for

from tests.acceptance.test_gateway_process import cli, jobs, process_alive

pytestmark = pytest.mark.slow


def sleeper(tmp_path, seconds: float) -> str:
    pid_file = tmp_path / "sleeper.pid"
    make_plugin(
        tmp_path / "plugins",
        "sleeper",
        f"""\
        #!/usr/bin/env bash
        cat >/dev/null
        echo "$$" > {pid_file}
        sleep {seconds}
        echo '{{"status":"ok","result":"slept"}}'
        """,
    )
    return str(pid_file)


def start_long_job(gateway_factory, tmp_path, seconds: float, drain_grace: str):
    pid_file = sleeper(tmp_path, seconds)
    gw = gateway_factory(base_config([tmp_path / "plugins"], {"sleeper": {}}, service={"drain_grace": drain_grace}))
    run = cli("plugin", "run", "sleeper", "--config", str(gw.config_dir))
    assert run.returncode == 0, run.stderr
    wait_for(lambda: tmp_path.joinpath("sleeper.pid").exists(), message="the job to start")
    return gw, run.stdout.strip(), int(open(pid_file).read())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_lets_a_running_job_finish_within_the_grace(tmp_path, gateway_factory, sig):
    gw, job_id, _ = start_long_job(gateway_factory, tmp_path, 1.5, "20s")
    assert gw.stop(sig, timeout=30) == 0
    [job] = jobs(gw.db_path, "sleeper")
    assert (job["job_id"], job["status"]) == (job_id, "succeeded")
    messages = [r.get("msg") for r in gw.log_records()]
    assert "signal received; draining" in messages and messages[-1] == "gateway stopped"


def test_job_outliving_the_grace_is_killed_and_left_for_recovery(tmp_path, gateway_factory):
    gw, job_id, pid = start_long_job(gateway_factory, tmp_path, 120, "1s")
    assert gw.stop(signal.SIGTERM, timeout=30) == 0
    [job] = jobs(gw.db_path, "sleeper")
    assert (job["job_id"], job["status"], job["attempt"]) == (job_id, "running", 1)  # never marked done
    wait_for(lambda: not process_alive(pid), message="the plugin to be killed")
    assert any(r.get("msg") == "jobs still running at shutdown left for recovery" for r in gw.log_records())


def test_second_signal_stops_without_waiting_for_the_grace(tmp_path, gateway_factory):
    gw, job_id, pid = start_long_job(gateway_factory, tmp_path, 120, "10m")
    gw.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: "draining" in gw.log(), message="the drain to begin")
    gw.proc.send_signal(signal.SIGTERM)
    try:
        assert gw.proc.wait(timeout=30) == 0  # far less than the 10-minute grace
    except subprocess.TimeoutExpired:
        pytest.fail("the gateway kept waiting for the grace after a second signal")
    [job] = jobs(gw.db_path, "sleeper")
    assert (job["job_id"], job["status"]) == (job_id, "running")
    wait_for(lambda: not process_alive(pid), message="the plugin to be killed")
    assert any(r.get("msg") == "second signal: stopping without waiting for running jobs" for r in gw.log_records())
