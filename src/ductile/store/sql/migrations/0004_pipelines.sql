-- 0004: pipelines. event_contexts holds each pipeline step's durable context (baggage plus the
-- "ductile" control object: instance id, route depth and budget, chain depth); jobs gain their
-- lineage (the event that started them, their context row, their route identity) so routing can
-- insert children idempotently under a unique index: a redelivered completion never makes a child twice.

CREATE TABLE event_contexts (
    id            TEXT PRIMARY KEY,
    parent_id     TEXT,
    pipeline_name TEXT NOT NULL,
    step_id       TEXT NOT NULL DEFAULT '',
    instance_id   TEXT NOT NULL,
    accumulated   TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX event_contexts_parent ON event_contexts (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX event_contexts_instance ON event_contexts (instance_id, step_id);

ALTER TABLE jobs ADD COLUMN source_event_id TEXT;
ALTER TABLE jobs ADD COLUMN event_context_id TEXT;
ALTER TABLE jobs ADD COLUMN route_key TEXT;
ALTER TABLE jobs ADD COLUMN pipeline TEXT;
ALTER TABLE jobs ADD COLUMN step_id TEXT;
CREATE UNIQUE INDEX jobs_event_source ON jobs (parent_job_id, source_event_id, plugin, command, route_key)
    WHERE source_event_id IS NOT NULL;
CREATE INDEX jobs_pipeline_created ON jobs (pipeline, created_at, job_id) WHERE pipeline IS NOT NULL;

ALTER TABLE plugin_events ADD COLUMN event_id TEXT;
