-- 0007: holds of three kinds in credsync.cooldown, and runs of a row told apart.
-- Why holds: a Retry-After held a whole destination, so one learner's read throttle (15 reads a
-- minute per learner on a default Credentials install) paused every learner; and a refusal (HTTP
-- 403, or 401 with a fresh token) burnt every row's retry budget although no attempt could change
-- it. `destination` now names a scope: `scheme://host[:port]` for the whole service (Retry-After
-- on a service-user call), `...#learner:<username>` for one learner's reads, and
-- `...#refused:<METHOD> <path>` for one kind of call Credentials refuses. Rows that meet a hold
-- wait without using an attempt; `since` tells when a refusal began (one ERROR log line per pause).
-- Why runs: `credsync retry` starts a row's attempts again from 1, so the ledger could not tell a
-- re-run's requests from the first run's; and the failed run's error stayed on a row that then
-- ended done.

ALTER TABLE credsync.cooldown
    ADD COLUMN kind text NOT NULL DEFAULT 'retry_after'
        CHECK (kind IN ('retry_after', 'learner_throttle', 'refused')),
    ADD COLUMN since timestamptz NOT NULL DEFAULT now();
COMMENT ON TABLE credsync.cooldown IS
    'Holds: a scope of Credentials calls nothing is sent to before until (Retry-After, a learner''s '
    'read throttle, or a refusal); rows that meet one wait without using an attempt.';
COMMENT ON COLUMN credsync.cooldown.destination IS
    'The scope held: scheme://host[:port], or with #learner:<username> or #refused:<METHOD> <path>.';

CREATE OR REPLACE VIEW credsync.cooldown_active AS
SELECT destination, until, until - now() AS remaining, reason, updated_at, kind, since
FROM credsync.cooldown
WHERE until > now();
COMMENT ON VIEW credsync.cooldown_active IS
    'Holds in force now: Retry-After cooldowns, learners'' read throttles and refusals (kind).';

ALTER TABLE credsync.outbox ADD COLUMN run integer NOT NULL DEFAULT 1;
COMMENT ON COLUMN credsync.outbox.run IS
    'How many times the row was run from its first attempt: 1, plus one per `credsync retry`.';

ALTER TABLE credsync.delivery ADD COLUMN run integer NOT NULL DEFAULT 1;
COMMENT ON COLUMN credsync.delivery.run IS 'The run of the outbox row the request was made in.';
