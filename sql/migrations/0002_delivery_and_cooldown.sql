-- 0002: the delivery ledger and per-destination cooldowns.
-- Why the ledger: after a crash between a successful HTTP call and the row update, the row says
-- "running" (then "pending" again) while Credentials already has the change. Each HTTP attempt is
-- recorded here as it happens, in its own transaction, so an operator can answer "was it sent?".
-- Rows are pruned with their outbox row (ON DELETE CASCADE).
-- Why cooldowns: a 429 or 503 with Retry-After is about the service, not one row. Recording it
-- here lets every worker and the scanner hold off that service until then, and rows that meet it
-- wait without using an attempt, instead of every worker hammering it one row at a time.

CREATE TABLE credsync.delivery (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id       bigint NOT NULL REFERENCES credsync.outbox (id) ON DELETE CASCADE,
    attempt         integer NOT NULL,
    at              timestamptz NOT NULL DEFAULT now(),
    method          text NOT NULL,
    url             text NOT NULL,
    status          integer,            -- NULL: no answer (connection refused, reset, timeout)
    duration_ms     integer NOT NULL,
    error           text
);
COMMENT ON TABLE credsync.delivery IS
    'Every HTTP request made for an outbox row, as it happened: was it sent, and what was answered.';
-- A row's history, and the cascade of pruning.
CREATE INDEX delivery_outbox_idx ON credsync.delivery (outbox_id, id);

CREATE TABLE credsync.cooldown (
    destination     text PRIMARY KEY,   -- scheme://host[:port] of a Credentials service
    until           timestamptz NOT NULL,
    reason          text NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE credsync.cooldown IS
    'Services that asked credsync to wait (429/503 with Retry-After): nothing is sent there before until.';

CREATE VIEW credsync.cooldown_active AS
SELECT destination, until, until - now() AS remaining, reason, updated_at
FROM credsync.cooldown
WHERE until > now();
COMMENT ON VIEW credsync.cooldown_active IS 'Cooldowns in force now.';

-- Rows waiting because their attempt met a cooldown (they used no attempt).
CREATE OR REPLACE VIEW credsync.outbox_waiting AS
SELECT id, task, payload, status, attempts, run_after, run_after - now() AS due_in, last_error
FROM credsync.outbox
WHERE status IN ('pending', 'retrying') AND run_after > now();
