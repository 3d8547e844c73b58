#!/usr/bin/env python3
"""echo: the smallest useful protocol v2 plugin (one JSON object in, one out)."""

import json
import sys


def main() -> None:
    request = json.load(sys.stdin)
    command = request["command"]
    config = request.get("config", {})
    state = request.get("state", {})
    payload = request.get("payload", {})
    runs = int(state.get("runs", 0)) + 1
    if command == "poll":
        message = config.get("message", "hello")
        response = {
            "status": "ok",
            "result": f"{message} (run {runs})",
            "state_updates": {"runs": runs},
            "events": [{"type": "echo.polled", "payload": {"run": runs, "message": message}}],
            "logs": [{"level": "info", "message": f"echo poll run {runs}"}],
        }
    elif command == "health":
        response = {"status": "ok", "result": "healthy"}
    elif command == "handle":
        event = request.get("event", {})
        response = {"status": "ok", "result": {"handled": event.get("type"), "payload": event.get("payload")}}
    elif command == "say":
        response = {"status": "ok", "result": str(payload.get("text", "")) or "(nothing to say)"}
    else:
        response = {"status": "error", "error": f"unknown command {command!r}", "retry": False}
    json.dump(response, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
