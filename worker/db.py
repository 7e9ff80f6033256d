"""Postgres access: a connection pool, transactions, and psycopg errors translated once.

Connections set ``search_path`` to the host schema (``CREDSYNC_HOST_SCHEMA``), so host tables are
named unqualified in ``sql/queries.sql`` while credsync's own objects are always ``credsync.*``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, cast

import psycopg
import psycopg.conninfo
import psycopg.rows
import psycopg_pool

from worker import errors, queries

log = logging.getLogger(__name__)

Row = dict[str, Any]
Cursor = psycopg.Cursor[Row]
DEFAULT_POOL_MAX = 8
POOL_TIMEOUT_S = 30.0


def connection_kwargs(
    host_schema: str,
    application_name: str,
    synchronous_commit: str | None = None,
    *,
    read_only: bool = False,
    statement_timeout_ms: int | None = None,
) -> dict[str, Any]:
    """libpq options every credsync connection uses (the values are validated by settings).

    ``read_only``: every transaction of the session is read-only (a write fails whatever the
    role's rights). ``statement_timeout_ms``: the server cancels a statement running longer.
    """
    options = f"-c search_path={host_schema}"
    if synchronous_commit is not None:
        options += f" -c synchronous_commit={synchronous_commit}"
    if read_only:
        options += " -c default_transaction_read_only=on"
    if statement_timeout_ms is not None:
        options += f" -c statement_timeout={int(statement_timeout_ms)}"
    return {"options": options, "application_name": application_name}


#: How a connection notices that the network to Postgres is gone (libpq parameters; one set in
#: DATABASE_URL wins): data left unacknowledged 30 s fails the statement, and an idle connection is
#: probed after 30 s, then every 10 s, given up after 3 unanswered probes. Without them, a statement
#: sent into a network partition waits for the kernel's retransmissions (about 15 minutes), and so
#: does the thread that sent it.
NETWORK_DEFAULTS = {
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "tcp_user_timeout": "30000",
}


def network_kwargs(url: str) -> dict[str, Any]:
    """``NETWORK_DEFAULTS`` that ``url`` does not set itself."""
    try:
        given = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return {}  # psycopg.connect will say what is wrong with the URL
    return {name: value for name, value in NETWORK_DEFAULTS.items() if name not in given}


def connect(url: str, *, host_schema: str, autocommit: bool = False, application_name: str = "credsync"):  # type: ignore[no-untyped-def]
    """A dedicated connection (for LISTEN, migrations and tools), outside any pool."""
    try:
        return psycopg.connect(
            url,
            autocommit=autocommit,
            row_factory=psycopg.rows.dict_row,
            **connection_kwargs(host_schema, application_name),
            **network_kwargs(url),
        )
    except psycopg.Error as exc:
        raise errors.DatabaseError(f"cannot connect to the database: {_describe(exc)}") from exc


#: A pooled connection idle longer than this is checked (one round trip) before it is handed out.
#: One in steady use is not: a broken one fails its statement, and that failure checks the rest.
IDLE_CHECK_S = 1.0
_USED_AT = "_credsync_used_at"


def _check_when_idle(conn: psycopg.Connection[Any]) -> None:
    """Pool ``check``: a round trip only for a connection that sat idle (a server may have restarted)."""
    used_at = getattr(conn, _USED_AT, None)
    if used_at is None or time.monotonic() - used_at > IDLE_CHECK_S:
        psycopg_pool.ConnectionPool.check_connection(conn)


class Database:
    """A lazily opened pool; safe to create before a fork and use after it.

    Pooled connections are in autocommit mode: ``statement()`` runs each statement in one round
    trip, ``transaction()`` wraps its statements in BEGIN ... COMMIT.
    """

    def __init__(
        self,
        url: str,
        *,
        host_schema: str,
        max_size: int = DEFAULT_POOL_MAX,
        application_name: str = "credsync",
        synchronous_commit: str | None = None,
        read_only: bool = False,
        statement_timeout_ms: int | None = None,
    ) -> None:
        """``synchronous_commit``: the session's setting (None: the server's, normally on);
        ``read_only`` and ``statement_timeout_ms`` as in ``connection_kwargs``."""
        self._url = url
        self._host_schema = host_schema
        self._max_size = max_size
        self._application_name = application_name
        self._synchronous_commit = synchronous_commit
        self._read_only = read_only
        self._statement_timeout_ms = statement_timeout_ms
        self._pool: psycopg_pool.ConnectionPool[psycopg.Connection[Row]] | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self._url

    @property
    def host_schema(self) -> str:
        return self._host_schema

    def _get_pool(self) -> psycopg_pool.ConnectionPool[psycopg.Connection[Row]]:
        with self._lock:
            if self._pool is None:
                self._pool = psycopg_pool.ConnectionPool(
                    self._url,
                    min_size=1,
                    max_size=self._max_size,
                    kwargs={
                        "autocommit": True,
                        "row_factory": psycopg.rows.dict_row,
                        **connection_kwargs(
                            self._host_schema,
                            self._application_name,
                            self._synchronous_commit,
                            read_only=self._read_only,
                            statement_timeout_ms=self._statement_timeout_ms,
                        ),
                        **network_kwargs(self._url),
                    },
                    connection_class=cast(Any, psycopg.Connection),
                    # A restarted server leaves broken connections in the pool: check idle ones on
                    # checkout, and every idle one as soon as a statement meets a broken connection.
                    check=_check_when_idle,
                    timeout=POOL_TIMEOUT_S,
                    name=self._application_name,
                    open=True,
                )
            return self._pool

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """A cursor in a transaction: committed on normal exit, rolled back on an exception."""
        with self._connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    @contextlib.contextmanager
    def statement(self) -> Iterator[Cursor]:
        """A cursor whose statements each commit on their own: one round trip for a single statement.

        For a single statement (or independent ones); use ``transaction()`` when statements must
        commit together.
        """
        with self._connection() as conn, conn.cursor() as cur:
            yield cur

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Row]]:
        pool = self._get_pool()
        try:
            with pool.connection() as conn:
                try:
                    yield conn
                finally:
                    setattr(conn, _USED_AT, time.monotonic())
        except psycopg.OperationalError as exc:
            # A lost connection is seldom alone (a restarted server): weed out the idle ones now.
            with contextlib.suppress(Exception):
                pool.check()
            raise errors.DatabaseError(_describe(exc)) from exc
        except psycopg.Error as exc:
            raise errors.DatabaseError(_describe(exc)) from exc
        except psycopg_pool.PoolTimeout as exc:
            raise errors.DatabaseError(f"no database connection available: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


def fetch_one(cur: Cursor, name: str, params: Mapping[str, Any] | None = None) -> Row | None:
    """Run query ``name`` and return its first row (or None)."""
    cur.execute(queries.get(name), params or {}, prepare=True)
    return cur.fetchone()


def fetch_all(cur: Cursor, name: str, params: Mapping[str, Any] | None = None) -> list[Row]:
    """Run query ``name`` and return all its rows."""
    cur.execute(queries.get(name), params or {}, prepare=True)
    return cur.fetchall()


def execute(cur: Cursor, name: str, params: Mapping[str, Any] | None = None) -> int:
    """Run query ``name`` and return the number of rows it touched."""
    cur.execute(queries.get(name), params or {}, prepare=True)
    return cur.rowcount


def _describe(exc: psycopg.Error) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(exc).strip()
    hint = getattr(diag, "message_hint", None)
    return f"{primary} ({hint})" if hint else primary
