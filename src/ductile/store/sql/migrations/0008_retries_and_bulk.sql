-- 0008: retries, bulk actions and schedule health (issue 13). A retry is a new job linked to the one it repeats
-- (jobs.retry_of), so the old job's history stays as it happened; every bulk retry or cancel
-- leaves an audit row saying who acted, on which filter, and on how many jobs.

ALTER TABLE jobs ADD COLUMN retry_of TEXT;
CREATE INDEX jobs_retry_of ON jobs (retry_of) WHERE retry_of IS NOT NULL;

CREATE TABLE bulk_actions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    action     TEXT NOT NULL,          -- retry | cancel
    actor      TEXT NOT NULL,          -- the token's name (API) or cli:<user> (local CLI)
    filter     TEXT NOT NULL,          -- the JSON of the filter as given
    matched    INTEGER NOT NULL,       -- jobs matching the filter at the time
    acted      INTEGER NOT NULL,       -- jobs created (retry) or cancelled
    skipped    INTEGER NOT NULL,       -- matched but not acted on (a retry already active, ended meanwhile, over the cap)
    job_ids    TEXT NOT NULL,          -- JSON list of the jobs acted on
    created_at TEXT NOT NULL
);
CREATE INDEX bulk_actions_created ON bulk_actions (created_at);

-- Schedule health reads a schedule's newest finished runs and its last success by its dedupe key:
-- created_at joins the dedupe index so both are index seeks, however many runs the key has.
DROP INDEX jobs_dedupe;
CREATE INDEX jobs_dedupe ON jobs (dedupe_key, plugin, command, status, created_at) WHERE dedupe_key IS NOT NULL;
