-- 0005: operator views that stay fast at millions of rows, and the indexes they need.
-- Why: "a learner says her certificate is missing" must be answerable with one indexed query, and
-- the failed / waiting lists must not scan years of finished rows.

-- Per-learner history: WHERE username = ... resolves to this expression index.
CREATE INDEX outbox_username_idx ON credsync.outbox ((payload ->> 'username'), id);
-- Per-course history (course tasks and course certificates), likewise.
CREATE INDEX outbox_course_idx ON credsync.outbox
    ((coalesce(payload ->> 'course_key', payload ->> 'course_run_key')), id);
-- The failed list, newest first, without touching done rows.
CREATE INDEX outbox_failed_idx ON credsync.outbox (finished_at DESC, id DESC) WHERE status = 'failed';
-- Rows waiting for a retry delay, a cooldown or a scheduled time.
CREATE INDEX outbox_waiting_idx ON credsync.outbox (run_after) WHERE status IN ('pending', 'retrying');

CREATE VIEW credsync.learner_history AS
SELECT payload ->> 'username' AS username, id, task, status, attempts,
       coalesce(payload ->> 'course_run_key', payload ->> 'course_key') AS course_key,
       created_at, started_at, finished_at, result ->> 'outcome' AS outcome,
       coalesce(result ->> 'reason', result ->> 'status') AS detail, last_error, result
FROM credsync.outbox
WHERE payload ? 'username';
COMMENT ON VIEW credsync.learner_history IS
    'Every row of a learner: SELECT * FROM credsync.learner_history WHERE username = ''ada'' ORDER BY id DESC.';

CREATE VIEW credsync.course_history AS
SELECT coalesce(payload ->> 'course_key', payload ->> 'course_run_key') AS course_key, id, task, status,
       attempts, payload ->> 'username' AS username, created_at, finished_at,
       result ->> 'outcome' AS outcome, coalesce(result ->> 'reason', result ->> 'status') AS detail,
       last_error
FROM credsync.outbox
WHERE payload ?| ARRAY['course_key', 'course_run_key'];
COMMENT ON VIEW credsync.course_history IS
    'Every row about a course run: SELECT * FROM credsync.course_history WHERE course_key = ''course-v1:...''.';

CREATE OR REPLACE VIEW credsync.outbox_failed AS
SELECT id, task, payload, attempts, last_error, result, created_at, started_at, finished_at
FROM credsync.outbox
WHERE status = 'failed';
COMMENT ON VIEW credsync.outbox_failed IS
    'Rows that ended failed, with their last error (newest: ORDER BY finished_at DESC); `credsync retry` puts them back.';

CREATE OR REPLACE VIEW credsync.outbox_waiting AS
SELECT o.id, o.task, o.payload, o.status, o.attempts, o.run_after, o.run_after - now() AS due_in,
       o.last_error, (o.last_error LIKE 'waiting, no attempt used:%') AS on_cooldown
FROM credsync.outbox o
WHERE o.status IN ('pending', 'retrying') AND o.run_after > now();
COMMENT ON VIEW credsync.outbox_waiting IS
    'Rows waiting for a retry delay, a cooldown (on_cooldown) or a scheduled time, and when they are due.';

COMMENT ON VIEW credsync.outbox_summary IS
    'Rows per task and status, with the age of the oldest (counts every row: pruning keeps it bounded).';
COMMENT ON VIEW credsync.outbox_stuck IS
    'In-flight rows past their lease (message or worker lost); the scanner puts them back within seconds.';

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'credsync_inspector') THEN
        GRANT SELECT ON credsync.learner_history, credsync.course_history TO credsync_inspector;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'credsync_worker') THEN
        GRANT SELECT ON credsync.learner_history, credsync.course_history TO credsync_worker;
    END IF;
END
$$;
