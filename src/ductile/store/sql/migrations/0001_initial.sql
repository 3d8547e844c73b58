-- 0001: jobs, their attempts and transitions, plugin state, schedule state, emitted events, facts,
-- and job_counts, kept exact by triggers in the same transaction as every status change so that
-- `total` in GET /jobs never needs a scan.

CREATE TABLE jobs (
    job_id        TEXT NOT NULL,
    plugin        TEXT NOT NULL,
    command       TEXT NOT NULL,
    payload       TEXT,
    status        TEXT NOT NULL,
    attempt       INTEGER NOT NULL DEFAULT 1,
    max_attempts  INTEGER NOT NULL,
    submitted_by  TEXT NOT NULL,
    dedupe_key    TEXT,
    created_at    TEXT NOT NULL,
    started_at    TEXT,
    completed_at  TEXT,
    next_retry_at TEXT,
    last_error    TEXT,
    parent_job_id TEXT,
    context       TEXT
);
CREATE UNIQUE INDEX jobs_id ON jobs (job_id);
CREATE INDEX jobs_created ON jobs (created_at, job_id);
CREATE INDEX jobs_status_created ON jobs (status, created_at, job_id);
CREATE INDEX jobs_plugin_created ON jobs (plugin, created_at, job_id);
CREATE INDEX jobs_plugin_command_created ON jobs (plugin, command, created_at, job_id);
CREATE INDEX jobs_plugin_status_created ON jobs (plugin, status, created_at, job_id);
CREATE INDEX jobs_plugin_command_status_created ON jobs (plugin, command, status, created_at, job_id);
CREATE INDEX jobs_dedupe ON jobs (dedupe_key, plugin, command, status) WHERE dedupe_key IS NOT NULL;
CREATE INDEX jobs_parent ON jobs (parent_job_id) WHERE parent_job_id IS NOT NULL;

CREATE TABLE attempts (
    job_id       TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    plugin       TEXT NOT NULL,
    command      TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    completed_at TEXT,
    outcome      TEXT,
    status       TEXT,
    response     TEXT,
    error        TEXT,
    logs         TEXT,
    stderr       TEXT,
    exit_code    INTEGER,
    duration_ms  REAL,
    PRIMARY KEY (job_id, attempt)
);
CREATE INDEX attempts_started ON attempts (started_at);
CREATE INDEX attempts_plugin_started ON attempts (plugin, started_at);

CREATE TABLE transitions (
    id          INTEGER PRIMARY KEY,
    job_id      TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    reason      TEXT NOT NULL,
    at          TEXT NOT NULL
);
CREATE INDEX transitions_job ON transitions (job_id, id);

CREATE TABLE plugin_state (
    instance       TEXT PRIMARY KEY,
    state          TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    updated_by_job TEXT
);

CREATE TABLE schedule_state (
    instance    TEXT NOT NULL,
    schedule_id TEXT NOT NULL,
    next_slot   TEXT,
    next_fire   TEXT,
    last_fired  TEXT,
    last_job_id TEXT,
    PRIMARY KEY (instance, schedule_id)
);

CREATE TABLE plugin_events (
    id         INTEGER PRIMARY KEY,
    job_id     TEXT NOT NULL,
    instance   TEXT NOT NULL,
    type       TEXT NOT NULL,
    payload    TEXT,
    dedupe_key TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX plugin_events_job ON plugin_events (job_id);

CREATE TABLE facts (
    id         INTEGER PRIMARY KEY,
    instance   TEXT NOT NULL,
    fact_type  TEXT NOT NULL,
    job_id     TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX facts_instance ON facts (instance, fact_type, id);

CREATE TABLE job_counts (
    plugin       TEXT NOT NULL,
    command      TEXT NOT NULL,
    status       TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    n            INTEGER NOT NULL,
    PRIMARY KEY (plugin, command, status, submitted_by)
) WITHOUT ROWID;

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO job_counts (plugin, command, status, submitted_by, n)
    VALUES (NEW.plugin, NEW.command, NEW.status, NEW.submitted_by, 1)
    ON CONFLICT (plugin, command, status, submitted_by) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_count_update AFTER UPDATE OF status ON jobs WHEN OLD.status <> NEW.status BEGIN
    UPDATE job_counts SET n = n - 1
    WHERE plugin = OLD.plugin AND command = OLD.command AND status = OLD.status
      AND submitted_by = OLD.submitted_by;
    INSERT INTO job_counts (plugin, command, status, submitted_by, n)
    VALUES (NEW.plugin, NEW.command, NEW.status, NEW.submitted_by, 1)
    ON CONFLICT (plugin, command, status, submitted_by) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE job_counts SET n = n - 1
    WHERE plugin = OLD.plugin AND command = OLD.command AND status = OLD.status
      AND submitted_by = OLD.submitted_by;
END;
