-- 0004 (PostgreSQL): pipelines (see SQLite's 0004): durable step contexts, job lineage columns and
-- the unique guard that makes routed child creation idempotent.

CREATE TABLE event_contexts (
    id            TEXT COLLATE "C" PRIMARY KEY,
    parent_id     TEXT COLLATE "C",
    pipeline_name TEXT COLLATE "C" NOT NULL,
    step_id       TEXT COLLATE "C" NOT NULL DEFAULT '',
    instance_id   TEXT COLLATE "C" NOT NULL,
    accumulated   TEXT NOT NULL,
    created_at    TEXT COLLATE "C" NOT NULL
);
CREATE INDEX event_contexts_parent ON event_contexts (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX event_contexts_instance ON event_contexts (instance_id, step_id);

ALTER TABLE jobs ADD COLUMN source_event_id TEXT COLLATE "C";
ALTER TABLE jobs ADD COLUMN event_context_id TEXT COLLATE "C";
ALTER TABLE jobs ADD COLUMN route_key TEXT COLLATE "C";
ALTER TABLE jobs ADD COLUMN pipeline TEXT COLLATE "C";
ALTER TABLE jobs ADD COLUMN step_id TEXT COLLATE "C";
CREATE UNIQUE INDEX jobs_event_source ON jobs (parent_job_id, source_event_id, plugin, command, route_key)
    WHERE source_event_id IS NOT NULL;
CREATE INDEX jobs_pipeline_created ON jobs (pipeline, created_at, job_id) WHERE pipeline IS NOT NULL;
CREATE INDEX jobs_event_context ON jobs (event_context_id) WHERE event_context_id IS NOT NULL;

ALTER TABLE plugin_events ADD COLUMN event_id TEXT COLLATE "C";
