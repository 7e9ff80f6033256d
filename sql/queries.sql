-- Every runtime statement of credsync, each under a "-- name:" header with one line saying what it
-- does, loaded by name by worker/queries.py. Parameters are psycopg named placeholders.
-- "now" is injectable: each statement takes %(now)s and falls back to now() when it is NULL, so
-- tests cross backoff and lease boundaries without sleeping.

-- name: outbox_claim_walk
-- Make the claim that follows in this transaction walk outbox_pending_idx in id order.
-- Why: the walk stops at its batch; a plan that sorts first reads and checks every pending row, so
-- one claim costs as much as the backlog (190 ms for 500 of 59,000 pending rows, not 10 ms). The
-- planner picks such a plan when its estimates are off: after a burst of new rows (statistics lag)
-- or when it combines two partial indexes on status (it multiplies their predicates' selectivity).
SET LOCAL enable_sort = off;

-- name: outbox_claim_due
-- Claim due pending rows (head of their ordering key only), mark them enqueued, return id and task.
WITH clock AS (
    SELECT coalesce(%(now)s::timestamptz, now()) AS now
), room AS (
    -- Back-pressure: never hold more than max_in_flight rows between claim and finish, so a
    -- row's time in the broker stays well inside its lease.
    SELECT greatest(0, least(%(batch)s::int, %(max_in_flight)s::int - count(*)::int)) AS n
    FROM credsync.outbox WHERE status IN ('enqueued', 'running')
), due AS (
    -- outbox_head: pending and the oldest unfinished row of its ordering key (migration 0006).
    SELECT o.id
    FROM credsync.outbox_head o, clock
    WHERE o.run_after <= clock.now
    ORDER BY o.id
    LIMIT (SELECT n FROM room)
    FOR UPDATE OF o SKIP LOCKED
)
UPDATE credsync.outbox o
SET status = 'enqueued',
    enqueued_at = clock.now,
    lease_until = clock.now + make_interval(secs => %(lease_s)s::int)
FROM due, clock
WHERE o.id = due.id
RETURNING o.id, o.task, o.attempts;

-- name: outbox_release
-- Claimed rows whose message could not be sent go back to pending (a message that did get out
-- finds them pending and does nothing).
UPDATE credsync.outbox
SET status = 'pending', lease_until = NULL
WHERE id = ANY(%(ids)s::bigint[]) AND status = 'enqueued';

-- name: outbox_start
-- Begin an attempt: enqueued (or retrying, when due) -> running; a no-op for any other status.
WITH clock AS (SELECT coalesce(%(now)s::timestamptz, now()) AS now)
UPDATE credsync.outbox o
SET status = 'running',
    attempts = o.attempts + 1,
    started_at = clock.now,
    lease_until = clock.now + make_interval(secs => %(lease_s)s::int),
    waiting_on = NULL  -- the wait of a deferred row is over once it runs
FROM clock
WHERE o.id = %(id)s
  AND (o.status = 'enqueued'
       -- A retry message may arrive slightly before run_after by the database's clock (clock
       -- skew between hosts); a stale duplicate arriving long before it is ignored.
       OR (o.status = 'retrying' AND o.run_after <= clock.now + interval '2 seconds'))
RETURNING o.id, o.task, o.payload, o.attempts, o.ordering_key, o.run;

-- name: outbox_start_many
-- Begin the attempts of the rows of one message that carries several (worker.outbox.batches): its
-- first delivery starts its rows that are enqueued and never ran (attempt NULL); a retry starts the
-- rows it names that are retrying, due, at the attempt it recorded. Either way every row started
-- together is at the same attempt, which is the message's retry count. Other rows are left alone.
WITH clock AS (SELECT coalesce(%(now)s::timestamptz, now()) AS now)
UPDATE credsync.outbox o
SET status = 'running',
    attempts = o.attempts + 1,
    started_at = clock.now,
    lease_until = clock.now + make_interval(secs => %(lease_s)s::int),
    waiting_on = NULL
FROM clock
WHERE o.id = ANY(%(ids)s::bigint[])
  AND CASE WHEN %(attempt)s::int IS NULL THEN o.status = 'enqueued' AND o.attempts = 0
           ELSE o.status = 'retrying' AND o.attempts = %(attempt)s::int
                AND o.run_after <= clock.now + interval '2 seconds' END
RETURNING o.id, o.task, o.payload, o.attempts, o.ordering_key, o.run;

-- name: outbox_status_of
-- The status and attempts of one row (to explain a no-op start in the logs).
SELECT status, attempts FROM credsync.outbox WHERE id = %(id)s;

-- name: outbox_record_error
-- Record the error of the current attempt on a running row (the retry/fail decision comes next),
-- with what the attempt did before failing, when it says.
UPDATE credsync.outbox
SET last_error = %(error)s, result = coalesce(%(result)s::jsonb, result)
WHERE id = %(id)s AND status = 'running' AND attempts = %(attempt)s;

-- name: outbox_mark_done
-- Finish the current attempt successfully: running -> done, with the outcome in result.
WITH clock AS (SELECT coalesce(%(now)s::timestamptz, now()) AS now)
UPDATE credsync.outbox o
SET status = 'done', finished_at = clock.now, lease_until = NULL, result = %(result)s
FROM clock
WHERE o.id = %(id)s AND o.status = 'running' AND o.attempts = %(attempt)s
RETURNING o.id, o.created_at, o.finished_at;

-- name: outbox_mark_done_many
-- Finish several running attempts successfully in one statement (the rows of one message): each
-- row by its id, attempt and result, guarded as outbox_mark_done.
WITH clock AS (SELECT coalesce(%(now)s::timestamptz, now()) AS now),
done AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(attempts)s::int[], %(results)s::jsonb[])
        AS d(id, attempt, result)
)
UPDATE credsync.outbox o
SET status = 'done', finished_at = clock.now, lease_until = NULL, result = done.result
FROM done, clock
WHERE o.id = done.id AND o.status = 'running' AND o.attempts = done.attempt
RETURNING o.id, o.created_at, o.finished_at;

-- name: outbox_mark_retrying
-- The attempt failed and Dramatiq scheduled a retry: running -> retrying, due after delay_ms.
WITH clock AS (SELECT coalesce(%(now)s::timestamptz, now()) AS now)
UPDATE credsync.outbox o
SET status = 'retrying',
    run_after = clock.now + make_interval(secs => %(delay_ms)s::float8 / 1000),
    lease_until = clock.now + make_interval(secs => %(delay_ms)s::float8 / 1000 + %(lease_s)s::int)
FROM clock
WHERE o.id = %(id)s AND o.status = 'running' AND o.attempts = %(attempt)s
RETURNING o.id;

-- name: outbox_mark_failed
-- Dramatiq gave up on the message (retries exhausted or a permanent error): -> failed.
WITH clock AS (SELECT coalesce(%(now)s::timestamptz, now()) AS now)
UPDATE credsync.outbox o
SET status = 'failed',
    finished_at = clock.now,
    lease_until = NULL,
    last_error = coalesce(%(error)s, o.last_error, 'the message was dropped by the broker')
FROM clock
WHERE o.id = %(id)s
  AND CASE WHEN %(attempt)s::int IS NULL THEN o.status = 'enqueued'
           ELSE o.status IN ('running', 'retrying') AND o.attempts = %(attempt)s::int END
RETURNING o.id, o.created_at, o.finished_at;

