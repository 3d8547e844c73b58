-- 0112 (PostgreSQL only): dashboard sessions, shared by every node of a cluster so a sign-in on
-- one node is honoured by the others behind a load balancer, and Sign out on any node ends the
-- session everywhere (on SQLite — one node — they stay in the gateway's memory: ui/auth.py).
-- Neither secret is stored: `session_hash` is the SHA-256 of the cookie's session id (a copy of
-- this table does not open anyone's session), `token_digest` the SHA-256 of the API token, from
-- which each request looks the principal up again. Stamps are wall-clock UTC text like every
-- other stamp here; `last_seen` is written at most once a minute per session (ui/shared_sessions.py).

CREATE TABLE ui_sessions (
    session_hash BYTEA PRIMARY KEY,
    token_digest BYTEA NOT NULL,
    csrf         TEXT NOT NULL,
    created_at   TEXT COLLATE "C" NOT NULL,
    last_seen    TEXT COLLATE "C" NOT NULL
);

CREATE INDEX ui_sessions_last_seen ON ui_sessions (last_seen);
