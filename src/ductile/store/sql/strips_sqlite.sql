-- Named queries of the dashboard's run strips (store/strips.py): every schedule entry's recent
-- jobs and the scheduler's recorded skips, each read for all entries in one statement, so a page
-- of 200 schedules takes the store's lock twice rather than 200 times.

-- name: schedule_histories
-- :entries is a JSON list of {i, plugin, command, dkey, since}; per entry (by its index `i`) a JSON
-- array of its jobs created at or after `since`, newest first, at most :limit, as [created_at,
-- status]. Each entry runs a single-entry read as a correlated subquery:
-- one range of jobs_dedupe (dedupe_key, plugin, command, status, created_at) per status, each cut
-- at :limit, so the cost follows the windows, not the entries' whole histories.
WITH e AS (
    SELECT json_extract(value, '$.i') AS i, json_extract(value, '$.plugin') AS plugin,
        json_extract(value, '$.command') AS command, json_extract(value, '$.dkey') AS dkey,
        json_extract(value, '$.since') AS since
    FROM json_each(:entries)
)
SELECT i, (SELECT json_group_array(json_array(created_at, status)) FROM (
    SELECT created_at, status FROM (
    SELECT * FROM (SELECT created_at, status FROM jobs
        WHERE dedupe_key = e.dkey AND plugin = e.plugin AND command = e.command AND status = 'succeeded'
        AND created_at >= e.since ORDER BY created_at DESC LIMIT :limit)
    UNION ALL SELECT * FROM (SELECT created_at, status FROM jobs
        WHERE dedupe_key = e.dkey AND plugin = e.plugin AND command = e.command AND status = 'failed'
        AND created_at >= e.since ORDER BY created_at DESC LIMIT :limit)
    UNION ALL SELECT * FROM (SELECT created_at, status FROM jobs
        WHERE dedupe_key = e.dkey AND plugin = e.plugin AND command = e.command AND status = 'timed_out'
        AND created_at >= e.since ORDER BY created_at DESC LIMIT :limit)
    UNION ALL SELECT * FROM (SELECT created_at, status FROM jobs
        WHERE dedupe_key = e.dkey AND plugin = e.plugin AND command = e.command AND status = 'dead'
        AND created_at >= e.since ORDER BY created_at DESC LIMIT :limit)
    UNION ALL SELECT * FROM (SELECT created_at, status FROM jobs
        WHERE dedupe_key = e.dkey AND plugin = e.plugin AND command = e.command AND status = 'skipped'
        AND created_at >= e.since ORDER BY created_at DESC LIMIT :limit)
    UNION ALL SELECT * FROM (SELECT created_at, status FROM jobs
        WHERE dedupe_key = e.dkey AND plugin = e.plugin AND command = e.command AND status = 'queued'
        AND created_at >= e.since ORDER BY created_at DESC LIMIT :limit)
    UNION ALL SELECT * FROM (SELECT created_at, status FROM jobs
        WHERE dedupe_key = e.dkey AND plugin = e.plugin AND command = e.command AND status = 'running'
        AND created_at >= e.since ORDER BY created_at DESC LIMIT :limit)
    ) ORDER BY created_at DESC LIMIT :limit)) AS runs
FROM e;

-- name: record_schedule_skip
INSERT INTO schedule_skips (instance, schedule_id, command, slot, at, reason)
VALUES (:instance, :schedule_id, :command, :slot, :at, :reason);

-- name: schedule_skips
-- :entries is a JSON list of {i, instance, schedule_id, since}; per entry (by index `i`) its skips at
-- or after `since`, newest first, at most :limit.
WITH e AS (
    SELECT json_extract(value, '$.i') AS i, json_extract(value, '$.instance') AS instance,
        json_extract(value, '$.schedule_id') AS schedule_id, json_extract(value, '$.since') AS since
    FROM json_each(:entries)
)
SELECT i, at, reason, slot FROM (
    SELECT e.i AS i, s.at AS at, s.reason AS reason, s.slot AS slot,
        row_number() OVER (PARTITION BY e.i ORDER BY s.at DESC, s.id DESC) AS n
    FROM e JOIN schedule_skips AS s
        ON s.instance = e.instance AND s.schedule_id = e.schedule_id AND s.at >= e.since
) WHERE n <= :limit
ORDER BY i, at DESC;

-- name: prune_schedule_skips
DELETE FROM schedule_skips
WHERE id IN (SELECT id FROM schedule_skips WHERE at < :cutoff ORDER BY at LIMIT :batch);
