-- 0004: progress of backfills (`credsync backfill`, upstream's "backpopulate" commands).
-- Why: a backfill enqueues one outbox row per learner or per certificate of the whole platform,
-- in batches. Each batch's INSERT into credsync.outbox and the advance of its run here are one
-- statement, so they commit together: a crash loses nothing, and running the same backfill again
-- continues after last_key instead of enqueuing the finished part twice. The run row is locked by
-- each batch, so two operators running the same backfill at once take turns, never overlap.

CREATE TABLE credsync.backfill (
    -- The run: kind plus the "since" bound, e.g. 'programs@all', 'course_certificates@2026-01-01T00:00:00Z'.
    name            text PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('programs', 'course_certificates')),
    -- Only certificates modified at or after this time count; NULL: every certificate.
    since           timestamptz,
    -- The last key enqueued: auth_user.id (programs) or certificates_generatedcertificate.id.
    last_key        bigint NOT NULL DEFAULT 0,
    rows            bigint NOT NULL DEFAULT 0 CHECK (rows >= 0),
    started_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- Set by the batch that found fewer rows than it asked for; a finished run is only started
    -- again on request (`restart`).
    finished_at     timestamptz
);
COMMENT ON TABLE credsync.backfill IS
    'Backfill runs: how far each got (last_key, rows) and whether it finished; a rerun continues from here.';

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'credsync_worker') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON credsync.backfill TO credsync_worker;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'credsync_inspector') THEN
        GRANT SELECT ON credsync.backfill TO credsync_inspector;
    END IF;
END
$$;
