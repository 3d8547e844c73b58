-- Dashboard sessions on PostgreSQL (migration 0112; store/pg_ui_sessions.py). Keys are SHA-256
-- digests of session ids; stamps are RFC 3339 UTC text, which sorts as time.

-- name: ui_session_insert
INSERT INTO ui_sessions (session_hash, token_digest, csrf, created_at, last_seen)
VALUES (%(key)s, %(digest)s, %(csrf)s, %(now)s, %(now)s)

-- name: ui_session_get
SELECT token_digest, csrf, created_at, last_seen FROM ui_sessions WHERE session_hash = %(key)s

-- name: ui_session_touch
UPDATE ui_sessions SET last_seen = %(now)s WHERE session_hash = %(key)s AND last_seen < %(now)s

-- name: ui_session_drop
DELETE FROM ui_sessions WHERE session_hash = %(key)s

-- The row only while it is still idle past the cutoff: another node may have just touched it.
-- name: ui_session_drop_idle
DELETE FROM ui_sessions WHERE session_hash = %(key)s AND last_seen < %(cutoff)s

-- Rows locked by another node's trim or touch are skipped, never waited on (no deadlock between
-- nodes trimming at once; a skipped row goes next time).
-- name: ui_sessions_expire
DELETE FROM ui_sessions WHERE session_hash IN (
    SELECT session_hash FROM ui_sessions WHERE last_seen < %(cutoff)s
    ORDER BY last_seen LIMIT %(batch)s FOR UPDATE SKIP LOCKED
)

-- name: ui_sessions_cap
DELETE FROM ui_sessions WHERE session_hash IN (
    SELECT session_hash FROM ui_sessions ORDER BY last_seen DESC, session_hash
    OFFSET %(keep)s FOR UPDATE SKIP LOCKED
)

-- Failed dashboard sign-ins per client address (migration 0113; ui/shared_throttle.py).
-- name: ui_login_recent
SELECT at FROM ui_login_failures WHERE client = %(client)s AND at > %(since)s ORDER BY at DESC LIMIT %(limit)s

-- name: ui_login_failed
INSERT INTO ui_login_failures (client, at) VALUES (%(client)s, %(now)s)

-- name: ui_login_forget_before
DELETE FROM ui_login_failures WHERE client = %(client)s AND at <= %(cutoff)s

-- name: ui_login_forget
DELETE FROM ui_login_failures WHERE client = %(client)s

-- name: ui_login_expire
DELETE FROM ui_login_failures WHERE ctid IN (
    SELECT ctid FROM ui_login_failures WHERE at <= %(cutoff)s LIMIT %(batch)s FOR UPDATE SKIP LOCKED
)
