#!/usr/bin/env python3
"""chat_notify: post one chat message per event (a failure hook's usual target).

The body is payload.message or payload.content, else config.message_template, else
config.default_message, else payload.result; a payload.title goes above it in bold.

Templates use `{dotted.path}` placeholders read from the event payload; a missing value renders empty,
so a hook payload without `error` still produces a message rather than a failed alert.
"""

import json
import re
import sys
import urllib.error
import urllib.request


def lookup(payload, path):
    value = payload
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def text_for(config, payload):
    for key in ("message", "content"):
        if payload.get(key) not in (None, ""):
            return str(payload[key])
    template = str(config.get("message_template") or "").strip()
    if template:
        rendered = re.sub(r"\{([^{}]+)\}", lambda m: lookup(payload, m.group(1).strip()), template).strip()
        if rendered:
            return rendered
    if config.get("default_message"):
        return str(config["default_message"])
    if payload.get("result") not in (None, ""):
        return str(payload["result"])
    return ""


def handle(request):
    config = request.get("config") or {}
    payload = (request.get("event") or {}).get("payload") or {}
    url = str(config.get("webhook_url") or "").strip()
    if not url:
        return {"status": "error", "error": "config.webhook_url is required", "retry": False}
    text = text_for(config, payload)
    title = str(payload.get("title") or "")
    if title:  # as discord_notify does: a bold title line above the body (or the title alone)
        text = f"**{title}**\n{text}" if text else title
    if not text:
        return {"status": "error", "error": "nothing to send (no message, content, template or result)", "retry": False}
    body = json.dumps({"content": text[:2000], "username": str(config.get("username") or "ductile")}).encode()
    post = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(post, timeout=float(config.get("request_timeout_seconds", 10))) as answer:
            answer.read()
    except urllib.error.HTTPError as exc:
        return {"status": "error", "error": f"webhook answered HTTP {exc.code}", "retry": exc.code >= 500}
    except (urllib.error.URLError, OSError) as exc:
        return {"status": "error", "error": f"webhook unreachable: {exc}", "retry": True}
    return {"status": "ok", "result": "notified: " + text[:80]}


def main():
    request = json.load(sys.stdin)
    if request.get("command") == "handle":
        response = handle(request)
    else:
        response = {"status": "error", "error": "unknown command " + repr(request.get("command")), "retry": False}
    sys.stdout.write(json.dumps(response) + "\n")


if __name__ == "__main__":
    main()
