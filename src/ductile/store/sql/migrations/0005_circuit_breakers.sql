-- 0005: the circuit breaker of scheduled jobs (pipelines.md §8): one row per (plugin, command),
-- and every state change, kept for `service.breaker_transitions_retention` (default 90 days).
CREATE TABLE circuit_breakers (
    plugin          TEXT NOT NULL,
    command         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
    failure_count   INTEGER NOT NULL DEFAULT 0,
    opened_at       TEXT,
    last_failure_at TEXT,
    last_job_id     TEXT,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (plugin, command)
);

CREATE TABLE circuit_breaker_transitions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    plugin        TEXT NOT NULL,
    command       TEXT NOT NULL,
    from_state    TEXT,
    to_state      TEXT NOT NULL,
    failure_count INTEGER NOT NULL,
    reason        TEXT NOT NULL,
    job_id        TEXT,
    created_at    TEXT NOT NULL
);

CREATE INDEX circuit_breaker_transitions_key ON circuit_breaker_transitions (plugin, command, id);
CREATE INDEX circuit_breaker_transitions_created ON circuit_breaker_transitions (created_at);
