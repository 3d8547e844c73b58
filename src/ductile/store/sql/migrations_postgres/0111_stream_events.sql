-- 0111 (PostgreSQL only): the cluster-wide event stream behind GET /events. Every node appends the
-- events it publishes here and relays every node's rows into its own SSE hub, so the stream is the
-- same on every node and `id` is the SSE id everywhere. Ids come from the one-row cursor, not a
-- sequence: the row lock is held until commit, so ids are gap-free and commit in id order, and a
-- reader that has seen id n has seen every id below it (a sequence hands out ids that commit out
-- of order, and a reader following `id > n` would skip the late one for good).

CREATE TABLE stream_events (
    id         BIGINT PRIMARY KEY,
    type       TEXT NOT NULL,
    data       TEXT NOT NULL,
    at         DOUBLE PRECISION NOT NULL,
    node_id    TEXT COLLATE "C",
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE stream_event_cursor (
    one     BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    last_id BIGINT NOT NULL
);

INSERT INTO stream_event_cursor (one, last_id) VALUES (TRUE, 0);
