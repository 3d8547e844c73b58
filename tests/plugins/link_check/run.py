#!/usr/bin/env python3
"""link_check: a tiny classifier whose only output is which event type it emits.

Checks are tried in order; `contains`/`startswith`/`endswith`/`equals` ignore case, `regex` must match
the whole value, `default` always matches. The payload goes out unchanged (dedupe_key too), so the
routed pipeline sees exactly what arrived.
"""

import json
import re
import sys

KINDS = ("contains", "startswith", "endswith", "equals", "regex", "default")


def field_value(event, path):
    """`payload.a.b` or `event.x` or a bare payload key; anything missing reads as ""."""
    path = str(path or "").strip()
    payload = event.get("payload") if isinstance(event.get("payload"), dict) else {}
    if path.startswith("event."):
        value, parts = event, path[len("event.") :].split(".")
    elif path == "payload":
        value, parts = payload, []
    else:
        value, parts = payload, (path[len("payload.") :] if path.startswith("payload.") else path).split(".")
    for part in parts:
        if not isinstance(value, dict) or part not in value:
            return ""
        value = value[part]
    return "" if value is None else str(value)


def matches(kind, wanted, value):
    if kind == "default":
        return True
    if kind == "regex":
        return re.fullmatch(str(wanted), value) is not None
    wanted, value = str(wanted).casefold(), value.casefold()
    return {
        "contains": wanted in value,
        "startswith": value.startswith(wanted),
        "endswith": value.endswith(wanted),
        "equals": value == wanted,
    }[kind]


def classify(config, event):
    checks = config.get("checks")
    if not config.get("field") or not isinstance(checks, list) or not checks:
        return {"status": "error", "error": "config.field and a non-empty config.checks are required", "retry": False}
    value = field_value(event, config["field"])
    for number, check in enumerate(checks, 1):
        kinds = [k for k in KINDS if isinstance(check, dict) and k in check]
        if len(kinds) != 1:
            return {"status": "error", "error": f"check #{number} needs exactly one of {KINDS}", "retry": False}
        kind = kinds[0]
        emit = check.get("emit") or (check.get("default") if kind == "default" else None)
        if not emit:
            return {"status": "error", "error": f"check #{number} has no emit", "retry": False}
        try:
            hit = matches(kind, check[kind], value)
        except re.error as exc:
            return {"status": "error", "error": f"check #{number}: invalid regex: {exc}", "retry": False}
        if hit:
            out = {"type": str(emit), "payload": event.get("payload") if isinstance(event.get("payload"), dict) else {}}
            if event.get("dedupe_key"):
                out["dedupe_key"] = event["dedupe_key"]
            return {"status": "ok", "result": f"matched {kind} -> {emit}", "events": [out]}
    return {"status": "error", "error": "no checks matched and no default provided", "retry": False}


def main():
    request = json.load(sys.stdin)
    if request.get("command") == "handle":
        response = classify(request.get("config") or {}, request.get("event") or {})
    else:
        response = {"status": "error", "error": "unknown command " + repr(request.get("command")), "retry": False}
    sys.stdout.write(json.dumps(response) + "\n")


if __name__ == "__main__":
    main()
