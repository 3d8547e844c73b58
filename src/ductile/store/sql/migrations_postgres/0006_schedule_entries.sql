-- 0006 (PostgreSQL): schedule entry statuses (see SQLite's 0006). A pause is a row here, so it
-- holds on every node and survives restarts and leader changes.
ALTER TABLE schedule_state ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE schedule_state ADD COLUMN reason TEXT;
ALTER TABLE schedule_state ADD COLUMN paused_by TEXT;
ALTER TABLE schedule_state ADD COLUMN paused_at TEXT COLLATE "C";
ALTER TABLE schedule_state ADD COLUMN command TEXT COLLATE "C";
ALTER TABLE schedule_state ADD COLUMN definition TEXT;
ALTER TABLE schedule_state ADD COLUMN updated_at TEXT COLLATE "C";
