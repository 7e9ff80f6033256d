"""The catalog door (``credsync load-programs``): any source is refused whole or loaded readable.

``worker.ops.catalog.load_programs`` answers a ``CatalogError`` (and writes nothing) or a result
whose loaded programs are in ``catalog_program``, where the worker can read them back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import doors, strategies
from worker import db
from worker.ops import catalog

#: The catalog is emptied past this many programs, so that reading it back stays cheap.
KEPT_PROGRAMS = 50

uuids = (
    st.uuids().map(str)
    | st.uuids().map(lambda u: str(u).upper())
    | st.uuids().map(lambda u: u.hex)
    | st.sampled_from(
        ["5b2b4c8e-0d7d-4c55-9a53-0f1b5d1e3a11", "", "not-a-uuid", "{5b2b4c8e-0d7d-4c55-9a53-0f1b5d1e3a11}"]
    )
    | strategies.clean_text
)


@st.composite
def program_documents(draw: st.DrawFn) -> Any:
    """Something shaped like a catalog program detail document, with arbitrary parts."""
    dirty = draw(st.integers(0, 9)) == 9
    values = strategies.values(dirty=dirty, max_leaves=6)
    run = st.fixed_dictionaries(
        {},
        optional={
            "key": st.sampled_from(strategies.PLAUSIBLE) | values,
            "type": st.sampled_from(["verified", "professional", "audit", "credit"]) | values,
        },
    )
    course = st.fixed_dictionaries({}, optional={"course_runs": st.lists(run, max_size=3) | values})
    return draw(
        st.fixed_dictionaries(
            {},
            optional={
                "uuid": uuids | values,
                "title": strategies.clean_text | values,
                "status": st.sampled_from(["active", "retired", "unpublished"]) | values,
                "courses": st.lists(course | values, max_size=3) | values,
                "extra": values,
            },
        )
    )


@st.composite
def sources(draw: st.DrawFn) -> str:
    """A load-programs source: a document, a list, a list page, any JSON, or any text at all."""
    shape = draw(st.integers(0, 9))
    if shape == 9:
        return draw(st.text() | strategies.sized_text(st.characters()))
    documents = st.lists(program_documents() | strategies.values(max_leaves=4), max_size=4)
    value = draw(
        [
            program_documents(),
            documents,
            st.fixed_dictionaries(
                {"results": documents | strategies.values(max_leaves=4)},
                optional={"count": st.integers(), "next": st.none() | strategies.clean_text},
            ),
            strategies.values(dirty=True),
        ][shape % 4]
    )
    return draw(strategies.json_text(value))


def _snapshot(sql: Any) -> tuple[int, str | None]:
    row = sql.execute(
        "SELECT count(*) AS n, md5(string_agg(uuid || title || status || data::text, ',' ORDER BY uuid)) AS h"
        " FROM catalog_program"
    ).fetchone()
    return row["n"], row["h"]


@pytest.fixture
def database(database_url: str) -> Iterator[db.Database]:
    """A pool of one connection, opened before any input is drawn.

    psycopg_pool stamps each new connection's expiry with the global ``random`` in its own thread:
    a pool that grew in the background while Hypothesis drew an input changed ``random`` under it,
    which Hypothesis reports as a flaky failure (seen in a CI run). One connection never grows.
    """
    database = db.Database(database_url, host_schema="public", max_size=1, application_name="credsync-test")
    with database.statement() as cur:
        cur.execute("SELECT 1")
    yield database
    database.close()


@doors.EXAMPLES
@given(source=sources())
def test_any_source_is_refused_whole_or_loaded_where_the_worker_can_read_it(
    database: Any, sql: Any, source: str
) -> None:
    with doors.attempt("load-programs"):
        # Given the catalog as earlier inputs left it
        before = _snapshot(sql)
        # When the source is loaded
        refusal: catalog.CatalogError | None = None
        try:
            result = catalog.load_programs(database, source)
        except catalog.CatalogError as exc:
            refusal = exc
        if refusal is not None:
            # Then a refusal says why and writes nothing
            assert str(refusal)
            assert _snapshot(sql) == before
            doors.answered("load-programs", "refused")
            return
        # Or every document is loaded or skipped with a reason
        assert all(reason for _, reason in result.skipped)
        doors.answered("load-programs", "loaded" if not result.skipped else "loaded, some skipped")
        # And every stored program reads back as JSON the worker can use (as psycopg loads it)
        stored = sql.execute("SELECT uuid, data FROM catalog_program").fetchall()
        assert all(isinstance(row["data"], dict) for row in stored)
        if len(stored) > KEPT_PROGRAMS:
            sql.execute("TRUNCATE catalog_program")
