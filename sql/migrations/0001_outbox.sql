-- 0001: the outbox itself.
-- Why: hosts enqueue sync work with one INSERT in their own transaction; the row is the single
-- source of truth for that work from insert to done/failed, so everything an operator needs
-- (attempts, errors, outcome) lives on it. Task names and required payload keys are checked at
-- INSERT time against credsync.task (kept in step with the worker's handlers by `credsync migrate`),
-- so a host learns about a typo in its own transaction, not hours later in a worker log.

CREATE SCHEMA IF NOT EXISTS credsync;

-- The tasks the workers know, with the payload keys each requires and the keys that make up its
-- ordering key (rows sharing an ordering key run one at a time, in insert order).
CREATE TABLE credsync.task (
    name            text PRIMARY KEY,
    required_keys   text[] NOT NULL,
    ordering_scope  text NOT NULL,
    ordering_keys   text[] NOT NULL CHECK (cardinality(ordering_keys) > 0),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE credsync.task IS
    'Tasks the credsync workers handle; rewritten by `credsync migrate` from the worker''s handler registry.';

CREATE TABLE credsync.outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task            text NOT NULL,
    payload         jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Set by the insert trigger from credsync.task: e.g. 'learner:ada', 'course:course-v1:edX+D+1'.
    ordering_key    text NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'enqueued', 'running', 'retrying', 'done', 'failed')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- Earliest time the row may be claimed (pending) or its retry is due (retrying).
    run_after       timestamptz NOT NULL DEFAULT now(),
    enqueued_at     timestamptz,
    started_at      timestamptz,
    finished_at     timestamptz,
    -- While in flight (enqueued, running, retrying): when the row is presumed lost and rescued.
    lease_until     timestamptz,
    last_error      text,
    result          jsonb,
    CONSTRAINT outbox_finished_has_time CHECK ((status IN ('done', 'failed')) = (finished_at IS NOT NULL))
);

COMMENT ON TABLE credsync.outbox IS
    'Sync work for the Credentials service. Hosts INSERT (task, payload) in their own transaction; '
    'credsync moves each row pending -> enqueued -> running [-> retrying -> running ...] -> done | failed.';
COMMENT ON COLUMN credsync.outbox.status IS
    'pending: waiting to be claimed; enqueued: message sent to the broker; running: an attempt is in '
    'progress; retrying: the last attempt failed, the next is due at run_after; done/failed: final.';
COMMENT ON COLUMN credsync.outbox.result IS
    'Outcome: {"outcome": "sent", ...} or {"outcome": "skipped", "reason": ..., "message": ...}.';

-- The claim walks pending rows in id (insert) order: a partial index holds only those, so its
-- cost does not grow with the history of finished rows.
CREATE INDEX outbox_pending_idx ON credsync.outbox (id) WHERE status = 'pending';

-- Head-of-line check of the claim ("is there an older unfinished row with my ordering key?") and
-- the per-key ordering guarantee rest on this index; finished rows are not in it.
CREATE INDEX outbox_unfinished_key_idx ON credsync.outbox (ordering_key, id)
    WHERE status IN ('pending', 'enqueued', 'running', 'retrying');

-- Rescue of rows whose message or worker was lost scans in-flight rows by lease expiry.
CREATE INDEX outbox_in_flight_lease_idx ON credsync.outbox (lease_until)
    WHERE status IN ('enqueued', 'running', 'retrying');

-- Pruning of finished rows by age.
CREATE INDEX outbox_finished_idx ON credsync.outbox (finished_at) WHERE status IN ('done', 'failed');

-- Insert-time validation: known task, payload an object, every required key present and not null.
-- A new row always starts fresh, whatever the INSERT says about the bookkeeping columns.
CREATE FUNCTION credsync.outbox_before_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    spec credsync.task%ROWTYPE;
    key text;
    parts text[] := '{}';
BEGIN
    SELECT * INTO spec FROM credsync.task WHERE name = NEW.task;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'credsync.outbox: unknown task %', coalesce(quote_literal(NEW.task), 'NULL')
            USING ERRCODE = 'check_violation',
                  HINT = 'known tasks: ' || coalesce(
                      (SELECT string_agg(name, ', ' ORDER BY name) FROM credsync.task),
                      'none (run `credsync migrate`)');
    END IF;
    IF NEW.payload IS NULL OR jsonb_typeof(NEW.payload) <> 'object' THEN
        RAISE EXCEPTION 'credsync.outbox: the payload of task % must be a JSON object, not %',
            NEW.task, coalesce(jsonb_typeof(NEW.payload), 'NULL')
            USING ERRCODE = 'check_violation';
    END IF;
    FOREACH key IN ARRAY spec.required_keys LOOP
        IF NOT (NEW.payload ? key) OR jsonb_typeof(NEW.payload -> key) = 'null' THEN
            RAISE EXCEPTION 'credsync.outbox: task % needs payload key "%" (it is %)',
                NEW.task, key, CASE WHEN NEW.payload ? key THEN 'null' ELSE 'missing' END
                USING ERRCODE = 'check_violation',
                      HINT = 'required keys: ' || array_to_string(spec.required_keys, ', ');
        END IF;
    END LOOP;
    FOREACH key IN ARRAY spec.ordering_keys LOOP
        parts := parts || (NEW.payload ->> key);
    END LOOP;
    NEW.ordering_key := spec.ordering_scope || ':' || array_to_string(parts, '|');
    NEW.status := 'pending';
    NEW.attempts := 0;
    NEW.created_at := now();
    NEW.run_after := greatest(coalesce(NEW.run_after, now()), now());
    NEW.enqueued_at := NULL;
    NEW.started_at := NULL;
    NEW.finished_at := NULL;
    NEW.lease_until := NULL;
    NEW.last_error := NULL;
    NEW.result := NULL;
    RETURN NEW;
END
$$;

CREATE TRIGGER outbox_before_insert BEFORE INSERT ON credsync.outbox
    FOR EACH ROW EXECUTE FUNCTION credsync.outbox_before_insert();

-- Operator views (documented in README "Reading sync state").
CREATE VIEW credsync.outbox_summary AS
SELECT task,
       status,
       count(*)                      AS rows,
       min(created_at)               AS oldest_created_at,
       now() - min(created_at)       AS oldest_age,
       max(attempts)                 AS max_attempts
FROM credsync.outbox
GROUP BY task, status;
COMMENT ON VIEW credsync.outbox_summary IS 'Rows per task and status, with the age of the oldest.';

CREATE VIEW credsync.outbox_failed AS
SELECT id, task, payload, attempts, last_error, result, created_at, started_at, finished_at
FROM credsync.outbox
WHERE status = 'failed';
COMMENT ON VIEW credsync.outbox_failed IS
    'Rows that ended failed, with their last error; `credsync retry` puts them back.';

CREATE VIEW credsync.outbox_stuck AS
SELECT id, task, payload, status, attempts, lease_until, now() - lease_until AS overdue, last_error
FROM credsync.outbox
WHERE status IN ('enqueued', 'running', 'retrying') AND lease_until < now();
COMMENT ON VIEW credsync.outbox_stuck IS
    'In-flight rows past their lease (message or worker lost); the scanner puts them back within seconds.';

CREATE VIEW credsync.outbox_waiting AS
SELECT id, task, payload, status, attempts, run_after, run_after - now() AS due_in, last_error
FROM credsync.outbox
WHERE status IN ('pending', 'retrying') AND run_after > now();
COMMENT ON VIEW credsync.outbox_waiting IS 'Rows waiting for a retry delay (or a scheduled time) to pass.';