-- name: outbox_extend_leases
-- Heartbeat: extend the lease of rows this worker process is running.
UPDATE credsync.outbox
SET lease_until = coalesce(%(now)s::timestamptz, now()) + make_interval(secs => %(lease_s)s::int)
WHERE id = ANY(%(ids)s::bigint[]) AND status = 'running';

-- name: outbox_rescue_expired
-- Put in-flight rows whose lease expired back to pending (or failed when no attempt is left).
WITH clock AS (
    SELECT coalesce(%(now)s::timestamptz, now()) AS now
), lost AS (
    SELECT id FROM credsync.outbox, clock
    WHERE status IN ('enqueued', 'running', 'retrying') AND lease_until < clock.now
    ORDER BY lease_until
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE credsync.outbox o
SET status = CASE WHEN o.status = 'running' AND o.attempts > %(max_retries)s THEN 'failed' ELSE 'pending' END,
    finished_at = CASE WHEN o.status = 'running' AND o.attempts > %(max_retries)s THEN clock.now END,
    run_after = clock.now,
    lease_until = NULL,
    last_error = CASE o.status
        WHEN 'running' THEN format('attempt %%s was lost: its worker stopped without finishing it '
                                   '(lease expired at %%s)', o.attempts, o.lease_until)
        ELSE o.last_error END
FROM lost, clock
WHERE o.id = lost.id
RETURNING o.id, o.task, o.status, o.attempts;

-- name: outbox_prune_finished
-- Delete finished rows older than their retention, in bounded batches.
DELETE FROM credsync.outbox
WHERE id IN (
    SELECT id FROM credsync.outbox
    WHERE (status = 'done' AND finished_at < coalesce(%(now)s::timestamptz, now()) - make_interval(days => %(done_days)s::int))
       OR (status = 'failed' AND finished_at < coalesce(%(now)s::timestamptz, now()) - make_interval(days => %(failed_days)s::int))
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
);

-- name: outbox_insert
-- Insert one row, as a host does (used for follow-up rows and by tools).
INSERT INTO credsync.outbox (task, payload) VALUES (%(task)s, %(payload)s) RETURNING id;

-- name: outbox_retry_failed
-- Put failed rows back to pending with a fresh attempt budget (operator action): a new run, so
-- the ledger tells its requests from the failed run's, and no stale error stays on the row.
UPDATE credsync.outbox
SET status = 'pending', attempts = 0, run_after = now(), finished_at = NULL, lease_until = NULL,
    result = NULL, last_error = NULL, waiting_on = NULL, run = run + 1
WHERE id = ANY(%(ids)s::bigint[]) AND status = 'failed'
RETURNING id;

-- name: outbox_failed_ids
-- Ids of failed rows, optionally of one task, oldest first.
SELECT id FROM credsync.outbox
WHERE status = 'failed' AND (%(task)s::text IS NULL OR task = %(task)s::text)
ORDER BY id;

-- name: outbox_summary
-- Rows per task and status, with the oldest age in seconds.
SELECT task, status, rows, extract(epoch FROM oldest_age)::float8 AS oldest_age_s
FROM credsync.outbox_summary ORDER BY task, status;

-- name: outbox_recent_activity
-- Rows finished per minute over the last hour, and the age of the oldest pending row (both indexed).
SELECT (SELECT count(*) FROM credsync.outbox
        WHERE status IN ('done', 'failed') AND finished_at > now() - interval '1 hour')::float8 / 60
           AS finished_per_minute,
       (SELECT extract(epoch FROM now() - created_at)::float8 FROM credsync.outbox
        WHERE status = 'pending' ORDER BY id LIMIT 1) AS oldest_pending_s;

-- name: outbox_recent_failed
-- The most recent failed rows with their last error.
SELECT id, task, payload, attempts, last_error, finished_at
FROM credsync.outbox WHERE status = 'failed' ORDER BY finished_at DESC, id DESC LIMIT %(limit)s;

-- name: outbox_get
-- One row, every column.
SELECT id, task, payload, ordering_key, status, run, attempts, created_at, run_after, enqueued_at,
       started_at, finished_at, lease_until, last_error, waiting_on, result
FROM credsync.outbox WHERE id = %(id)s;

-- name: outbox_unsettled_count
-- How many rows are not yet done or failed.
SELECT count(*) AS n FROM credsync.outbox WHERE status NOT IN ('done', 'failed');

-- name: task_upsert
-- Register (or update) a task the workers handle.
INSERT INTO credsync.task (name, required_keys, ordering_scope, ordering_keys)
VALUES (%(name)s, %(required_keys)s, %(ordering_scope)s, %(ordering_keys)s)
ON CONFLICT (name) DO UPDATE
SET required_keys = EXCLUDED.required_keys, ordering_scope = EXCLUDED.ordering_scope,
    ordering_keys = EXCLUDED.ordering_keys, updated_at = now()
WHERE (credsync.task.required_keys, credsync.task.ordering_scope, credsync.task.ordering_keys)
      IS DISTINCT FROM (EXCLUDED.required_keys, EXCLUDED.ordering_scope, EXCLUDED.ordering_keys);

-- name: task_delete_unknown
-- Forget tasks the workers no longer handle (existing rows keep their task name).
DELETE FROM credsync.task WHERE NOT (name = ANY(%(names)s::text[]));

-- name: migration_applied_versions
-- Versions of the migrations already applied.
SELECT version FROM credsync.schema_migration ORDER BY version;

-- name: migration_record
-- Record one applied migration.
INSERT INTO credsync.schema_migration (version, name) VALUES (%(version)s, %(name)s);

-- name: host_credentials_config
-- The current Credentials config of the host: the latest row by change_date, then id.
SELECT enabled, enable_learner_issuance
FROM credentials_credentialsapiconfig
ORDER BY change_date DESC, id DESC
LIMIT 1;

-- name: host_course_certificate_facts
-- What award_course_certificate needs, in one round trip: the learner, the eligible certificate of
-- the run (status not audit_passing/audit_notpassing, SPEC §3.2 step 5), its date override, and
-- whether the run has a course overview.
SELECT u.id AS user_id,
       c.id AS certificate_id,
       c.mode AS certificate_mode,
       c.status AS certificate_status,
       d.date AS date_override,
       EXISTS (SELECT 1 FROM course_overviews_courseoverview co WHERE co.id = %(course_run_key)s)
           AS has_course_overview
FROM auth_user u
LEFT JOIN certificates_generatedcertificate c
       ON c.user_id = u.id AND c.course_id = %(course_run_key)s
      AND c.status NOT IN ('audit_passing', 'audit_notpassing')
LEFT JOIN certificates_certificatedateoverride d ON d.generated_certificate_id = c.id
WHERE u.username = %(username)s;

-- name: host_learner
-- A user by username, with what a token signed for them says (email, administrator = is_staff).
SELECT id, username, coalesce(email, '') AS email, coalesce(is_staff, false) AS is_staff
FROM auth_user WHERE username = %(username)s;

-- name: host_completed_programs
-- The programs a learner has completed (SPEC §4.2), in one statement: every course of the program
-- has a run for which the learner holds a passing certificate (downloadable or generating) whose
-- mode matches the run's type (credit counts as verified, no-id-professional as professional),
-- in a run that has a course overview. A program with no courses is never complete. Only programs
-- holding one of the learner's passing runs can be complete, so the containment test (GIN index
-- catalog_program_data_idx) narrows the catalog first.
WITH passing AS (
    SELECT c.course_id AS run_key,
           CASE c.mode WHEN 'no-id-professional' THEN 'professional' ELSE c.mode END AS mode
    FROM certificates_generatedcertificate c
    WHERE c.user_id = %(user_id)s
      AND c.status IN ('downloadable', 'generating')
      AND EXISTS (SELECT 1 FROM course_overviews_courseoverview co WHERE co.id = c.course_id)
), candidate AS (
    -- "courses" is read through a CASE: Postgres may evaluate the conditions of a WHERE in any
    -- order, so a type check beside jsonb_array_length would not protect it from a malformed entry.
    SELECT p.uuid, p.title,
           CASE WHEN jsonb_typeof(p.data -> 'courses') = 'array' THEN p.data -> 'courses'
                ELSE '[]'::jsonb END AS courses
    FROM catalog_program p
    WHERE EXISTS (
        SELECT 1 FROM passing
        WHERE p.data @> jsonb_build_object('courses', jsonb_build_array(jsonb_build_object(
                  'course_runs', jsonb_build_array(jsonb_build_object('key', passing.run_key))))))
)
SELECT candidate.uuid, candidate.title
FROM candidate
WHERE jsonb_array_length(candidate.courses) > 0
  AND NOT EXISTS (
      SELECT 1
      FROM jsonb_array_elements(candidate.courses) AS course
      WHERE NOT EXISTS (
          SELECT 1
          FROM jsonb_array_elements(
                   CASE WHEN jsonb_typeof(course -> 'course_runs') = 'array'
                        THEN course -> 'course_runs' ELSE '[]'::jsonb END) AS run
          JOIN passing
            ON passing.run_key = run ->> 'key'
           AND passing.mode = CASE run ->> 'type' WHEN 'credit' THEN 'verified' ELSE run ->> 'type' END))
