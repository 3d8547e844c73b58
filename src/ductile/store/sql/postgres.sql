-- Named statements for the PostgreSQL store (store/postgres.py), the counterpart of sqlite.sql:
-- the same names with the same parameters and result columns, so code shared by both backends
-- (store/routing.py, store/sqlite_reads.py) only swaps the dict. Parameters are psycopg's
-- %(name)s; id lists arrive as one JSON text (as on SQLite) and are expanded with
-- json_array_elements_text. `seq` stands in for SQLite's rowid. A literal percent sign must be
-- written %% here (psycopg formats every statement that has parameters). PostgreSQL-only
-- statements (claims across nodes, the nodes table) are at the end.

-- name: insert_job
INSERT INTO jobs (job_id, plugin, command, payload, status, attempt, max_attempts, submitted_by,
                  dedupe_key, created_at, parent_job_id, context, source_event_id, event_context_id,
                  route_key, pipeline, step_id)
VALUES (%(job_id)s, %(plugin)s, %(command)s, %(payload)s, 'queued', 1, %(max_attempts)s, %(submitted_by)s,
        %(dedupe_key)s, %(created_at)s, %(parent_job_id)s, %(context)s, %(source_event_id)s, %(event_context_id)s,
        %(route_key)s, %(pipeline)s, %(step_id)s);

-- name: insert_transition
INSERT INTO transitions (job_id, from_status, to_status, reason, at)
VALUES (%(job_id)s, %(from_status)s, %(to_status)s, %(reason)s, %(at)s);

-- name: find_duplicate_active
-- A queued or running job with the same (dedupe_key, plugin, command).
SELECT job_id, status FROM jobs
WHERE dedupe_key = %(dedupe_key)s AND plugin = %(plugin)s AND command = %(command)s
  AND status IN ('queued', 'running')
LIMIT 1;

-- name: find_duplicate_succeeded
-- A job with the same key that succeeded inside the dedupe window.
SELECT job_id, status FROM jobs
WHERE dedupe_key = %(dedupe_key)s AND plugin = %(plugin)s AND command = %(command)s
  AND status = 'succeeded' AND completed_at >= %(since)s
ORDER BY completed_at DESC
LIMIT 1;

-- name: count_active_for_key
SELECT count(*) FROM jobs
WHERE dedupe_key = %(dedupe_key)s AND plugin = %(plugin)s AND command = %(command)s
  AND status IN ('queued', 'running');

-- name: claim_candidate
-- Oldest eligible queued job (FIFO by created_at, then id) that no other node is claiming right
-- now (SKIP LOCKED: the row lock is held until this claim commits), skipping instances at their
-- limit, jobs already passed over in this claim, and keys that already have a running job.
SELECT q.job_id, q.plugin FROM jobs AS q
WHERE q.status = 'queued'
  AND (q.next_retry_at IS NULL OR q.next_retry_at <= %(now)s)
  AND q.plugin <> ALL(%(excluded)s::text[])
  AND q.job_id <> ALL(%(passed)s::text[])
  AND (q.dedupe_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM jobs AS r
        WHERE r.dedupe_key = q.dedupe_key AND r.plugin = q.plugin
          AND r.command = q.command AND r.status = 'running'))
ORDER BY q.created_at, q.job_id
LIMIT 1
FOR UPDATE OF q SKIP LOCKED;

-- name: plugin_claim_lock
-- Serialises claims of one instance across every node for the rest of the transaction, so the
-- running count read next is exact (parallelism and concurrency_safe: false are cluster-wide).
SELECT pg_advisory_xact_lock(hashtext(%(key)s));

-- name: running_of_plugin
SELECT count(*) FROM jobs WHERE status = 'running' AND plugin = %(plugin)s;

-- name: claim_job
-- Start the candidate, re-checking (after the instance lock) that no job with its key started.
UPDATE jobs AS q SET status = 'running', started_at = %(now)s, next_retry_at = NULL
WHERE q.job_id = %(job_id)s AND q.status = 'queued'
  AND (q.dedupe_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM jobs AS r
        WHERE r.dedupe_key = q.dedupe_key AND r.plugin = q.plugin
          AND r.command = q.command AND r.status = 'running'))
RETURNING job_id, plugin, command, payload, status, attempt, max_attempts, submitted_by, dedupe_key,
          created_at, started_at, completed_at, next_retry_at, last_error, parent_job_id, context,
          source_event_id, event_context_id, route_key, pipeline, step_id;

