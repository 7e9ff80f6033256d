"""credsync: keeps an Open edX Credentials service in sync through a transactional outbox.

The life of a row, and the module that does each step:

1. **Insert.** The host inserts a row into ``credsync.outbox`` in its own transaction; a trigger
   checks the task and the payload keys against ``credsync.task`` (``sql/migrations``, kept in
   step with ``worker.tasks.REGISTRY`` by ``worker.migrate``). History is re-sent the same way, in
   resumable batches of rows: ``credsync backfill`` (``worker.ops.backfill``) and ``credsync
   notify`` (``worker.ops.notify``, selection in ``worker.ops.notify_selection``).
2. **Claim.** ``worker.outbox.scanner`` claims due rows with ``FOR UPDATE SKIP LOCKED``, the oldest
   of each ordering key only (``worker.outbox.repository``, SQL in ``sql/queries.sql``), unless the
   host disabled sync or Credentials asked to wait (the gate of ``worker.composition.App.gate``,
   holds in ``worker.outbox.cooldowns``), and sends messages carrying row ids only: one row each,
   or, when a claim holds more than twice ``CREDSYNC_MESSAGES_PER_CLAIM`` rows of one task that
   never ran, several of them (``worker.outbox.messages``, ``worker.broker``).
3. **Run.** A Dramatiq actor (``worker.outbox.messages``) starts the attempt with a guarded update
   (``worker.outbox.actors``; a message of several rows starts them in one),
   runs the task's sync function (``worker.tasks`` → ``worker.sync.*``: certificates and programs,
   course dates, grades in ``worker.sync.grades``), which reads the host's tables
   (``worker.sync.host``) and calls Credentials (``worker.clients.credentials``, tokens
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
   (``worker.cli``), ``credsync doctor`` (``worker.ops.doctor``), metrics (``worker.metrics``:
   the workers' in ``worker.metrics.workers``, the scanner's and the outbox gauges in
   ``worker.metrics.scanning``), and the operators' web console (``worker.web``: reads through a
   read-only inspector login, audited bulk retry).

``worker.composition.build`` wires the broker, the machinery and the sync tasks together, once,
for every process: ``worker.app`` is what ``dramatiq`` and ``periodiq`` import, ``worker.cli``
runs the scanner, the scheduler and the commands from the same app, and the tests' pipeline is
built by it too. Imports run downward only: the bottom modules (``worker.errors``,
``worker.settings``, ``worker.db``, ...), then ``worker.clients``, then the domain
(``worker.sync``) beside the machinery (``worker.outbox``), which never import each other, then
``worker.broker``, ``worker.metrics`` and ``worker.tasks``, and the composition, the commands and
the tools at the top (``tests/unit/test_structure.py`` keeps the table).
"""
