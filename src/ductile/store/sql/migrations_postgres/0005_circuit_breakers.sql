-- 0005 (PostgreSQL): the circuit breaker of scheduled jobs (see SQLite's 0005): one row per
-- (plugin, command), and every state change. Shared by every node of a cluster: a breaker opened
-- by failures on one node stops the scheduler whichever node leads.
CREATE TABLE circuit_breakers (
    plugin          TEXT COLLATE "C" NOT NULL,
    command         TEXT COLLATE "C" NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
    failure_count   INTEGER NOT NULL DEFAULT 0,
    opened_at       TEXT COLLATE "C",
    last_failure_at TEXT COLLATE "C",
    last_job_id     TEXT COLLATE "C",
    updated_at      TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (plugin, command)
);

CREATE TABLE circuit_breaker_transitions (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plugin        TEXT COLLATE "C" NOT NULL,
    command       TEXT COLLATE "C" NOT NULL,
    from_state    TEXT,
    to_state      TEXT NOT NULL,
    failure_count INTEGER NOT NULL,
    reason        TEXT NOT NULL,
    job_id        TEXT COLLATE "C",
    created_at    TEXT COLLATE "C" NOT NULL
);

CREATE INDEX circuit_breaker_transitions_key ON circuit_breaker_transitions (plugin, command, id);
CREATE INDEX circuit_breaker_transitions_created ON circuit_breaker_transitions (created_at);
