-- Named statements for the SQLite store. Each sits under `-- name: <name>`; the loader in
-- store/queries.py turns this file into a dict. Statements returning jobs list the columns in
-- the order of _JOB_COLUMNS in sqlite_reads.py, read by position. Filters for listing are composed in
-- Python: store/filters.py, used by sqlite_reads.py.

-- name: insert_job
INSERT INTO jobs (job_id, plugin, command, payload, status, attempt, max_attempts, submitted_by,
                  dedupe_key, created_at, parent_job_id, context, source_event_id, event_context_id,
                  route_key, pipeline, step_id)
VALUES (:job_id, :plugin, :command, :payload, 'queued', 1, :max_attempts, :submitted_by,
        :dedupe_key, :created_at, :parent_job_id, :context, :source_event_id, :event_context_id,
        :route_key, :pipeline, :step_id);

-- name: insert_transition
INSERT INTO transitions (job_id, from_status, to_status, reason, at)
VALUES (:job_id, :from_status, :to_status, :reason, :at);

-- name: find_duplicate_active
-- A queued or running job with the same (dedupe_key, plugin, command).
SELECT job_id, status FROM jobs
WHERE dedupe_key = :dedupe_key AND plugin = :plugin AND command = :command
  AND status IN ('queued', 'running')
LIMIT 1;

-- name: find_duplicate_succeeded
-- A job with the same key that succeeded inside the dedupe window.
SELECT job_id, status FROM jobs
WHERE dedupe_key = :dedupe_key AND plugin = :plugin AND command = :command
  AND status = 'succeeded' AND completed_at >= :since
ORDER BY completed_at DESC
LIMIT 1;

-- name: count_active_for_key
SELECT count(*) FROM jobs
WHERE dedupe_key = :dedupe_key AND plugin = :plugin AND command = :command
  AND status IN ('queued', 'running');

-- name: claim_next
-- Oldest eligible queued job (FIFO by created_at, then id), skipping instances that are at their
-- parallelism limit and keys that already have a running job.
UPDATE jobs SET status = 'running', started_at = :now, next_retry_at = NULL
WHERE rowid = (
    SELECT q.rowid FROM jobs AS q
    WHERE q.status = 'queued'
      AND (q.next_retry_at IS NULL OR q.next_retry_at <= :now)
      AND q.plugin NOT IN (SELECT value FROM json_each(:excluded))
      AND (q.dedupe_key IS NULL OR NOT EXISTS (
            SELECT 1 FROM jobs AS r
            WHERE r.dedupe_key = q.dedupe_key AND r.plugin = q.plugin
              AND r.command = q.command AND r.status = 'running'))
    ORDER BY q.created_at, q.job_id
    LIMIT 1
)
RETURNING job_id, plugin, command, payload, status, attempt, max_attempts, submitted_by, dedupe_key,
          created_at, started_at, completed_at, next_retry_at, last_error, parent_job_id, context,
          source_event_id, event_context_id, route_key, pipeline, step_id;

-- name: insert_attempt
INSERT INTO attempts (job_id, attempt, plugin, command, submitted_by, started_at)
VALUES (:job_id, :attempt, :plugin, :command, :submitted_by, :started_at);

-- name: finish_attempt
UPDATE attempts
SET completed_at = :completed_at, outcome = :outcome, status = :status, response = :response,
    error = :error, logs = :logs, stderr = :stderr, exit_code = :exit_code, duration_ms = :duration_ms
WHERE job_id = :job_id AND attempt = :attempt;

-- name: job_to_terminal
UPDATE jobs SET status = :status, completed_at = :now, last_error = :last_error, next_retry_at = NULL
WHERE job_id = :job_id AND status = :from_status;

-- name: job_to_retry
UPDATE jobs SET status = 'queued', attempt = attempt + 1, next_retry_at = :next_retry_at,
                last_error = :last_error
WHERE job_id = :job_id AND status = 'running';

-- name: set_attempt_pid
UPDATE attempts SET pid = :pid WHERE job_id = :job_id AND attempt = :attempt;

-- name: running_attempt_pids
-- Plugin processes of attempts still marked running (read by crash recovery).
SELECT j.job_id, a.pid FROM jobs AS j
JOIN attempts AS a ON a.job_id = j.job_id AND a.attempt = j.attempt
WHERE j.status = 'running' AND a.pid IS NOT NULL;

