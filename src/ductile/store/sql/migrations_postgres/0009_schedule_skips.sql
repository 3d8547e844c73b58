-- 0009 (PostgreSQL): every slot the scheduler skipped (see SQLite's 0009). Written by whichever
-- node leads the scheduler; read by every node's dashboard.
CREATE TABLE schedule_skips (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance    TEXT COLLATE "C" NOT NULL,
    schedule_id TEXT COLLATE "C" NOT NULL,
    command     TEXT COLLATE "C" NOT NULL,
    slot        TEXT COLLATE "C",
    at          TEXT COLLATE "C" NOT NULL,
    reason      TEXT NOT NULL
);
CREATE INDEX schedule_skips_entry ON schedule_skips (instance, schedule_id, at);
CREATE INDEX schedule_skips_at ON schedule_skips (at);
