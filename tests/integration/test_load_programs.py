"""Catalog loading (``worker.ops.catalog``): program documents upserted into ``catalog_program``."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from worker.ops import catalog
from worker.sync import host

P1 = "00000000-0000-4000-8000-000000000001"
P2 = "00000000-0000-4000-8000-000000000002"
P3 = "00000000-0000-4000-8000-000000000003"
RUN = "course-v1:edX+DemoX+2026"


def _program(uuid: str, title: str = "Data Science", **extra: Any) -> dict[str, Any]:
    """A catalog detail document as SPEC §4.1 draws it."""
    document = {
        "uuid": uuid,
        "title": title,
        "status": "active",
        "type": "MicroMasters",
        "courses": [{"key": "edX+DemoX", "course_runs": [{"key": RUN, "type": "verified"}]}],
    }
    return {**document, **extra}


def _stored(sql: Any) -> list[dict[str, Any]]:
    return sql.execute("SELECT uuid, title, status, data FROM catalog_program ORDER BY uuid").fetchall()


def test_a_detail_document_is_stored_whole_under_its_uuid(database, sql) -> None:  # type: ignore[no-untyped-def]
    # Given a program detail document
    document = _program(P1, status="retired")
    # When it is loaded
    result = catalog.load_programs(database, json.dumps(document))
    # Then it is one inserted row holding the whole document
    assert result == catalog.LoadResult(inserted=1, updated=0, unchanged=0, skipped=[])
    assert _stored(sql) == [{"uuid": P1, "title": "Data Science", "status": "retired", "data": document}]


def test_a_list_of_documents_read_from_a_file_is_stored(database, sql) -> None:  # type: ignore[no-untyped-def]
    # Given a file holding a list of two programs
    source = io.StringIO(json.dumps([_program(P1, "One"), _program(P2, "Two")]))
    # When it is loaded
    result = catalog.load_programs(database, source)
    # Then both are inserted
    assert (result.inserted, result.updated, result.unchanged, result.skipped) == (2, 0, 0, [])
    assert [(r["uuid"], r["title"]) for r in _stored(sql)] == [(P1, "One"), (P2, "Two")]


def test_a_list_page_is_stored_and_says_where_the_next_page_is(database, sql) -> None:  # type: ignore[no-untyped-def]
    # Given one page of the catalog's program list
    page = {
        "count": 3,
        "next": "https://discovery.example.com/api/v1/programs/?page=2",
        "previous": None,
        "results": [_program(P1), _program(P2)],
    }
    # When it is loaded
    result = catalog.load_programs(database, json.dumps(page))
    # Then its programs are inserted and the next page is reported
    assert result.inserted == 2
    assert result.next_page == "https://discovery.example.com/api/v1/programs/?page=2"
    assert [r["uuid"] for r in _stored(sql)] == [P1, P2]


def test_loading_again_updates_changed_programs_and_counts_unchanged_ones(database, sql) -> None:  # type: ignore[no-untyped-def]
    # Given two loaded programs
    catalog.load_programs(database, json.dumps([_program(P1, "One"), _program(P2, "Two")]))
    # When they are loaded again, the first renamed with another course run, and a third is new
    renamed = _program(P1, "One, revised", courses=[{"key": "edX+New", "course_runs": []}])
    result = catalog.load_programs(
        database, json.dumps([renamed, _program(P2, "Two"), _program(P3, "Three")])
    )
    # Then the first is updated, the second unchanged, the third inserted
    assert (result.inserted, result.updated, result.unchanged) == (1, 1, 1)
    stored = {r["uuid"]: r for r in _stored(sql)}
    assert stored[P1]["title"] == "One, revised"
    assert stored[P1]["data"] == renamed


def test_invalid_documents_are_skipped_with_their_reasons_while_the_good_ones_land(database, sql) -> None:  # type: ignore[no-untyped-def]
    # Given a list mixing good programs and documents that cannot be programs
    documents = [
        _program(P1),
        "not a program",
        {"title": "no uuid"},
        {"uuid": 42},
        {"uuid": "not-a-uuid"},
        _program(P2, courses={"key": "edX+DemoX"}),
        _program(P2, courses=["edX+DemoX"]),
        _program(P2, courses=[{"key": "edX+DemoX", "course_runs": RUN}]),
        _program(P2, title=7),
        _program(P2, title="nul \u0000 inside"),
        _program(P3),
        _program(P1, "Data Science again"),
    ]
    # When the list is loaded
    result = catalog.load_programs(database, json.dumps(documents))
    # Then the good programs are stored and every other document is reported with why
    assert [r["uuid"] for r in _stored(sql)] == [P1, P3]
    assert result.inserted == 2
    assert result.skipped == [
        (1, "not a JSON object (a string)"),
        (2, "no uuid"),
        (3, "uuid must be a string, not a number"),
        (4, "uuid 'not-a-uuid' is not a UUID"),
        (5, "courses must be a list, not an object"),
        (6, "courses[0] must be an object, not a string"),
        (7, "courses[0].course_runs must be a list, not a string"),
        (8, "title must be a string, not a number"),
        (9, "contains a NUL character (\\u0000), which Postgres cannot store"),
        (11, f"uuid {P1} repeats document 0"),
    ]


def test_a_uuid_is_stored_in_canonical_form_and_missing_title_and_status_take_defaults(database, sql) -> None:  # type: ignore[no-untyped-def]
    # Given a document with an upper-case uuid and neither title nor status
    document = {"uuid": P1.upper(), "courses": []}
    # When it is loaded
    catalog.load_programs(database, json.dumps(document))
    # Then the row is keyed by the canonical uuid, with an empty title and status active
    assert _stored(sql) == [{"uuid": P1, "title": "", "status": "active", "data": document}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"uuid": "x"},\n {"uuid": }]', r"malformed JSON: Expecting value \(line 2, column 11\)"),
        ('{"uuid": NaN}', "malformed JSON: NaN is not a JSON value"),
        ("42", "expected a program, a list of programs or a list page, not a number"),
        ('{"count": 1, "results": {}}', "a list page's results must be a list, not an object"),
    ],
)
def test_a_source_that_is_not_a_catalog_answer_raises_a_catalog_error_and_stores_nothing(
    database, sql, text, message
) -> None:  # type: ignore[no-untyped-def]
    # Given malformed JSON, or JSON that is neither a program nor a list, When it is loaded
    with pytest.raises(catalog.CatalogError, match=message) as raised:
        catalog.load_programs(database, text)
    # Then it is a CatalogError (a ValueError) and nothing is stored
    assert isinstance(raised.value, ValueError)
    assert _stored(sql) == []


def test_the_parse_error_carries_its_position(database) -> None:  # type: ignore[no-untyped-def]
    # Given JSON broken on its third line, When it is loaded, Then the error says where
    with pytest.raises(catalog.CatalogError) as raised:
        catalog.load_programs(database, '[\n  {"uuid": "a"},\n  {"uuid" "b"}\n]')
    assert (raised.value.line, raised.value.column) == (3, 11)


def test_a_loaded_program_counts_for_completion(database, platform) -> None:  # type: ignore[no-untyped-def]
    # Given a learner with a verified certificate in the program's only run
    ada = platform.learner("ada")
    platform.course_run(RUN)
    platform.certificate(ada["id"], RUN, mode="verified", status="downloadable")
    # When the program is loaded from the catalog's document
    catalog.load_programs(database, json.dumps(_program(P1)))
    # Then the learner has completed it
    assert host.HostReader(database).completed_programs(ada["id"]) == [host.Program(P1, "Data Science")]