-- name: get_job
SELECT job_id, plugin, command, payload, status, attempt, max_attempts, submitted_by, dedupe_key,
       created_at, started_at, completed_at, next_retry_at, last_error, parent_job_id, context,
       source_event_id, event_context_id, route_key, pipeline, step_id
FROM jobs WHERE job_id = :job_id;

-- name: running_jobs
SELECT job_id, plugin, command, payload, status, attempt, max_attempts, submitted_by, dedupe_key,
       created_at, started_at, completed_at, next_retry_at, last_error, parent_job_id, context,
       source_event_id, event_context_id, route_key, pipeline, step_id
FROM jobs WHERE status = 'running' ORDER BY started_at;

-- name: attempts_for_job
SELECT * FROM attempts WHERE job_id = :job_id ORDER BY attempt;

-- name: transitions_for_job
SELECT * FROM transitions WHERE job_id = :job_id ORDER BY id;

-- name: get_state
SELECT state FROM plugin_state WHERE instance = :instance;

-- name: all_states
SELECT instance, state, updated_at, updated_by_job FROM plugin_state ORDER BY instance;

-- name: put_state
INSERT INTO plugin_state (instance, state, updated_at, updated_by_job)
VALUES (:instance, :state, :now, :job_id)
ON CONFLICT (instance) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at,
                                    updated_by_job = excluded.updated_by_job;

-- name: insert_event
INSERT INTO plugin_events (job_id, instance, type, payload, dedupe_key, created_at, event_id)
VALUES (:job_id, :instance, :type, :payload, :dedupe_key, :now, :event_id);

-- name: events_for_job
SELECT type, payload, dedupe_key, created_at, event_id FROM plugin_events WHERE job_id = :job_id ORDER BY id;

-- name: insert_fact
INSERT INTO facts (instance, fact_type, job_id, data, created_at)
VALUES (:instance, :fact_type, :job_id, :data, :now);

-- name: schedule_states
SELECT * FROM schedule_state;

-- name: put_schedule_state
INSERT INTO schedule_state (instance, schedule_id, next_slot, next_fire, last_fired, last_job_id,
    status, reason, paused_by, paused_at, command, definition, updated_at)
VALUES (:instance, :schedule_id, :next_slot, :next_fire, :last_fired, :last_job_id,
    :status, :reason, :paused_by, :paused_at, :command, :definition, :updated_at)
ON CONFLICT (instance, schedule_id) DO UPDATE SET
    next_slot = excluded.next_slot, next_fire = excluded.next_fire,
    last_fired = excluded.last_fired, last_job_id = excluded.last_job_id,
    status = excluded.status, reason = excluded.reason, paused_by = excluded.paused_by,
    paused_at = excluded.paused_at, command = excluded.command, definition = excluded.definition,
    updated_at = excluded.updated_at;

-- name: status_counts
SELECT status, sum(n) FROM job_counts GROUP BY status;

-- name: next_retry_due
SELECT min(next_retry_at) FROM jobs WHERE status = 'queued' AND next_retry_at > :now;

-- name: prune_jobs
-- Up to :batch finished jobs of one status completed before the cutoff. A job is created before it
-- completes, so `created_at < :cutoff` lets the (status, created_at) index find only old rows
-- instead of scanning every job of the status.
DELETE FROM jobs WHERE rowid IN (
    SELECT rowid FROM jobs
    WHERE status = :status AND created_at < :cutoff AND completed_at < :cutoff
    LIMIT :batch
)
RETURNING job_id, event_context_id;

-- name: delete_attempts
DELETE FROM attempts WHERE job_id IN (SELECT value FROM json_each(:ids));

-- name: delete_transitions
DELETE FROM transitions WHERE job_id IN (SELECT value FROM json_each(:ids));

-- name: delete_events
DELETE FROM plugin_events WHERE job_id IN (SELECT value FROM json_each(:ids));

