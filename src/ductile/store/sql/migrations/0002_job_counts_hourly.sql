-- 0002: per-hour job counts, kept exact by triggers like job_counts, so that `total` for a
-- GET /jobs time range (created_after / created_before) sums whole hours from here and counts
-- rows only in the two partial hours at the edges: its cost no longer grows with the history.
-- `hour` is the first 13 characters of created_at ("2026-11-29T10").

CREATE TABLE job_counts_hourly (
    hour         TEXT NOT NULL,
    plugin       TEXT NOT NULL,
    command      TEXT NOT NULL,
    status       TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    n            INTEGER NOT NULL,
    PRIMARY KEY (hour, plugin, command, status, submitted_by)
) WITHOUT ROWID;

INSERT INTO job_counts_hourly (hour, plugin, command, status, submitted_by, n)
SELECT substr(created_at, 1, 13), plugin, command, status, submitted_by, count(*)
FROM jobs GROUP BY 1, 2, 3, 4, 5;

CREATE TRIGGER jobs_hourly_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO job_counts_hourly (hour, plugin, command, status, submitted_by, n)
    VALUES (substr(NEW.created_at, 1, 13), NEW.plugin, NEW.command, NEW.status, NEW.submitted_by, 1)
    ON CONFLICT (hour, plugin, command, status, submitted_by) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_hourly_update AFTER UPDATE OF status ON jobs WHEN OLD.status <> NEW.status BEGIN
    UPDATE job_counts_hourly SET n = n - 1
    WHERE hour = substr(OLD.created_at, 1, 13) AND plugin = OLD.plugin AND command = OLD.command
      AND status = OLD.status AND submitted_by = OLD.submitted_by;
    INSERT INTO job_counts_hourly (hour, plugin, command, status, submitted_by, n)
    VALUES (substr(NEW.created_at, 1, 13), NEW.plugin, NEW.command, NEW.status, NEW.submitted_by, 1)
    ON CONFLICT (hour, plugin, command, status, submitted_by) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_hourly_delete AFTER DELETE ON jobs BEGIN
    UPDATE job_counts_hourly SET n = n - 1
    WHERE hour = substr(OLD.created_at, 1, 13) AND plugin = OLD.plugin AND command = OLD.command
      AND status = OLD.status AND submitted_by = OLD.submitted_by;
END;
