#!/usr/bin/env python3
"""row_watch: turn "a query's answer changed" into an event.

The first column of the first row is the scalar, kept as text (as sqlite_change does) so that
"changed" compares what an operator would see. The whole state is returned on every poll: the
manifest's fact_outputs turns it into an append-only fact row.
"""

import datetime
import json
import os
import sqlite3
import sys

NUMERIC = {">": float.__gt__, ">=": float.__ge__, "<": float.__lt__, "<=": float.__le__, "==": float.__eq__}


def scalar(db_path, query):
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        row = con.execute(query).fetchone()
    finally:
        con.close()
    if row is None:
        return None, False
    return (None if row[0] is None else str(row[0])), True


def triggered(op, value, had_rows, last, threshold):
    if op == "changed":
        return value != last
    if op == "any_rows":
        return had_rows
    return NUMERIC[op](float(value or 0), float(threshold))


def poll(request):
    config = request.get("config") or {}
    state = request.get("state") or {}
    missing = [k for k in ("db_path", "query", "event_type") if not config.get(k)]
    op = config.get("threshold_op", "changed")
    if missing:
        return {"status": "error", "error": f"config.{missing[0]} is required", "retry": False}
    if op not in NUMERIC and op not in ("changed", "any_rows"):
        return {"status": "error", "error": "unsupported threshold_op " + repr(op), "retry": False}
    if op in NUMERIC and config.get("threshold_value") is None:
        return {"status": "error", "error": "config.threshold_value is required for " + op, "retry": False}
    if not os.path.exists(config["db_path"]):
        return {"status": "error", "error": "db_path not found: " + config["db_path"], "retry": True}
    try:
        value, had_rows = scalar(config["db_path"], config["query"])
    except sqlite3.Error as exc:
        return {"status": "error", "error": f"query failed: {exc}", "retry": True}
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    last = state.get("last_result")
    fire = triggered(op, value, had_rows, last, config.get("threshold_value"))
    snapshot = {
        "last_result": value,
        "last_checked_at": now,
        "last_triggered_at": now if fire else state.get("last_triggered_at"),
    }
    response = {"status": "ok", "state_updates": snapshot, "events": []}
    if fire:
        response["result"] = f"threshold met ({op}): {value}"
        response["events"].append(
            {
                "type": config["event_type"],
                "payload": {
                    "source": "row_watch",
                    "instance": request.get("instance", ""),
                    "db_path": config["db_path"],
                    "query": config["query"],
                    "result": value,
                    "previous_result": last,
                    "threshold_op": op,
                    "threshold_value": config.get("threshold_value"),
                    "detected_at": now,
                    "message": "{}: {} (was {})".format(request.get("instance", "row_watch"), value, last),
                },
            }
        )
    else:
        response["result"] = f"threshold not met ({op}): {value}"
    return response


def main():
    request = json.load(sys.stdin)
    if request.get("command") == "poll":
        response = poll(request)
    else:
        response = {"status": "error", "error": "unknown command " + repr(request.get("command")), "retry": False}
    sys.stdout.write(json.dumps(response) + "\n")


if __name__ == "__main__":
    main()
