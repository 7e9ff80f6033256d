"""credsync: keeps an Open edX Credentials service in sync through a transactional outbox.

The life of a row, and the module that does each step:

1. **Insert.** The host inserts a row into ``credsync.outbox`` in its own transaction; a trigger
   checks the task and the payload keys against ``credsync.task`` (``sql/migrations``, kept in
   step with ``worker.tasks.REGISTRY`` by ``worker.migrate``).
2. **Claim.** ``worker.outbox.scanner`` claims due rows with ``FOR UPDATE SKIP LOCKED``, the oldest
   of each ordering key only (``worker.outbox.repository``, SQL in ``sql/queries.sql``), unless the
   host disabled sync or Credentials asked to wait (``worker.outbox.cooldowns``), and sends one
   message per row, the row id only (``worker.broker``, ``worker.outbox.actors.message_for``).
3. **Run.** A Dramatiq actor (``worker.outbox.actors``) starts the attempt with a guarded update,
   runs the task's sync function (``worker.tasks`` → ``worker.sync.*``), which reads the host's
   tables (``worker.sync.host``) and calls Credentials (``worker.clients.credentials``, tokens
   from ``worker.clients.tokens`` or OAuth), every request written to the delivery ledger
   (``worker.outbox.ledger``).
4. **Outcome.** ``done`` with ``result`` (``worker.outcomes``: sent, skipped, enqueued follow-up
   rows); a hold (a cooldown, a learner's throttle, a refusal) puts the row back without using an
   attempt; a transient error retries through Dramatiq's Retries, a permanent one fails at once
   (``worker.errors``); ``worker.outbox.middleware`` mirrors Dramatiq's decision onto the row
   (``retrying``, ``failed``) and keeps leases alive with a heartbeat.
5. **Repair.** The scanner puts rows whose lease expired back to pending within seconds;
   ``worker.outbox.maintenance`` (every minute under periodiq, ``worker.scheduler``) does it too,
   prunes old finished rows and scans once.
6. **Inspect.** SQL views in schema ``credsync``, ``credsync status|failed|show|retry``
   (``worker.cli``), ``credsync doctor`` (``worker.ops.doctor``), metrics (``worker.metrics``).

``worker.app`` wires the broker, the machinery and the sync tasks together: it is what the
Procfile's processes run. The machinery (``worker.outbox``) never imports the domain
(``worker.sync``, ``worker.clients``).
"""
