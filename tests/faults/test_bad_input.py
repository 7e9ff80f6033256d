"""Whatever a host inserts, it is rejected at INSERT or settles, and never blocks the good rows."""

from __future__ import annotations

from typing import Any

import psycopg
from hypothesis import example, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from tests.faults import harness, host
from worker import tasks
from worker.sync import course_dates

KNOWN_TASKS = tasks.REGISTRY.names()
PAYLOAD_KEYS = ["username", "course_run_key", "course_key", "certificate_available_date"]
RUN = host.RUNS[0]
PLAUSIBLE = [
    "good00",
    "good01",
    "nobody",
    "",
    RUN,
    host.RUNS[1],
    "course-v1:edX+Nowhere+2026",
    "edX/DemoX/2026",
    "not a course key",
    "2026-09-01T00:00:00Z",
    "2026-13-45",
]

# JSON without what jsonb cannot hold (NUL characters, lone surrogates) or JSON cannot (NaN, inf).
text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=24)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
    | st.sampled_from(PLAUSIBLE)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)
task_names = (
    st.sampled_from(KNOWN_TASKS)
    | st.sampled_from([name.upper() for name in KNOWN_TASKS] + [name + " " for name in KNOWN_TASKS])
    | text
)


@st.composite
def outbox_rows(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A task name and a payload that, for a known task, usually has its required keys (any value)."""
    task = draw(task_names)
    payload = draw(st.dictionaries(st.sampled_from(PAYLOAD_KEYS) | text, json_values, max_size=3))
    required = tasks.REGISTRY[task].required_keys if task in tasks.REGISTRY else ()
    for key in required:
        if draw(st.integers(0, 9)) > 0:
            payload[key] = draw(st.sampled_from(PLAUSIBLE) | json_values)
    return task, payload


def test_arbitrary_rows_are_rejected_at_insert_or_settle_and_the_good_rows_beside_them_end_done(
    system: harness.System,
) -> None:
    # Given the processes running, and good rows committed before and after the arbitrary ones
    host.add_course_runs(system)
    system.start_all()
    good = host.awards(system, [f"good{i:02d}" for i in range(10)], host.RUNS[:2])
    accepted: list[int] = []
    rejected: list[tuple[str, dict[str, Any], str]] = []

    # When a host inserts arbitrary payloads for known and unknown task names with plain SQL
    with psycopg.connect(system.url, autocommit=True) as conn:

        @settings(deadline=None, max_examples=50, database=None)
        @given(row=outbox_rows())
        @example(row=("award_course_certificate", {"username": 42, "course_run_key": RUN}))
        @example(row=("award_course_certificate", {"username": "good00", "course_run_key": None}))
        @example(row=("award_course_certificate", {"username": "good00"}))
        @example(row=("no_such_task", {"username": "good00"}))
        @example(row=("revoke_program_certificates", {"username": "good01", "course_key": "nope"}))
        @example(row=("update_certificate_available_date_on_course_update", {"course_key": RUN}))
        @example(row=(course_dates.SUBTASK, {"course_key": RUN, "certificate_available_date": "2026-13-45"}))
        def insert(row: tuple[str, dict[str, Any]]) -> None:
            task, payload = row
            try:
                inserted = conn.execute(
                    "INSERT INTO credsync.outbox (task, payload) VALUES (%s, %s) RETURNING id",
                    (task, Jsonb(payload)),
                ).fetchone()
            except psycopg.Error as exc:
                rejected.append((task, payload, str(exc)))
                return
            assert inserted is not None
            accepted.append(inserted[0])

        insert()
    good += host.awards(system, [f"good{i:02d}" for i in range(10, 20)], host.RUNS[:2])

    # Then each is either rejected at INSERT, saying why...
    unexplained = [r for r in rejected if not r[2].startswith("credsync.outbox: ")]
    assert not unexplained, f"rejected without credsync's message: {unexplained[:5]}"
    # ... or settles: done, or failed with its reason
    system.wait_settled()
    rows = system.check_invariants(good + accepted, may_fail=accepted, follow_ups=[course_dates.SUBTASK])
    by_id = {r["id"]: r for r in rows}
    # And the good rows beside them all end done, and Credentials holds the host's truth
    assert [by_id[i]["status"] for i in good] == ["done"] * len(good)
    failed = [by_id[i] for i in accepted if by_id[i]["status"] == "failed"]
    assert all(r["last_error"].strip() for r in failed)
    # (and the examples met every outcome)
    assert rejected, "no row was rejected at INSERT"
    assert failed, "no accepted row failed"
    assert any(by_id[i]["status"] == "done" for i in accepted), "no accepted row ended done"
