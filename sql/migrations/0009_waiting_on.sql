-- 0009: why a row waits without using an attempt is data, not a prefix of last_error.
-- Why: a row deferred by a hold (a Retry-After, a learner's read throttle, a refusal) had its
-- reason written into last_error as "waiting, no attempt used: ...", and outbox_waiting found such
-- rows with LIKE on that text. The reason now has its own column, cleared when the row runs again,
-- and last_error keeps only errors.

ALTER TABLE credsync.outbox ADD COLUMN waiting_on text;
COMMENT ON COLUMN credsync.outbox.waiting_on IS
    'Why the row waits until run_after without using an attempt (the hold it met), NULL otherwise.';

-- Rows deferred before this migration: their note moves over.
UPDATE credsync.outbox
SET waiting_on = substr(last_error, length('waiting, no attempt used: ') + 1), last_error = NULL
WHERE status = 'pending' AND last_error LIKE 'waiting, no attempt used: %';

CREATE OR REPLACE VIEW credsync.outbox_waiting AS
SELECT o.id, o.task, o.payload, o.status, o.attempts, o.run_after, o.run_after - now() AS due_in,
       o.last_error, (o.waiting_on IS NOT NULL) AS on_cooldown, o.waiting_on
FROM credsync.outbox o
WHERE o.status IN ('pending', 'retrying') AND o.run_after > now();
COMMENT ON VIEW credsync.outbox_waiting IS
    'Rows waiting for a retry delay, a hold (on_cooldown, waiting_on says which) or a scheduled time, and when they are due.';
