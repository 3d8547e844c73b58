"""Structured logging: one JSON (or key=value text) line per record, fields from `extra=`.

The gateway's log is a read surface like the API: a logged error message or field may carry what
a plugin wrote, so message, fields and tracebacks pass through the redaction rule (`ductile.redact`).
Everything the gateway process writes goes through the one root handler set up here: our own
records, Python warnings (`warnings.warn` from any library) and uvicorn's loggers, whose 500
tracebacks land in the `exc` field. So under `log_format: json` every stderr line parses.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import warnings
from typing import Any, TextIO

import orjson

from ductile.redact import redact, redact_text

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """The dispatcher logs two lines per job, so this is on the hot path: `orjson` (~20x faster
    than `json` here) with `json` as the fallback for what orjson refuses (lone surrogates,
    integers past 64 bits, non-string keys), and the second-resolution part of the stamp is
    formatted once per second."""

    _second = -1
    _stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        out = {
            "ts": f"{self._stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact_text(record.getMessage()),
        }
        out.update(_fields(record))
        if record.exc_info:
            out["exc"] = redact_text(self.formatException(record.exc_info))
        try:
            return orjson.dumps(out, default=str).decode()
        except (orjson.JSONEncodeError, TypeError):
            return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        fields = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        line = f"{stamp} {record.levelname.lower():5} {redact_text(record.getMessage())}" + (
            f" {fields}" if fields else ""
        )
        if record.exc_info:
            line += "\n" + redact_text(self.formatException(record.exc_info))
        return line


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The `extra=` fields, redacted."""
    return {k: redact(v, k) for k, v in record.__dict__.items() if k not in _STANDARD}


# Loggers that libraries configure with handlers of their own; they must reach ours instead.
LIBRARY_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "asyncio", "py.warnings")


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """`warnings.showwarning` replacement: a warning is one record with its category and origin."""
    logging.getLogger("py.warnings").warning(
        str(message), extra={"category": category.__name__, "where": f"{filename}:{lineno}"}
    )


def setup(level: str = "info", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel({"warn": "WARNING"}.get(level, level.upper()))
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    warnings.showwarning = _show_warning
    # Neither formatter prints the caller's file and line, thread, process or task; not looking
    # them up makes each record ~25 % cheaper (the stdlib's documented optimisation).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    if hasattr(logging, "logAsyncioTasks"):
        logging.logAsyncioTasks = False
