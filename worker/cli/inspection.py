"""The ``credsync`` commands that look without changing anything: status, failed, show, wait, doctor."""

from __future__ import annotations

import argparse
import json
import sys
import time

from worker import errors, settings
from worker.cli import common

DEFAULT_FAILED_LIMIT = 20
DEFAULT_WAIT_TIMEOUT_S = 300.0
#: ``credsync wait`` looks again this often.
WAIT_POLL_S = 0.2


def register(add: common.Add) -> None:
    p = add("status", _status, "rows per task and status, and whether processing is paused")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--fail-on-failed", action="store_true", help="exit 1 when any row is failed")

    p = add("failed", _failed, "recent failed rows with their last error")
    p.add_argument("--limit", type=common.positive_int, default=DEFAULT_FAILED_LIMIT)

    p = add("show", _show, "one row, every column")
    p.add_argument("id", type=common.row_id)

    add("doctor", _doctor, "check the database, the broker and Credentials; a verdict and advice for each")

    p = add("wait", _wait, "wait until every row is done or failed")
    p.add_argument(
        "--timeout",
        type=common.positive_float,
        default=DEFAULT_WAIT_TIMEOUT_S,
        help=f"seconds (default {DEFAULT_WAIT_TIMEOUT_S:.0f})",
    )


def _status(args: argparse.Namespace) -> int:
    from worker.outbox import cooldowns

    config: settings.CoreSettings
    try:
        config = settings.load()  # with CREDENTIALS_URL, the scanner's gate pauses on its cooldowns too
    except errors.ConfigurationError:
        config = settings.load_core()
    with common.outbox(config) as outbox:
        summary = outbox.summary()
        activity = outbox.recent_activity()
        paused = common.app(config).gate(outbox.database)()
        holds = cooldowns.Cooldowns(outbox.database, cache_s=0).holds()
    cooling = [f"{h.scope}: {h.reason}" for h in holds if h.kind != "refused"]
    refused = [h.reason for h in holds if h.kind == "refused"]
    failed = sum(r["rows"] for r in summary if r["status"] == "failed")
    if args.json:
        print(
            json.dumps(
                {"rows": summary, **activity, "paused": paused, "cooldowns": cooling, "refused": refused},
                default=str,
            )
        )
    else:
        common.print_table(["task", "status", "rows", "oldest_age_s"], summary)
        oldest = activity["oldest_pending_s"]
        print(f"finished per minute (last hour): {activity['finished_per_minute']:.1f}")
        print(f"oldest pending row: {'none' if oldest is None else f'{oldest:.0f} s old'}")
        print(f"processing: {'PAUSED: ' + paused if paused else 'active'}")
        for line in refused:
            print(f"REFUSED (rows that need it wait, no attempt used): {line}")
        for line in cooling:
            print(f"cooling down: {line}")
    return common.EXIT_PROBLEM if args.fail_on_failed and failed else common.EXIT_OK


def _failed(args: argparse.Namespace) -> int:
    with common.outbox(settings.load_core()) as outbox:
        rows = outbox.recent_failed(args.limit)
    common.print_table(["id", "task", "attempts", "finished_at", "last_error", "payload"], rows)
    return common.EXIT_OK


def _show(args: argparse.Namespace) -> int:
    from worker.outbox import ledger

    with common.outbox(settings.load_core()) as outbox:
        row = outbox.get(args.id)
        if row is not None:
            row["deliveries"] = ledger.Ledger(outbox.database).of_row(args.id)
    if row is None:
        print(f"credsync: no outbox row {args.id}", file=sys.stderr)
        return common.EXIT_PROBLEM
    print(json.dumps(row, indent=2, default=str))
    return common.EXIT_OK


def _doctor(args: argparse.Namespace) -> int:
    from worker.ops import doctor

    config = settings.load_core()
    client = None
    try:
        full = settings.load()
    except errors.ConfigurationError as exc:
        full = None
        print(f"credsync: Credentials not checked: {exc}", file=sys.stderr)
    try:
        with common.outbox(config) as outbox:
            if full is not None:
                # No hold book: the doctor's probes must not make rows wait.
                client = common.app(full).client(outbox.database, holds=False)
            findings = doctor.run(
                database=outbox.database,
                broker_url=config.broker_url,
                queue_name=config.queue_name,
                credentials=client,
                claim=doctor.ClaimSettings.of(config),
            )
    finally:
        if client is not None:
            client.close()
    print(doctor.render(findings))
    return doctor.exit_code(findings)


def _wait(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout
    with common.outbox(settings.load_core()) as outbox:
        while (left := outbox.unsettled_count()) > 0:
            if time.monotonic() > deadline:
                print(f"credsync: {left} rows still unsettled after {args.timeout:.0f} s", file=sys.stderr)
                return common.EXIT_PROBLEM
            time.sleep(WAIT_POLL_S)
    return common.EXIT_OK
