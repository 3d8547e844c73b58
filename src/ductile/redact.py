"""The one redaction rule: what a read surface may show of plugin-provided data.

Plugins keep credentials in their state (`state_updates`), and the same values show up in job
results, event payloads, log lines and error text. The store keeps every value as the plugin gave
it (the plugin receives its real state on its next run); every surface that *reads* — the API, the
CLI, the monitor, SSE frames, the gateway's own log — passes plugin-provided values through
`redact` (structured data) or `redact_text` (free text) on the way out, for every caller whatever
its scopes. Pure functions, no I/O, so each surface applies the same rule and tests can prove it.

The rule (docs/OPERATIONS.md, "Secrets", is the user-facing statement — keep them in step):

* A key is secret-like when, compared case-insensitively,
  - it contains `token`, `secret`, `password`, `passwd`, `credential`, `authorization`, `cookie`
    or `session` anywhere (`access_token`, `refreshToken`, `X-Session-Id`), or
  - one of its word parts (split at `_ - . space` and lowerCamel/UpperCamel boundaries) is `key`,
    `keys`, `pass`, `pwd` or `auth`, or ends in `key`/`keys` (`apikey`, `privateKey`), except
    ordinary words that merely end in "key" (`monkey`, `turkey`, `hockey`, ...). `keyword`,
    `keyboard` or `keynote` are *not* secret-like: "key" must end the word part.
  False positives (`sort_key`, `prompt_tokens`) are accepted: showing `***` for a harmless value
  costs a rename; showing a credential cannot be undone.
* The value under a secret-like key is replaced by `MASK` whatever its type (a string, a number,
  a whole object or list), at any depth, inside lists too. Left visible: `null`, `""`, `{}`, `[]`
  and booleans, which tell an operator whether a credential is set without revealing it.
* A `{"name"|"key": <secret-like name>, "value": v}` object (environment and header lists) has its
  `value` masked.
* Every other string is passed through `redact_text`: `Bearer <x>` becomes `Bearer ***`,
  `scheme://user:pw@host` becomes `scheme://user:***@host`, and `key=value` / `key: value` /
  `"key": "value"` with a secret-like key has its value masked. Free text that names no key
  ("login failed for hunter2") cannot be recognised and is not masked.
* Nesting deeper than `MAX_DEPTH` is masked whole rather than walked: no input can make a read
  surface fail, and what cannot be inspected is not shown.

Dictionary keys are never changed, so the shape of the data stays visible.
"""

from __future__ import annotations

import functools
import re
from typing import Any

MASK = "***"
MAX_DEPTH = 200

# Matched anywhere in the lower-cased key.
SUBSTRING_MARKERS = ("token", "secret", "password", "passwd", "credential", "authorization", "cookie", "session")
# Matched as a whole word part.
WORD_MARKERS = frozenset({"key", "keys", "pass", "pwd", "auth"})
# Word parts that end in "key" but are ordinary words, not credentials.
NOT_KEYS = frozenset({"monkey", "donkey", "turkey", "hockey", "jockey", "whiskey", "lackey", "flunkey", "turnkey"})

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_PARTS = re.compile(r"[^a-z0-9]+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+")
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*):[^/\s]+@")  # to the last @: passwords may hold one
# `key=value`, `key: value`, `"key": "value"`, `key='value'`. The look-behind makes a key start at
# a word boundary, so a long run of word characters is scanned once (linear, not quadratic). The
# value is only looked at, not consumed, so in `failed: token=abc` the scan still reaches `token`.
_KEY_VALUE = re.compile(
    r"""(?<![\w.-])(?P<key>[A-Za-z_][\w.-]{0,63})(?P<sep>["']?[ \t]{0,3}[:=][ \t]{0,3})"""
    r"""(?=(?P<value>(?P<q>["'])(?:\\.|(?!(?P=q))[^\\\n])*(?P=q)"""
    r"""|(?P<scheme>(?:bearer|basic|digest|token)[ \t]+)?[^\s"',;&)}\]]+))""",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Whether values under this key are masked (see the module docstring for the rule)."""
    lowered = key.lower()
    if any(marker in lowered for marker in SUBSTRING_MARKERS):
        return True
    for part in _PARTS.split(_CAMEL.sub("_", key).lower()):
        if part in WORD_MARKERS:
            return True
        if part.endswith(("key", "keys")) and part.rstrip("s") not in NOT_KEYS:
            return True
    return False


def _reveals_nothing(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return True
    return isinstance(value, str | dict | list) and not value


def redact_text(text: str) -> str:
    """Mask credentials recognisable inside free text (log lines, error messages, stderr)."""
    if not text:
        return text
    if "://" in text and "@" in text:
        text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}:{MASK}@", text)
    if ":" in text or "=" in text:
        text = _mask_pairs(text)
    if "bearer" in text.lower():  # cheap test first: most strings are ids, names and times
        text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
    return text


def _mask_pairs(text: str) -> str:
    out: list[str] = []
    pos = 0
    for match in _KEY_VALUE.finditer(text):
        if match.start() < pos or not is_secret_key(match.group("key")):
            continue
        quote = match.group("q") or ""
        out += [text[pos : match.end()], quote, match.group("scheme") or "", MASK, quote]
        pos = match.end("value")
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def redact(value: Any, key: str = "", _depth: int = 0) -> Any:
    """A copy of `value` with every secret masked; `key` is the key it sits under, if any."""
    if key and is_secret_key(key) and not _reveals_nothing(value):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return _redact_dict(value, _depth)
    if isinstance(value, list):
        if _depth >= MAX_DEPTH:
            return MASK
        return [redact(v, "", _depth + 1) for v in value]
    return value


def _redact_dict(value: dict[Any, Any], depth: int) -> Any:
    """One object. Scalars are handled inline: SSE frames redact every event's data on the
    dispatcher's loop, and a call per field was most of that cost."""
    if depth >= MAX_DEPTH:
        return MASK
    out: dict[Any, Any] = {}
    for k, v in value.items():
        kind = type(v)
        if kind is str:
            out[k] = MASK if v and is_secret_key(str(k)) else redact_text(v)
        elif v is None or kind is bool:
            out[k] = v
        elif kind is int or kind is float:
            out[k] = MASK if is_secret_key(str(k)) else v
        else:
            out[k] = redact(v, str(k), depth + 1)
    name = value.get("name", value.get("key"))
    if "value" in value and isinstance(name, str) and is_secret_key(name) and not _reveals_nothing(value["value"]):
        out["value"] = MASK
    return out


def redact_fields(record: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """`record` with the named plugin-provided fields redacted; the gateway's own fields (ids,
    times, `dedupe_key`) are left alone, since they are not secrets even when their names look so."""
    return {k: redact(v) if k in fields else v for k, v in record.items()}


def redact_config(effective: dict[str, Any]) -> dict[str, Any]:
    """A config (`Config.model_dump(mode="json")`) as `config show` and `GET /config/view` print it.
    `api.auth` and its `tokens` have secret-like names, so the rule alone would print
    `auth: '***'`; their entries are the gateway's own schema, so the rule is applied inside each
    token instead: names and scopes stay visible, `token` and `token_sha256` are masked."""
    out = redact(effective)
    auth = effective.get("api", {}).get("auth")
    if isinstance(auth, dict):
        out["api"]["auth"] = {
            k: [redact(t) for t in v] if k == "tokens" and isinstance(v, list) else redact(v, k)
            for k, v in auth.items()
        }
    return out
