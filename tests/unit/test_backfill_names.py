"""A backfill run's name: its kind and its bound in UTC (what ``credsync backfill`` resumes by).

The backfill itself, against the host tables, is in tests/integration/test_backfill.py.
"""

from __future__ import annotations

import datetime

from worker.ops import backfill


def test_a_run_is_named_by_its_kind_and_its_bound_in_utc() -> None:
    # Given a bound in another time zone, When the run is named, Then the name holds it in UTC
    paris = datetime.timezone(datetime.timedelta(hours=1))
    assert backfill.run_name("programs", None) == "programs@all"
    assert (
        backfill.run_name("programs", datetime.datetime(2026, 1, 1, 1, tzinfo=paris))
        == "programs@2026-01-01T00:00:00Z"
    )
