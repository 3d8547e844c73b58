"""The stopwatch's reads and its one maintenance write, on the attempts the job history keeps.

Why no table of its own (Ductile has `job_stopwatch`): every attempt already records its plugin,
`started_at`, `completed_at`, `duration_ms`, outcome and the plugin's whole response (where the
`ductile_stopwatch_subs` key lives), under the index `attempts_plugin_started (plugin,
started_at)`. A second ledger would be one more write inside every finish, the transaction the
dispatcher's throughput rests on (issue 11); reading the ledger we have costs nothing there.

A *sample* is an attempt that ended with the plugin process having run: completed, with a
duration, outcome `success`, `error`, `fatal` or `timeout`, and an exit code (or killed at its
timeout). Attempts that never started a process (spawn failures, preflight failures: exit code
NULL, duration 0), abandoned ones (crash recovery) and cancelled ones are not timings. Samples are
placed in time by `started_at` (Ductile uses the time its row was written, i.e. the end).

A mixin of both stores: the host supplies `_read`, `_tx` and `_dialect`. On SQLite the request's
read runs on a connection of its own, opened for that one read and closed after, so a long read
(a 30d window) never holds the lock of the connection the dispatcher claims and finishes on, nor
the dashboard's side connection; the API runs it on a worker thread. PostgreSQL reads take a
pooled connection anyway. On PostgreSQL a response is parsed with `ductile_jsonb_or_null`
(migration 0114), so a stored response that is not JSON reads as "no sub-spans" rather than
failing the statement; SQLite checks `json_valid` first.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ductile.stopwatch import SUBS_KEY, Sample
from ductile.store.errors import classify
from ductile.timeutil import to_text

SAMPLE_SQL = (
    "a.completed_at IS NOT NULL AND a.duration_ms IS NOT NULL "
    "AND a.outcome IN ('success', 'error', 'fatal', 'timeout') "
    "AND (a.exit_code IS NOT NULL OR a.outcome = 'timeout')"
)
# Ductile's stopwatch statuses in our outcomes: an error the plugin answered (a response is
# stored) is `err`; one without a readable answer (not JSON, over the output limit) is Ductile's
# `capture_error`.
STATUS_SQL = {
    "ok": "a.outcome = 'success'",
    "err": "a.outcome IN ('error', 'fatal') AND a.response IS NOT NULL",
    "timeout": "a.outcome = 'timeout'",
    "capture_error": "a.outcome IN ('error', 'fatal') AND a.response IS NULL",
}

# -- SQLite fragments (`a` is the attempt row; CASE keeps the JSON functions off invalid text) ----
_SQ_PATH = f"'$.{SUBS_KEY}'"
_SQ_HAS = (
    f"(instr(a.response, '{SUBS_KEY}') > 0 AND CASE WHEN NOT json_valid(a.response) THEN 0 "
    f"ELSE json_type(a.response, {_SQ_PATH}) IS NOT NULL END)"
)
_SQ_ARRAY = (
    f"CASE WHEN NOT json_valid(a.response) THEN 0 ELSE coalesce(json_type(a.response, {_SQ_PATH}), '') = 'array' END"
)
_SQ_SPAN_ITEM = (
    "(e.type = 'object' AND json_type(e.value, '$.name') = 'text' AND json_extract(e.value, '$.name') = :span)"
)
_SQ_SPAN = (
    f"(instr(a.response, '{SUBS_KEY}') > 0 AND CASE WHEN NOT ({_SQ_ARRAY}) THEN 0 ELSE EXISTS "
    f"(SELECT 1 FROM json_each(a.response, {_SQ_PATH}) AS e WHERE {_SQ_SPAN_ITEM}) END)"
)
_SQ_SUBS = (
    f"CASE WHEN NOT :with_subs OR a.response IS NULL OR instr(a.response, '{SUBS_KEY}') = 0 THEN NULL WHEN NOT ({_SQ_ARRAY}) THEN NULL "
    f"ELSE (SELECT json_group_array(json(e.value)) FROM (SELECT value FROM json_each(a.response, {_SQ_PATH}) "
    "WHERE type = 'object' ORDER BY key LIMIT :max_subs) AS e) END"
)
_SQ_REMOVE = f"json_remove(response, {_SQ_PATH})"
# Every kept element as it was: json_each hands booleans and null over as SQL values.
_SQ_KEEP = (
    "CASE e.type WHEN 'object' THEN json(e.value) WHEN 'array' THEN json(e.value) WHEN 'true' THEN json('true') "
    "WHEN 'false' THEN json('false') WHEN 'null' THEN json('null') ELSE e.value END"
)
_SQ_REMOVE_SPAN = (
    f"json_set(response, {_SQ_PATH}, (SELECT json_group_array({_SQ_KEEP}) FROM (SELECT type, value FROM "
    f"json_each(attempts.response, {_SQ_PATH}) AS e WHERE {_SQ_SPAN_ITEM} IS NOT TRUE ORDER BY key) AS e))"
)

# -- PostgreSQL fragments --------------------------------------------------------------------------
_PG_DOC = "ductile_jsonb_or_null(a.response)"
_PG_HAS = f"(a.response LIKE '%%{SUBS_KEY}%%' AND {_PG_DOC} -> '{SUBS_KEY}' IS NOT NULL)"
_PG_SPAN = (
    f"(a.response LIKE '%%{SUBS_KEY}%%' AND EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN "
    f"jsonb_typeof({_PG_DOC} -> '{SUBS_KEY}') = 'array' THEN {_PG_DOC} -> '{SUBS_KEY}' ELSE '[]'::jsonb END) AS e(v) "
    "WHERE jsonb_typeof(e.v) = 'object' AND jsonb_typeof(e.v -> 'name') = 'string' AND e.v ->> 'name' = %(span)s))"
)
_PG_SUBS = (
    "LEFT JOIN LATERAL (SELECT (SELECT jsonb_agg(x.v ORDER BY x.i)::text FROM (SELECT v, i FROM "
    f"jsonb_array_elements(CASE WHEN jsonb_typeof(p.doc -> '{SUBS_KEY}') = 'array' THEN p.doc -> '{SUBS_KEY}' "
    "ELSE '[]'::jsonb END) WITH ORDINALITY AS e(v, i) WHERE jsonb_typeof(v) = 'object' "
    f"ORDER BY i LIMIT %(max_subs)s) AS x) AS subs FROM (SELECT {_PG_DOC} AS doc OFFSET 0) AS p "
    f"WHERE %(with_subs)s AND a.response LIKE '%%{SUBS_KEY}%%' AND jsonb_typeof(p.doc -> '{SUBS_KEY}') = 'array') "
    "AS s ON true"
)
# The response rebuilt key by key as `json` (not jsonb), so the other keys keep their order and
# their values their exact text; only whitespace between tokens changes.
_PG_REMOVE = (
    "(SELECT coalesce(json_object_agg(k.key, k.value ORDER BY k.i), '{}'::json)::text "
    f"FROM json_each(t.response::json) WITH ORDINALITY AS k(key, value, i) WHERE k.key <> '{SUBS_KEY}')"
)
_PG_REMOVE_SPAN = (
    f"(SELECT json_object_agg(k.key, CASE WHEN k.key = '{SUBS_KEY}' AND json_typeof(k.value) = 'array' THEN "
    "(SELECT coalesce(json_agg(e.v ORDER BY e.i), '[]'::json) FROM json_array_elements(k.value) WITH ORDINALITY "
    "AS e(v, i) WHERE (json_typeof(e.v) = 'object' AND json_typeof(e.v -> 'name') = 'string' "
    "AND e.v ->> 'name' = %(span)s) IS NOT TRUE) ELSE k.value END ORDER BY k.i)::text "
    "FROM json_each(t.response::json) WITH ORDINALITY AS k(key, value, i))"
)


@dataclass(frozen=True)
class StopwatchFilter:
    """Which samples `ductile stopwatch prune|prune-subs` means: started before `before`, and
    optionally of one plugin, one pipeline step ("" = direct invocations), one Ductile status
    (`STATUS_SQL`); `subs` = only those whose response carries sub-spans (`span`: one named so)."""

    before: datetime
    plugin: str | None = None
    step: str | None = None
    status: str | None = None
    subs: bool = False
    span: str | None = None


class StopwatchReads:
    """Needs `_read`, `_tx` and `_dialect` ("sqlite" or "postgres") from the host."""

    _dialect: str
    _read: Callable[..., list[Any]]
    _tx: Callable[..., AbstractContextManager[Any]]

    def stopwatch_samples(
        self, plugin: str, since: datetime, until: datetime, *, max_subs: int | None, limit: int
    ) -> tuple[list[Sample], bool]:
        """The plugin's samples started in [since, until], newest first, at most `limit`, and
        whether more existed. With `max_subs` each sample's sub-spans come too (its first
        `max_subs` objects, as JSON text); without, none are read."""
        params = {
            "plugin": plugin,
            "since": to_text(since),
            "until": to_text(until),
            "with_subs": max_subs is not None,
            "max_subs": max_subs or 1,
            "limit": limit + 1,
        }
        if self._dialect == "sqlite":
            sql = (
                f"SELECT a.started_at, a.duration_ms, coalesce(j.step_id, ''), {_SQ_SUBS} "
                "FROM attempts AS a JOIN jobs AS j ON j.job_id = a.job_id "
                f"WHERE a.plugin = :plugin AND a.started_at >= :since AND a.started_at <= :until AND {SAMPLE_SQL} "
                "ORDER BY a.started_at DESC LIMIT :limit"
            )
            rows = self._own_read(sql, params)
        else:
            sql = (
                "SELECT a.started_at, a.duration_ms, coalesce(j.step_id, ''), s.subs "
                f"FROM attempts AS a JOIN jobs AS j ON j.job_id = a.job_id {_PG_SUBS} "
                "WHERE a.plugin = %(plugin)s AND a.started_at >= %(since)s AND a.started_at <= %(until)s "
                f"AND {SAMPLE_SQL} ORDER BY a.started_at DESC LIMIT %(limit)s"
            )
            rows = self._read(sql, params)
        samples = [Sample(r[0], float(r[1]), r[2], r[3]) for r in rows[:limit]]
        return samples, len(rows) > limit

    def stopwatch_count(self, match: StopwatchFilter, limit: int) -> int:
        """How many samples `match` selects, counting at most `limit` (what one prune would touch)."""
        where, params = self._stopwatch_where(match)
        sql = f"SELECT count(*) FROM (SELECT 1 FROM attempts AS a JOIN jobs AS j ON j.job_id = a.job_id WHERE {where} "
        if self._dialect == "sqlite":
            return int(self._read(sql + "LIMIT :limit)", {**params, "limit": limit})[0][0])
        return int(self._read(sql + "LIMIT %(limit)s) AS m", {**params, "limit": limit})[0][0])

    def stopwatch_clear_subs(self, match: StopwatchFilter, limit: int) -> int:
        """Remove the `ductile_stopwatch_subs` key (with `match.span`: only the entries so named)
        from the stored responses of the oldest `limit` samples `match` selects, in ONE
        transaction; how many responses changed. Other keys and values stay as they were."""
        match = replace(match, subs=True)
        where, params = self._stopwatch_where(match)
        params["limit"] = limit
        if self._dialect == "sqlite":
            chosen = (
                f"SELECT a.rowid FROM attempts AS a JOIN jobs AS j ON j.job_id = a.job_id WHERE {where} "
                "ORDER BY a.started_at, a.job_id, a.attempt LIMIT :limit"
            )
            change = _SQ_REMOVE_SPAN if match.span is not None else _SQ_REMOVE
            sql = f"UPDATE attempts SET response = {change} WHERE rowid IN ({chosen})"
        else:
            chosen = (
                f"SELECT a.job_id, a.attempt FROM attempts AS a JOIN jobs AS j ON j.job_id = a.job_id WHERE {where} "
                "ORDER BY a.started_at, a.job_id, a.attempt LIMIT %(limit)s FOR UPDATE OF a"
            )
            change = _PG_REMOVE_SPAN if match.span is not None else _PG_REMOVE
            sql = (
                f"UPDATE attempts AS t SET response = {change} FROM ({chosen}) AS c "
                "WHERE t.job_id = c.job_id AND t.attempt = c.attempt"
            )
        with self._tx() as db:
            return int(db.execute(sql, params).rowcount)

    def _stopwatch_where(self, match: StopwatchFilter) -> tuple[str, dict[str, Any]]:
        sqlite = self._dialect == "sqlite"

        def param(name: str) -> str:
            return f":{name}" if sqlite else f"%({name})s"

        clauses = [SAMPLE_SQL, f"a.started_at < {param('before')}"]
        params: dict[str, Any] = {"before": to_text(match.before)}
        if match.plugin is not None:
            clauses.append(f"a.plugin = {param('plugin')}")
            params["plugin"] = match.plugin
        if match.step is not None:
            clauses.append(f"coalesce(j.step_id, '') = {param('step')}")
            params["step"] = match.step
        if match.status is not None:
            clauses.append(f"({STATUS_SQL[match.status]})")
        if match.span is not None:
            clauses.append(_SQ_SPAN if sqlite else _PG_SPAN)
            params["span"] = match.span
        elif match.subs:
            clauses.append(_SQ_HAS if sqlite else _PG_HAS)
        return " AND ".join(clauses), params

    def _own_read(self, sql: str, params: Any) -> list[Any]:
        """One read on a connection opened for it (SQLite): see the module docstring."""
        path = self.path  # type: ignore[attr-defined]
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
            with closing(conn):
                conn.execute("PRAGMA query_only=1")
                return conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise classify(exc, path, "read") or exc from exc
