"""The end-to-end ceiling: the same handlers, called directly from a thread pool in each process.

No outbox bookkeeping, no broker, no delivery ledger: one child process per shard of the backlog
(``python -m benchmarks.direct``) builds the same dependencies a worker process builds (database
pool, Credentials client with its token cache and cooldown check, rules: ``App.deps`` of
``worker.composition``) and runs each row's
handler, and the handlers of the follow-up rows it hands over, on ``--threads`` threads. It says
``ready`` once loaded, starts on a line from stdin, prints one JSON line when done, and exits
on the next line.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import resource
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from worker import composition, db, settings, tasks


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.direct")
    parser.add_argument("--shard", type=int, required=True)
    parser.add_argument("--shards", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args()
    config = settings.load()
    database = db.Database(config.database_url, host_schema=config.host_schema, max_size=args.threads + 2)
    with database.transaction() as cur:
        cur.execute(
            "SELECT task, payload FROM credsync.outbox WHERE id %% %s = %s ORDER BY id",
            (args.shards, args.shard),
        )
        backlog = [(r["task"], r["payload"]) for r in cur.fetchall()]
    deps = composition.build(config).deps(database)  # as a worker builds them, minus the delivery ledger
    outcomes: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def run(task: str, payload: Mapping[str, Any]) -> None:
        try:
            outcome = tasks.REGISTRY[task].execute(deps, payload)
            kind = type(outcome).__name__.lower()
            follow_ups = [(f.task, f.payload) for f in outcome.follow_ups]
        except Exception as exc:  # counted: a row the outbox would retry or fail
            kind, follow_ups = f"error:{type(exc).__name__}", []
        with lock:
            outcomes[kind] += 1
        for follow_task, follow_payload in follow_ups:
            run(follow_task, follow_payload)

    print("ready", flush=True)
    sys.stdin.readline()
    with concurrent.futures.ThreadPoolExecutor(args.threads) as pool:
        for future in [pool.submit(run, task, payload) for task, payload in backlog]:
            future.result()
    finished = time.time()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = usage.ru_utime + usage.ru_stime
    print(json.dumps({"finished_at": finished, "outcomes": outcomes, "cpu_s": cpu_s}), flush=True)
    sys.stdin.readline()  # the parent reads the CPU use of every process first (Postgres's too)
    deps.credentials.close()
    database.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
