"""The INSERT door: whatever a host inserts is refused with a clear message, or stored and settled.

A refusal is credsync's (``credsync.outbox: ...``, migrations 0001 and 0010) or, for what jsonb
cannot hold at all, Postgres' own answer to the literal before any trigger runs. A row that is
stored goes through the real pipeline (scanner, StubBroker, worker, emulator) and ends ``done``
with a reason or ``failed`` with a message at its first attempt: a retry here, where Credentials
is healthy, would mean the worker met an error it did not expect.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import rig as rigs
from tests.fuzz import doors, strategies
from tests.platform import Platform
from worker import tasks

PROGRAM = "5b2b4c8e-0d7d-4c55-9a53-0f1b5d1e3a11"
RUN = strategies.RUN
KNOWN = tasks.REGISTRY.names()
#: What Postgres answers to a jsonb literal it cannot hold, before any trigger: a NUL (22P05), a
#: lone surrogate or malformed JSON (22P02), a number past numeric's range (22003), nesting past
#: the server's stack (54001).
POSTGRES_INPUT_REFUSALS = {
    "22P05": "unsupported Unicode escape sequence",
    "22P02": "invalid input syntax for type json",
    "22003": "value overflows numeric format",
    "54001": "stack depth limit exceeded",
}

unknown_task_names = (
    st.sampled_from([name.upper() for name in KNOWN] + [name + " " for name in KNOWN])
    | strategies.clean_text
    | strategies.sized_text()
)
run_afters = st.sampled_from(
    [None, None, None, None, "infinity", "-infinity", "epoch", "2000-01-01T00:00:00Z"]
)


@st.composite
def host_inserts(draw: st.DrawFn) -> tuple[str, str | None, str | None]:
    """A task name, the payload as JSON text (None: SQL NULL) and a run_after, as a host might send them.

    (Each rare branch is the largest draw: hypothesis leans towards small draws, and the common
    case should be a known task with its keys, so that most rows get past the door and run.)
    """
    task = draw(st.sampled_from(KNOWN) if draw(st.integers(0, 9)) < 9 else unknown_task_names)
    dirty = draw(st.integers(0, 19)) == 19
    payload: Any
    if draw(st.integers(0, 9)) == 9:
        payload = draw(strategies.values(dirty=dirty))
    else:
        keys = st.sampled_from(strategies.DECLARED_KEYS) | strategies.clean_text
        payload = draw(st.dictionaries(keys, strategies.values(dirty=dirty, max_leaves=6), max_size=4))
        required = tasks.REGISTRY[task].required_keys if task in tasks.REGISTRY else ()
        for key in required:
            if draw(st.integers(0, 9)) < 9:
                plausible = draw(st.integers(0, 2)) < 2
                payload[key] = draw(
                    st.sampled_from(strategies.PLAUSIBLE)
                    if plausible
                    else strategies.sized_text() | strategies.values(dirty=dirty, max_leaves=4)
                )
    text = None if draw(st.integers(0, 49)) == 49 else draw(strategies.json_text(payload))
    return task, text, draw(run_afters)


@pytest.fixture
def rig(database: Any, platform: Platform) -> Iterator[rigs.Rig]:
    """The pipeline on a small platform: ada holds a certificate in a run of a program, bob does not."""
    platform.enable_credentials()
    platform.service_user()
    platform.course_run(RUN)
    ada = platform.learner("ada")
    platform.learner("bob")
    platform.certificate(ada["id"], RUN)
    platform.program(PROGRAM, "Demo", {"courses": [{"course_runs": [{"key": RUN, "type": "verified"}]}]})
    # No read throttle: the same few learners are read thousands of times in the long form.
    with rigs.emulator(throttle_rate_per_min=1_000_000_000) as emulator:
        emulator.add_course_runs([RUN])
        emulator.configure_program(PROGRAM, course_runs=[RUN])
        r = rigs.Rig(database, emulator, max_retries=1)
        try:
            yield r
        finally:
            r.close()


REFUSAL_KINDS = [
    "unknown task",
    "must be a JSON object",
    "needs payload key",
    "characters long; at most",
    "characters; at most",
    "bytes as JSON text",
    "levels deep",
    "holds a number",
    "run_after",
    "ordering key",
]


def _kind(message: str) -> str:
    return next((kind for kind in REFUSAL_KINDS if kind in message), message)


def _count(sql: Any) -> int:
    return int(sql.execute("SELECT count(*) AS n FROM credsync.outbox").fetchone()["n"])


@doors.EXAMPLES
@given(insert=host_inserts())
def test_every_insert_is_refused_clearly_or_stored_and_settled_at_its_first_attempt(
    sql: Any, rig: rigs.Rig, insert: tuple[str, str | None, str | None]
) -> None:
    task, payload, run_after = insert
    with doors.attempt("insert"):
        # Given the outbox as the earlier inputs left it (every row settled)
        before = _count(sql)
        # When a host inserts the row
        refusal: psycopg.Error | None = None
        try:
            row = sql.execute(
                "INSERT INTO credsync.outbox (task, payload, run_after)"
                " VALUES (%s, %s::jsonb, %s::timestamptz) RETURNING id",
                (task, payload, run_after),
            ).fetchone()
        except psycopg.Error as exc:
            refusal = exc
        if refusal is not None:
            # Then a refusal is credsync's clear message, or Postgres' own about the literal
            message = str(refusal.diag.message_primary)
            if isinstance(refusal, psycopg.errors.CheckViolation):
                assert message.startswith("credsync.outbox: "), message
                doors.answered("insert", f"refused: {_kind(message)}")
            else:
                assert POSTGRES_INPUT_REFUSALS.get(str(refusal.sqlstate)) == message, refusal.sqlstate
                doors.answered("insert", f"refused by Postgres ({refusal.sqlstate})")
            # And nothing was written
            assert _count(sql) == before
            return
        assert _count(sql) == before + 1
        # Or the row is stored, and the pipeline settles it (and whatever it enqueued in turn)
        rig.pipeline.drain()
        stored = rig.pipeline.row(row["id"])
        assert stored["status"] in ("done", "failed"), stored
        assert stored["attempts"] == 1, stored
        if stored["status"] == "done":
            assert stored["result"], stored
        else:
            assert stored["last_error"], stored
        doors.answered("insert", f"stored, {stored['status']}")
