-- Named queries of schedule operations made on any node of a cluster (store/pg_schedules.py).
-- They change only the status columns (never the slot, which only the leader moves), and only
-- from the status the operation starts from, so two nodes acting at once cannot undo each other.

-- name: schedule_pause
INSERT INTO schedule_state (instance, schedule_id, next_slot, next_fire, last_fired, last_job_id,
    status, reason, paused_by, paused_at, command, updated_at)
VALUES (%(instance)s, %(schedule_id)s, NULL, NULL, NULL, NULL,
    'paused_manual', %(reason)s, %(paused_by)s, %(paused_at)s, %(command)s, %(updated_at)s)
ON CONFLICT (instance, schedule_id) DO UPDATE SET
    status = excluded.status, reason = excluded.reason, paused_by = excluded.paused_by,
    paused_at = excluded.paused_at, command = excluded.command, updated_at = excluded.updated_at
-- a row planned for another command is a stale plan (the scheduler starts that entry over)
WHERE schedule_state.status = 'active' OR schedule_state.command IS DISTINCT FROM excluded.command
RETURNING instance;

-- name: schedule_resume
UPDATE schedule_state SET status = 'active', reason = NULL, paused_by = NULL, paused_at = NULL,
    next_slot = %(next_slot)s, next_fire = %(next_fire)s, updated_at = %(updated_at)s
WHERE instance = %(instance)s AND schedule_id = %(schedule_id)s AND status = 'paused_manual'
RETURNING instance;
