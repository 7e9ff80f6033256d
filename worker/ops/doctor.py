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
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import textwrap
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from worker import db, errors, queries, settings
from worker.clients import advice
from worker.clients import credentials as credentials_client
from worker.sync import host

log = logging.getLogger(__name__)

Verdict = Literal["ok", "warn", "fail"]

CHECK_OUTBOX_TABLE = "outbox table"
CHECK_VACUUM_HORIZON = "vacuum horizon"
CHECK_CLAIM_QUERY = "claim query"
CHECK_BROKER = "broker"
CHECK_CREDENTIALS = "credentials"

#: Dead tuples worth a VACUUM: more than this share of the live ones, and more than DEAD_TUPLES_WARN.
DEAD_RATIO_WARN = 0.20
DEAD_TUPLES_WARN = 10_000
#: A table autovacuum never visited, with this many dead tuples.
DEAD_TUPLES_NEVER_VACUUMED_WARN = 100_000
HORIZON_WARN_S = 5 * 60
HORIZON_FAIL_S = 60 * 60
#: A replication slot this many transactions behind is close to forcing anti-wraparound vacuums.
SLOT_XID_AGE_FAIL = 100_000_000
HORIZON_HOLDERS_LIMIT = 10
CLAIM_LAG_WARN_S = 60


@dataclasses.dataclass(frozen=True)
class ClaimSettings:
    """The scanner's settings the claim check runs the claim with (the live CREDSYNC_* values)."""

    batch: int = settings.DEFAULT_CLAIM_BATCH
    max_in_flight: int = settings.DEFAULT_MAX_IN_FLIGHT
    lease_s: int = settings.DEFAULT_LEASE_S
    #: A claim slower than the scanner's poll interval cannot keep up with a busy outbox.
    scan_interval_ms: int = settings.DEFAULT_SCAN_INTERVAL_MS

    @classmethod
    def of(cls, config: settings.CoreSettings) -> ClaimSettings:
        return cls(config.claim_batch, config.max_in_flight, config.lease_s, config.scan_interval_ms)


#: A Seq Scan of the outbox inside the claim is harmless on a small table (the planner's own choice).
SEQ_SCAN_TOLERATED_ROWS = 10_000
PENDING_INDEX = "outbox_pending_idx"
STATEMENT_TIMEOUT_MS = 10_000
BROKER_TIMEOUT_S = 2.0
#: Key prefix of Dramatiq's Redis broker (RedisBroker's default namespace).
REDIS_NAMESPACE = "dramatiq"
WORKER_HEARTBEAT_WINDOW_S = 60
CREDENTIALS_SLOW_MS = 2_000
#: The learner the Credentials probe asks about: any username exercises the token and the API.
PROBE_USERNAME = "credsync-doctor"

# EXPLAIN cannot be a named query of its own without copying the claim: it wraps the real one.
_EXPLAIN = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
_SEVERITY: dict[Verdict, int] = {"ok": 0, "warn": 1, "fail": 2}


@dataclasses.dataclass(frozen=True)
class Finding:
    """The outcome of one check."""

    check: str
    verdict: Verdict
    #: One line: what was measured, with units.
    summary: str
    #: What to do; None when the verdict is ok.
    advice: str | None = None