ORDER BY candidate.uuid;

-- name: host_engaged_programs
-- The programs a learner is engaged in through a course run (SPEC §4.3): programs listing the run,
-- when the learner is actively enrolled in it; in program title order.
SELECT p.uuid, p.title
FROM catalog_program p
WHERE EXISTS (
        SELECT 1 FROM student_courseenrollment e
        WHERE e.user_id = %(user_id)s AND e.course_id = %(course_key)s AND e.is_active)
  AND p.data @> jsonb_build_object('courses', jsonb_build_array(jsonb_build_object(
          'course_runs', jsonb_build_array(jsonb_build_object('key', %(course_key)s::text)))))
ORDER BY p.title, p.uuid;

-- name: host_course_overview
-- A course run's overview: pacing, end, certificate available date and display behaviour.
SELECT id, org, self_paced, "end", certificate_available_date, certificates_display_behavior
FROM course_overviews_courseoverview
WHERE id = %(course_key)s;

-- name: host_course_modes
-- Every course mode row of a run (one per currency; expired ones included, as upstream).
SELECT mode_slug, currency FROM course_modes_coursemode WHERE course_id = %(course_key)s ORDER BY mode_slug, currency;

-- name: outbox_defer
-- The attempt met a hold (a cooldown, a learner's throttle, a refusal): back to pending until then,
-- the attempt not counted, waiting_on saying why (last_error keeps the last real error). The row
-- stays the head of its ordering key, so later rows keep waiting behind it.
UPDATE credsync.outbox
SET status = 'pending', attempts = attempts - 1, run_after = %(until)s, lease_until = NULL,
    waiting_on = %(reason)s
WHERE id = %(id)s AND status = 'running' AND attempts = %(attempt)s
RETURNING id;

-- name: delivery_record
-- Record one HTTP request made for an outbox row's attempt.
INSERT INTO credsync.delivery (outbox_id, run, attempt, method, url, status, duration_ms, error)
VALUES (%(outbox_id)s, %(run)s, %(attempt)s, %(method)s, %(url)s, %(status)s, %(duration_ms)s, %(error)s);

-- name: delivery_of_row
-- The HTTP requests made for one outbox row, in order.
SELECT run, attempt, at, method, url, status, duration_ms, error
FROM credsync.delivery WHERE outbox_id = %(id)s ORDER BY id;

-- name: cooldown_set
-- Hold a scope until a time; a later "until" wins, an earlier one never shortens it. A hold renewed
-- within %(grace_s)s seconds of its end continues the same pause (its since is kept); `started`
-- says whether this statement began a new one (the caller logs once per pause, not per row).
INSERT INTO credsync.cooldown (destination, until, reason, kind)
VALUES (%(destination)s, %(until)s, %(reason)s, %(kind)s)
ON CONFLICT (destination) DO UPDATE
SET until = greatest(credsync.cooldown.until, EXCLUDED.until), reason = EXCLUDED.reason,
    kind = EXCLUDED.kind, updated_at = now(),
    since = CASE WHEN credsync.cooldown.until + make_interval(secs => %(grace_s)s::float8) >= now()
                 THEN credsync.cooldown.since ELSE now() END
RETURNING since = now() AS started;

-- name: cooldown_active
-- Cooldowns in force now.
SELECT destination, until, reason, kind, since FROM credsync.cooldown
WHERE until > coalesce(%(now)s::timestamptz, now());

-- == backfill and catalog loading ==

-- name: backfill_get
-- One backfill run by name: its bounds, progress and whether it finished.
SELECT name, kind, since, last_key, rows, started_at, updated_at, finished_at
FROM credsync.backfill WHERE name = %(name)s;

-- name: backfill_start
-- Record a new backfill run (a no-op when a concurrent caller recorded it first).
INSERT INTO credsync.backfill (name, kind, since)
VALUES (%(name)s, %(kind)s, %(since)s)
ON CONFLICT (name) DO NOTHING;

-- name: backfill_restart
-- Start a finished backfill run over from the first key (an unfinished run is left alone).
UPDATE credsync.backfill
SET last_key = 0, last_course_key = '', rows = 0, started_at = now(), updated_at = now(), finished_at = NULL
WHERE name = %(name)s AND finished_at IS NOT NULL;

-- name: backfill_programs_batch
-- Enqueue award_program_certificates for the next learners (user id order) holding a passing
-- certificate, and advance the run, in one statement; no row when the run is finished or missing.
-- The run row is locked first (a concurrent batch of the same run waits, then reads its last_key).
WITH run AS (
    SELECT name, since, last_key FROM credsync.backfill
    WHERE name = %(name)s AND finished_at IS NULL
    FOR UPDATE
), batch AS (
    SELECT u.id AS key, u.username
    FROM run, auth_user u
    WHERE u.id > run.last_key
      AND EXISTS (
          SELECT 1 FROM certificates_generatedcertificate c
          WHERE c.user_id = u.id
            AND c.status IN ('downloadable', 'generating')
            AND (run.since IS NULL OR c.modified_date >= run.since))
    ORDER BY u.id
    LIMIT %(batch)s::int
), enqueued AS (
    INSERT INTO credsync.outbox (task, payload)
    SELECT 'award_program_certificates', jsonb_build_object('username', batch.username)
    FROM batch ORDER BY batch.key
    RETURNING id
), done AS (
    SELECT (SELECT count(*) FROM enqueued) AS n, (SELECT max(key) FROM batch) AS last_key
)
UPDATE credsync.backfill b
SET last_key = coalesce(done.last_key, b.last_key),
    rows = b.rows + done.n,
    updated_at = now(),
    finished_at = CASE WHEN done.n < %(batch)s::int THEN now() END
FROM run, done
WHERE b.name = run.name
RETURNING b.last_key, b.rows, b.finished_at, done.n AS enqueued;

-- name: backfill_course_certificates_batch
-- Enqueue award_course_certificate for the next certificates (id order; not audit_passing or
-- audit_notpassing, SPEC §3.2 step 5) and advance the run, in one statement; no row when the run
-- is finished or missing. The run row is locked first, as in backfill_programs_batch.
WITH run AS (
    SELECT name, since, last_key FROM credsync.backfill
    WHERE name = %(name)s AND finished_at IS NULL
    FOR UPDATE
), batch AS (
    SELECT c.id AS key, u.username, c.course_id
    FROM run, certificates_generatedcertificate c
    JOIN auth_user u ON u.id = c.user_id
    WHERE c.id > run.last_key
      AND c.status NOT IN ('audit_passing', 'audit_notpassing')
      AND (run.since IS NULL OR c.modified_date >= run.since)
    ORDER BY c.id
    LIMIT %(batch)s::int
), enqueued AS (
    INSERT INTO credsync.outbox (task, payload)
    SELECT 'award_course_certificate',
           jsonb_build_object('username', batch.username, 'course_run_key', batch.course_id)
    FROM batch ORDER BY batch.key
    RETURNING id
), done AS (
    SELECT (SELECT count(*) FROM enqueued) AS n, (SELECT max(key) FROM batch) AS last_key
)
UPDATE credsync.backfill b
SET last_key = coalesce(done.last_key, b.last_key),
    rows = b.rows + done.n,
    updated_at = now(),
    finished_at = CASE WHEN done.n < %(batch)s::int THEN now() END
FROM run, done
WHERE b.name = run.name
RETURNING b.last_key, b.rows, b.finished_at, done.n AS enqueued;

-- name: catalog_program_upsert
-- Insert or update one catalog program document; a row that would not change is left alone and
-- returns nothing. xmax = 0 only on a freshly inserted row version, so it tells insert from update.
INSERT INTO catalog_program AS p (uuid, title, status, data)
VALUES (%(uuid)s, %(title)s, %(status)s, %(data)s)
ON CONFLICT (uuid) DO UPDATE
SET title = EXCLUDED.title, status = EXCLUDED.status, data = EXCLUDED.data
WHERE (p.title, p.status, p.data) IS DISTINCT FROM (EXCLUDED.title, EXCLUDED.status, EXCLUDED.data)
RETURNING (p.xmax = 0) AS inserted;

-- == doctor ==

-- name: doctor_limit_statement_time
-- Bound every statement of a doctor transaction, so a check reports a timeout instead of hanging.
SELECT set_config('statement_timeout', %(timeout_ms)s::text, true),
       set_config('lock_timeout', %(timeout_ms)s::text, true);

-- name: doctor_outbox_table
-- Size, live and dead tuples, and the last (auto)vacuum and (auto)analyze of credsync.outbox.
SELECT s.n_live_tup AS live,
       s.n_dead_tup AS dead,
       pg_total_relation_size(c.oid) AS total_bytes,
       extract(epoch FROM s.last_autovacuum)::float8 AS last_autovacuum,
       extract(epoch FROM s.last_vacuum)::float8 AS last_vacuum,
       extract(epoch FROM s.last_autoanalyze)::float8 AS last_autoanalyze,
       extract(epoch FROM s.last_analyze)::float8 AS last_analyze,
       current_setting('autovacuum')::bool AS autovacuum_server,
       coalesce((SELECT option_value::bool FROM pg_options_to_table(c.reloptions)
                 WHERE option_name = 'autovacuum_enabled'), true) AS autovacuum_table
FROM pg_class c
JOIN pg_stat_all_tables s ON s.relid = c.oid
WHERE c.oid = 'credsync.outbox'::regclass;

-- name: doctor_vacuum_horizon
-- What holds back the xmin horizon of this database (sessions, prepared transactions, replication
-- slots), oldest by transaction id age first. Other databases' sessions do not hold back vacuum
-- of this database's tables; walsenders (no database) do, with hot_standby_feedback.
SELECT *
FROM (
    SELECT 'session' AS kind, a.pid, NULL::text AS name, a.state, a.usename::text AS username,
           a.application_name, host(a.client_addr) AS client_addr,
           extract(epoch FROM coalesce(a.xact_start, a.query_start, a.backend_start))::float8 AS since,
           greatest(age(a.backend_xmin), age(a.backend_xid)) AS xid_age,
           left(a.query, 200) AS query
    FROM pg_stat_activity a
    WHERE a.pid <> pg_backend_pid()
      AND (a.datname = current_database() OR a.datname IS NULL)
      AND (a.backend_xmin IS NOT NULL OR a.backend_xid IS NOT NULL)
      AND a.backend_type NOT IN ('autovacuum worker', 'autovacuum launcher')
    UNION ALL
    SELECT 'prepared transaction', NULL, x.gid, 'prepared', x.owner::text, NULL, NULL,
           extract(epoch FROM x.prepared)::float8, age(x.transaction), NULL
    FROM pg_prepared_xacts x
    WHERE x.database = current_database()
    UNION ALL
    -- A slot's xmin (a standby's hot_standby_feedback) holds back every database; a logical
    -- slot's catalog_xmin only holds back the system catalogs, not the outbox.
    SELECT 'replication slot', r.active_pid, r.slot_name::text,
           CASE WHEN r.active THEN 'active' ELSE 'inactive' END, NULL, NULL, NULL, NULL,
           age(r.xmin), NULL
    FROM pg_replication_slots r
    WHERE r.xmin IS NOT NULL
) holders
ORDER BY xid_age DESC NULLS LAST, since
LIMIT %(limit)s;

