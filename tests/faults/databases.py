"""The fault tests' databases: a migrated template with an audit trail of status changes, cloned per test."""

from __future__ import annotations

import itertools
import uuid

import psycopg

from tests.platform import Platform
from tests.system import postgres
from worker import migrate, tasks

#: Every status change of an outbox row, with the database's clock: what ``invariants`` reads.
AUDIT_SQL = """
CREATE TABLE public.fault_audit (
    seq          bigserial PRIMARY KEY,
    row_id       bigint NOT NULL,
    ordering_key text NOT NULL,
    old_status   text NOT NULL,
    new_status   text NOT NULL,
    attempts     int NOT NULL,
    at           timestamptz NOT NULL
);
CREATE FUNCTION public.fault_audit_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.fault_audit (row_id, ordering_key, old_status, new_status, attempts, at)
    VALUES (NEW.id, NEW.ordering_key, OLD.status, NEW.status, NEW.attempts, clock_timestamp());
    RETURN NULL;
END
$$;
CREATE TRIGGER fault_audit AFTER UPDATE OF status ON credsync.outbox
    FOR EACH ROW EXECUTE FUNCTION public.fault_audit_record();
"""


class Databases:
    """A migrated template (reference host tables, Credentials enabled, audit trigger) cloned per test."""

    def __init__(self, pg: postgres.PrivatePostgres) -> None:
        self.pg = pg
        self.prefix = f"faults_{uuid.uuid4().hex[:6]}"
        self.template = f"{self.prefix}_tpl"
        self._counter = itertools.count(1)
        self._admin(f'CREATE DATABASE "{self.template}"')
        url = pg.url_for(self.template)
        migrate.run(url, host_schema="public", tasks=tasks.REGISTRY.registrations(), reference_host=True)
        with psycopg.connect(url, autocommit=True) as conn:
            Platform(conn).enable_credentials()
            conn.execute(AUDIT_SQL)  # type: ignore[arg-type]

    def _admin(self, sql: str) -> None:
        with psycopg.connect(self.pg.admin_url, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create(self) -> str:
        name = f"{self.prefix}_{next(self._counter)}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def drop(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
