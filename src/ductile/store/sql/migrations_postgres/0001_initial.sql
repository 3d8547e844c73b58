-- 0001 (PostgreSQL): the same tables as SQLite's 0001. Timestamps and JSON stay TEXT in the store's
-- one format (timeutil.to_text), so comparisons, ordering and keyset cursors mean the same thing on
-- both backends; every compared or ordered text column uses COLLATE "C" (byte order, as SQLite).
-- `seq` stands in for SQLite's rowid (insertion order of jobs). job_counts is kept exact by
-- triggers in the same transaction as every status change, so `total` never needs a scan.

CREATE TABLE jobs (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY,
    job_id        TEXT COLLATE "C" NOT NULL,
    plugin        TEXT COLLATE "C" NOT NULL,
    command       TEXT COLLATE "C" NOT NULL,
    payload       TEXT,
    status        TEXT COLLATE "C" NOT NULL,
    attempt       INTEGER NOT NULL DEFAULT 1,
    max_attempts  INTEGER NOT NULL,
    submitted_by  TEXT COLLATE "C" NOT NULL,
    dedupe_key    TEXT COLLATE "C",
    created_at    TEXT COLLATE "C" NOT NULL,
    started_at    TEXT COLLATE "C",
    completed_at  TEXT COLLATE "C",
    next_retry_at TEXT COLLATE "C",
    last_error    TEXT,
    parent_job_id TEXT COLLATE "C",
    context       TEXT
);
CREATE UNIQUE INDEX jobs_id ON jobs (job_id);
CREATE UNIQUE INDEX jobs_seq ON jobs (seq);
CREATE INDEX jobs_created ON jobs (created_at, job_id);
CREATE INDEX jobs_status_created ON jobs (status, created_at, job_id);
CREATE INDEX jobs_plugin_created ON jobs (plugin, created_at, job_id);
CREATE INDEX jobs_plugin_command_created ON jobs (plugin, command, created_at, job_id);
CREATE INDEX jobs_plugin_status_created ON jobs (plugin, status, created_at, job_id);
CREATE INDEX jobs_plugin_command_status_created ON jobs (plugin, command, status, created_at, job_id);
CREATE INDEX jobs_dedupe ON jobs (dedupe_key, plugin, command, status) WHERE dedupe_key IS NOT NULL;
CREATE INDEX jobs_parent ON jobs (parent_job_id) WHERE parent_job_id IS NOT NULL;

CREATE TABLE attempts (
    job_id       TEXT COLLATE "C" NOT NULL,
    attempt      INTEGER NOT NULL,
    plugin       TEXT COLLATE "C" NOT NULL,
    command      TEXT COLLATE "C" NOT NULL,
    submitted_by TEXT COLLATE "C" NOT NULL,
    started_at   TEXT COLLATE "C" NOT NULL,
    completed_at TEXT COLLATE "C",
    outcome      TEXT COLLATE "C",
    status       TEXT COLLATE "C",
    response     TEXT,
    error        TEXT,
    logs         TEXT,
    stderr       TEXT,
    exit_code    INTEGER,
    duration_ms  DOUBLE PRECISION,
    PRIMARY KEY (job_id, attempt)
);
CREATE INDEX attempts_started ON attempts (started_at);
CREATE INDEX attempts_plugin_started ON attempts (plugin, started_at);

CREATE TABLE transitions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      TEXT COLLATE "C" NOT NULL,
    from_status TEXT COLLATE "C",
    to_status   TEXT COLLATE "C" NOT NULL,
    reason      TEXT NOT NULL,
    at          TEXT COLLATE "C" NOT NULL
);
CREATE INDEX transitions_job ON transitions (job_id, id);

CREATE TABLE plugin_state (
    instance       TEXT COLLATE "C" PRIMARY KEY,
    state          TEXT NOT NULL,
    updated_at     TEXT COLLATE "C" NOT NULL,
    updated_by_job TEXT
);

CREATE TABLE schedule_state (
    instance    TEXT COLLATE "C" NOT NULL,
    schedule_id TEXT COLLATE "C" NOT NULL,
    next_slot   TEXT COLLATE "C",
    next_fire   TEXT COLLATE "C",
    last_fired  TEXT COLLATE "C",
    last_job_id TEXT,
    PRIMARY KEY (instance, schedule_id)
);

CREATE TABLE plugin_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id     TEXT COLLATE "C" NOT NULL,
    instance   TEXT COLLATE "C" NOT NULL,
    type       TEXT COLLATE "C" NOT NULL,
    payload    TEXT,
    dedupe_key TEXT,
    created_at TEXT COLLATE "C" NOT NULL
);
CREATE INDEX plugin_events_job ON plugin_events (job_id);

CREATE TABLE facts (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance   TEXT COLLATE "C" NOT NULL,
    fact_type  TEXT COLLATE "C" NOT NULL,
    job_id     TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL
);
CREATE INDEX facts_instance ON facts (instance, fact_type, id);

CREATE TABLE job_counts (
    plugin       TEXT COLLATE "C" NOT NULL,
    command      TEXT COLLATE "C" NOT NULL,
    status       TEXT COLLATE "C" NOT NULL,
    submitted_by TEXT COLLATE "C" NOT NULL,
    n            BIGINT NOT NULL,
    PRIMARY KEY (plugin, command, status, submitted_by)
);

-- One row the write probe flips (store.probe_write): a real committed change.
CREATE TABLE store_probe (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
INSERT INTO store_probe (id, n) VALUES (1, 0);

CREATE FUNCTION ductile_jobs_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE job_counts SET n = n - 1
        WHERE plugin = OLD.plugin AND command = OLD.command AND status = OLD.status
          AND submitted_by = OLD.submitted_by;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO job_counts (plugin, command, status, submitted_by, n)
        VALUES (NEW.plugin, NEW.command, NEW.status, NEW.submitted_by, 1)
        ON CONFLICT (plugin, command, status, submitted_by) DO UPDATE SET n = job_counts.n + 1;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION ductile_jobs_count();
CREATE TRIGGER jobs_count_update AFTER UPDATE OF status ON jobs FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION ductile_jobs_count();
CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs FOR EACH ROW EXECUTE FUNCTION ductile_jobs_count();