-- name: doctor_outbox_backlog
-- Pending, due, claimable and in-flight row counts, and when the oldest claimable row became due.
WITH clock AS (
    SELECT coalesce(%(now)s::timestamptz, now()) AS now
), claimable AS (
    -- The claim's own predicate (outbox_claim_due): due, and the head of its ordering key.
    SELECT o.id, o.run_after
    FROM credsync.outbox_head o, clock
    WHERE o.run_after <= clock.now
)
SELECT (SELECT count(*) FROM credsync.outbox WHERE status = 'pending') AS pending,
       (SELECT count(*) FROM credsync.outbox o, clock
        WHERE o.status = 'pending' AND o.run_after <= clock.now) AS due,
       (SELECT count(*) FROM claimable) AS claimable,
       (SELECT count(*) FROM credsync.outbox WHERE status IN ('enqueued', 'running')) AS in_flight,
       (SELECT extract(epoch FROM min(run_after))::float8 FROM claimable) AS oldest_claimable_since;

-- == metrics ==

-- name: metrics_limit_statement_time
-- Bound every statement of a metrics scrape: a slow database makes a scrape error, not a hang.
SELECT set_config('statement_timeout', %(timeout_ms)s::text, true);

-- name: metrics_outbox_rows
-- Rows in each unfinished status, and failed rows, each counted on a partial index that holds only
-- them (done rows, the bulk of the table, are never counted).
SELECT (SELECT count(*) FROM credsync.outbox WHERE status = 'pending') AS pending,
       (SELECT count(*) FROM credsync.outbox WHERE status = 'enqueued') AS enqueued,
       (SELECT count(*) FROM credsync.outbox WHERE status = 'running') AS running,
       (SELECT count(*) FROM credsync.outbox WHERE status = 'retrying') AS retrying,
       (SELECT count(*) FROM credsync.outbox WHERE status = 'failed') AS failed;

