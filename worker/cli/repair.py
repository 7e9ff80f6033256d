"""The ``credsync`` commands that change rows: retry, prune, enqueue."""

from __future__ import annotations

import argparse
import json
import sys

from worker import settings
from worker.cli import common


def register(add: common.Add) -> None:
    p = add("retry", _retry, "put failed rows back to pending with a fresh attempt budget")
    p.add_argument("ids", type=common.row_id, nargs="*")
    p.add_argument("--task", help="only failed rows of this task (with --all-failed)")
    p.add_argument("--all-failed", action="store_true", help="every failed row (or of --task)")
    p.add_argument("--dry-run", action="store_true", help="only count what would be retried")

    p = add("prune", _prune, "delete finished rows older than the retention")
    p.add_argument("--older-than-days", type=common.days, default=None, help="for done and failed rows alike")

    p = add("enqueue", _enqueue, "insert one outbox row (as a host would)")
    p.add_argument("task")
    p.add_argument("payload", help="JSON object")


def _retry(args: argparse.Namespace) -> int:
    if not args.ids and not args.all_failed:
        print("credsync: name row ids, or pass --all-failed [--task T]", file=sys.stderr)
        return common.EXIT_USAGE
    with common.outbox(settings.load_core()) as outbox:
        ids = list(args.ids) if args.ids else outbox.failed_ids(args.task)
        if args.dry_run:
            print(f"{len(ids)} failed rows would be retried")
            return common.EXIT_OK
        retried = outbox.retry_failed(ids)
    skipped = len(ids) - len(retried)
    print(f"{len(retried)} rows back to pending" + (f" ({skipped} were not failed)" if skipped else ""))
    return common.EXIT_OK


def _prune(args: argparse.Namespace) -> int:
    config = settings.load_core()
    done_days = config.retention_done_days if args.older_than_days is None else args.older_than_days
    failed_days = config.retention_failed_days if args.older_than_days is None else args.older_than_days
    total = 0
    with common.outbox(config) as outbox:
        while deleted := outbox.prune_finished(done_days=done_days, failed_days=failed_days):
            total += deleted
    print(f"pruned {total} rows")
    return common.EXIT_OK


def _enqueue(args: argparse.Namespace) -> int:
    try:
        payload = json.loads(args.payload)
    except (ValueError, RecursionError) as exc:
        # JSONDecodeError, an integer past Python's digit limit, or nesting past the recursion limit
        print(f"credsync: the payload is not JSON: {exc}", file=sys.stderr)
        return common.EXIT_USAGE
    with common.outbox(settings.load_core()) as outbox:
        print(outbox.insert(args.task, payload))
    return common.EXIT_OK
