-- 0008 (PostgreSQL): retries, bulk actions and schedule health (see SQLite's 0008).
ALTER TABLE jobs ADD COLUMN retry_of TEXT COLLATE "C";
CREATE INDEX jobs_retry_of ON jobs (retry_of) WHERE retry_of IS NOT NULL;

CREATE TABLE bulk_actions (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    filter     TEXT NOT NULL,
    matched    INTEGER NOT NULL,
    acted      INTEGER NOT NULL,
    skipped    INTEGER NOT NULL,
    job_ids    TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL
);
CREATE INDEX bulk_actions_created ON bulk_actions (created_at);

-- Schedule health and webhook redelivery seek by dedupe key then created_at.
DROP INDEX jobs_dedupe;
CREATE INDEX jobs_dedupe ON jobs (dedupe_key, plugin, command, status, created_at) WHERE dedupe_key IS NOT NULL;
