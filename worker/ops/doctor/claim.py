"""The claim check: its plan under EXPLAIN ANALYZE (rolled back), the pending backlog and the claim lag."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from worker import db, errors, settings
from worker.ops.doctor import findings
from worker.outbox import repository
from worker.sync import host

CHECK_CLAIM_QUERY = "claim query"

CLAIM_LAG_WARN_S = 60


@dataclasses.dataclass(frozen=True)
class ClaimSettings:
    """The scanner's settings the claim check runs the claim with (the live CREDSYNC_* values)."""

    batch: int = settings.defaults.DEFAULT_CLAIM_BATCH
    max_in_flight: int = settings.defaults.DEFAULT_MAX_IN_FLIGHT
    lease_s: int = settings.defaults.DEFAULT_LEASE_S
    #: A claim slower than the scanner's poll interval cannot keep up with a busy outbox.
    scan_interval_ms: int = settings.defaults.DEFAULT_SCAN_INTERVAL_MS

    @classmethod
    def of(cls, config: settings.CoreSettings) -> ClaimSettings:
        return cls(config.claim_batch, config.max_in_flight, config.lease_s, config.scan_interval_ms)


#: A Seq Scan of the outbox inside the claim is harmless on a small table (the planner's own choice).
SEQ_SCAN_TOLERATED_ROWS = 10_000
PENDING_INDEX = "outbox_pending_idx"


def claim_lag_verdict(lag_s: float | None) -> findings.Verdict:
    """warn when the oldest claimable row has been due for more than a minute."""
    return "warn" if lag_s is not None and lag_s > CLAIM_LAG_WARN_S else "ok"


@dataclasses.dataclass(frozen=True)
class ClaimPlan:
    """What EXPLAIN ANALYZE says about one (rolled back) claim."""

    execution_ms: float
    planning_ms: float
    would_claim: int
    buffers: int
    indexes: frozenset[str]
    #: Rows read by Seq Scan nodes on the outbox (0: none).
    seq_scan_rows: int


def parse_claim_plan(explained: Sequence[Mapping[str, Any]]) -> ClaimPlan:
    """Read ``EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`` output of the claim."""
    top = explained[0]
    indexes: set[str] = set()
    seq_rows = 0
    stack: list[Mapping[str, Any]] = [top["Plan"]]
    while stack:
        node = stack.pop()
        stack.extend(node.get("Plans", []))
        if "Index Name" in node:
            indexes.add(str(node["Index Name"]))
        if node.get("Node Type") == "Seq Scan" and node.get("Relation Name") == "outbox":
            per_loop = int(node.get("Actual Rows", 0)) + int(node.get("Rows Removed by Filter", 0))
            seq_rows += per_loop * int(node.get("Actual Loops", 1))
    plan = top["Plan"]
    return ClaimPlan(
        execution_ms=float(top.get("Execution Time", 0.0)),
        planning_ms=float(top.get("Planning Time", 0.0)),
        would_claim=int(plan.get("Actual Rows", 0)),
        buffers=int(plan.get("Shared Hit Blocks", 0)) + int(plan.get("Shared Read Blocks", 0)),
        indexes=frozenset(indexes),
        seq_scan_rows=seq_rows,
    )


def explain_claim(database: db.Database, claim: ClaimSettings = ClaimSettings()) -> ClaimPlan:
    """EXPLAIN ANALYZE the scanner's claim with ``claim``'s parameters, rolled back: nothing is claimed."""
    outbox = repository.Outbox(database, lease_s=claim.lease_s)
    explained = outbox.explain_claim(
        batch=claim.batch, max_in_flight=claim.max_in_flight, prepare=findings.limit_statement_time
    )
    return parse_claim_plan(explained)


def check_claim_query(
    database: db.Database, *, claim: ClaimSettings = ClaimSettings(), now: Callable[[], float] = time.time
) -> findings.Finding:
    """The claim's plan and timing (with the scanner's settings), the pending backlog and the claim lag."""
    at = now()
    with database.transaction() as cur:
        findings.limit_statement_time(cur)
        backlog = db.fetch_one(cur, "doctor_outbox_backlog", {"now": findings.timestamp(at)})
    assert backlog is not None  # an aggregate always returns its row
    plan = explain_claim(database, claim)
    try:
        paused = host.HostReader(database).paused_reason()
        paused_note = f"; claims PAUSED: {paused}" if paused else ""
    except errors.DatabaseError as exc:
        paused, paused_note = None, f"; the host's Credentials config is unreadable ({exc})"
    since = backlog["oldest_claimable_since"]
    lag_s = None if since is None else max(0.0, at - since)
    uses_index = PENDING_INDEX in plan.indexes
    summary = (
        f"claim (batch {claim.batch}) ran in {plan.execution_ms:.1f} ms "
        f"(planning {plan.planning_ms:.1f} ms, {plan.buffers:,} buffers) and would claim "
        f"{plan.would_claim:,} rows; {'uses' if uses_index else 'does NOT use'} {PENDING_INDEX}"
        + (f"; Seq Scan on outbox read {plan.seq_scan_rows:,} rows" if plan.seq_scan_rows else "")
        + f"; {backlog['pending']:,} pending, {backlog['due']:,} due, {backlog['claimable']:,} claimable, "
        f"{backlog['in_flight']:,} in flight; claim lag "
        + ("none" if lag_s is None else findings.duration(lag_s))
        + paused_note
    )
    advice: list[str] = []
    if plan.seq_scan_rows > SEQ_SCAN_TOLERATED_ROWS:
        advice.append(
            f"the claim scans the outbox sequentially: check the partial indexes exist (\\d credsync.outbox: "
            f"{PENDING_INDEX}, outbox_unfinished_key_idx) and run ANALYZE credsync.outbox."
        )
    if plan.execution_ms > claim.scan_interval_ms:
        advice.append(
            "the claim is slow: dead row versions in the pending index slow it down; "
            "VACUUM credsync.outbox and see the outbox table and vacuum horizon checks."
        )
    if paused and backlog["due"]:
        advice.append(
            "rows wait because sync is paused: enable the host's Credentials config "
            "(a new credentials_credentialsapiconfig row with enabled and enable_learner_issuance true)."
        )
    elif claim_lag_verdict(lag_s) != "ok":
        if backlog["in_flight"] >= claim.max_in_flight:
            advice.append(
                "rows wait because the in-flight limit (CREDSYNC_MAX_IN_FLIGHT) is reached: the workers "
                "do not finish rows; check the worker processes and the broker check."
            )
        else:
            advice.append(
                "due rows are not being claimed: is the scanner process running (Procfile `scanner`)? "
                "Check its logs. (A row released by its predecessor a moment ago can show once; "
                "run the doctor again.)"
            )
    if not advice:
        return findings.Finding(CHECK_CLAIM_QUERY, "ok", summary)
    return findings.Finding(CHECK_CLAIM_QUERY, "warn", summary, " ".join(advice))
