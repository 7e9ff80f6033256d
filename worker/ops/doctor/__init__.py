"""``credsync doctor``: health checks of the outbox table, vacuum, the claim, the broker and Credentials.

``run()`` runs every check and returns one ``Finding`` each, with a verdict (``ok``, ``warn``,
``fail``), what was measured, and what to do when it is not ok. Checks are independent: an
exception inside one becomes a ``fail`` finding for that check and the others still run.
``render()`` formats findings for a terminal; ``exit_code()`` is 0 when every check is ok.

What the caller must know:

* Every check only reads, except the claim query check: it runs the real claim statement under
  ``EXPLAIN ANALYZE`` (the only way to see its real plan and timing) inside a savepoint that is
  always rolled back, so nothing is claimed. Rows it would claim stay locked for those
  milliseconds (the scanner skips them) and each run leaves up to a batch of dead row versions.
* Ages are computed against ``now`` (epoch seconds), so tests can cross thresholds without waiting.
* Nothing secret is reported: broker URLs lose their user and password, and the Credentials
  client never shows its secret or tokens.

The package: ``findings`` (``Finding``, ``render``, ``exit_code`` and the helpers the checks share),
then one module per check, in the order ``run()`` runs them: ``table``, ``horizon``, ``claim``,
``broker``, ``credentials``. The checks import ``findings`` only; this module imports the checks and
re-exports their public names, so callers write ``doctor.check_broker`` as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from worker import db
from worker.clients import credentials as credentials_client
from worker.ops.doctor.broker import (
    BROKER_TIMEOUT_S,
    CHECK_BROKER,
    WORKER_HEARTBEAT_WINDOW_S,
    broker_verdict,
    check_broker,
    redact_url,
)
from worker.ops.doctor.claim import (
    CHECK_CLAIM_QUERY,
    CLAIM_LAG_WARN_S,
    PENDING_INDEX,
    SEQ_SCAN_TOLERATED_ROWS,
    ClaimPlan,
    ClaimSettings,
    check_claim_query,
    claim_lag_verdict,
    explain_claim,
    parse_claim_plan,
)
from worker.ops.doctor.credentials import (
    CHECK_CREDENTIALS,
    CREDENTIALS_SLOW_MS,
    PROBE_USERNAME,
    check_credentials,
)
from worker.ops.doctor.findings import STATEMENT_TIMEOUT_MS, Finding, Verdict, exit_code, render
from worker.ops.doctor.horizon import (
    CHECK_VACUUM_HORIZON,
    HORIZON_FAIL_S,
    HORIZON_HOLDERS_LIMIT,
    HORIZON_WARN_S,
    SLOT_XID_AGE_FAIL,
    check_vacuum_horizon,
    horizon_verdict,
)
from worker.ops.doctor.table import (
    CHECK_OUTBOX_TABLE,
    DEAD_RATIO_WARN,
    DEAD_TUPLES_NEVER_VACUUMED_WARN,
    DEAD_TUPLES_WARN,
    check_outbox_table,
    outbox_table_verdict,
)

__all__ = [
    "BROKER_TIMEOUT_S",
    "CHECK_BROKER",
    "CHECK_CLAIM_QUERY",
    "CHECK_CREDENTIALS",
    "CHECK_OUTBOX_TABLE",
    "CHECK_VACUUM_HORIZON",
    "CLAIM_LAG_WARN_S",
    "CREDENTIALS_SLOW_MS",
    "DEAD_RATIO_WARN",
    "DEAD_TUPLES_NEVER_VACUUMED_WARN",
    "DEAD_TUPLES_WARN",
    "HORIZON_FAIL_S",
    "HORIZON_HOLDERS_LIMIT",
    "HORIZON_WARN_S",
    "PENDING_INDEX",
    "PROBE_USERNAME",
    "SEQ_SCAN_TOLERATED_ROWS",
    "SLOT_XID_AGE_FAIL",
    "STATEMENT_TIMEOUT_MS",
    "WORKER_HEARTBEAT_WINDOW_S",
    "ClaimPlan",
    "ClaimSettings",
    "Finding",
    "Verdict",
    "broker_verdict",
    "check_broker",
    "check_claim_query",
    "check_credentials",
    "check_outbox_table",
    "check_vacuum_horizon",
    "claim_lag_verdict",
    "exit_code",
    "explain_claim",
    "horizon_verdict",
    "outbox_table_verdict",
    "parse_claim_plan",
    "redact_url",
    "render",
    "run",
]

log = logging.getLogger(__name__)

_LIVE_DEFAULTS = ClaimSettings()


def run(
    *,
    database: db.Database,
    broker_url: str | None,
    queue_name: str,
    credentials: credentials_client.CredentialsClient | None,
    claim: ClaimSettings = _LIVE_DEFAULTS,
    now: Callable[[], float] = time.time,
) -> list[Finding]:
    """Run every check, in a fixed order, and return one finding per check."""
    checks: list[tuple[str, Callable[[], Finding]]] = [
        (CHECK_OUTBOX_TABLE, lambda: check_outbox_table(database, now=now)),
        (CHECK_VACUUM_HORIZON, lambda: check_vacuum_horizon(database, now=now)),
        (CHECK_CLAIM_QUERY, lambda: check_claim_query(database, claim=claim, now=now)),
        (CHECK_BROKER, lambda: check_broker(broker_url, queue_name, now=now)),
        (CHECK_CREDENTIALS, lambda: check_credentials(database, credentials, now=now)),
    ]
    return [_isolated(name, check) for name, check in checks]


def _isolated(name: str, check: Callable[[], Finding]) -> Finding:
    try:
        return check()
    except Exception as exc:
        log.debug("doctor: the %s check raised", name, exc_info=True)
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        return Finding(
            name,
            "fail",
            f"the check could not run: {type(exc).__name__}: {first_line}",
            "fix the error above (the other checks ran independently), then run `credsync doctor` again",
        )