-- name: insert_attempt
INSERT INTO attempts (job_id, attempt, plugin, command, submitted_by, started_at, node_id)
VALUES (%(job_id)s, %(attempt)s, %(plugin)s, %(command)s, %(submitted_by)s, %(started_at)s, %(node_id)s);

-- name: finish_attempt
UPDATE attempts
SET completed_at = %(completed_at)s, outcome = %(outcome)s, status = %(status)s, response = %(response)s,
    error = %(error)s, logs = %(logs)s, stderr = %(stderr)s, exit_code = %(exit_code)s, duration_ms = %(duration_ms)s
WHERE job_id = %(job_id)s AND attempt = %(attempt)s;

-- name: job_to_terminal
-- RETURNING the `get_job` columns: the finish hands back the ended job without reading it again
-- (one round trip fewer per job; nothing later in the finish's transaction changes the row).
UPDATE jobs SET status = %(status)s, completed_at = %(now)s, last_error = %(last_error)s, next_retry_at = NULL
WHERE job_id = %(job_id)s AND status = %(from_status)s
RETURNING job_id, plugin, command, payload, status, attempt, max_attempts, submitted_by, dedupe_key,
          created_at, started_at, completed_at, next_retry_at, last_error, parent_job_id, context,
          source_event_id, event_context_id, route_key, pipeline, step_id;

-- name: job_to_retry
UPDATE jobs SET status = 'queued', attempt = attempt + 1, next_retry_at = %(next_retry_at)s,
                last_error = %(last_error)s
WHERE job_id = %(job_id)s AND status = 'running'
RETURNING job_id, plugin, command, payload, status, attempt, max_attempts, submitted_by, dedupe_key,
          created_at, started_at, completed_at, next_retry_at, last_error, parent_job_id, context,
          source_event_id, event_context_id, route_key, pipeline, step_id;

-- name: set_attempt_pid
UPDATE attempts SET pid = %(pid)s WHERE job_id = %(job_id)s AND attempt = %(attempt)s;

-- name: running_attempt_pids
-- Plugin processes of attempts still marked running (read by crash recovery).
SELECT j.job_id, a.pid FROM jobs AS j
JOIN attempts AS a ON a.job_id = j.job_id AND a.attempt = j.attempt
WHERE j.status = 'running' AND a.pid IS NOT NULL;

-- name: get_job
SELECT job_id, plugin, command, payload, status, attempt, max_attempts, submitted_by, dedupe_key,
       created_at, started_at, completed_at, next_retry_at, last_error, parent_job_id, context,
       source_event_id, event_context_id, route_key, pipeline, step_id
FROM jobs WHERE job_id = %(job_id)s;

-- name: running_jobs
SELECT job_id, plugin, command, payload, status, attempt, max_attempts, submitted_by, dedupe_key,
       created_at, started_at, completed_at, next_retry_at, last_error, parent_job_id, context,
       source_event_id, event_context_id, route_key, pipeline, step_id
FROM jobs WHERE status = 'running' ORDER BY started_at;

-- name: attempts_for_job
SELECT * FROM attempts WHERE job_id = %(job_id)s ORDER BY attempt;

-- name: transitions_for_job
SELECT * FROM transitions WHERE job_id = %(job_id)s ORDER BY id;

-- name: get_state
SELECT state FROM plugin_state WHERE instance = %(instance)s;

-- name: all_states
SELECT instance, state, updated_at, updated_by_job FROM plugin_state ORDER BY instance;

-- name: put_state
INSERT INTO plugin_state (instance, state, updated_at, updated_by_job)
VALUES (%(instance)s, %(state)s, %(now)s, %(job_id)s)
ON CONFLICT (instance) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at,
                                    updated_by_job = excluded.updated_by_job;

-- name: insert_event
INSERT INTO plugin_events (job_id, instance, type, payload, dedupe_key, created_at, event_id)
VALUES (%(job_id)s, %(instance)s, %(type)s, %(payload)s, %(dedupe_key)s, %(now)s, %(event_id)s);

-- name: events_for_job
SELECT type, payload, dedupe_key, created_at, event_id FROM plugin_events WHERE job_id = %(job_id)s ORDER BY id;

-- name: insert_fact
INSERT INTO facts (instance, fact_type, job_id, data, created_at)
VALUES (%(instance)s, %(fact_type)s, %(job_id)s, %(data)s, %(now)s);

-- name: schedule_states
SELECT * FROM schedule_state;

-- name: put_schedule_state
INSERT INTO schedule_state (instance, schedule_id, next_slot, next_fire, last_fired, last_job_id,
    status, reason, paused_by, paused_at, command, definition, updated_at)
VALUES (%(instance)s, %(schedule_id)s, %(next_slot)s, %(next_fire)s, %(last_fired)s, %(last_job_id)s,
    %(status)s, %(reason)s, %(paused_by)s, %(paused_at)s, %(command)s, %(definition)s, %(updated_at)s)
ON CONFLICT (instance, schedule_id) DO UPDATE SET
    next_slot = excluded.next_slot, next_fire = excluded.next_fire,
    last_fired = excluded.last_fired, last_job_id = excluded.last_job_id,
    status = excluded.status, reason = excluded.reason, paused_by = excluded.paused_by,
    paused_at = excluded.paused_at, command = excluded.command, definition = excluded.definition,
    updated_at = excluded.updated_at
-- Slots only move forward (a fence between leaders): a node that lost leadership without
-- noticing yet cannot move a schedule back to a slot the new leader already fired. A changed
-- status, command or one-shot definition (pause, resume, a new plan) is written whatever the slot.
-- A pause made on any node is lifted only by `schedule_resume` (sql/postgres_schedules.sql): a
-- leader that has not seen the pause yet cannot write the entry back to active.
WHERE (schedule_state.next_slot IS NULL OR excluded.next_slot IS NULL
   OR excluded.next_slot >= schedule_state.next_slot
   OR excluded.status IS DISTINCT FROM schedule_state.status
   OR excluded.command IS DISTINCT FROM schedule_state.command
   OR excluded.definition IS DISTINCT FROM schedule_state.definition)
  AND NOT (schedule_state.status = 'paused_manual' AND excluded.status = 'active'
           AND excluded.command IS NOT DISTINCT FROM schedule_state.command)
RETURNING instance;

-- name: advance_schedule_state
-- A fire: the slot must move strictly forward, or another leader fired this slot already; and
-- an entry paused on any node does not fire (the pause committed first: the leader learns of it here).
INSERT INTO schedule_state (instance, schedule_id, next_slot, next_fire, last_fired, last_job_id,
    status, reason, paused_by, paused_at, command, definition, updated_at)
VALUES (%(instance)s, %(schedule_id)s, %(next_slot)s, %(next_fire)s, %(last_fired)s, %(last_job_id)s,
    %(status)s, %(reason)s, %(paused_by)s, %(paused_at)s, %(command)s, %(definition)s, %(updated_at)s)
ON CONFLICT (instance, schedule_id) DO UPDATE SET
    next_slot = excluded.next_slot, next_fire = excluded.next_fire,
    last_fired = excluded.last_fired, last_job_id = excluded.last_job_id,
    status = excluded.status, reason = excluded.reason, paused_by = excluded.paused_by,
    paused_at = excluded.paused_at, command = excluded.command, definition = excluded.definition,
    updated_at = excluded.updated_at
WHERE (schedule_state.next_slot IS NULL OR excluded.next_slot IS NULL
   OR excluded.next_slot > schedule_state.next_slot)
  AND schedule_state.status IS DISTINCT FROM 'paused_manual'
RETURNING instance;

-- name: schedule_last_job
SELECT last_job_id FROM schedule_state WHERE instance = %(instance)s AND schedule_id = %(schedule_id)s;

-- name: status_counts
SELECT status, sum(n)::bigint FROM job_counts GROUP BY status;

-- name: next_retry_due
SELECT min(next_retry_at) FROM jobs WHERE status = 'queued' AND next_retry_at > %(now)s;

-- name: prune_jobs
-- Up to :batch finished jobs of one status completed before the cutoff. A job is created before it
-- completes, so `created_at < cutoff` lets the (status, created_at) index find only old rows
-- instead of scanning every job of the status.
-- SKIP LOCKED: every node runs the pruner; two never wait on (or deadlock over) the same rows.
DELETE FROM jobs WHERE job_id IN (
    SELECT job_id FROM jobs
    WHERE status = %(status)s AND created_at < %(cutoff)s AND completed_at < %(cutoff)s
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
)
RETURNING job_id, event_context_id;

-- name: delete_attempts
DELETE FROM attempts WHERE job_id IN (SELECT json_array_elements_text(%(ids)s::json));

-- name: delete_transitions
DELETE FROM transitions WHERE job_id IN (SELECT json_array_elements_text(%(ids)s::json));

-- name: delete_events
DELETE FROM plugin_events WHERE job_id IN (SELECT json_array_elements_text(%(ids)s::json));

-- name: job_tree
-- A job and every descendant by parent_job_id, root first, then by depth, then created_at, then
-- insertion order (seq). The depth cap only stops a hand-made parent cycle from looping.
WITH RECURSIVE tree (job_id, depth) AS (
    SELECT job_id, 0 FROM jobs WHERE job_id = %(job_id)s
    UNION ALL
    SELECT c.job_id, t.depth + 1 FROM tree AS t JOIN jobs AS c ON c.parent_job_id = t.job_id
    WHERE t.depth < 10000
)
SELECT jobs.job_id, plugin, command, payload, status, attempt, max_attempts, submitted_by, dedupe_key,
       created_at, started_at, completed_at, next_retry_at, last_error, parent_job_id, context,
       source_event_id, event_context_id, route_key, pipeline, step_id
FROM tree JOIN jobs ON jobs.job_id = tree.job_id
ORDER BY tree.depth, jobs.created_at, jobs.seq;

-- name: children_of_job
SELECT job_id, plugin, command, payload, status, attempt, max_attempts, submitted_by, dedupe_key,
       created_at, started_at, completed_at, next_retry_at, last_error, parent_job_id, context,
       source_event_id, event_context_id, route_key, pipeline, step_id
FROM jobs WHERE parent_job_id = %(job_id)s
ORDER BY created_at, seq;

-- name: current_responses
-- The stored response of each listed job's current attempt (jobs.attempt), for tree results.
SELECT a.job_id, a.response FROM attempts AS a
JOIN jobs AS j ON j.job_id = a.job_id AND j.attempt = a.attempt
WHERE a.job_id IN (SELECT json_array_elements_text(%(ids)s::json));

-- name: get_context
SELECT id, parent_id, pipeline_name, step_id, instance_id, accumulated, created_at
FROM event_contexts WHERE id = %(id)s;

-- name: context_lineage
-- A context row and its ancestors by parent_id, root first. The depth cap stops a hand-made cycle.
WITH RECURSIVE chain (id, depth) AS (
    SELECT id, 0 FROM event_contexts WHERE id = %(id)s
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
       (SELECT coalesce(json_agg(c.job_id ORDER BY c.created_at, c.seq), '[]'::json)::text FROM jobs AS c
        WHERE c.parent_job_id = e.job_id AND c.source_event_id = e.event_id) AS children
FROM plugin_events AS e WHERE e.job_id = %(job_id)s
ORDER BY e.id;

-- Routing writes (store/routing.py), all inside the transaction that finishes the parent job.

-- name: insert_context
INSERT INTO event_contexts (id, parent_id, pipeline_name, step_id, instance_id, accumulated, created_at)
VALUES (%(id)s, %(parent_id)s, %(pipeline)s, %(step_id)s, %(instance_id)s, %(accumulated)s, %(now)s);

-- name: child_exists
-- The uniqueness guard (ours O2): a child for this parent, event and route already exists.
SELECT job_id FROM jobs
WHERE parent_job_id = %(parent_job_id)s AND source_event_id = %(source_event_id)s
  AND plugin = %(plugin)s AND command = %(command)s AND route_key = %(route_key)s
LIMIT 1;

-- name: job_lineage_step
-- One hop of the hook depth walk: a job's submitter and parent.
SELECT submitted_by, parent_job_id FROM jobs WHERE job_id = %(job_id)s;

-- name: insert_routed_event
INSERT INTO plugin_events (job_id, instance, type, payload, dedupe_key, created_at, event_id)
VALUES (%(job_id)s, %(instance)s, %(type)s, %(payload)s, %(dedupe_key)s, %(now)s, %(event_id)s);

-- name: delete_contexts
-- The context rows of pruned jobs, then instance roots no step row of their instance still uses.
DELETE FROM event_contexts WHERE id IN (SELECT json_array_elements_text(%(ids)s::json))
RETURNING instance_id;

-- name: delete_orphan_roots
DELETE FROM event_contexts AS root
WHERE root.step_id = '' AND root.instance_id IN (SELECT json_array_elements_text(%(instances)s::json))
  AND NOT EXISTS (SELECT 1 FROM event_contexts AS c WHERE c.instance_id = root.instance_id AND c.step_id <> '');

-- name: latest_pipeline_job
-- The most recently created step job of a pipeline (jobs_pipeline_created, newest end).
SELECT job_id FROM jobs WHERE pipeline = %(pipeline)s ORDER BY created_at DESC, job_id DESC LIMIT 1;

-- name: job_instance
-- A job's parent and the pipeline instance its context belongs to (NULL outside pipelines).
SELECT j.parent_job_id, e.instance_id FROM jobs AS j
LEFT JOIN event_contexts AS e ON e.id = j.event_context_id
WHERE j.job_id = %(job_id)s;

-- name: instance_jobs
-- The jobs of one pipeline instance: from its entry job down through children whose context
-- carries the same instance id (so pipelines it triggers are not counted), in tree order.
WITH RECURSIVE tree (job_id, depth) AS (
    SELECT %(entry)s::text COLLATE "C", 0
    UNION ALL
    SELECT c.job_id, t.depth + 1 FROM tree AS t
    JOIN jobs AS c ON c.parent_job_id = t.job_id
    JOIN event_contexts AS e ON e.id = c.event_context_id
    WHERE e.instance_id = %(instance)s AND t.depth < 10000
)
SELECT jobs.job_id, plugin, command, pipeline, step_id, status, created_at, started_at, completed_at
FROM tree JOIN jobs ON jobs.job_id = tree.job_id
ORDER BY tree.depth, jobs.created_at, jobs.seq;

-- Nodes (multi-node, store/pg_cluster.py).

-- name: node_register
INSERT INTO nodes (node_id, host, pid, version, started_at, heartbeat_at)
VALUES (%(node_id)s, %(host)s, %(pid)s, %(version)s, %(now)s, %(now)s)
ON CONFLICT (node_id) DO UPDATE SET host = excluded.host, pid = excluded.pid, version = excluded.version,
    started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at;

-- name: node_heartbeat
UPDATE nodes SET heartbeat_at = %(now)s WHERE node_id = %(node_id)s;

-- name: node_leave
DELETE FROM nodes WHERE node_id = %(node_id)s;

-- name: nodes
SELECT node_id, host, pid, version, started_at, heartbeat_at FROM nodes ORDER BY started_at, node_id;

-- name: reap_nodes
-- Nodes whose heartbeat lapsed: deleted here, so exactly one survivor (the one whose DELETE
-- removed the row) recovers each one's running jobs.
DELETE FROM nodes WHERE heartbeat_at < %(cutoff)s AND node_id <> %(node_id)s
RETURNING node_id, host, pid;

-- name: orphaned_running_jobs
-- Running jobs whose current attempt belongs to no live node (a reaped node, or a node that
-- never registered), locked so two survivors never recover the same job; SKIP LOCKED leaves a
-- job another survivor is recovering to that survivor.
SELECT j.job_id, j.plugin, j.command, j.payload, j.status, j.attempt, j.max_attempts, j.submitted_by,
       j.dedupe_key, j.created_at, j.started_at, j.completed_at, j.next_retry_at, j.last_error,
       j.parent_job_id, j.context, j.source_event_id, j.event_context_id, j.route_key, j.pipeline,
       j.step_id, a.node_id, a.pid
FROM jobs AS j
JOIN attempts AS a ON a.job_id = j.job_id AND a.attempt = j.attempt
WHERE j.status = 'running'
  AND (a.node_id IS NULL OR NOT EXISTS (SELECT 1 FROM nodes AS n WHERE n.node_id = a.node_id))
ORDER BY j.started_at;

-- name: running_by_node
SELECT a.node_id, count(*) FROM jobs AS j
JOIN attempts AS a ON a.job_id = j.job_id AND a.attempt = j.attempt
WHERE j.status = 'running' GROUP BY a.node_id;

-- == Ported from the SQLite store (issues 10, 11, 13): same names, same result columns ==

-- name: insert_attempt_started
-- claim(start=...): the attempt row with the pid the start callback returned.
INSERT INTO attempts (job_id, attempt, plugin, command, submitted_by, started_at, node_id, pid)
VALUES (%(job_id)s, %(attempt)s, %(plugin)s, %(command)s, %(submitted_by)s, %(started_at)s, %(node_id)s, %(pid)s);

-- name: outstanding_scheduler_jobs
SELECT job_id, status FROM jobs
WHERE plugin = %(plugin)s AND command = %(command)s AND submitted_by = 'scheduler'
  AND status IN ('queued', 'running')
ORDER BY created_at, seq;

-- name: webhook_delivery_seen
SELECT job_id, status FROM jobs
WHERE dedupe_key = %(dedupe_key)s AND plugin = %(plugin)s AND command = %(command)s AND created_at >= %(since)s
ORDER BY created_at, seq
LIMIT 1;

-- name: set_retry_of
UPDATE jobs SET retry_of = %(retry_of)s WHERE job_id = %(job_id)s;

-- name: retry_of
SELECT retry_of FROM jobs WHERE job_id = %(job_id)s;

-- name: retried_by
SELECT job_id FROM jobs WHERE retry_of = %(job_id)s ORDER BY created_at, job_id;

-- name: insert_bulk_action
INSERT INTO bulk_actions (action, actor, filter, matched, acted, skipped, job_ids, created_at)
VALUES (%(action)s, %(actor)s, %(filter)s, %(matched)s, %(acted)s, %(skipped)s, %(job_ids)s, %(created_at)s)
RETURNING id;

-- name: list_bulk_actions
SELECT id, action, actor, filter, matched, acted, skipped, job_ids, created_at
FROM bulk_actions ORDER BY id DESC LIMIT %(limit)s;

-- name: schedule_recent_runs
SELECT status, completed_at FROM (
    (SELECT status, completed_at, created_at FROM jobs
        WHERE dedupe_key = %(key)s AND plugin = %(plugin)s AND command = %(command)s AND status = 'succeeded'
        ORDER BY created_at DESC LIMIT %(limit)s)
    UNION ALL (SELECT status, completed_at, created_at FROM jobs
        WHERE dedupe_key = %(key)s AND plugin = %(plugin)s AND command = %(command)s AND status = 'failed'
        ORDER BY created_at DESC LIMIT %(limit)s)
    UNION ALL (SELECT status, completed_at, created_at FROM jobs
        WHERE dedupe_key = %(key)s AND plugin = %(plugin)s AND command = %(command)s AND status = 'timed_out'
        ORDER BY created_at DESC LIMIT %(limit)s)
    UNION ALL (SELECT status, completed_at, created_at FROM jobs
        WHERE dedupe_key = %(key)s AND plugin = %(plugin)s AND command = %(command)s AND status = 'dead'
        ORDER BY created_at DESC LIMIT %(limit)s)
) AS runs ORDER BY created_at DESC LIMIT %(limit)s;

-- name: schedule_last_success
SELECT completed_at FROM jobs
WHERE dedupe_key = %(key)s AND plugin = %(plugin)s AND command = %(command)s AND status = 'succeeded'
ORDER BY created_at DESC LIMIT 1;

-- name: breaker_lock
-- Breaker read-modify-writes of one (plugin, command) take turns across nodes, also before its
-- row exists (two first failures at once must count twice). Keyed by schema like every lock.
SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':breaker:' || %(plugin)s || ':' || %(command)s));

