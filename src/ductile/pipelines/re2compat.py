"""Regex patterns for the `regex` condition operator, held to the subset where Python `re` and RE2 agree.

Ductile compiles patterns with Go's RE2 engine. A pattern that RE2 rejects or reads differently must not
silently mean something else here, so constructs only Python supports are refused at load, and the
classes RE2 defines as ASCII-only (`\\d \\w \\s \\b`) are rewritten to their ASCII meaning.
"""

from __future__ import annotations

import re
import warnings

from ductile.pipelines.paths import quote

ACCEPTED = "RE2 syntax: no backreferences, lookaround, atomic groups, possessive quantifiers or conditionals"
_MAX_REPEAT = 1000  # RE2 refuses counted repetition above 1000
_COUNTED = re.compile(r"\{(\d*)(?:,(\d*))?\}")
_ASCII_OUTSIDE = {
    "d": "[0-9]",
    "D": "[^0-9]",
    "w": "[0-9A-Za-z_]",
    "W": "[^0-9A-Za-z_]",
    "s": "[\\t\\n\\f\\r ]",
    "S": "[^\\t\\n\\f\\r ]",
    "b": "(?a:\\b)",
    "B": "(?a:\\B)",
}
_ASCII_INSIDE = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\\t\\n\\f\\r "}
_GROUP_REFUSALS = {
    "=": "lookahead (?=...)",
    "!": "negative lookahead (?!...)",
    "<=": "lookbehind (?<=...)",
    "<!": "negative lookbehind (?<!...)",
    ">": "atomic group (?>...)",
    "(": "conditional (?(...)...)",
    "P=": "named backreference (?P=name)",
    "#": "comment group (?#...)",
}
_RE2_FLAGS = set("imsU-")
_POSIX = {  # RE2's ASCII POSIX classes, as Python class ranges
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_POSIX_AT = re.compile(r"\[:(\^?)([a-z]*):\]")
_HEX_BRACED = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")


class RegexError(ValueError):
    """A pattern that cannot be used: invalid, or meaning something different under RE2."""


def _refuse(pattern: str, what: str) -> RegexError:
    return RegexError(f"regex {quote(pattern)} uses {what}, which RE2 does not support (accepted: {ACCEPTED})")


def _class_end(pattern: str, start: int) -> int:
    """Index just past the `]` closing the class opened at `start` (a leading `]` or `^]` is literal)."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        posix = _POSIX_AT.match(pattern, i)
        if posix:
            i = posix.end()
            continue
        if pattern[i] == "]":
            return i + 1
        i += 1
    return len(pattern)  # unterminated: re.compile reports it


def _translate_class(pattern: str, body: str) -> str:
    """Rewrite one `[...]` class; classes using negated shorthands are evaluated in ASCII mode."""
    out: list[str] = []
    needs_ascii = False
    i = 0
    while i < len(body):
        ch = body[i]
        posix = _POSIX_AT.match(body, i) if i > 0 else None
        if posix:
            negated, name = posix.groups()
            if negated or name not in _POSIX:
                raise _refuse(pattern, f"the POSIX class [:{negated}{name}:] (accepted: {', '.join(sorted(_POSIX))})")
            out.append(_POSIX[name])
            i = posix.end()
            continue
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in _ASCII_INSIDE:
                out.append(_ASCII_INSIDE[nxt])
            else:
                needs_ascii = needs_ascii or nxt in "DWS"
                out.append(body[i : i + 2])
            i += 2
            continue
        out.append(ch)
        i += 1
    text = "".join(out)
    return f"(?a:{text})" if needs_ascii else text


def translate(pattern: str) -> str:
    """The Python pattern with RE2's meaning, or RegexError naming the construct RE2 lacks."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            nxt = pattern[i + 1] if i + 1 < n else ""
            if nxt in "123456789":
                raise _refuse(pattern, f"backreference \\{nxt}")
            if nxt == "Z":
                raise _refuse(pattern, "\\Z (the match is anchored to the whole string already)")
            if nxt in "pP":
                raise RegexError(
                    f"regex {quote(pattern)} uses a Unicode class \\{nxt}, which is not supported here "
                    f"(accepted: {ACCEPTED}, without \\p classes)"
                )
            if nxt == "Q":  # RE2 literal span \Q...\E
                end = pattern.find("\\E", i + 2)
                end = n if end < 0 else end
                out.append(re.escape(pattern[i + 2 : end]))
                i = end + 2
                continue
            hex_braced = _HEX_BRACED.match(pattern, i)
            if hex_braced:
                out.append(f"\\U{int(hex_braced.group(1), 16):08x}")
                i = hex_braced.end()
                continue
            if nxt == "z":
                out.append("\\Z")  # RE2's end of text is Python's \Z
                i += 2
                continue
            out.append(_ASCII_OUTSIDE.get(nxt, pattern[i : i + 2]))
            i += 2
            continue
        if ch == "[":
            end = _class_end(pattern, i)
            out.append(_translate_class(pattern, pattern[i:end]))
            i = end
            continue
        if ch == "(" and pattern.startswith("?", i + 1):
            rest = pattern[i + 2 : i + 4]
            for lead, what in _GROUP_REFUSALS.items():
                if rest.startswith(lead):
                    raise _refuse(pattern, what)
            if pattern.startswith("<", i + 2):  # RE2's (?<name>...) is Python's (?P<name>...)
                out.append("(?P<")
                i += 3
                continue
            flags = re.match(r"[a-zA-Z-]*", pattern[i + 2 :])
            bad = set(flags.group(0) if flags else "") - _RE2_FLAGS
            if bad and not pattern.startswith("P<", i + 2):
                raise _refuse(pattern, f"inline flag {''.join(sorted(bad))} (RE2 knows i, m, s, U)")
        if ch == "{":
            counted = _COUNTED.match(pattern, i)
            if not counted or not counted.group(1):  # RE2 reads `{,n}` and `{}` as literal text, Python doesn't
                out.append("\\{")
                i += 1
                continue
            for bound in counted.groups():
                if bound and int(bound) > _MAX_REPEAT:
                    raise _refuse(pattern, f"a repeat count above {_MAX_REPEAT}")
            out.append(counted.group(0))
            i = counted.end()
            if pattern.startswith("+", i):
                raise _refuse(pattern, "a possessive quantifier")
            continue
        if ch in "*+?" and pattern.startswith("+", i + 1) and not (out and out[-1] == "("):
            raise _refuse(pattern, "a possessive quantifier")
        out.append(ch)
        i += 1
    return "".join(out)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile for whole-string matching (callers use `fullmatch`, the implicit anchoring of §2.5)."""
    translated = translate(pattern)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "possible nested set" FutureWarnings: RE2 reads those literally
            return re.compile(translated)
    except re.error as exc:
        hint = "; write flags at the start, (?i)..., or scoped, (?i:...)" if "global flags" in str(exc) else ""
        raise RegexError(f"invalid regex {quote(pattern)}: {exc}{hint} (accepted: {ACCEPTED})") from exc
