"""What must hold after any fault: every row settled, none lost or duplicated, legal paths, the host's truth.

``check`` proves it of one test's system: every row done or failed (failed only where the scenario
allows it); exactly the host's rows (plus the subtasks the workers insert); each row's status path
legal and continuous (``check_audit``), one running row per ordering key at a time, in insert order;
and the emulator holding exactly the host's truth for every settled (learner, run).
"""

from __future__ import annotations

import collections
import datetime
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from worker.emulator import server

if TYPE_CHECKING:
    from tests.faults import harness

FINISHED = ("done", "failed")
IN_FLIGHT = ("enqueued", "running", "retrying")
#: Every status change the machinery may make (README "Reading sync state", sql/queries.sql).
LEGAL_TRANSITIONS = frozenset(
    {
        ("pending", "enqueued"),  # claim
        ("enqueued", "pending"),  # release after a failed send; lease rescue
        ("enqueued", "running"),  # start
        ("enqueued", "failed"),  # unknown task; message dead before its first attempt
        ("running", "done"),
        ("running", "retrying"),
        ("running", "failed"),  # permanent error, retries exhausted, lost past its budget
        ("running", "pending"),  # lease rescue of a lost attempt
        ("retrying", "running"),
        ("retrying", "failed"),
        ("retrying", "pending"),  # lease rescue of a lost retry message
        ("failed", "pending"),  # `credsync retry`
    }
)


