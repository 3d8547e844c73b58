-- 0006: schedule entry statuses (pipelines.md §9.1, §9.6). The existing per-entry row gains its
-- status and reason, who paused it and when (a pause survives restarts), the command it was
-- planned for (a changed command starts the entry over) and the one-shot definition that produced
-- its run time or fired it (O13: a changed at/after re-arms an exhausted one-shot).
ALTER TABLE schedule_state ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE schedule_state ADD COLUMN reason TEXT;
ALTER TABLE schedule_state ADD COLUMN paused_by TEXT;
ALTER TABLE schedule_state ADD COLUMN paused_at TEXT;
ALTER TABLE schedule_state ADD COLUMN command TEXT;
ALTER TABLE schedule_state ADD COLUMN definition TEXT;
ALTER TABLE schedule_state ADD COLUMN updated_at TEXT;
