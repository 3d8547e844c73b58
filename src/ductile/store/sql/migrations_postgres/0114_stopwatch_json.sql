-- 0114 (PostgreSQL only): a stored plugin response read as jsonb, or NULL when the text is not
-- JSON jsonb accepts, so the stopwatch's reads of `ductile_stopwatch_subs` (store/stopwatch.py)
-- never fail a whole statement on one odd row (SQLite checks json_valid instead). PostgreSQL 15
-- has no pg_input_is_valid. A function only: no table, nothing on the job write path.

CREATE FUNCTION ductile_jsonb_or_null(doc text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
    RETURN doc::jsonb;
EXCEPTION WHEN data_exception THEN
    RETURN NULL;
END
$$;