-- name: breaker_get
SELECT plugin, command, state, failure_count, opened_at, last_failure_at, last_job_id, updated_at
FROM circuit_breakers WHERE plugin = %(plugin)s AND command = %(command)s;

-- name: breaker_all
SELECT plugin, command, state, failure_count, opened_at, last_failure_at, last_job_id, updated_at
FROM circuit_breakers ORDER BY plugin, command;

-- name: breaker_put
INSERT INTO circuit_breakers (plugin, command, state, failure_count, opened_at, last_failure_at, last_job_id, updated_at)
VALUES (%(plugin)s, %(command)s, %(state)s, %(failure_count)s, %(opened_at)s, %(last_failure_at)s, %(last_job_id)s,
    %(updated_at)s)
ON CONFLICT (plugin, command) DO UPDATE SET
    state = excluded.state, failure_count = excluded.failure_count, opened_at = excluded.opened_at,
    last_failure_at = excluded.last_failure_at, last_job_id = excluded.last_job_id, updated_at = excluded.updated_at;

-- name: breaker_insert_transition
INSERT INTO circuit_breaker_transitions (plugin, command, from_state, to_state, failure_count, reason, job_id, created_at)
VALUES (%(plugin)s, %(command)s, %(from_state)s, %(to_state)s, %(failure_count)s, %(reason)s, %(job_id)s, %(created_at)s);

-- name: breaker_transitions
SELECT id, plugin, command, from_state, to_state, failure_count, reason, job_id, created_at
FROM circuit_breaker_transitions WHERE plugin = %(plugin)s AND command = %(command)s
ORDER BY id DESC LIMIT %(limit)s;

-- name: breaker_count_open
SELECT count(*) FROM circuit_breakers WHERE state = 'open';

-- name: breaker_prune_transitions
DELETE FROM circuit_breaker_transitions
WHERE id IN (SELECT id FROM circuit_breaker_transitions WHERE created_at < %(cutoff)s ORDER BY id LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED);
