"""Every statement of the console's pages, run as the read-only role: one small method per page part."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from typing import Any

from worker import db
from worker.ops import doctor
from worker.web import filters

#: Unfinished rows are counted exactly up to this many; beyond it the page says "at least".
COUNT_CAP = 100_000
#: Below this many rows (by the table's estimate) every count is exact: reading them all is cheap.
SMALL_TABLE = 50_000
#: Failed rows are counted exactly up to this many.
FAILED_CAP = 10_000
#: Finished first attempts the pickup latency is taken over.
LATENCY_SAMPLE = 500
PAGE_ROWS = 50
HISTORY_ROWS = 200
LEDGER_ROWS = 500
CHART_HOURS = 3
UNFINISHED = ("pending", "enqueued", "running", "retrying")


@dataclasses.dataclass(frozen=True)
class Overview:
    """What the overview page shows."""

    counts: list[dict[str, Any]]
    estimated_total: int
    analyzed_at: datetime.datetime | None
    backlog: dict[str, Any]
    failed: int
    minutes: list[tuple[datetime.datetime, int, int]]
    last_hour_finished: int
    last_hour_failed: int
    latency: dict[str, Any]
    cooldowns: list[dict[str, Any]]
    config: dict[str, Any] | None
    config_visible: bool
    processes: dict[str, int]

    @property
    def failure_rate(self) -> float | None:
        """Failed over finished in the last hour; None when nothing finished."""
        return self.last_hour_failed / self.last_hour_finished if self.last_hour_finished else None


class Reader:
    """The console's reads, over a pool whose sessions are read-only."""

    def __init__(self, database: db.Database) -> None:
        self.database = database

    def role_can_write(self) -> bool:
        with self.database.statement() as cur:
            row = db.fetch_one(cur, "web_role_can_write")
        return bool(row and row["can_write"])

    def tasks(self) -> list[str]:
        with self.database.statement() as cur:
            return [r["name"] for r in db.fetch_all(cur, "web_tasks")]

    def overview(self, now: datetime.datetime | None = None) -> Overview:
        """Every figure of the overview; a handful of index-backed statements, none over the table."""
        now = now or datetime.datetime.now(datetime.UTC)
        since = (now - datetime.timedelta(hours=CHART_HOURS)).replace(second=0, microsecond=0)
        with self.database.statement() as cur:
            table = db.fetch_one(cur, "web_table_estimate") or {}
            small = int(table.get("rows") or 0) < SMALL_TABLE
            estimates = (
                db.fetch_all(cur, "web_status_counts_small", {"cap": SMALL_TABLE})
                if small
                else db.fetch_all(cur, "web_status_estimate")
            )
            unfinished = db.fetch_all(cur, "web_unfinished_counts", {"cap": COUNT_CAP})
            backlog = db.fetch_one(cur, "web_backlog", {"cap": COUNT_CAP}) or {}
            failed = db.fetch_one(cur, "web_failed_count", {"cap": FAILED_CAP}) or {}
            finished = db.fetch_all(cur, "web_finished_per_minute", {"since": since})
            failed_minutes = db.fetch_all(cur, "web_failed_per_minute", {"since": since})
            latency = db.fetch_one(cur, "web_pickup_latency", {"sample": LATENCY_SAMPLE}) or {}
            cooldowns = db.fetch_all(cur, "web_cooldowns", {"limit": 50})
            visible_row = db.fetch_one(cur, "web_host_config_visible")
            visible = bool(visible_row and visible_row["visible"])
            config = db.fetch_one(cur, "host_credentials_config") if visible else None
            processes = {r["application_name"]: r["connections"] for r in db.fetch_all(cur, "web_processes")}
        return Overview(
            counts=_merge_counts(estimates, unfinished, estimated=not small),
            estimated_total=int(table.get("rows") or 0),
            analyzed_at=table.get("analyzed_at"),
            backlog=backlog,
            failed=int(failed.get("rows") or 0),
            minutes=_minutes(since, now, finished, failed_minutes),
            last_hour_finished=_since(finished, now - datetime.timedelta(hours=1)),
            last_hour_failed=_since(failed_minutes, now - datetime.timedelta(hours=1)),
            latency=latency,
            cooldowns=cooldowns,
            config=config,
            config_visible=visible,
            processes=processes,
        )

    def failed_page(
        self, where: filters.FailedFilter, after: tuple[datetime.datetime, int] | None = None
    ) -> list[dict[str, Any]]:
        params = {
            **where.params(),
            "after_at": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": PAGE_ROWS,
        }
        with self.database.statement() as cur:
            return db.fetch_all(cur, "web_failed_page", params)

    def failed_match(
        self, where: filters.FailedFilter, as_of: datetime.datetime | None = None
    ) -> dict[str, Any]:
        """How many failed rows match (the retry preview), and when the newest of them failed."""
        with self.database.statement() as cur:
            row = db.fetch_one(cur, "web_failed_match", {**where.params(), "as_of": as_of})
        return row or {"rows": 0, "newest": None}

    def waiting(self) -> dict[str, list[dict[str, Any]]]:
        with self.database.statement() as cur:
            return {
                "waiting": db.fetch_all(cur, "web_waiting_rows", {"limit": PAGE_ROWS}),
                "stuck": db.fetch_all(cur, "web_stuck_rows", {"limit": PAGE_ROWS}),
                "oldest": db.fetch_all(cur, "web_oldest_pending", {"limit": PAGE_ROWS}),
            }

    def row(self, row_id: int) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """One row, every column, and its HTTP requests from the delivery ledger."""
        with self.database.statement() as cur:
            found = db.fetch_one(cur, "outbox_get", {"id": row_id})
            ledger = (
                db.fetch_all(cur, "web_row_deliveries", {"id": row_id, "limit": LEDGER_ROWS}) if found else []
            )
        return found, ledger

    def learner(self, username: str) -> list[dict[str, Any]]:
        with self.database.statement() as cur:
            return db.fetch_all(cur, "web_learner_rows", {"username": username, "limit": HISTORY_ROWS})

    def course(self, course_key: str) -> list[dict[str, Any]]:
        with self.database.statement() as cur:
            return db.fetch_all(cur, "web_course_rows", {"course_key": course_key, "limit": HISTORY_ROWS})

    def progress(self) -> dict[str, list[dict[str, Any]]]:
        with self.database.statement() as cur:
            return {
                "backfills": db.fetch_all(cur, "web_backfills", {"limit": 50}),
                "notify": db.fetch_all(cur, "web_notify_runs", {"limit": 50}),
            }

    def audit(self) -> list[dict[str, Any]]:
        with self.database.statement() as cur:
            return db.fetch_all(cur, "web_audit_recent", {"limit": 100})

    def doctor(self, broker_url: str | None, queue_name: str) -> list[doctor.Finding]:
        """The doctor's checks that only read: the table, the vacuum horizon, the broker.

        The claim check runs the claim under EXPLAIN ANALYZE (it locks rows) and the Credentials
        check needs the service's secrets: neither belongs to a read-only console.
        """
        checks: list[tuple[str, Callable[[], doctor.Finding]]] = [
            (doctor.CHECK_OUTBOX_TABLE, lambda: doctor.check_outbox_table(self.database)),
            (doctor.CHECK_VACUUM_HORIZON, lambda: doctor.check_vacuum_horizon(self.database)),
            (doctor.CHECK_BROKER, lambda: doctor.check_broker(broker_url, queue_name)),
        ]
        found = []
        for name, check in checks:
            try:
                found.append(check())
            except Exception as exc:  # one check's failure is its finding, as in `credsync doctor`
                first = (str(exc).strip().splitlines() or [""])[0][:300]
                found.append(doctor.Finding(name, "fail", f"the check could not run: {first}"))
        return found


