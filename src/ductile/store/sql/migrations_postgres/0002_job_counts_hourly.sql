-- 0002 (PostgreSQL): per-hour job counts, kept exact by a trigger like job_counts (see SQLite's
-- 0002): `total` for a created_after/created_before range sums whole hours from here and counts
-- rows only in the partial hours at the edges. `hour` is the first 13 characters of created_at.

CREATE TABLE job_counts_hourly (
    hour         TEXT COLLATE "C" NOT NULL,
    plugin       TEXT COLLATE "C" NOT NULL,
    command      TEXT COLLATE "C" NOT NULL,
    status       TEXT COLLATE "C" NOT NULL,
    submitted_by TEXT COLLATE "C" NOT NULL,
    n            BIGINT NOT NULL,
    PRIMARY KEY (hour, plugin, command, status, submitted_by)
);

INSERT INTO job_counts_hourly (hour, plugin, command, status, submitted_by, n)
SELECT substr(created_at, 1, 13), plugin, command, status, submitted_by, count(*)
FROM jobs GROUP BY 1, 2, 3, 4, 5;

CREATE FUNCTION ductile_jobs_hourly() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE job_counts_hourly SET n = n - 1
        WHERE hour = substr(OLD.created_at, 1, 13) AND plugin = OLD.plugin AND command = OLD.command
          AND status = OLD.status AND submitted_by = OLD.submitted_by;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO job_counts_hourly (hour, plugin, command, status, submitted_by, n)
        VALUES (substr(NEW.created_at, 1, 13), NEW.plugin, NEW.command, NEW.status, NEW.submitted_by, 1)
        ON CONFLICT (hour, plugin, command, status, submitted_by) DO UPDATE SET n = job_counts_hourly.n + 1;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_hourly_insert AFTER INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION ductile_jobs_hourly();
CREATE TRIGGER jobs_hourly_update AFTER UPDATE OF status ON jobs FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION ductile_jobs_hourly();
CREATE TRIGGER jobs_hourly_delete AFTER DELETE ON jobs FOR EACH ROW EXECUTE FUNCTION ductile_jobs_hourly();
