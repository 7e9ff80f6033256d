"""The outbox table check: live and dead tuples, size and the last (auto)vacuum of ``credsync.outbox``."""

from __future__ import annotations

import time
from collections.abc import Callable

from worker import db, errors
from worker.ops.doctor import findings

CHECK_OUTBOX_TABLE = "outbox table"

#: Dead tuples worth a VACUUM: more than this share of the live ones, and more than DEAD_TUPLES_WARN.
DEAD_RATIO_WARN = 0.20
DEAD_TUPLES_WARN = 10_000
#: A table autovacuum never visited, with this many dead tuples.
DEAD_TUPLES_NEVER_VACUUMED_WARN = 100_000


def outbox_table_verdict(*, live: int, dead: int, last_autovacuum: float | None) -> findings.Verdict:
    """warn when dead tuples exceed 20 % of the live ones and 10,000, or 100,000 never autovacuumed."""
    if dead > DEAD_TUPLES_WARN and dead > DEAD_RATIO_WARN * live:
        return "warn"
    if last_autovacuum is None and dead > DEAD_TUPLES_NEVER_VACUUMED_WARN:
        return "warn"
    return "ok"


def check_outbox_table(database: db.Database, *, now: Callable[[], float] = time.time) -> findings.Finding:
    """Size, live and dead tuples and the last autovacuum of ``credsync.outbox``."""
    with database.transaction() as cur:
        findings.limit_statement_time(cur)
        row = db.fetch_one(cur, "doctor_outbox_table")
    if row is None:
        raise errors.DatabaseError("credsync.outbox has no statistics row (is track_counts off?)")
    live, dead = int(row["live"]), int(row["dead"])
    at = now()
    ratio = f"{dead / live:.0%} of live" if live else ("no live rows" if dead else "none")
    summary = (
        f"{live:,} live rows, {dead:,} dead ({ratio}), "
        f"{findings.byte_size(int(row['total_bytes']))} with indexes; "
        f"last autovacuum {findings.ago(row['last_autovacuum'], at)}, "
        f"last vacuum {findings.ago(row['last_vacuum'], at)}, "
        f"last autoanalyze {findings.ago(row['last_autoanalyze'], at)}"
    )
    if not row["autovacuum_server"]:
        summary += "; autovacuum is OFF server-wide"
    if not row["autovacuum_table"]:
        summary += "; autovacuum is OFF for this table"
    verdict = outbox_table_verdict(live=live, dead=dead, last_autovacuum=row["last_autovacuum"])
    if verdict == "ok":
        return findings.Finding(CHECK_OUTBOX_TABLE, verdict, summary)
    advice = []
    if not row["autovacuum_server"]:
        advice.append("turn autovacuum on (autovacuum = on in postgresql.conf, then reload);")
    if not row["autovacuum_table"]:
        advice.append("turn autovacuum back on: ALTER TABLE credsync.outbox RESET (autovacuum_enabled);")
    advice.append(
        "run VACUUM (VERBOSE, ANALYZE) credsync.outbox now. If dead rows keep piling up, first see the "
        "vacuum horizon check (an old transaction keeps dead rows from being removed), then let "
        "autovacuum visit the table sooner: ALTER TABLE credsync.outbox SET "
        "(autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000, "
        "autovacuum_vacuum_cost_delay = 1); and prune finished rows sooner "
        "(CREDSYNC_RETENTION_DONE_DAYS, `credsync prune`)."
    )
    return findings.Finding(CHECK_OUTBOX_TABLE, verdict, summary, " ".join(advice))