def _merge_counts(
    finished: list[db.Row], unfinished: list[db.Row], *, estimated: bool
) -> list[dict[str, Any]]:
    """Unfinished rows counted, finished ones estimated (or counted, on a small table): by task and status."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for r in finished:
        if r["status"] not in UNFINISHED and r["rows"]:
            merged[(r["task"], r["status"])] = {**r, "estimated": estimated}
    for r in unfinished:
        merged[(r["task"], r["status"])] = {**r, "estimated": r["rows"] >= COUNT_CAP}
    return [merged[k] for k in sorted(merged)]


def _minutes(
    since: datetime.datetime, now: datetime.datetime, finished: list[db.Row], failed: list[db.Row]
) -> list[tuple[datetime.datetime, int, int]]:
    """(minute, finished, failed) for every minute of the window, zeros included."""
    done = {r["minute"]: r["rows"] for r in finished}
    bad = {r["minute"]: r["rows"] for r in failed}
    out = []
    minute = since
    while minute <= now:
        out.append((minute, int(done.get(minute, 0)), int(bad.get(minute, 0))))
        minute += datetime.timedelta(minutes=1)
    return out


def _since(rows: list[db.Row], start: datetime.datetime) -> int:
    return sum(int(r["rows"]) for r in rows if r["minute"] >= start.replace(second=0, microsecond=0))
