-- 0113 (PostgreSQL only): the dashboard's failed sign-ins per client address, shared by every node
-- of a cluster, so the limit (5 a minute, ui/throttle.py) holds however a load balancer spreads a
-- guesser's attempts (on SQLite — one node — they stay in the gateway's memory). One row per
-- failure; a success deletes the address's rows; older than the window they are deleted at the
-- address's next failure and by the hourly pruner. Stamps are wall-clock UTC text.

CREATE TABLE ui_login_failures (
    client TEXT NOT NULL,
    at     TEXT COLLATE "C" NOT NULL
);

CREATE INDEX ui_login_failures_client_at ON ui_login_failures (client, at);
CREATE INDEX ui_login_failures_at ON ui_login_failures (at);
