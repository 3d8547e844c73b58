-- Named queries of the cluster-wide event stream (store/pg_events.py; table in migration 0111).

-- name: events_append
-- One statement, so one round trip: take a block of ids from the cursor row (locked until this
-- commits, which orders commits by id), insert the batch in publish order, wake the other nodes.
WITH taken AS (
    UPDATE stream_event_cursor SET last_id = last_id + %(n)s RETURNING last_id
), added AS (
    INSERT INTO stream_events (id, type, data, at, node_id)
    SELECT taken.last_id - %(n)s + e.ord, e.type, e.data, e.at, %(node_id)s
    FROM taken, unnest(%(types)s::text[], %(datas)s::text[], %(ats)s::float8[]) WITH ORDINALITY AS e(type, data, at, ord)
    RETURNING id
)
SELECT max(id), pg_notify('ductile_events', %(schema)s) FROM added;

-- name: events_after
SELECT id, type, data, at, node_id FROM stream_events
WHERE id > %(after)s AND id <= %(upto)s
ORDER BY id
LIMIT %(limit)s;

-- name: events_bounds
SELECT (SELECT min(id) FROM stream_events), last_id FROM stream_event_cursor;

-- name: events_trim
DELETE FROM stream_events WHERE id <= (SELECT last_id FROM stream_event_cursor) - %(keep)s;