def check(
    system: harness.System,
    inserted: Iterable[int],
    *,
    may_fail: Iterable[int] = (),
    follow_ups: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """Assert that nothing was lost; returns the final rows.

    ``inserted``: the ids the host committed; ``may_fail``: rows the scenario expects may end
    failed; ``follow_ups``: tasks whose rows the workers themselves insert (subtasks).
    """
    rows = system.rows()
    by_id = {r["id"]: r for r in rows}
    inserted = set(inserted)
    context = system.report()
    # Every row done or failed.
    unsettled = [r for r in rows if r["status"] not in FINISHED]
    assert not unsettled, f"rows not settled: {unsettled[:5]}\n{context}"
    # None lost, none duplicated: exactly the host's rows (plus the subtasks the workers insert).
    assert len(by_id) == len(rows)
    missing = inserted - by_id.keys()
    assert not missing, f"rows lost: {sorted(missing)[:20]}"
    extra = [r for r in rows if r["id"] not in inserted and r["task"] not in set(follow_ups)]
    assert not extra, f"rows nobody inserted: {extra[:5]}"
    # No row failed unless the scenario expects it.
    unexpected = [r for r in rows if r["status"] == "failed" and r["id"] not in set(may_fail)]
    assert not unexpected, f"rows failed unexpectedly: {unexpected[:5]}\n{context}"
    for row in rows:
        if row["status"] == "failed":
            assert row["last_error"], f"row {row['id']} failed without a last_error: {row}"
    check_audit(system.audit(), {row_id: row["status"] for row_id, row in by_id.items()})
    _check_credentials(system, rows)
    return rows


def check_audit(audit: Sequence[Mapping[str, Any]], final_status: Mapping[int, str]) -> None:
    """Assert what the audit trail of status changes must show, whatever the faults were.

    Each row's path is continuous, starts ``pending``, uses only legal transitions and ends at the
    row's status; no two rows of one ordering key were ever ``running`` at the same time; and the
    rows of a key first started in insert (id) order. ``audit`` is in ``seq`` order.
    """
    paths: dict[int, list[Mapping[str, Any]]] = collections.defaultdict(list)
    for step in audit:
        paths[step["row_id"]].append(step)
    never = datetime.datetime.max.replace(tzinfo=datetime.UTC)
    spans: dict[str, list[tuple[datetime.datetime, datetime.datetime, int]]] = collections.defaultdict(list)
    first_starts: dict[str, list[tuple[datetime.datetime, int]]] = collections.defaultdict(list)
    for row_id, path in paths.items():
        assert path[0]["old_status"] == "pending", f"row {row_id} did not start pending: {path}"
        for before, after in itertools.pairwise(path):
            assert before["new_status"] == after["old_status"], f"row {row_id}: broken path {path}"
        for step in path:
            pair = (step["old_status"], step["new_status"])
            assert pair in LEGAL_TRANSITIONS, f"row {row_id}: illegal transition {pair} in {path}"
        assert path[-1]["new_status"] == final_status.get(row_id), (
            f"row {row_id} is not where it went: {path}"
        )
        key = path[0]["ordering_key"]
        started: datetime.datetime | None = None
        for step in path:
            if step["new_status"] == "running":
                if not any(span[2] == row_id for span in spans[key]) and started is None:
                    first_starts[key].append((step["at"], row_id))
                started = step["at"]
            elif step["old_status"] == "running":
                assert started is not None
                spans[key].append((started, step["at"], row_id))
                started = None
        if started is not None:
            spans[key].append((started, never, row_id))
    for key, key_spans in spans.items():
        key_spans.sort()
        for (start_a, end_a, id_a), (start_b, _, id_b) in itertools.pairwise(key_spans):
            assert end_a <= start_b, (
                f"ordering key {key}: rows {id_a} and {id_b} were running at the same time "
                f"({id_a} from {start_a} to {end_a}, {id_b} from {start_b})"
            )
    for key, starts in first_starts.items():
        in_start_order = [row_id for _, row_id in sorted(starts)]
        assert in_start_order == sorted(in_start_order), (
            f"ordering key {key}: rows first started out of insert order: {in_start_order}"
        )


def host_truth(system: harness.System) -> dict[tuple[str, str], str]:
    """(learner, run) → the course certificate status Credentials must hold, from the host tables.

    For every certificate an ``award_course_certificate`` row was written for, in an eligible
    mode of a run with a course overview: ``awarded`` iff downloadable, else ``revoked``.
    """
    with system.sql() as conn:
        found = conn.execute(
            "SELECT u.username, c.course_id, c.status FROM certificates_generatedcertificate c"
            " JOIN auth_user u ON u.id = c.user_id"
            " WHERE c.mode IN ('verified', 'professional', 'no-id-professional', 'credit', 'honor')"
            "   AND c.status NOT IN ('audit_passing', 'audit_notpassing')"
            "   AND EXISTS (SELECT 1 FROM course_overviews_courseoverview co WHERE co.id = c.course_id)"
            "   AND EXISTS (SELECT 1 FROM credsync.outbox o WHERE o.task = 'award_course_certificate'"
            "               AND o.payload->'username' = to_jsonb(u.username)"
            "               AND o.payload->'course_run_key' = to_jsonb(c.course_id))"
        ).fetchall()
    return {
        (r["username"], r["course_id"]): "awarded" if r["status"] == "downloadable" else "revoked"
        for r in found
    }


def held(system: harness.System) -> dict[tuple[str, str], str]:
    """(learner, run) → the status of the course-run credential the emulator holds."""
    return {
        (c["username"], c["credential"]["course_run_key"]): c["status"]
        for c in system.emulator.credentials()
        if c["credential"]["type"] == "course-run"
    }


def posts_per_learner(system: harness.System) -> collections.Counter[tuple[str, str]]:
    """Answered credential POSTs per (learner, run), as the emulator recorded them."""
    return collections.Counter(
        (r["json"]["username"], r["json"]["credential"]["course_run_key"])
        for r in system.emulator.requests()
        if r["method"] == "POST" and r["path"] == server.CREDENTIALS_PATH and r["status"] == 201
    )


def _check_credentials(system: harness.System, rows: Iterable[Mapping[str, Any]]) -> None:
    """Credentials holds the host's truth for every (learner, run) whose latest row is done."""
    latest: dict[tuple[str, str], Mapping[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["id"]):
        username, run = row["payload"].get("username"), row["payload"].get("course_run_key")
        if row["task"] == "award_course_certificate" and isinstance(username, str) and isinstance(run, str):
            latest[(username, run)] = row
    settled = {pair for pair, row in latest.items() if row["status"] == "done"}
    truth = {pair: status for pair, status in host_truth(system).items() if pair in settled}
    holds = held(system)
    unasked = set(holds) - set(latest)
    assert not unasked, f"Credentials holds certificates no row asked for: {sorted(unasked)[:10]}"
    holds = {pair: status for pair, status in holds.items() if pair in settled}
    wrong = {
        k: (truth.get(k), holds.get(k)) for k in truth.keys() | holds.keys() if truth.get(k) != holds.get(k)
    }
    assert not wrong, f"Credentials differs from the host ((learner, run): (host, credentials)): {wrong}"
