-- 0110 (PostgreSQL only): per-hour counts by status alone, kept exact by the same trigger as
-- job_counts_hourly, in the same transaction as every status change. A time-range `total`
-- without plugin/command/submitter filters sums at most 24 × 8 rows a day from here instead of
-- every (plugin, command, status, submitter) combination of every hour (~200 an hour at 1M
-- jobs over 20 days: ~4,800 rows a day, most of the 1-day range's cost).
--
-- Writers wait for this migration (SHARE ROW EXCLUSIVE on jobs conflicts with every insert,
-- update and delete), so no status change lands between the copy below and the new trigger
-- function: the new counts are exact from the first commit, with other nodes running.

LOCK TABLE jobs IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE job_counts_hourly_status (
    hour   TEXT COLLATE "C" NOT NULL,
    status TEXT COLLATE "C" NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (hour, status)
);

INSERT INTO job_counts_hourly_status (hour, status, n)
SELECT hour, status, sum(n) FROM job_counts_hourly GROUP BY hour, status;

CREATE OR REPLACE FUNCTION ductile_jobs_hourly() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE job_counts_hourly SET n = n - 1
        WHERE hour = substr(OLD.created_at, 1, 13) AND plugin = OLD.plugin AND command = OLD.command
          AND status = OLD.status AND submitted_by = OLD.submitted_by;
        UPDATE job_counts_hourly_status SET n = n - 1
        WHERE hour = substr(OLD.created_at, 1, 13) AND status = OLD.status;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO job_counts_hourly (hour, plugin, command, status, submitted_by, n)
        VALUES (substr(NEW.created_at, 1, 13), NEW.plugin, NEW.command, NEW.status, NEW.submitted_by, 1)
        ON CONFLICT (hour, plugin, command, status, submitted_by) DO UPDATE SET n = job_counts_hourly.n + 1;
        INSERT INTO job_counts_hourly_status (hour, status, n)
        VALUES (substr(NEW.created_at, 1, 13), NEW.status, 1)
        ON CONFLICT (hour, status) DO UPDATE SET n = job_counts_hourly_status.n + 1;
    END IF;
    RETURN NULL;
END;
$$;
