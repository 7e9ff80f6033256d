"""Every process doubled: two workers, two scanners, two schedulers on one outbox."""

from __future__ import annotations

from tests.faults import harness, host
from worker.emulator import server


def test_with_two_of_every_process_each_row_runs_once_and_in_order_per_learner(
    system: harness.System,
) -> None:
    # Given Credentials answering in ~10 ms, and two workers, two scanners and two schedulers running
    system.emulator.add_fault(
        server.Fault(method="POST", path_prefix=server.CREDENTIALS_PATH, action="latency", latency_ms=10)
    )
    host.add_course_runs(system)
    system.start_all(workers=2, scanners=2, schedulers=2)

    # When a host commits 300 rows for 60 learners: each learner's three certificates, then changes
    # to two of them (a revocation racing its award if ordering broke)
    learners = [f"twice{i:02d}" for i in range(60)]
    ids = host.awards(system, learners)
    flip = {"downloadable": "notpassing", "notpassing": "downloadable"}
    changes = [
        (username, run, flip[host.certificate_status(i, j)])
        for i, username in enumerate(learners)
        for j, run in enumerate(host.RUNS[:2])
    ]
    ids += host.changes(system, changes)
    assert len(ids) == 300

    # Then every row ran exactly once, one at a time per learner in insert order, and Credentials
    # holds the host's truth
    system.wait_settled()
    rows = system.check_invariants(ids)
    assert [r["id"] for r in rows if r["attempts"] != 1] == []
    assert all(r["status"] == "done" for r in rows)
    # And both workers did part of the work
    for role in ("worker", "worker2"):
        assert "done, sent" in system.log(role), f"{role} ran no row\n{system.output()}"
