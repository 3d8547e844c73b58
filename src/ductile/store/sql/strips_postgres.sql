-- Named queries of the dashboard's run strips (store/strips.py), as strips_sqlite.sql: all entries
-- in one statement, each entry's exact single-entry read run as a LATERAL subquery.

-- name: schedule_histories
SELECT e.i, h.created_at, h.status
FROM json_to_recordset(%(entries)s::json) AS e(i int, plugin text, command text, dkey text, since text)
CROSS JOIN LATERAL (
    SELECT created_at, status FROM (
        (SELECT created_at, status FROM jobs
            WHERE dedupe_key = e.dkey AND plugin = e.plugin AND command = e.command AND status = 'succeeded'
            AND created_at >= e.since ORDER BY created_at DESC LIMIT %(limit)s)
        UNION ALL (SELECT created_at, status FROM jobs
            WHERE dedupe_key = e.dkey AND plugin = e.plugin AND command = e.command AND status = 'failed'
            AND created_at >= e.since ORDER BY created_at DESC LIMIT %(limit)s)
        UNION ALL (SELECT created_at, status FROM jobs
            WHERE dedupe_key = e.dkey AND plugin = e.plugin AND command = e.command AND status = 'timed_out'
            AND created_at >= e.since ORDER BY created_at DESC LIMIT %(limit)s)
        UNION ALL (SELECT created_at, status FROM jobs
            WHERE dedupe_key = e.dkey AND plugin = e.plugin AND command = e.command AND status = 'dead'
            AND created_at >= e.since ORDER BY created_at DESC LIMIT %(limit)s)
        UNION ALL (SELECT created_at, status FROM jobs
            WHERE dedupe_key = e.dkey AND plugin = e.plugin AND command = e.command AND status = 'skipped'
            AND created_at >= e.since ORDER BY created_at DESC LIMIT %(limit)s)
        UNION ALL (SELECT created_at, status FROM jobs
            WHERE dedupe_key = e.dkey AND plugin = e.plugin AND command = e.command AND status = 'queued'
            AND created_at >= e.since ORDER BY created_at DESC LIMIT %(limit)s)
        UNION ALL (SELECT created_at, status FROM jobs
            WHERE dedupe_key = e.dkey AND plugin = e.plugin AND command = e.command AND status = 'running'
            AND created_at >= e.since ORDER BY created_at DESC LIMIT %(limit)s)
    ) AS runs ORDER BY created_at DESC LIMIT %(limit)s
) AS h
ORDER BY e.i, h.created_at DESC;

-- name: record_schedule_skip
INSERT INTO schedule_skips (instance, schedule_id, command, slot, at, reason)
VALUES (%(instance)s, %(schedule_id)s, %(command)s, %(slot)s, %(at)s, %(reason)s);

-- name: schedule_skips
SELECT e.i, s.at, s.reason, s.slot
FROM json_to_recordset(%(entries)s::json) AS e(i int, instance text, schedule_id text, since text)
CROSS JOIN LATERAL (
    SELECT at, reason, slot FROM schedule_skips
    WHERE instance = e.instance AND schedule_id = e.schedule_id AND at >= e.since
    ORDER BY at DESC, id DESC LIMIT %(limit)s
) AS s
ORDER BY e.i, s.at DESC;

-- name: prune_schedule_skips
-- SKIP LOCKED: every node runs the pruner; two never wait on the same rows.
DELETE FROM schedule_skips
WHERE id IN (SELECT id FROM schedule_skips WHERE at < %(cutoff)s ORDER BY at LIMIT %(batch)s FOR UPDATE SKIP LOCKED);
