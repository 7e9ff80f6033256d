"""`credsync doctor`'s rules on their own: the verdict thresholds, reading a claim plan, redacting URLs.

The checks that gather the figures from Postgres, the broker and Credentials are in
tests/integration/test_doctor.py.
"""

from __future__ import annotations

import pytest

from worker.ops import doctor

# -- outbox table ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("live", "dead", "last_autovacuum", "verdict"),
    [
        (100_000, 15_000, 1.0, "ok"),  # 15 % of live
        (100_000, 25_000, 1.0, "warn"),  # 25 % of live and over 10,000
        (0, 9_000, None, "ok"),  # all dead but few
        (0, 10_001, 1.0, "warn"),
        (1_000_000, 150_000, None, "warn"),  # 15 % only, but never autovacuumed with over 100,000
        (1_000_000, 150_000, 1.0, "ok"),
    ],
)
def test_the_outbox_table_verdict_weighs_dead_tuples_against_live_ones_and_autovacuum(
    live: int, dead: int, last_autovacuum: float | None, verdict: str
) -> None:
    assert doctor.outbox_table_verdict(live=live, dead=dead, last_autovacuum=last_autovacuum) == verdict


# -- vacuum horizon --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age_s", "verdict"),
    [(None, "ok"), (0, "ok"), (300, "ok"), (301, "warn"), (3600, "warn"), (3601, "fail"), (86_400, "fail")],
)
def test_the_horizon_verdict_warns_after_5_minutes_and_fails_after_an_hour(
    age_s: float | None, verdict: str
) -> None:
    assert doctor.horizon_verdict(age_s) == verdict


# -- claim query -----------------------------------------------------------------------------------


def test_a_plan_that_scans_the_outbox_sequentially_counts_the_rows_it_read() -> None:
    explained = [
        {
            "Plan": {
                "Node Type": "ModifyTable",
                "Actual Rows": 0,
                "Plans": [
                    {
                        "Node Type": "Seq Scan",
                        "Relation Name": "outbox",
                        "Actual Rows": 500,
                        "Rows Removed by Filter": 49_500,
                        "Actual Loops": 1,
                    },
                    {"Node Type": "Index Scan", "Relation Name": "outbox", "Index Name": "outbox_pkey"},
                ],
            },
            "Planning Time": 0.5,
            "Execution Time": 250.0,
        }
    ]
    plan = doctor.parse_claim_plan(explained)
    assert plan.seq_scan_rows == 50_000
    assert plan.indexes == frozenset({"outbox_pkey"})
    assert plan.execution_ms == 250.0


@pytest.mark.parametrize(("lag_s", "verdict"), [(None, "ok"), (0, "ok"), (60, "ok"), (61, "warn")])
def test_the_claim_lag_verdict_warns_after_a_minute(lag_s: float | None, verdict: str) -> None:
    assert doctor.claim_lag_verdict(lag_s) == verdict


# -- broker ----------------------------------------------------------------------------------------


def test_broker_urls_are_shown_without_their_password() -> None:
    assert doctor.redact_url("redis://user:s3cret@redis.example:6380/2") == "redis://redis.example:6380/2"
    assert doctor.redact_url("amqp://guest:guest@rabbit/%2F") == "amqp://rabbit/%2F"


@pytest.mark.parametrize(
    ("waiting", "consumers", "verdict"), [(0, 0, "ok"), (5, 1, "ok"), (5, 0, "warn"), (5, None, "ok")]
)
def test_the_broker_verdict_warns_when_messages_wait_without_a_consumer(
    waiting: int, consumers: int | None, verdict: str
) -> None:
    assert doctor.broker_verdict(waiting=waiting, consumers=consumers) == verdict