-- name: metrics_outbox_waits
-- Seconds since the oldest pending row was inserted (first entry of outbox_pending_idx), and the
-- claim lag: seconds since the longest-due claimable row became due (outbox_waiting_idx in run_after
-- order). Claimable is the claim's own predicate (outbox_claim_due), so a row waiting behind an
-- earlier row of its ordering key is not lag. NULL when there is no such row.
WITH clock AS (
    SELECT coalesce(%(now)s::timestamptz, now()) AS now
)
SELECT (SELECT greatest(0, extract(epoch FROM clock.now - o.created_at))::float8
        FROM credsync.outbox o
        WHERE o.status = 'pending'
        ORDER BY o.id
        LIMIT 1) AS oldest_pending_age_s,
       (SELECT greatest(0, extract(epoch FROM clock.now - o.run_after))::float8
        FROM credsync.outbox_head o
        WHERE o.run_after <= clock.now
        ORDER BY o.run_after
        LIMIT 1) AS claim_lag_s
FROM clock;

-- name: metrics_holds
-- Holds in force now by kind (retry_after, learner_throttle, refused): a handful of rows at most.
SELECT kind, count(*)::float8 AS holds FROM credsync.cooldown
WHERE until > coalesce(%(now)s::timestamptz, now()) GROUP BY kind;

-- name: course_certificate_type_get
-- What credsync knows of the certificate type a Credentials service stores for a course run (one
-- per run: migration 0008).
SELECT certificate_type, source, learned_at
FROM credsync.course_certificate_type
WHERE destination = %(destination)s AND course_run_key = %(course_run_key)s;

-- name: course_certificate_type_learn
-- Remember the type a Credentials answer showed for a run. A type already known is left as it is
-- (no write, so the awards of a busy run do not rewrite one row); a new or changed type is stored
-- with where and when it was learned. Touches one row when something changed, none otherwise.
INSERT INTO credsync.course_certificate_type AS t
    (destination, course_run_key, certificate_type, source, learned_at)
VALUES (%(destination)s, %(course_run_key)s, %(certificate_type)s, %(source)s,
        coalesce(%(now)s::timestamptz, now()))
ON CONFLICT (destination, course_run_key) DO UPDATE
SET certificate_type = EXCLUDED.certificate_type, source = EXCLUDED.source, learned_at = EXCLUDED.learned_at
WHERE t.certificate_type IS DISTINCT FROM EXCLUDED.certificate_type;

-- name: host_course_run_certificate_holder
-- One learner holding an eligible certificate in a run (status not audit_passing/audit_notpassing as
-- in SPEC §3.2 step 5, mode not one of the ineligible ones), chosen deterministically: downloadable
-- first (re-sending that award most likely changes nothing in Credentials), then the certificate
-- changed longest ago (least likely to race the learner's own award row), then id.
SELECT u.id AS user_id, u.username
FROM certificates_generatedcertificate c
JOIN auth_user u ON u.id = c.user_id
WHERE c.course_id = %(course_run_key)s
  AND c.status NOT IN ('audit_passing', 'audit_notpassing')
  AND c.mode <> ALL (%(ineligible_modes)s::text[])
ORDER BY c.status = 'downloadable' DESC, c.modified_date, c.id
LIMIT 1;

-- == grades (send_grade_to_credentials) and notify (`credsync notify`) ==

-- name: host_grade_facts
-- What send_grade_to_credentials reads, in one round trip (SPEC-grades §3.1): the learner, the
-- current Credentials config (gate 1), learner records for the run's org (gate 2: the first
-- enabled site configuration, by id, whose course_org_filter, a string or a list, holds the org),
-- the learner's certificate in the run whatever its status (gates 3-4: its real mode and status),
-- whether a program lists the run among its courses' runs (gate 5, as upstream: not curricula),
-- and the persisted grade (none: a zero grade).
SELECT u.id AS user_id,
       coalesce((SELECT cfg.enabled AND cfg.enable_learner_issuance
                 FROM credentials_credentialsapiconfig cfg
                 ORDER BY cfg.change_date DESC, cfg.id DESC
                 LIMIT 1), false) AS credentials_enabled,
       coalesce(site.site_values ? 'ENABLE_LEARNER_RECORDS', false) AS learner_records_set,
       site.site_values -> 'ENABLE_LEARNER_RECORDS' AS learner_records,
       c.mode AS certificate_mode,
       c.status AS certificate_status,
       EXISTS (SELECT 1 FROM catalog_program p
               WHERE p.data @> jsonb_build_object('courses', jsonb_build_array(jsonb_build_object(
                         'course_runs', jsonb_build_array(jsonb_build_object('key', %(course_run_key)s::text))))))
           AS in_a_program,
       g.id IS NOT NULL AS has_grade,
       g.percent_grade,
       g.letter_grade,
       g.modified AS grade_modified
FROM auth_user u
LEFT JOIN LATERAL (
    SELECT s.site_values
    FROM site_configuration_siteconfiguration s
    WHERE s.enabled
      AND CASE jsonb_typeof(s.site_values -> 'course_org_filter')
              WHEN 'string' THEN s.site_values ->> 'course_org_filter' = %(org)s::text
              WHEN 'array' THEN s.site_values -> 'course_org_filter' @> jsonb_build_array(%(org)s::text)
              ELSE false END
    ORDER BY s.id
    LIMIT 1
) site ON true
LEFT JOIN certificates_generatedcertificate c ON c.user_id = u.id AND c.course_id = %(course_run_key)s
LEFT JOIN grades_persistentcoursegrade g ON g.user_id = u.id AND g.course_id = %(course_run_key)s
WHERE u.username = %(username)s;

