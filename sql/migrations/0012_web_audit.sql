-- 0012: the web console's audit trail, and the statistics its overview estimates counts from.
-- Why: `credsync web` lets a logged-in operator retry every failed row matching a filter. Such an
-- action must leave a record of who did what, when and to how many rows, readable by anyone who
-- may read the console (credsync_inspector), written only by the console's write path (the
-- credsync_worker role of DATABASE_URL): one row per action, its rows advanced batch by batch in
-- the same transaction as each batch's retry, so a crash midway still says how far it got.
-- The overview shows rows per task and status without count(*) over the table (one of the
-- loudest complaints about job consoles: counting a table of millions of rows pins the database).
-- Rows that are not finished are few and counted through their partial indexes; finished history
-- is estimated from the planner's statistics. A multivariate MCV statistic on (task, status) keeps
-- the frequency of every combination (6 tasks x 6 statuses fit well inside the default statistics
-- target), refreshed by autovacuum's ANALYZE; times pg_class.reltuples it is the estimate.

CREATE TABLE credsync.web_audit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    -- The operator's login name, as configured in CREDSYNC_WEB_OPERATORS.
    operator    text NOT NULL,
    -- What was done: 'retry_failed' (every failed row matching filter).
    action      text NOT NULL CHECK (action IN ('retry_failed')),
    -- The filter as the operator confirmed it (task, error text, time bounds, as_of).
    filter      jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- How many rows the preview showed, and how many the action changed so far.
    previewed   bigint NOT NULL DEFAULT 0 CHECK (previewed >= 0),
    rows        bigint NOT NULL DEFAULT 0 CHECK (rows >= 0),
    finished_at timestamptz,
    -- The operator's address, as the console saw it.
    client      text
);
COMMENT ON TABLE credsync.web_audit IS 'Write actions taken in the web console (`credsync web`): who, when, what and how many rows.';

CREATE INDEX web_audit_at_idx ON credsync.web_audit (at DESC, id DESC);

CREATE STATISTICS credsync.outbox_task_status (mcv) ON task, status FROM credsync.outbox;
ANALYZE credsync.outbox;

-- pg_stats_ext shows a statistic to the table's owner only: this reads it with the owner's rights
-- and returns nothing but the estimates (rows per task and status, scaled to the table's current
-- size as the planner scales reltuples). Empty until the first ANALYZE after rows exist.
CREATE FUNCTION credsync.outbox_estimate(OUT task text, OUT status text, OUT rows bigint)
    RETURNS SETOF record
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, credsync
AS $$
    WITH rel AS (
        SELECT CASE WHEN c.reltuples < 0 OR c.relpages = 0 THEN 0::float8
                    ELSE c.reltuples / c.relpages
                         * (pg_relation_size(c.oid) / current_setting('block_size')::int) END AS n
        FROM pg_class c WHERE c.oid = 'credsync.outbox'::regclass
    )
    SELECT i.values[1], i.values[2], round(i.frequency * rel.n)::bigint
    FROM pg_statistic_ext s
    JOIN pg_statistic_ext_data d ON d.stxoid = s.oid
    CROSS JOIN rel
    CROSS JOIN LATERAL pg_mcv_list_items(d.stxdmcv) i
    WHERE s.stxname = 'outbox_task_status' AND s.stxnamespace = 'credsync'::regnamespace
      AND NOT d.stxdinherit
$$;
REVOKE ALL ON FUNCTION credsync.outbox_estimate() FROM PUBLIC;
COMMENT ON FUNCTION credsync.outbox_estimate() IS 'Estimated rows per task and status of credsync.outbox, from statistics (no scan): the web console''s overview.';

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'credsync_worker') THEN
        GRANT SELECT, INSERT, UPDATE ON credsync.web_audit TO credsync_worker;
        GRANT EXECUTE ON FUNCTION credsync.outbox_estimate() TO credsync_worker;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'credsync_inspector') THEN
        GRANT SELECT ON credsync.web_audit TO credsync_inspector;
        GRANT EXECUTE ON FUNCTION credsync.outbox_estimate() TO credsync_inspector;
    END IF;
END
$$;
