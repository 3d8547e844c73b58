#!/usr/bin/env python3
"""Reports back everything the gateway sent, increments state.count, writes into workspace_dir."""

import json
import os
import sys

request = json.loads(sys.stdin.read())
count = int(request["state"].get("count", 0)) + 1
workspace = request["workspace_dir"]
with open(os.path.join(workspace, "touched"), "a") as handle:
    handle.write(f"{count}\n")
print("proto_py ran", file=sys.stderr)
print(
    json.dumps(
        {
            "status": "ok",
            "result": {"request": request, "env": dict(os.environ), "cwd": os.getcwd(), "argv": sys.argv[1:]},
            "state_updates": {"count": count, "last_job": request["job_id"]},
            "events": [{"type": "proto.counted", "payload": {"count": count}, "dedupe_key": f"c{count}"}],
            "logs": [{"level": "info", "message": f"count is {count}"}, {"level": "warning", "message": "w"}],
        }
    )
)
