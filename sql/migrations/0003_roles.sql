-- 0003: least-privilege roles.
-- Why: the host application only ever needs to INSERT into the outbox, and must not be able to
-- read other rows (payloads name learners) or change their state; operators' dashboards need to
-- read, never write. Grant these group roles to your login roles:
--   credsync_writer     the host: INSERT (task, payload, run_after) into credsync.outbox, nothing else
--                       (so: a plain INSERT without RETURNING)
--   credsync_worker     the worker, scanner and scheduler processes (plus SELECT on the host tables,
--                       which live in the host's schema: grant those yourself)
--   credsync_inspector  read-only: every credsync table and view
-- Roles are cluster-wide: they are created when missing and the migrating role may create roles;
-- otherwise this migration only notes it, and the grants apply once a DBA creates them.

DO $$
DECLARE
    role_name text;
    can_create boolean;
BEGIN
    SELECT rolsuper OR rolcreaterole INTO can_create FROM pg_roles WHERE rolname = current_user;
    FOREACH role_name IN ARRAY ARRAY['credsync_writer', 'credsync_worker', 'credsync_inspector'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            IF can_create THEN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
            ELSE
                RAISE NOTICE 'credsync: role % is missing and % may not create roles; ask a DBA to run CREATE ROLE % NOLOGIN, then run credsync migrate again',
                    role_name, current_user, role_name;
            END IF;
        END IF;
    END LOOP;
END
$$;

-- The insert trigger reads credsync.task, which writers may not: it runs with its owner's rights.
ALTER FUNCTION credsync.outbox_before_insert() SECURITY DEFINER SET search_path = pg_catalog, credsync;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'credsync_writer') THEN
        GRANT USAGE ON SCHEMA credsync TO credsync_writer;
        GRANT INSERT (task, payload, run_after) ON credsync.outbox TO credsync_writer;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'credsync_worker') THEN
        GRANT USAGE ON SCHEMA credsync TO credsync_worker;
        GRANT SELECT, INSERT, UPDATE, DELETE ON credsync.outbox, credsync.delivery, credsync.cooldown
            TO credsync_worker;
        GRANT SELECT ON ALL TABLES IN SCHEMA credsync TO credsync_worker;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'credsync_inspector') THEN
        GRANT USAGE ON SCHEMA credsync TO credsync_inspector;
        GRANT SELECT ON ALL TABLES IN SCHEMA credsync TO credsync_inspector;
    END IF;
END
$$;
