-- 0006: one definition of "the head of its ordering key", for the claim and everything that mirrors it.
-- Why: the scanner's claim, the doctor's backlog check and the claim-lag metric each carried their
-- own copy of this predicate, and a plan fix (OFFSET 0) had to be made three times. A simple view
-- is inlined by the planner (the claim still walks outbox_pending_idx and locks outbox rows with
-- FOR UPDATE OF ... SKIP LOCKED through it).

CREATE VIEW credsync.outbox_head AS
SELECT o.*
FROM credsync.outbox o
WHERE o.status = 'pending'
  -- Only the oldest unfinished row of an ordering key may run: one in flight per key, in insert
  -- order. A stale snapshot can only make this more conservative, never less.
  -- OFFSET 0 keeps this a probe of outbox_unfinished_key_idx per row. As an anti-join, with
  -- statistics taken while few rows were unfinished (a big history, then a burst), the planner
  -- scanned the whole index for every row: 2 s to claim 500 of 9,000 pending rows, not 10 ms.
  AND NOT EXISTS (
      SELECT 1 FROM credsync.outbox p
      WHERE p.ordering_key = o.ordering_key
        AND p.id < o.id
        AND p.status IN ('pending', 'enqueued', 'running', 'retrying')
      OFFSET 0);
COMMENT ON VIEW credsync.outbox_head IS
    'Pending rows that are the oldest unfinished row of their ordering key: what the scanner claims once due.';

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'credsync_worker') THEN
        -- UPDATE: the claim locks the rows it reads through the view (FOR UPDATE).
        GRANT SELECT, UPDATE ON credsync.outbox_head TO credsync_worker;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'credsync_inspector') THEN
        GRANT SELECT ON credsync.outbox_head TO credsync_inspector;
    END IF;
END
$$;
