-- 0011: progress of `credsync notify` runs (upstream's notify_credentials), and course-date backfills.
-- Why: a notify run re-sends the history of many learners as outbox rows, in batches, like a
-- backfill (0004): each batch's INSERT into credsync.outbox and the advance of its run here are one
-- statement, so a crash loses nothing and running the same command again continues after last_key
-- instead of enqueuing the finished part twice. A run has two phases, certificates (keyed by
-- certificates_generatedcertificate.id) then grades (grades_persistentcoursegrade.id), and keeps
-- the selection it was started with, so an operator can read what it covers. `--auto` runs chain:
-- each starts where the last one with the same filters ended (window_end), so a missed cron run
-- leaves no gap (upstream's --auto looked back a fixed 4 hours).
-- The course-date backfill (upstream's backfill_date_for_all_course_runs) walks
-- course_overviews_courseoverview, whose key is text: it keeps its place in last_course_key.

CREATE TABLE credsync.notify (
    -- 'notify@<hash of the selection>' or 'auto@<window_end>/<hash of the filters>'.
    name                    text PRIMARY KEY,
    auto                    boolean NOT NULL DEFAULT false,
    -- Hash of the filters other than the time window: --auto runs with equal filters chain.
    filters                 text NOT NULL,
    -- NULL: every course run / every user.
    course_keys             text[],
    user_ids                bigint[],
    -- Changes at or after window_start and before window_end count; NULL: unbounded.
    window_start            timestamptz,
    window_end              timestamptz,
    notify_programs         boolean NOT NULL DEFAULT false,
    revoke_program_certs    boolean NOT NULL DEFAULT false,
    phase                   text NOT NULL DEFAULT 'certificates' CHECK (phase IN ('certificates', 'grades')),
    -- The last key of the phase enqueued.
    last_key                bigint NOT NULL DEFAULT 0,
    -- Outbox rows enqueued by the run.
    rows                    bigint NOT NULL DEFAULT 0 CHECK (rows >= 0),
    started_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    finished_at             timestamptz
);
COMMENT ON TABLE credsync.notify IS
    '`credsync notify` runs: the selection, how far each got (phase, last_key, rows) and whether it '
    'finished; a rerun continues from here.';

-- The last --auto run of a set of filters, for the next one to start where it ended.
CREATE INDEX notify_auto_idx ON credsync.notify (filters, window_end) WHERE auto;

ALTER TABLE credsync.backfill DROP CONSTRAINT backfill_kind_check;
ALTER TABLE credsync.backfill ADD CONSTRAINT backfill_kind_check
    CHECK (kind IN ('programs', 'course_certificates', 'course_dates'));
-- The last course_overviews_courseoverview.id enqueued by a course-date backfill ('' before the first).
ALTER TABLE credsync.backfill ADD COLUMN last_course_key text NOT NULL DEFAULT '';

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'credsync_worker') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON credsync.notify TO credsync_worker;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'credsync_inspector') THEN
        GRANT SELECT ON credsync.notify TO credsync_inspector;
    END IF;
END
$$;