-- name: job_tree
-- A job and every descendant by parent_job_id, root first, then by depth, then created_at, then
-- insertion order (rowid; no INTEGER PRIMARY KEY, but a VACUUM copies rows in rowid order so the
-- relative order survives). The depth cap only stops a hand-made parent cycle from looping.
WITH RECURSIVE tree (job_id, depth) AS (
    SELECT job_id, 0 FROM jobs WHERE job_id = :job_id
    UNION ALL
    SELECT c.job_id, t.depth + 1 FROM tree AS t JOIN jobs AS c ON c.parent_job_id = t.job_id
    WHERE t.depth < 10000
)
SELECT jobs.job_id, plugin, command, payload, status, attempt, max_attempts, submitted_by, dedupe_key,
       created_at, started_at, completed_at, next_retry_at, last_error, parent_job_id, context,
       source_event_id, event_context_id, route_key, pipeline, step_id
FROM tree JOIN jobs ON jobs.job_id = tree.job_id
ORDER BY tree.depth, jobs.created_at, jobs.rowid;

-- name: children_of_job
SELECT job_id, plugin, command, payload, status, attempt, max_attempts, submitted_by, dedupe_key,
       created_at, started_at, completed_at, next_retry_at, last_error, parent_job_id, context,
       source_event_id, event_context_id, route_key, pipeline, step_id
FROM jobs WHERE parent_job_id = :job_id
ORDER BY created_at, rowid;

-- name: current_responses
-- The stored response of each listed job's current attempt (jobs.attempt), for tree results.
SELECT a.job_id, a.response FROM attempts AS a
JOIN jobs AS j ON j.job_id = a.job_id AND j.attempt = a.attempt
WHERE a.job_id IN (SELECT value FROM json_each(:ids));

-- name: get_context
SELECT id, parent_id, pipeline_name, step_id, instance_id, accumulated, created_at
FROM event_contexts WHERE id = :id;

-- name: context_lineage
-- A context row and its ancestors by parent_id, root first. The depth cap stops a hand-made cycle.
WITH RECURSIVE chain (id, depth) AS (
    SELECT id, 0 FROM event_contexts WHERE id = :id
    UNION ALL
    SELECT c.parent_id, chain.depth + 1 FROM chain JOIN event_contexts AS c ON c.id = chain.id
    WHERE c.parent_id IS NOT NULL AND chain.depth < 10000
)
SELECT e.id, e.parent_id, e.pipeline_name, e.step_id, e.instance_id, e.accumulated, e.created_at
FROM chain JOIN event_contexts AS e ON e.id = chain.id
ORDER BY chain.depth DESC;