-- name: backfill_course_dates_batch
-- Enqueue update_certificate_available_date_on_course_update for the next course runs (course
-- overview id order: every run, as upstream's backfill_date_for_all_course_runs) and advance the
-- run, in one statement; no row when the run is finished or missing. The run row is locked first,
-- as in backfill_programs_batch.
WITH run AS (
    SELECT name, last_course_key FROM credsync.backfill
    WHERE name = %(name)s AND finished_at IS NULL
    FOR UPDATE
), batch AS (
    SELECT co.id AS key
    FROM run, course_overviews_courseoverview co
    WHERE co.id > run.last_course_key
    ORDER BY co.id
    LIMIT %(batch)s::int
), enqueued AS (
    INSERT INTO credsync.outbox (task, payload)
    SELECT 'update_certificate_available_date_on_course_update', jsonb_build_object('course_key', batch.key)
    FROM batch ORDER BY batch.key
    RETURNING id
), done AS (
    SELECT (SELECT count(*) FROM enqueued) AS n, (SELECT max(key) FROM batch) AS last_key
)
UPDATE credsync.backfill b
SET last_course_key = coalesce(done.last_key, b.last_course_key),
    rows = b.rows + done.n,
    updated_at = now(),
    finished_at = CASE WHEN done.n < %(batch)s::int THEN now() END
FROM run, done
WHERE b.name = run.name
RETURNING b.last_course_key AS last_key, b.rows, b.finished_at, done.n AS enqueued;

-- name: notify_get
-- One notify run by name: its selection, phase, progress and whether it finished.
SELECT name, auto, filters, course_keys, user_ids, window_start, window_end, notify_programs,
       revoke_program_certs, phase, last_key, rows, started_at, updated_at, finished_at
FROM credsync.notify WHERE name = %(name)s;

-- name: notify_start
-- Record a new notify run with its selection (a no-op when a concurrent caller recorded it first).
INSERT INTO credsync.notify (name, auto, filters, course_keys, user_ids, window_start, window_end,
                             notify_programs, revoke_program_certs)
VALUES (%(name)s, %(auto)s, %(filters)s, %(course_keys)s, %(user_ids)s, %(window_start)s, %(window_end)s,
        %(notify_programs)s, %(revoke_program_certs)s)
ON CONFLICT (name) DO NOTHING;

-- name: notify_restart
-- Start a finished notify run over from its first certificate (an unfinished run is left alone).
UPDATE credsync.notify
SET phase = 'certificates', last_key = 0, rows = 0, started_at = now(), updated_at = now(), finished_at = NULL
WHERE name = %(name)s AND finished_at IS NOT NULL;

-- name: notify_auto_unfinished
-- The oldest unfinished --auto run with these filters (a cron run that was interrupted).
SELECT name, window_start, window_end FROM credsync.notify
WHERE auto AND filters = %(filters)s AND finished_at IS NULL
ORDER BY window_end, name
LIMIT 1;

-- name: notify_auto_last_end
-- Where the last --auto run with these filters ended: the next one starts there.
SELECT max(window_end) AS window_end FROM credsync.notify WHERE auto AND filters = %(filters)s;

-- name: notify_known_course_runs
-- Which of the given course run keys the host knows (a course overview, a certificate or a grade).
SELECT k.key
FROM unnest(%(keys)s::text[]) AS k(key)
WHERE EXISTS (SELECT 1 FROM course_overviews_courseoverview co WHERE co.id = k.key)
   OR EXISTS (SELECT 1 FROM certificates_generatedcertificate c WHERE c.course_id = k.key)
   OR EXISTS (SELECT 1 FROM grades_persistentcoursegrade g WHERE g.course_id = k.key);

-- name: notify_known_users
-- Which of the given user ids exist in auth_user.
SELECT id FROM auth_user WHERE id = ANY(%(ids)s::bigint[]);

-- name: notify_programs
-- The catalog documents of the given program uuids.
SELECT uuid, data FROM catalog_program WHERE uuid = ANY(%(uuids)s::text[]) ORDER BY uuid;

-- name: notify_key_range
-- The highest certificate and grade ids: a run's phases walk up to them (its progress bar).
SELECT (SELECT coalesce(max(id), 0) FROM certificates_generatedcertificate) AS certificates,
       (SELECT coalesce(max(id), 0) FROM grades_persistentcoursegrade) AS grades;

-- name: notify_certificates_batch
-- The certificate phase of a notify run, one batch in one statement (SPEC-grades §5.2, §5.4): the
-- next certificates (id order, every mode and status) of the selection's course runs and users,
-- modified in the window or whose date override changed in it (any history row: created, changed
-- or deleted); per certificate, in this order for its learner: award_course_certificate, the grade
-- check (send_grade_to_credentials, as the LMS's certificate change sends it), then with
-- notify_programs award_program_certificates for a passing status, with revoke_program_certs
-- revoke_program_certificates for any other. The window is [start, end). A real run locks its run
-- row and advances it (to the grade phase after its last batch); a dry run (no run row, its cursor
-- in %(after)s) inserts nothing and returns the rows it would insert.
WITH run AS (
    SELECT name, last_key FROM credsync.notify
    WHERE name = %(name)s AND phase = 'certificates' AND finished_at IS NULL AND NOT %(dry_run)s::boolean
    FOR UPDATE
), cursor AS (
    SELECT last_key FROM run
    UNION ALL
    SELECT %(after)s::bigint WHERE %(dry_run)s::boolean
), picked AS (
    SELECT c.id AS key, u.username, c.course_id, c.status
    FROM cursor, certificates_generatedcertificate c
    JOIN auth_user u ON u.id = c.user_id
    WHERE c.id > cursor.last_key
      AND (%(course_keys)s::text[] IS NULL OR c.course_id = ANY(%(course_keys)s::text[]))
      AND (%(user_ids)s::bigint[] IS NULL OR c.user_id = ANY(%(user_ids)s::bigint[]))
      AND ((%(start)s::timestamptz IS NULL AND %(end)s::timestamptz IS NULL)
           OR ((%(start)s::timestamptz IS NULL OR c.modified_date >= %(start)s::timestamptz)
               AND (%(end)s::timestamptz IS NULL OR c.modified_date < %(end)s::timestamptz))
           OR EXISTS (
               SELECT 1 FROM certificates_historicalcertificatedateoverride h
               WHERE h.generated_certificate_id = c.id
                 AND (%(start)s::timestamptz IS NULL OR h.history_date >= %(start)s::timestamptz)
                 AND (%(end)s::timestamptz IS NULL OR h.history_date < %(end)s::timestamptz)))
    ORDER BY c.id
    LIMIT %(batch)s::int
), items AS (
    SELECT key, 1 AS step, 'award_course_certificate' AS task,
           jsonb_build_object('username', username, 'course_run_key', course_id) AS payload
    FROM picked
    UNION ALL
    SELECT key, 2, 'send_grade_to_credentials',
           jsonb_build_object('username', username, 'course_run_key', course_id)
    FROM picked
    UNION ALL
    SELECT key, 3, 'award_program_certificates', jsonb_build_object('username', username)
    FROM picked
    WHERE %(notify_programs)s::boolean AND status IN ('downloadable', 'generating')
    UNION ALL
    SELECT key, 3, 'revoke_program_certificates',
           jsonb_build_object('username', username, 'course_key', course_id)
    FROM picked
    WHERE %(revoke_program_certs)s::boolean AND status NOT IN ('downloadable', 'generating')
), enqueued AS (
    INSERT INTO credsync.outbox (task, payload)
    SELECT task, payload FROM items WHERE NOT %(dry_run)s::boolean ORDER BY key, step
    RETURNING id
), counted AS (
    SELECT (SELECT count(*) FROM picked) AS picked,
           (SELECT max(key) FROM picked) AS last_key,
           (SELECT count(*) FROM enqueued) AS enqueued
), advanced AS (
    UPDATE credsync.notify n
    SET phase = CASE WHEN counted.picked < %(batch)s::int THEN 'grades' ELSE n.phase END,
        last_key = CASE WHEN counted.picked < %(batch)s::int THEN 0 ELSE counted.last_key END,
        rows = n.rows + counted.enqueued,
        updated_at = now()
    FROM run, counted
    WHERE n.name = run.name
    RETURNING n.rows
)
SELECT counted.picked, counted.last_key, counted.enqueued,
       (SELECT coalesce(jsonb_object_agg(t.task, t.n), '{}'::jsonb)
        FROM (SELECT task, count(*) AS n FROM items GROUP BY task) t) AS tasks,
       CASE WHEN %(dry_run)s::boolean THEN
           (SELECT coalesce(jsonb_agg(jsonb_build_object('task', task, 'payload', payload) ORDER BY key, step),
                            '[]'::jsonb)
            FROM items) END AS items,
       (SELECT rows FROM advanced) AS rows,
       %(dry_run)s::boolean OR EXISTS (SELECT 1 FROM run) AS ran
FROM counted;

-- name: notify_grades_batch
-- The grade phase of a notify run, one batch in one statement: send_grade_to_credentials for the
-- next grades (id order) of the selection's course runs and users modified in the window, but
-- not those whose certificate the certificate phase selected (it enqueued their grade check
-- already). The last batch finishes the run. Locking and dry runs as notify_certificates_batch.
WITH run AS (
    SELECT name, last_key FROM credsync.notify
    WHERE name = %(name)s AND phase = 'grades' AND finished_at IS NULL AND NOT %(dry_run)s::boolean
    FOR UPDATE
), cursor AS (
    SELECT last_key FROM run
    UNION ALL
    SELECT %(after)s::bigint WHERE %(dry_run)s::boolean
), picked AS (
    SELECT g.id AS key, u.username, g.course_id
    FROM cursor, grades_persistentcoursegrade g
    JOIN auth_user u ON u.id = g.user_id
    WHERE g.id > cursor.last_key
      AND (%(course_keys)s::text[] IS NULL OR g.course_id = ANY(%(course_keys)s::text[]))
      AND (%(user_ids)s::bigint[] IS NULL OR g.user_id = ANY(%(user_ids)s::bigint[]))
      AND (%(start)s::timestamptz IS NULL OR g.modified >= %(start)s::timestamptz)
      AND (%(end)s::timestamptz IS NULL OR g.modified < %(end)s::timestamptz)
      AND NOT EXISTS (
          SELECT 1 FROM certificates_generatedcertificate c
          WHERE c.user_id = g.user_id AND c.course_id = g.course_id
            AND ((%(start)s::timestamptz IS NULL AND %(end)s::timestamptz IS NULL)
                 OR ((%(start)s::timestamptz IS NULL OR c.modified_date >= %(start)s::timestamptz)
                     AND (%(end)s::timestamptz IS NULL OR c.modified_date < %(end)s::timestamptz))
                 OR EXISTS (
                     SELECT 1 FROM certificates_historicalcertificatedateoverride h
                     WHERE h.generated_certificate_id = c.id
                       AND (%(start)s::timestamptz IS NULL OR h.history_date >= %(start)s::timestamptz)
                       AND (%(end)s::timestamptz IS NULL OR h.history_date < %(end)s::timestamptz))))
    ORDER BY g.id
    LIMIT %(batch)s::int
), items AS (
    SELECT key, 1 AS step, 'send_grade_to_credentials' AS task,
           jsonb_build_object('username', username, 'course_run_key', course_id) AS payload
    FROM picked
), enqueued AS (
    INSERT INTO credsync.outbox (task, payload)
    SELECT task, payload FROM items WHERE NOT %(dry_run)s::boolean ORDER BY key, step
    RETURNING id
), counted AS (
    SELECT (SELECT count(*) FROM picked) AS picked,
           (SELECT max(key) FROM picked) AS last_key,
           (SELECT count(*) FROM enqueued) AS enqueued
), advanced AS (
    UPDATE credsync.notify n
    SET last_key = coalesce(counted.last_key, n.last_key),
        rows = n.rows + counted.enqueued,
        updated_at = now(),
        finished_at = CASE WHEN counted.picked < %(batch)s::int THEN now() END
    FROM run, counted
    WHERE n.name = run.name
    RETURNING n.rows
)
SELECT counted.picked, counted.last_key, counted.enqueued,
       (SELECT coalesce(jsonb_object_agg(t.task, t.n), '{}'::jsonb)
        FROM (SELECT task, count(*) AS n FROM items GROUP BY task) t) AS tasks,
       CASE WHEN %(dry_run)s::boolean THEN
           (SELECT coalesce(jsonb_agg(jsonb_build_object('task', task, 'payload', payload) ORDER BY key, step),
                            '[]'::jsonb)
            FROM items) END AS items,
       (SELECT rows FROM advanced) AS rows,
       %(dry_run)s::boolean OR EXISTS (SELECT 1 FROM run) AS ran
FROM counted;

-- == the web console (`credsync web`): reads as credsync_inspector, every one index-backed ==
-- None counts the outbox table: unfinished rows through their partial indexes (capped), finished
-- history from statistics (credsync.outbox_estimate) or over a bounded window of finished_at.

-- name: web_role_can_write
-- Whether the console's read role may change anything of credsync (it must not: it refuses to start).
SELECT coalesce(bool_or(has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')), false) AS can_write
FROM pg_class c
WHERE c.relnamespace = 'credsync'::regnamespace AND c.relkind IN ('r', 'p', 'v');

-- name: web_status_estimate
-- Estimated rows per task and status, from the (task, status) statistics: no scan of the table.
SELECT task, status, rows FROM credsync.outbox_estimate() ORDER BY task, status;

-- name: web_table_estimate
-- The table's estimated size and when its statistics were last gathered.
SELECT greatest(c.reltuples, 0)::bigint AS rows, pg_total_relation_size(c.oid) AS bytes,
       greatest(s.last_analyze, s.last_autoanalyze) AS analyzed_at
FROM pg_class c LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
WHERE c.oid = 'credsync.outbox'::regclass;

-- name: web_unfinished_counts
-- Exact rows per task and status of the unfinished rows (outbox_unfinished_key_idx), up to a cap.
SELECT task, status, count(*) AS rows
FROM (SELECT task, status FROM credsync.outbox
      WHERE status IN ('pending', 'enqueued', 'running', 'retrying') LIMIT %(cap)s) u
GROUP BY task, status ORDER BY task, status;

-- name: web_backlog
-- Pending rows (capped count), how many are due now, and the age of the oldest (outbox_pending_idx).
SELECT (SELECT count(*) FROM (SELECT 1 FROM credsync.outbox WHERE status = 'pending' LIMIT %(cap)s) p)
           AS pending,
       (SELECT count(*) FROM (SELECT 1 FROM credsync.outbox WHERE status IN ('pending', 'retrying')
                              AND run_after <= now() LIMIT %(cap)s) d) AS due,
       (SELECT extract(epoch FROM now() - created_at)::float8 FROM credsync.outbox
        WHERE status = 'pending' ORDER BY id LIMIT 1) AS oldest_pending_s;

-- name: web_finished_per_minute
-- Rows finished per minute since a time (index-only on outbox_finished_idx; cost grows with the
-- rows finished in the window, not with the table).
SELECT date_bin('1 minute', finished_at, %(since)s::timestamptz) AS minute, count(*) AS rows
FROM credsync.outbox
WHERE status IN ('done', 'failed') AND finished_at >= %(since)s::timestamptz
GROUP BY 1 ORDER BY 1;

-- name: web_failed_per_minute
-- Rows that failed per minute since a time (index-only on outbox_failed_idx).
SELECT date_bin('1 minute', finished_at, %(since)s::timestamptz) AS minute, count(*) AS rows
FROM credsync.outbox
WHERE status = 'failed' AND finished_at >= %(since)s::timestamptz
GROUP BY 1 ORDER BY 1;

-- name: web_pickup_latency
-- Insert-to-first-start seconds of the latest finished first attempts (a bounded walk of outbox_finished_idx).
SELECT count(*) AS rows,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY s) AS p50_s,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY s) AS p95_s
FROM (SELECT extract(epoch FROM started_at - greatest(created_at, run_after))::float8 AS s
      FROM (SELECT started_at, created_at, run_after, attempts, run FROM credsync.outbox
            WHERE status IN ('done', 'failed') ORDER BY finished_at DESC LIMIT %(sample)s) latest
      WHERE attempts = 1 AND run = 1 AND started_at IS NOT NULL) x;

-- name: web_failed_count
-- Failed rows, counted up to a cap (index-only on outbox_failed_idx).
SELECT count(*) AS rows FROM (SELECT 1 FROM credsync.outbox WHERE status = 'failed' LIMIT %(cap)s) f;

-- name: web_cooldowns
-- Holds in force now, longest first.
SELECT destination, kind, reason, since, until, extract(epoch FROM remaining)::float8 AS remaining_s
FROM credsync.cooldown_active ORDER BY until DESC LIMIT %(limit)s;

-- name: web_host_config_visible
-- Whether the console's role may read the host's Credentials config (host_credentials_config).
SELECT coalesce(has_table_privilege(to_regclass('credentials_credentialsapiconfig'), 'SELECT'), false)
       AS visible;

-- name: web_processes
-- credsync's processes connected to this database now, by application name (from pg_stat_activity).
SELECT application_name, count(*) AS connections
FROM pg_stat_activity
WHERE datname = current_database() AND application_name IN ('credsync-scanner', 'credsync-worker')
GROUP BY application_name;

-- name: web_tasks
-- The task names, for the filters.
SELECT name FROM credsync.task ORDER BY name;

-- name: web_failed_page
-- One page of failed rows matching a filter, newest first, after a (finished_at, id) cursor
-- (outbox_failed_idx: every bound is an index condition).
SELECT id, task, payload, attempts, run, last_error, created_at, finished_at
FROM credsync.outbox
WHERE status = 'failed'
  AND (%(task)s::text IS NULL OR task = %(task)s::text)
  AND (%(error)s::text IS NULL OR last_error ILIKE %(error)s::text)
  AND finished_at >= coalesce(%(since)s::timestamptz, '-infinity')
  AND finished_at < coalesce(%(until)s::timestamptz, 'infinity')
  AND (finished_at, id) < (coalesce(%(after_at)s::timestamptz, 'infinity'), coalesce(%(after_id)s::bigint, 0))
ORDER BY finished_at DESC, id DESC
LIMIT %(limit)s;

-- name: web_failed_match
-- How many failed rows a filter matches (finished no later than as_of), and the newest one's time.
SELECT count(*) AS rows, max(finished_at) AS newest
FROM credsync.outbox
WHERE status = 'failed'
  AND (%(task)s::text IS NULL OR task = %(task)s::text)
  AND (%(error)s::text IS NULL OR last_error ILIKE %(error)s::text)
  AND finished_at >= coalesce(%(since)s::timestamptz, '-infinity')
  AND finished_at < coalesce(%(until)s::timestamptz, 'infinity')
  AND finished_at <= coalesce(%(as_of)s::timestamptz, 'infinity');

-- name: web_failed_match_ids
-- A batch of ids of failed rows matching a filter (finished no later than as_of), newest first,
-- locked so two operators' retries never take the same row; outbox_retry_failed then retries them.
SELECT id
FROM credsync.outbox
WHERE status = 'failed'
  AND (%(task)s::text IS NULL OR task = %(task)s::text)
  AND (%(error)s::text IS NULL OR last_error ILIKE %(error)s::text)
  AND finished_at >= coalesce(%(since)s::timestamptz, '-infinity')
  AND finished_at < coalesce(%(until)s::timestamptz, 'infinity')
  AND finished_at <= coalesce(%(as_of)s::timestamptz, 'infinity')
ORDER BY finished_at DESC, id DESC
LIMIT %(batch)s
FOR UPDATE SKIP LOCKED;

-- name: web_waiting_rows
-- Rows waiting for a retry delay, a hold or a scheduled time, soonest due first (outbox_waiting_idx).
SELECT id, task, payload, status, attempts, run_after, extract(epoch FROM due_in)::float8 AS due_in_s,
       waiting_on, last_error
FROM credsync.outbox_waiting ORDER BY run_after LIMIT %(limit)s;

-- name: web_stuck_rows
-- In-flight rows past their lease, longest overdue first (outbox_in_flight_lease_idx).
SELECT id, task, payload, status, attempts, lease_until, extract(epoch FROM overdue)::float8 AS overdue_s,
       last_error
FROM credsync.outbox_stuck ORDER BY lease_until LIMIT %(limit)s;

-- name: web_oldest_pending
-- The oldest pending rows, with what they wait behind (outbox_pending_idx).
SELECT id, task, payload, attempts, created_at, run_after, waiting_on,
       extract(epoch FROM now() - created_at)::float8 AS age_s
FROM credsync.outbox WHERE status = 'pending' ORDER BY id LIMIT %(limit)s;

-- name: web_row_deliveries
-- The HTTP requests made for one row, in order (delivery_outbox_idx).
SELECT id, run, attempt, at, method, url, status, duration_ms, error
FROM credsync.delivery WHERE outbox_id = %(id)s ORDER BY id LIMIT %(limit)s;

-- name: web_learner_rows
-- A learner's rows, newest first (outbox_username_idx).
SELECT id, task, status, attempts, run, payload, created_at, finished_at, last_error,
       result ->> 'outcome' AS outcome, coalesce(result ->> 'reason', result ->> 'status') AS detail
FROM credsync.outbox WHERE payload ->> 'username' = %(username)s ORDER BY id DESC LIMIT %(limit)s;

-- name: web_course_rows
-- A course run's (or course's) rows, newest first (outbox_course_idx).
SELECT id, task, status, attempts, run, payload, created_at, finished_at, last_error,
       result ->> 'outcome' AS outcome, coalesce(result ->> 'reason', result ->> 'status') AS detail
FROM credsync.outbox
WHERE coalesce(payload ->> 'course_key', payload ->> 'course_run_key') = %(course_key)s
ORDER BY id DESC LIMIT %(limit)s;

-- name: web_backfills
-- Backfill runs, latest first.
SELECT name, kind, since, last_key, last_course_key, rows, started_at, updated_at, finished_at
FROM credsync.backfill ORDER BY updated_at DESC LIMIT %(limit)s;

-- name: web_notify_runs
-- `credsync notify` runs, latest first.
SELECT name, auto, phase, last_key, rows, window_start, window_end, started_at, updated_at, finished_at
FROM credsync.notify ORDER BY updated_at DESC LIMIT %(limit)s;

-- name: web_audit_recent
-- The console's write actions, latest first.
SELECT id, at, operator, action, filter, previewed, rows, finished_at, client
FROM credsync.web_audit ORDER BY at DESC, id DESC LIMIT %(limit)s;

-- name: web_audit_start
-- Record a write action before it changes anything (its rows advance with each batch).
INSERT INTO credsync.web_audit (operator, action, filter, previewed, client)
VALUES (%(operator)s, %(action)s, %(filter)s, %(previewed)s, %(client)s)
RETURNING id;

-- name: web_audit_add_rows
-- Count a batch of the action's rows, in the batch's transaction.
UPDATE credsync.web_audit SET rows = rows + %(rows)s WHERE id = %(id)s;

-- name: web_audit_finish
-- Mark the action finished.
UPDATE credsync.web_audit SET finished_at = now() WHERE id = %(id)s;

-- name: web_status_counts_small
-- Rows per task and status, read from at most cap rows: exact while the table is small (the
-- console uses it only then), a bounded read otherwise.
SELECT task, status, count(*) AS rows
FROM (SELECT task, status FROM credsync.outbox LIMIT %(cap)s) s
GROUP BY task, status ORDER BY task, status;