def run(
    *,
    database: db.Database,
    broker_url: str | None,
    queue_name: str,
    credentials: credentials_client.CredentialsClient | None,
    claim: ClaimSettings = ClaimSettings(),
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


def exit_code(findings: Iterable[Finding]) -> int:
    """0 when every finding is ok, 1 when any is warn or fail."""
    return 0 if all(f.verdict == "ok" for f in findings) else 1


def render(findings: Sequence[Finding], *, width: int = 110) -> str:
    """The findings as a table for a terminal: check, verdict, summary, then what to do."""
    check_w = max([len("check"), *(len(f.check) for f in findings)])
    verdict_w = len("verdict")
    indent = " " * (check_w + verdict_w + 4)
    text_w = max(40, width - len(indent))
    lines = [f"{'check':<{check_w}}  {'verdict':<{verdict_w}}  summary"]
    for finding in findings:
        summary = textwrap.wrap(finding.summary, text_w) or [""]
        lines.append(f"{finding.check:<{check_w}}  {finding.verdict:<{verdict_w}}  {summary[0]}")
        lines.extend(indent + more for more in summary[1:])
        if finding.advice:
            advice = textwrap.wrap("what to do: " + finding.advice, text_w)
            lines.extend(indent + line for line in advice)
    counts = {v: sum(1 for f in findings if f.verdict == v) for v in ("ok", "warn", "fail")}
    lines.append("")
    lines.append(f"{counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail")
    return "\n".join(lines)


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


# -- outbox table ----------------------------------------------------------------------------------


def outbox_table_verdict(*, live: int, dead: int, last_autovacuum: float | None) -> Verdict:
    """warn when dead tuples exceed 20 % of the live ones and 10,000, or 100,000 never autovacuumed."""
    if dead > DEAD_TUPLES_WARN and dead > DEAD_RATIO_WARN * live:
        return "warn"
    if last_autovacuum is None and dead > DEAD_TUPLES_NEVER_VACUUMED_WARN:
        return "warn"
    return "ok"


def check_outbox_table(database: db.Database, *, now: Callable[[], float] = time.time) -> Finding:
    """Size, live and dead tuples and the last autovacuum of ``credsync.outbox``."""
    with database.transaction() as cur:
        _limit_statement_time(cur)
        row = db.fetch_one(cur, "doctor_outbox_table")
    if row is None:
        raise errors.DatabaseError("credsync.outbox has no statistics row (is track_counts off?)")
    live, dead = int(row["live"]), int(row["dead"])
    at = now()
    ratio = f"{dead / live:.0%} of live" if live else ("no live rows" if dead else "none")
    summary = (
        f"{live:,} live rows, {dead:,} dead ({ratio}), {_bytes(int(row['total_bytes']))} with indexes; "
        f"last autovacuum {_ago(row['last_autovacuum'], at)}, last vacuum {_ago(row['last_vacuum'], at)}, "
        f"last autoanalyze {_ago(row['last_autoanalyze'], at)}"
    )
    if not row["autovacuum_server"]:
        summary += "; autovacuum is OFF server-wide"
    if not row["autovacuum_table"]:
        summary += "; autovacuum is OFF for this table"
    verdict = outbox_table_verdict(live=live, dead=dead, last_autovacuum=row["last_autovacuum"])
    if verdict == "ok":
        return Finding(CHECK_OUTBOX_TABLE, verdict, summary)
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
    return Finding(CHECK_OUTBOX_TABLE, verdict, summary, " ".join(advice))


# -- vacuum horizon --------------------------------------------------------------------------------


def horizon_verdict(age_s: float | None) -> Verdict:
    """ok up to 5 min, warn up to 1 h, fail beyond; ok when the age is unknown."""
    if age_s is None or age_s <= HORIZON_WARN_S:
        return "ok"
    return "warn" if age_s <= HORIZON_FAIL_S else "fail"


def _holder_verdict(holder: Mapping[str, Any], now_s: float) -> Verdict:
    if holder["kind"] == "replication slot":
        if (holder["xid_age"] or 0) > SLOT_XID_AGE_FAIL:
            return "fail"
        return "warn" if holder["state"] == "inactive" else "ok"
    since = holder["since"]
    return horizon_verdict(None if since is None else now_s - since)


def check_vacuum_horizon(database: db.Database, *, now: Callable[[], float] = time.time) -> Finding:
    """The oldest transaction, prepared transaction or replication slot holding back vacuum."""
    with database.transaction() as cur:
        _limit_statement_time(cur)
        holders = db.fetch_all(cur, "doctor_vacuum_horizon", {"limit": HORIZON_HOLDERS_LIMIT})
    if not holders:
        return Finding(
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
        return Finding(CHECK_VACUUM_HORIZON, verdict, summary)
    return Finding(CHECK_VACUUM_HORIZON, verdict, summary, _horizon_advice(worst))


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
        return (
            f"session pid {holder['pid']} ({who}) in its transaction for "
            f"{_duration(now_s - holder['since']) if holder['since'] is not None else 'unknown time'}, "
            f"{xids}; query: {holder['query']!r}"
        )
    if holder["kind"] == "prepared transaction":
        return (
            f"prepared transaction {holder['name']!r} (owner {holder['username']}) prepared "
            f"{_duration(now_s - holder['since'])} ago, {xids}"
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


# -- claim query -----------------------------------------------------------------------------------


def claim_lag_verdict(lag_s: float | None) -> Verdict:
    """warn when the oldest claimable row has been due for more than a minute."""
    return "warn" if lag_s is not None and lag_s > CLAIM_LAG_WARN_S else "ok"


@dataclasses.dataclass(frozen=True)
class ClaimPlan:
    """What EXPLAIN ANALYZE says about one (rolled back) claim."""

    execution_ms: float
    planning_ms: float
    would_claim: int
    buffers: int
    indexes: frozenset[str]
    #: Rows read by Seq Scan nodes on the outbox (0: none).
    seq_scan_rows: int


def parse_claim_plan(explained: Sequence[Mapping[str, Any]]) -> ClaimPlan:
    """Read ``EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`` output of the claim."""
    top = explained[0]
    indexes: set[str] = set()
    seq_rows = 0
    stack: list[Mapping[str, Any]] = [top["Plan"]]
    while stack:
        node = stack.pop()
        stack.extend(node.get("Plans", []))
        if "Index Name" in node:
            indexes.add(str(node["Index Name"]))
        if node.get("Node Type") == "Seq Scan" and node.get("Relation Name") == "outbox":
            per_loop = int(node.get("Actual Rows", 0)) + int(node.get("Rows Removed by Filter", 0))
            seq_rows += per_loop * int(node.get("Actual Loops", 1))
    plan = top["Plan"]
    return ClaimPlan(
        execution_ms=float(top.get("Execution Time", 0.0)),
        planning_ms=float(top.get("Planning Time", 0.0)),
        would_claim=int(plan.get("Actual Rows", 0)),
        buffers=int(plan.get("Shared Hit Blocks", 0)) + int(plan.get("Shared Read Blocks", 0)),
        indexes=frozenset(indexes),
        seq_scan_rows=seq_rows,
    )


def explain_claim(database: db.Database, claim: ClaimSettings = ClaimSettings()) -> ClaimPlan:
    """EXPLAIN ANALYZE the scanner's claim with ``claim``'s parameters, rolled back: nothing is claimed."""
    params = {
        "now": None,
        "batch": claim.batch,
        "max_in_flight": claim.max_in_flight,
        "lease_s": claim.lease_s,
    }
    with database.transaction() as cur:
        _limit_statement_time(cur)
        with cur.connection.transaction(force_rollback=True):
            # As the scanner runs it: the walk setting first, in the same transaction.
            cur.execute(queries.get("outbox_claim_walk"))
            cur.execute(_EXPLAIN + queries.get("outbox_claim_due"), params)
            row = cur.fetchone()
    if row is None:
        raise errors.DatabaseError("EXPLAIN of the claim returned no plan")
    explained = next(iter(row.values()))
    if isinstance(explained, str):
        explained = json.loads(explained)
    return parse_claim_plan(explained)


def check_claim_query(
    database: db.Database, *, claim: ClaimSettings = ClaimSettings(), now: Callable[[], float] = time.time
) -> Finding:
    """The claim's plan and timing (with the scanner's settings), the pending backlog and the claim lag."""
    at = now()
    with database.transaction() as cur:
        _limit_statement_time(cur)
        backlog = db.fetch_one(cur, "doctor_outbox_backlog", {"now": _timestamp(at)})
    assert backlog is not None  # an aggregate always returns its row
    plan = explain_claim(database, claim)
    try:
        paused = host.HostReader(database).paused_reason()
        paused_note = f"; claims PAUSED: {paused}" if paused else ""
    except errors.DatabaseError as exc:
        paused, paused_note = None, f"; the host's Credentials config is unreadable ({exc})"
    since = backlog["oldest_claimable_since"]
    lag_s = None if since is None else max(0.0, at - since)
    uses_index = PENDING_INDEX in plan.indexes
    summary = (
        f"claim (batch {claim.batch}) ran in {plan.execution_ms:.1f} ms "
        f"(planning {plan.planning_ms:.1f} ms, {plan.buffers:,} buffers) and would claim "
        f"{plan.would_claim:,} rows; {'uses' if uses_index else 'does NOT use'} {PENDING_INDEX}"
        + (f"; Seq Scan on outbox read {plan.seq_scan_rows:,} rows" if plan.seq_scan_rows else "")
        + f"; {backlog['pending']:,} pending, {backlog['due']:,} due, {backlog['claimable']:,} claimable, "
        f"{backlog['in_flight']:,} in flight; claim lag "
        + ("none" if lag_s is None else _duration(lag_s))
        + paused_note
    )
    advice: list[str] = []
    if plan.seq_scan_rows > SEQ_SCAN_TOLERATED_ROWS:
        advice.append(
            f"the claim scans the outbox sequentially: check the partial indexes exist (\\d credsync.outbox: "
            f"{PENDING_INDEX}, outbox_unfinished_key_idx) and run ANALYZE credsync.outbox."
        )
    if plan.execution_ms > claim.scan_interval_ms:
        advice.append(
            "the claim is slow: dead row versions in the pending index slow it down; "
            "VACUUM credsync.outbox and see the outbox table and vacuum horizon checks."
        )
    if paused and backlog["due"]:
        advice.append(
            "rows wait because sync is paused: enable the host's Credentials config "
            "(a new credentials_credentialsapiconfig row with enabled and enable_learner_issuance true)."
        )
    elif claim_lag_verdict(lag_s) != "ok":
        if backlog["in_flight"] >= claim.max_in_flight:
            advice.append(
                "rows wait because the in-flight limit (CREDSYNC_MAX_IN_FLIGHT) is reached: the workers "
                "do not finish rows; check the worker processes and the broker check."
            )
        else:
            advice.append(
                "due rows are not being claimed: is the scanner process running (Procfile `scanner`)? "
                "Check its logs. (A row released by its predecessor a moment ago can show once; "
                "run the doctor again.)"
            )
    if not advice:
        return Finding(CHECK_CLAIM_QUERY, "ok", summary)
    return Finding(CHECK_CLAIM_QUERY, "warn", summary, " ".join(advice))


# -- broker ----------------------------------------------------------------------------------------


def broker_verdict(*, waiting: int, consumers: int | None) -> Verdict:
    """warn when messages wait and no consumer is there to take them (None: unknown)."""
    return "warn" if waiting > 0 and consumers == 0 else "ok"


def check_broker(broker_url: str | None, queue_name: str, *, now: Callable[[], float] = time.time) -> Finding:
    """Broker reachability and the depth of the credsync queue (Redis or RabbitMQ)."""
    if broker_url is None:
        return Finding(
            CHECK_BROKER,
            "warn",
            "not checked: no broker URL configured",
            "set BROKER_URL (redis://... or amqp://...) to the broker the workers use",
        )
    scheme = urlsplit(broker_url).scheme
    if scheme in ("redis", "rediss"):
        return _check_redis(broker_url, queue_name, now=now)
    if scheme in ("amqp", "amqps"):
        return _check_rabbitmq(broker_url, queue_name)
    return Finding(
        CHECK_BROKER,
        "fail",
        f"unsupported broker URL scheme {scheme!r} ({redact_url(broker_url)})",
        "BROKER_URL must start with redis://, rediss://, amqp:// or amqps://",
    )


def _check_redis(url: str, queue_name: str, *, now: Callable[[], float]) -> Finding:
    import redis
    from dramatiq.common import dq_name, xq_name

    shown = redact_url(url)
    client = redis.Redis.from_url(
        url, socket_timeout=BROKER_TIMEOUT_S, socket_connect_timeout=BROKER_TIMEOUT_S
    )
    try:
        started = time.perf_counter()
        client.ping()
        ping_ms = _ms_since(started)
        key = f"{REDIS_NAMESPACE}:{queue_name}"
        pipe = client.pipeline(transaction=False)
        pipe.llen(key)
        pipe.hlen(f"{key}.msgs")
        pipe.hlen(f"{REDIS_NAMESPACE}:{dq_name(queue_name)}.msgs")
        pipe.zcard(f"{REDIS_NAMESPACE}:{xq_name(queue_name)}")
        pipe.zcount(f"{REDIS_NAMESPACE}:__heartbeats__", (now() - WORKER_HEARTBEAT_WINDOW_S) * 1000, "+inf")
        ready, stored, delayed, dead, consumers = (int(n) for n in pipe.execute())
    except redis.exceptions.AuthenticationError as exc:
        return Finding(
            CHECK_BROKER,
            "fail",
            f"{shown}: Redis refused the credentials ({exc})",
            "check the user and password in BROKER_URL",
        )
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        return Finding(
            CHECK_BROKER,
            "fail",
            f"{shown}: unreachable within {BROKER_TIMEOUT_S:.0f} s ({type(exc).__name__}: {exc})",
            "check that Redis runs and that BROKER_URL points at it from this host; nothing is sent "
            "to the workers meanwhile (claimed rows go back to pending and wait)",
        )
    finally:
        client.close()
    summary = (
        f"{shown}: PING {ping_ms:.1f} ms; queue {queue_name!r}: {ready:,} waiting, "
        f"{max(0, stored - ready):,} held by workers, {delayed:,} delayed (retries), "
        f"{dead:,} dead-lettered; {consumers:,} Dramatiq consumers polled in the last "
        f"{WORKER_HEARTBEAT_WINDOW_S} s"
    )
    verdict = broker_verdict(waiting=ready, consumers=consumers)
    if verdict == "ok":
        return Finding(CHECK_BROKER, verdict, summary)
    return Finding(
        CHECK_BROKER,
        verdict,
        summary,
        "messages wait and no Dramatiq worker polls this Redis: start the `worker` process (Procfile) "
        "and check its logs and BROKER_URL",
    )


def _check_rabbitmq(url: str, queue_name: str) -> Finding:
    import pika  # type: ignore[import-untyped]
    import pika.exceptions  # type: ignore[import-untyped]
    from dramatiq.common import dq_name

    shown = redact_url(url)
    params = pika.URLParameters(url)
    params.socket_timeout = BROKER_TIMEOUT_S
    params.blocked_connection_timeout = BROKER_TIMEOUT_S
    params.stack_timeout = 2 * BROKER_TIMEOUT_S
    params.connection_attempts = 1
    started = time.perf_counter()
    try:
        connection = pika.BlockingConnection(params)
    except pika.exceptions.ProbableAuthenticationError as exc:
        return Finding(
            CHECK_BROKER, "fail", f"{shown}: RabbitMQ refused the credentials ({exc!r})", _AMQP_AUTH_ADVICE
        )
    except pika.exceptions.ProbableAccessDeniedError as exc:
        return Finding(CHECK_BROKER, "fail", f"{shown}: RabbitMQ denied access ({exc!r})", _AMQP_AUTH_ADVICE)
    except pika.exceptions.AMQPError as exc:
        return Finding(
            CHECK_BROKER,
            "fail",
            f"{shown}: unreachable ({type(exc).__name__}: {exc!r})",
            "check that RabbitMQ runs and that BROKER_URL points at it from this host",
        )
    connect_ms = _ms_since(started)
    counts: dict[str, tuple[int, int] | None] = {}
    try:
        for name in (queue_name, dq_name(queue_name)):
            channel = connection.channel()
            try:
                declared = channel.queue_declare(queue=name, passive=True)
                counts[name] = (int(declared.method.message_count), int(declared.method.consumer_count))
            except pika.exceptions.ChannelClosedByBroker as exc:
                if exc.reply_code != 404:
                    raise
                counts[name] = None
            finally:
                if channel.is_open:
                    channel.close()
    finally:
        if connection.is_open:
            connection.close()
    main, delayed = counts[queue_name], counts[dq_name(queue_name)]
    if main is None:
        return Finding(
            CHECK_BROKER,
            "warn",
            f"{shown}: connected in {connect_ms:.0f} ms; queue {queue_name!r} does not exist",
            "no worker has declared the queue yet: start the `worker` process, and check that "
            "CREDSYNC_QUEUE is the same for the workers and the scanner",
        )
    summary = (
        f"{shown}: connected in {connect_ms:.0f} ms; queue {queue_name!r}: {_count(main[0], 'message')}, "
        f"{_count(main[1], 'consumer')}; {dq_name(queue_name)!r}: "
        + ("absent" if delayed is None else f"{_count(delayed[0], 'message')} (delayed retries)")
    )
    verdict = broker_verdict(waiting=main[0], consumers=main[1])
    if verdict == "ok":
        return Finding(CHECK_BROKER, verdict, summary)
    return Finding(
        CHECK_BROKER,
        verdict,
        summary,
        "messages wait and no worker consumes the queue: start the `worker` process (Procfile) "
        "and check its logs",
    )


_AMQP_AUTH_ADVICE = "check the user, password and virtual host in BROKER_URL"


def redact_url(url: str) -> str:
    """``url`` without its user and password."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


# -- credentials -----------------------------------------------------------------------------------


def check_credentials(
    database: db.Database,
    client: credentials_client.CredentialsClient | None,
    *,
    now: Callable[[], float] = time.time,
) -> Finding:
    """A token and API calls through ``client`` (may it read learners' credentials?), and the holds."""
    hold_verdict, hold_note, hold_advice = _holds(database, now())
    verdict: Verdict
    advice: str | None
    if client is None:
        verdict, summary = "warn", "not checked: no Credentials client configured"
        advice = (
            "set CREDENTIALS_URL, and LMS_JWT_ISSUER, LMS_JWT_AUDIENCE and LMS_JWT_PRIVATE_SIGNING_JWK "
            "(or OAUTH_URL, OAUTH_CLIENT_ID and OAUTH_CLIENT_SECRET)"
        )
    else:
        verdict, summary, advice = _probe(client)
    summary += hold_note
    if hold_advice is not None:
        advice = hold_advice if advice is None else f"{advice} Also: {hold_advice}"
        verdict = _worst(verdict, hold_verdict)
    return Finding(CHECK_CREDENTIALS, verdict, summary, advice)


def _worst(a: Verdict, b: Verdict) -> Verdict:
    order: tuple[Verdict, ...] = ("ok", "warn", "fail")
    return a if order.index(a) >= order.index(b) else b


def _probe(client: credentials_client.CredentialsClient) -> tuple[Verdict, str, str | None]:
    """Is the service token accepted, and may it read another user's credentials?

    Signing tokens, credsync reads a learner's credentials as that learner, so the service user
    reads only its own here; with OAuth only, every read goes with the service token, so reading
    another user's must be allowed (a default install refuses it: 403).
    """
    api = client.api_url("credentials/")
    signer = client.signer
    own = signer.service_username if signer is not None else PROBE_USERNAME
    how = (
        f"tokens signed here ({signer.algorithm}, issuer {signer.issuer!r}, audience {signer.audience!r})"
        if signer is not None
        else f"the token from {client.token_url} (client_id {client.client_id!r})"
    )
    started = time.perf_counter()
    try:
        client.list_credentials(username=own)
    except errors.CredentialsTokenError as exc:
        return _token_endpoint_failure(client, exc)
    except errors.CredentialsRefused as exc:
        if exc.status == 403 and signer is None:
            return (
                "fail",
                f"{how} is accepted, but GET {api} for another user answered HTTP 403: the service token may "
                "not read learners' credentials, so program certificates cannot be awarded or revoked",
                f"{advice.VIEW_GRANT}; {advice.SIGN_AS_LEARNER}. {advice.WITHOUT_KEY}.",
            )
        return "fail", f"{how}: {exc}", None
    except errors.CredentialsCoolingDown as exc:
        return "warn", f"not called: {exc}", "Credentials asked to wait; see the holds"
    except errors.CredentialsHTTPError as exc:
        summary = f"GET {api} answered HTTP {exc.status} after {_ms_since(started):.0f} ms (token accepted)"
        if exc.status == 404:
            return "fail", summary, f"check CREDENTIALS_URL: the API is expected at {api}"
        if exc.status in (429, 503):
            return "warn", summary, "Credentials is busy; rows wait for its Retry-After, using no attempts"
        return "fail", summary, "Credentials is failing: check its logs"
    except errors.CredentialsUnavailable as exc:
        return (
            "fail",
            f"unreachable: {exc}",
            "check that CREDENTIALS_URL (and OAUTH_URL) are right and reachable from this host (DNS, "
            "firewall, TLS)",
        )
    elapsed_ms = _ms_since(started)
    summary = f"{how} accepted: GET {api} answered in {elapsed_ms:.0f} ms"
    if signer is not None:
        summary += "; " + _others_note(client)
    else:
        summary += "; the service token may read learners' credentials"
    if elapsed_ms > CREDENTIALS_SLOW_MS:
        return "warn", summary, "Credentials (or the OAuth provider) answers slowly: check their load"
    return "ok", summary, None


def _others_note(client: credentials_client.CredentialsClient) -> str:
    """Signing tokens: whether the service token could also read others' (not needed; for the record)."""
    try:
        client.list_credentials(username=PROBE_USERNAME)
    except errors.CredentialsRefused:
        return (
            "learners' credentials are read with learner tokens (the service token may not read them: "
            "no grant needed)"
        )
    except errors.CredentialsError as exc:
        return f"could not tell whether the service token may read others' credentials ({exc})"
    return "learners' credentials are read with learner tokens (the service token may read them too)"


def _token_endpoint_failure(
    client: credentials_client.CredentialsClient, exc: errors.CredentialsTokenError
) -> tuple[Verdict, str, str | None]:
    code = _oauth_error_code(exc.body)
    summary = f"the token endpoint {exc.url} answered HTTP {exc.status}" + (f" ({code})" if code else "")
    if exc.status == 401 or code in ("invalid_client", "unauthorized_client"):
        return (
            "fail",
            summary,
            f"the OAuth provider rejected client {client.client_id!r}: check OAUTH_CLIENT_ID and "
            "OAUTH_CLIENT_SECRET (a client-credentials OAuth application on the LMS for the Credentials "
            "service user)",
        )
    if exc.status == 404:
        return "fail", summary, "check OAUTH_URL: no token endpoint there"
    return "fail", summary, "the OAuth provider at OAUTH_URL is failing: check its logs and try again"


def _holds(database: db.Database, now_s: float) -> tuple[Verdict, str, str | None]:
    """The holds in force: Retry-After cooldowns and learners' throttles wait; refusals need a fix."""
    try:
        with database.transaction() as cur:
            _limit_statement_time(cur)
            rows = db.fetch_all(cur, "cooldown_active", {"now": _timestamp(now_s)})
    except errors.DatabaseError as exc:
        return "warn", f"; holds unreadable ({exc})", "check that `credsync migrate` has run"
    if not rows:
        return "ok", "; no hold in force", None
    refused = [r for r in rows if r["kind"] == "refused"]
    learners = [r for r in rows if r["kind"] == "learner_throttle"]
    waits = [r for r in rows if r["kind"] == "retry_after"]
    parts = [f"{len(learners)} learner(s) throttled (only their rows wait)"] if learners else []
    parts += [
        f"{r['destination']} for {_duration(r['until'].timestamp() - now_s)} more ({r['reason']})"
        for r in waits
    ]
    parts += [f"REFUSED since {_ago(r['since'].timestamp(), now_s)}: {r['reason']}" for r in refused]
    note = f"; {len(rows)} hold(s) in force: " + "; ".join(parts)
    if refused:
        return (
            "fail",
            note,
            "Credentials refuses credsync: rows that need the refused call wait, using no attempts, and go "
            "on by themselves within a minute of the fix (each refusal above names it)",
        )
    if waits:
        names = ", ".join(f"'{row['destination']}'" for row in waits)
        return (
            "warn",
            note,
            "Credentials asked credsync to wait (429/503 with Retry-After): rows for it wait without using "
            "attempts. If it lasts, check the service's load and rate limits; to lift it early: "
            f"DELETE FROM credsync.cooldown WHERE destination IN ({names});",
        )
    return "ok", note, None


def _oauth_error_code(body: str) -> str | None:
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    code = answer.get("error") if isinstance(answer, dict) else None
    return code if isinstance(code, str) else None


# -- helpers ---------------------------------------------------------------------------------------


def _limit_statement_time(cur: db.Cursor) -> None:
    db.fetch_one(cur, "doctor_limit_statement_time", {"timeout_ms": STATEMENT_TIMEOUT_MS})


def _timestamp(epoch_s: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(epoch_s, datetime.UTC)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} d"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _ago(epoch_s: float | None, now_s: float) -> str:
    return "never" if epoch_s is None else f"{_duration(now_s - epoch_s)} ago"


def _bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    size, unit = n / 1024, "kB"
    for bigger in ("MB", "GB", "TB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{size:.1f} {unit}"