-- name: emitted_with_children
-- Events a job emitted, each with the ids of the jobs it started (children of the job whose
-- source_event_id is the event's id), oldest event first. Uses plugin_events_job and jobs_event_source.
SELECT e.event_id, e.type, e.payload, e.created_at,
       (SELECT json_group_array(job_id) FROM (
            SELECT c.job_id FROM jobs AS c
            WHERE c.parent_job_id = e.job_id AND c.source_event_id = e.event_id
            ORDER BY c.created_at, c.rowid)) AS children
FROM plugin_events AS e WHERE e.job_id = :job_id
ORDER BY e.id;

-- Routing writes (store/routing.py), all inside the transaction that finishes the parent job.

-- name: insert_context
INSERT INTO event_contexts (id, parent_id, pipeline_name, step_id, instance_id, accumulated, created_at)
VALUES (:id, :parent_id, :pipeline, :step_id, :instance_id, :accumulated, :now);

-- name: child_exists
-- The uniqueness guard (ours O2): a child for this parent, event and route already exists.
SELECT job_id FROM jobs
WHERE parent_job_id = :parent_job_id AND source_event_id = :source_event_id
  AND plugin = :plugin AND command = :command AND route_key = :route_key
LIMIT 1;

-- name: job_lineage_step
-- One hop of the hook depth walk: a job's submitter and parent.
SELECT submitted_by, parent_job_id FROM jobs WHERE job_id = :job_id;

-- name: insert_routed_event
INSERT INTO plugin_events (job_id, instance, type, payload, dedupe_key, created_at, event_id)
VALUES (:job_id, :instance, :type, :payload, :dedupe_key, :now, :event_id);

-- name: delete_contexts
-- The context rows of pruned jobs, then instance roots no step row of their instance still uses.
DELETE FROM event_contexts WHERE id IN (SELECT value FROM json_each(:ids))
RETURNING instance_id;

-- name: delete_orphan_roots
DELETE FROM event_contexts AS root
WHERE root.step_id = '' AND root.instance_id IN (SELECT value FROM json_each(:instances))
  AND NOT EXISTS (SELECT 1 FROM event_contexts AS c WHERE c.instance_id = root.instance_id AND c.step_id <> '');

-- name: latest_pipeline_job
-- The most recently created step job of a pipeline (jobs_pipeline_created, newest end).
SELECT job_id FROM jobs WHERE pipeline = :pipeline ORDER BY created_at DESC, job_id DESC LIMIT 1;

-- name: job_instance
-- A job's parent and the pipeline instance its context belongs to (NULL outside pipelines).
SELECT j.parent_job_id, e.instance_id FROM jobs AS j
LEFT JOIN event_contexts AS e ON e.id = j.event_context_id
WHERE j.job_id = :job_id;

-- name: instance_jobs
-- The jobs of one pipeline instance: from its entry job down through children whose context
-- carries the same instance id (so pipelines it triggers are not counted), in tree order.
WITH RECURSIVE tree (job_id, depth) AS (
    SELECT :entry, 0
    UNION ALL
    SELECT c.job_id, t.depth + 1 FROM tree AS t
    JOIN jobs AS c ON c.parent_job_id = t.job_id
    JOIN event_contexts AS e ON e.id = c.event_context_id
    WHERE e.instance_id = :instance AND t.depth < 10000
)
SELECT jobs.job_id, plugin, command, pipeline, step_id, status, created_at, started_at, completed_at
FROM tree JOIN jobs ON jobs.job_id = tree.job_id
ORDER BY tree.depth, jobs.created_at, jobs.rowid;

-- ---- retries and bulk actions (issue 13; store/sqlite_actions.py) ---------------------------

-- name: set_retry_of
UPDATE jobs SET retry_of = :retry_of WHERE job_id = :job_id;

-- name: retry_of
SELECT retry_of FROM jobs WHERE job_id = :job_id;

-- name: retried_by
SELECT job_id FROM jobs WHERE retry_of = :job_id ORDER BY created_at, job_id;

-- name: insert_bulk_action
INSERT INTO bulk_actions (action, actor, filter, matched, acted, skipped, job_ids, created_at)
VALUES (:action, :actor, :filter, :matched, :acted, :skipped, :job_ids, :created_at)
RETURNING id;

-- name: list_bulk_actions
SELECT id, action, actor, filter, matched, acted, skipped, job_ids, created_at
FROM bulk_actions ORDER BY id DESC LIMIT :limit;
-- ---------------------------------------------------------------------------------------------
-- Webhooks (store/webhooks.py)

-- name: webhook_delivery_seen
-- A job of (plugin, command) with this delivery's dedupe key created since :since, in any status
-- (pipelines.md §7.6): the redelivery answers with it. INDEXED BY: without ANALYZE statistics the
-- planner prefers jobs_plugin_command_created for the created_at range, which scans every job of
-- the plugin inside the window (all of them, for a busy webhook) instead of the one or two per key.
SELECT job_id, status FROM jobs INDEXED BY jobs_dedupe
WHERE dedupe_key = :dedupe_key AND plugin = :plugin AND command = :command AND created_at >= :since
ORDER BY created_at, rowid
LIMIT 1;
-- ============================================================================================
-- Circuit breaker (pipelines.md §8; store/breaker.py)
-- ============================================================================================

-- name: breaker_get
SELECT plugin, command, state, failure_count, opened_at, last_failure_at, last_job_id, updated_at
FROM circuit_breakers WHERE plugin = :plugin AND command = :command;

-- name: breaker_all
SELECT plugin, command, state, failure_count, opened_at, last_failure_at, last_job_id, updated_at
FROM circuit_breakers ORDER BY plugin, command;

-- name: breaker_put
INSERT INTO circuit_breakers (plugin, command, state, failure_count, opened_at, last_failure_at, last_job_id, updated_at)
VALUES (:plugin, :command, :state, :failure_count, :opened_at, :last_failure_at, :last_job_id, :updated_at)
ON CONFLICT (plugin, command) DO UPDATE SET
    state = excluded.state, failure_count = excluded.failure_count, opened_at = excluded.opened_at,
    last_failure_at = excluded.last_failure_at, last_job_id = excluded.last_job_id, updated_at = excluded.updated_at;

-- name: breaker_insert_transition
INSERT INTO circuit_breaker_transitions (plugin, command, from_state, to_state, failure_count, reason, job_id, created_at)
VALUES (:plugin, :command, :from_state, :to_state, :failure_count, :reason, :job_id, :created_at);

-- name: breaker_transitions
-- Newest first (the CLI and API show the recent history).
SELECT id, plugin, command, from_state, to_state, failure_count, reason, job_id, created_at
FROM circuit_breaker_transitions WHERE plugin = :plugin AND command = :command
ORDER BY id DESC LIMIT :limit;

-- name: breaker_count_open
SELECT count(*) FROM circuit_breakers WHERE state = 'open';

-- name: breaker_prune_transitions
DELETE FROM circuit_breaker_transitions
WHERE id IN (SELECT id FROM circuit_breaker_transitions WHERE created_at < :cutoff ORDER BY id LIMIT :batch);
-- ---- schedules (issue 10 items 3+4: schedule extras, pause/resume/run now) ----

-- name: outstanding_scheduler_jobs
-- Queued and running jobs the scheduler submitted for one plugin+command (if_running: cancel, O8).
SELECT job_id, status FROM jobs
WHERE plugin = :plugin AND command = :command AND submitted_by = 'scheduler'
  AND status IN ('queued', 'running')
ORDER BY created_at, rowid;

-- ---- schedule health (issue 13; store/sqlite_reads.py) --------------------------------------

-- name: schedule_recent_runs
-- The newest finished runs of one schedule entry (its dedupe key): one index seek per terminal
-- status, merged, so the cost does not grow with the entry's history.
SELECT status, completed_at FROM (
    SELECT * FROM (SELECT status, completed_at, created_at FROM jobs
        WHERE dedupe_key = :key AND plugin = :plugin AND command = :command AND status = 'succeeded'
        ORDER BY created_at DESC LIMIT :limit)
    UNION ALL SELECT * FROM (SELECT status, completed_at, created_at FROM jobs
        WHERE dedupe_key = :key AND plugin = :plugin AND command = :command AND status = 'failed'
        ORDER BY created_at DESC LIMIT :limit)
    UNION ALL SELECT * FROM (SELECT status, completed_at, created_at FROM jobs
        WHERE dedupe_key = :key AND plugin = :plugin AND command = :command AND status = 'timed_out'
        ORDER BY created_at DESC LIMIT :limit)
    UNION ALL SELECT * FROM (SELECT status, completed_at, created_at FROM jobs
        WHERE dedupe_key = :key AND plugin = :plugin AND command = :command AND status = 'dead'
        ORDER BY created_at DESC LIMIT :limit)
) ORDER BY created_at DESC LIMIT :limit;

-- name: schedule_last_success
SELECT completed_at FROM jobs
WHERE dedupe_key = :key AND plugin = :plugin AND command = :command AND status = 'succeeded'
ORDER BY created_at DESC LIMIT 1;

-- ---------------------------------------------------------------------------------------------
-- hotpath (issue 11): the claim and finish transactions of the dispatcher, one round trip each.

-- name: insert_attempt_started
-- The attempt a claim opens, with the plugin's pid when it was spawned inside the claim.
INSERT INTO attempts (job_id, attempt, plugin, command, submitted_by, started_at, pid)
VALUES (:job_id, :attempt, :plugin, :command, :submitted_by, :started_at, :pid);

-- name: finish_job_terminal
-- job_to_terminal returning the finished row (no second read of the job).
UPDATE jobs SET status = :status, completed_at = :now, last_error = :last_error, next_retry_at = NULL
WHERE job_id = :job_id AND status = :from_status
RETURNING job_id, plugin, command, payload, status, attempt, max_attempts, submitted_by, dedupe_key,
          created_at, started_at, completed_at, next_retry_at, last_error, parent_job_id, context,
          source_event_id, event_context_id, route_key, pipeline, step_id;

-- name: finish_job_retry
-- job_to_retry returning the re-queued row.
UPDATE jobs SET status = 'queued', attempt = attempt + 1, next_retry_at = :next_retry_at,
                last_error = :last_error
WHERE job_id = :job_id AND status = 'running'
RETURNING job_id, plugin, command, payload, status, attempt, max_attempts, submitted_by, dedupe_key,
          created_at, started_at, completed_at, next_retry_at, last_error, parent_job_id, context,
          source_event_id, event_context_id, route_key, pipeline, step_id;
