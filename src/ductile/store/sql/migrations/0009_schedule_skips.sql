-- 0009: every slot the scheduler skipped (window closed, circuit_open, already_running,
-- outstanding_limit), so the dashboard's run strip still says "skipped" after a restart instead of
-- "missed". Pruned with the jobs' retention (the `skipped` status's, upkeep/pruner.py).
CREATE TABLE schedule_skips (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    instance    TEXT NOT NULL,
    schedule_id TEXT NOT NULL,
    command     TEXT NOT NULL,
    slot        TEXT,              -- the grid slot skipped; NULL for a one-shot
    at          TEXT NOT NULL,     -- when the scheduler decided (what the strip places in a slot)
    reason      TEXT NOT NULL
);
CREATE INDEX schedule_skips_entry ON schedule_skips (instance, schedule_id, at);
CREATE INDEX schedule_skips_at ON schedule_skips (at);
