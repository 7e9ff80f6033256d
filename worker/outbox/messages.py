"""The broker messages of rows: what the scanner sends for claimed rows, and the actors that run them.

A message carries row ids only: one row, or, when a claim is deep, several rows of one task that
never ran (``pack``), so that one message, one consume and one ack serve several rows. A message
of several rows (``execute_rows``) starts them in one statement, runs them one after the other
(each as a lone row would run: ``worker.outbox.actors.Attempt``) and finishes the successful ones
in one statement. A permanent error fails its row at once and a hold defers it, as for a lone row.
Rows that fail transiently are named in the message's ``credsync_rows`` option and the message
goes to Dramatiq's Retries: its retry runs only those rows again, at the attempt the message
recorded (``credsync_attempt``). A row's attempts count on the row, and the rows one delivery
starts are all at the same attempt, which is the message's retry count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage

from worker import errors, outcomes
from worker.outbox import actors, handlers, rows

log = logging.getLogger(__name__)

#: Message option: the rows a delivery runs, then the rows its retry must run again.
ROWS_OPTION = "credsync_rows"


def pack(claimed: Sequence[rows.Claimed], *, most: int, spread: int) -> list[tuple[str, tuple[int, ...]]]:
    """The messages for claimed rows, as (task, row ids), ordered by their first row's id.

    A row that ran before goes alone (its retries are its own). The rows of a task that never ran
    share messages of ``len(rows) // spread`` rows, at least 1 and at most ``most``: a claim of
    fewer than ``2 * spread`` rows goes one row a message, a deeper one over at least ``spread``
    messages (so that many worker threads share it), up to ``most`` rows each.
    """
    packed: list[tuple[str, tuple[int, ...]]] = []
    fresh: dict[str, list[int]] = {}
    for row in claimed:
        if row.attempts == 0 and most > 1:
            fresh.setdefault(row.task, []).append(row.id)
        else:
            packed.append((row.task, (row.id,)))
    for task, ids in fresh.items():
        size = max(1, min(most, len(ids) // spread))
        packed.extend((task, tuple(ids[i : i + size])) for i in range(0, len(ids), size))
    return sorted(packed, key=lambda message: message[1][0])


def messages_for(
    claimed: Sequence[rows.Claimed], *, queue_name: str, most: int, spread: int
) -> list[dramatiq.Message[Any]]:
    """The scanner's messages for claimed rows: ``pack`` them, one message per (task, row ids)."""
    return [message_for(ids, task, queue_name) for task, ids in pack(claimed, most=most, spread=spread)]


def message_for(row_ids: int | Sequence[int], task: str, queue_name: str) -> dramatiq.Message[Any]:
    """The message of a row, or of rows of one task: their ids only."""
    args = (row_ids,) if isinstance(row_ids, int) else tuple(row_ids)
    return dramatiq.Message(queue_name=queue_name, actor_name=task, args=args, kwargs={}, options={})


def declare(
    broker: dramatiq.Broker,
    registry: handlers.Registry[Any],
    runtime: Callable[[], actors.Runtime[Any]],
    *,
    queue_name: str,
    time_limit_ms: int,
) -> dict[str, dramatiq.Actor[Any, Any]]:
    """Declare one actor per registered task on ``broker``; ``runtime`` is called per message."""
    declared = {}
    for spec in registry:
        declared[spec.name] = dramatiq.actor(
            actor_name=spec.name,
            queue_name=queue_name,
            broker=broker,
            throws=(errors.PermanentSyncError,),
            time_limit=time_limit_ms,
        )(_actor_function(spec, runtime))
    return declared


def _actor_function(
    spec: handlers.TaskSpec[Any], runtime: Callable[[], actors.Runtime[Any]]
) -> Callable[..., None]:
    def run(*row_ids: int) -> None:
        if len(row_ids) == 1:
            actors.execute_row(runtime(), spec, row_ids[0])
        else:
            execute_rows(runtime(), spec, row_ids)

    run.__name__ = spec.name
    run.__qualname__ = spec.name
    return run


def execute_rows(runtime: actors.Runtime[Any], spec: handlers.TaskSpec[Any], row_ids: Sequence[int]) -> None:
    """Run one delivery of a message of several rows; raise ``dramatiq.Retry`` when some must retry."""
    message = CurrentMessage.get_current_message()
    options: dict[str, Any] = message.options if message is not None else {}
    again = options.get(ROWS_OPTION)
    if again is None:
        started = runtime.outbox.start_many(row_ids, None)
    else:
        started = runtime.outbox.start_many(again, options.get(actors.ATTEMPT_OPTION))
    if not started:
        log.info(
            "message of %d %s rows: none to start (finished, or run by another message)",
            len(row_ids),
            spec.name,
        )
        return
    attempt = started[0].attempt
    options[actors.ATTEMPT_OPTION] = attempt
    options[ROWS_OPTION] = [row.id for row in started]  # what a retry runs if this delivery is cut short
    options["retries"] = attempt - 1  # Retries counts from the rows' attempts
    for row in started:
        runtime.in_flight.add(row.id)
    finished: list[tuple[actors.Attempt, outcomes.Outcome]] = []
    failed: list[tuple[rows.Started, Exception]] = []
    try:
        for row in started:
            one = actors.Attempt(runtime, spec, row)
            try:
                outcome = one.run()
            except errors.PermanentSyncError:
                _fail_now(runtime, spec, row)
                continue
            except Exception as exc:
                failed.append((row, exc))
                continue
            if outcome is not None:
                finished.append((one, outcome))
    finally:
        # Every started row keeps its lease alive (the heartbeat) until its outcome is written:
        # a row that ran first is still running on the table while the others run.
        try:
            _finish(runtime, spec, finished)
        finally:
            for row in started:
                runtime.in_flight.discard(row.id)
    if failed:
        options[ROWS_OPTION] = [row.id for row, _ in failed]
        delays = [exc.delay for _, exc in failed if isinstance(exc, dramatiq.Retry) and exc.delay is not None]
        raise dramatiq.Retry(
            f"{len(failed)} of {len(started)} rows will retry", delay=max(delays) if delays else None
        ) from failed[0][1]


def _fail_now(runtime: actors.Runtime[Any], spec: handlers.TaskSpec[Any], row: rows.Started) -> None:
    """A permanent error of one row of several: the row fails now (a lone row's goes through ``throws``)."""
    if runtime.outbox.mark_failed(
        row.id, row.attempt, on_finished=lambda latency_s: runtime.report(spec.name, "failed", latency_s)
    ):
        log.error("row %d (%s) failed after attempt %d", row.id, spec.name, row.attempt)


def _finish(
    runtime: actors.Runtime[Any],
    spec: handlers.TaskSpec[Any],
    finished: Sequence[tuple[actors.Attempt, outcomes.Outcome]],
) -> None:
    """Record the successful attempts: those without follow-up rows in one statement."""
    together = [(one, outcome, outcome.as_result()) for one, outcome in finished if not outcome.follow_ups]
    won = runtime.outbox.mark_done_many(
        [(one.row.id, one.row.attempt, result) for one, _, result in together],
        on_finished=lambda latency_s: runtime.report(spec.name, "done", latency_s),
    )
    for one, outcome, result in together:
        one.done(outcome, result, one.row.id in won)
    for one, outcome in finished:
        if outcome.follow_ups:
            result = outcome.as_result()
            alone = runtime.outbox.mark_done(
                one.row.id,
                one.row.attempt,
                result,
                [(f.task, f.payload) for f in outcome.follow_ups],
                on_finished=lambda latency_s: runtime.report(spec.name, "done", latency_s),
            )
            one.done(outcome, result, alone)
