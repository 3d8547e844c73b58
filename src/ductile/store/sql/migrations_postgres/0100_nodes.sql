-- 0100 (PostgreSQL only; PostgreSQL-only migrations are numbered from 100 so the shared numbers
-- 0005, 0006, … stay free for ports of SQLite migrations — versions apply by set, not by max):
-- the gateways sharing this database. Each registers a row and heartbeats it; a running attempt
-- records the node that runs it, so when a node's heartbeat lapses past the lease a survivor can
-- recover exactly that node's running jobs.

CREATE TABLE nodes (
    node_id      TEXT COLLATE "C" PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    version      TEXT NOT NULL,
    started_at   TEXT COLLATE "C" NOT NULL,
    heartbeat_at TEXT COLLATE "C" NOT NULL
);

ALTER TABLE attempts ADD COLUMN node_id TEXT COLLATE "C";
CREATE INDEX jobs_running ON jobs (plugin) WHERE status = 'running';
CREATE INDEX jobs_queued ON jobs (created_at, job_id) WHERE status = 'queued';
