"""The vacuum horizon check: the oldest transaction, prepared transaction or slot holding back vacuum."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from worker import db
from worker.ops.doctor import findings

CHECK_VACUUM_HORIZON = "vacuum horizon"

HORIZON_WARN_S = 5 * 60
HORIZON_FAIL_S = 60 * 60
#: A replication slot this many transactions behind is close to forcing anti-wraparound vacuums.
SLOT_XID_AGE_FAIL = 100_000_000
HORIZON_HOLDERS_LIMIT = 10

_SEVERITY: dict[findings.Verdict, int] = {"ok": 0, "warn": 1, "fail": 2}


def horizon_verdict(age_s: float | None) -> findings.Verdict:
    """ok up to 5 min, warn up to 1 h, fail beyond; ok when the age is unknown."""
    if age_s is None or age_s <= HORIZON_WARN_S:
        return "ok"
    return "warn" if age_s <= HORIZON_FAIL_S else "fail"


def _holder_verdict(holder: Mapping[str, Any], now_s: float) -> findings.Verdict:
    if holder["kind"] == "replication slot":
        if (holder["xid_age"] or 0) > SLOT_XID_AGE_FAIL:
            return "fail"
        return "warn" if holder["state"] == "inactive" else "ok"
    since = holder["since"]
    return horizon_verdict(None if since is None else now_s - since)


def check_vacuum_horizon(database: db.Database, *, now: Callable[[], float] = time.time) -> findings.Finding:
    """The oldest transaction, prepared transaction or replication slot holding back vacuum."""
    with database.transaction() as cur:
        findings.limit_statement_time(cur)
        holders = db.fetch_all(cur, "doctor_vacuum_horizon", {"limit": HORIZON_HOLDERS_LIMIT})
    if not holders:
        return findings.Finding(
            CHECK_VACUUM_HORIZON,
            "ok",
            "nothing holds back vacuum: no other open transaction with a snapshot, "
            "no prepared transaction, no replication slot with an xmin",
        )
    at = now()
    # Holders come oldest first by transaction id age; the worst verdict wins, then the oldest.
    worst = max(holders, key=lambda h: _SEVERITY[_holder_verdict(h, at)])
    verdict = _holder_verdict(worst, at)
    oldest = holders[0]
    summary = f"oldest of {len(holders)}{'+' if len(holders) >= HORIZON_HOLDERS_LIMIT else ''}: " + (
        _describe_holder(oldest, at)
    )
    if worst is not oldest:
        summary += f"; worst: {_describe_holder(worst, at)}"
    if verdict == "ok":
        return findings.Finding(CHECK_VACUUM_HORIZON, verdict, summary)
    return findings.Finding(CHECK_VACUUM_HORIZON, verdict, summary, _horizon_advice(worst))


def _describe_holder(holder: Mapping[str, Any], now_s: float) -> str:
    xids = f"{holder['xid_age']:,} transactions behind" if holder["xid_age"] is not None else "xmin unknown"
    if holder["kind"] == "session":
        who = ", ".join(
            part
            for part in (
                holder["state"] or "state unknown",
                f"user {holder['username']}" if holder["username"] else "",
                f"application {holder['application_name']!r}" if holder["application_name"] else "",
                f"client {holder['client_addr']}" if holder["client_addr"] else "",
            )
            if part
        )
        held = findings.duration(now_s - holder["since"]) if holder["since"] is not None else "unknown time"
        return (
            f"session pid {holder['pid']} ({who}) in its transaction for {held}, "
            f"{xids}; query: {holder['query']!r}"
        )
    if holder["kind"] == "prepared transaction":
        return (
            f"prepared transaction {holder['name']!r} (owner {holder['username']}) prepared "
            f"{findings.duration(now_s - holder['since'])} ago, {xids}"
        )
    pid = f", pid {holder['pid']}" if holder["pid"] is not None else ""
    return f"replication slot {holder['name']!r} ({holder['state']}{pid}), {xids}"


def _horizon_advice(holder: Mapping[str, Any]) -> str:
    if holder["kind"] == "session":
        pid = holder["pid"]
        advice = (
            f"find out what pid {pid} is doing (pg_stat_activity); if it is safe to end it: "
            f"SELECT pg_terminate_backend({pid}); (pg_cancel_backend only cancels a running query, not "
            "an idle transaction). To stop it happening again, set idle_in_transaction_session_timeout "
            f"(e.g. '5min') for role {holder['username'] or '?'} and fix the application that leaves "
            "transactions open."
        )
        if holder["query"] == "<insufficient privilege>":
            advice += " Grant pg_read_all_stats to the doctor's role to see other roles' queries."
        return advice
    if holder["kind"] == "prepared transaction":
        gid = str(holder["name"]).replace("'", "''")
        return (
            f"a two-phase transaction was prepared and never finished: ask its transaction manager, "
            f"then COMMIT PREPARED '{gid}' or ROLLBACK PREPARED '{gid}'."
        )
    name = str(holder["name"]).replace("'", "''")
    return (
        f"the standby or consumer of slot '{name}' is gone or far behind: reconnect it, or if the slot is "
        f"no longer needed: SELECT pg_drop_replication_slot('{name}');"
    )
