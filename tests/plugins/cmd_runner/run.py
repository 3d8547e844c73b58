#!/usr/bin/env python3
"""cmd_runner: run one configured command per event and report it as an event.

The incoming event's payload reaches the command only through environment variables
(`payload.title` -> `DUCTILE_PAYLOAD_TITLE`), and `$NAME` / `${NAME}` in the command's words are
replaced from that environment, never by a shell.
"""

import json
import os
import re
import shlex
import subprocess
import sys

WORD_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def payload_env(payload):
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    for key, value in (payload or {}).items():
        name = "DUCTILE_PAYLOAD_" + re.sub(r"[^A-Z0-9]+", "_", str(key).upper()).strip("_")
        env[name] = value if isinstance(value, str) else json.dumps(value)
    return env


def run(request):
    config = request.get("config") or {}
    words = shlex.split(str(config.get("command") or ""))
    if not words:
        return {"status": "error", "error": "config.command is required", "retry": False}
    event = request.get("event") or {}
    env = payload_env(event.get("payload") if isinstance(event.get("payload"), dict) else {})
    words = [WORD_VAR.sub(lambda m: env.get(m.group(1) or m.group(2), m.group(0)), w) for w in words]
    done = subprocess.run(words, env=env, capture_output=True, text=True, timeout=60)
    outcome = {"command": " ".join(words), "exit_code": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
    events = [{"type": config.get("event_type") or "sys_exec.completed", "payload": outcome}]
    if done.returncode != 0:
        return {
            "status": "error",
            "error": done.stderr.strip() or f"exit {done.returncode}",
            "retry": False,
            "events": events,
        }
    return {"status": "ok", "result": f"command exited with code {done.returncode}", "events": events}


def main():
    request = json.load(sys.stdin)
    if request.get("command") == "handle":
        response = run(request)
    else:
        response = {"status": "error", "error": "unknown command " + repr(request.get("command")), "retry": False}
    sys.stdout.write(json.dumps(response) + "\n")


if __name__ == "__main__":
    main()
