"""Catalog loading: upsert the catalog service's program documents into ``catalog_program``.

Accepts what the catalog (Discovery) API answers (SPEC §4.1): a program detail document
(``GET /programs/{uuid}/``), a JSON list of them, or a list page (``{"count", "next", "results"}``,
one page: ``LoadResult.next_page`` says when there is more). Each valid document is upserted by
uuid with the whole document as ``data``, all in one transaction; documents that cannot be
programs are skipped and reported by index, never aborting the others. Rows of programs absent
from the source are kept (a source may be one page of many).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import uuid
from collections.abc import Iterator
from typing import IO, Any

from psycopg.types.json import Jsonb

from worker import db, errors

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class CatalogError(errors.CredsyncError, ValueError):
    """The source as a whole is not a catalog answer (malformed JSON, or neither program nor list)."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None) -> None:
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(f"{message}{where}")
        self.line = line
        self.column = column


@dataclasses.dataclass(frozen=True)
class LoadResult:
    """Programs inserted, updated and unchanged; skipped documents as (index, reason)."""

    inserted: int
    updated: int
    unchanged: int
    skipped: list[tuple[int, str]]
    next_page: str | None = None


@dataclasses.dataclass(frozen=True)
class _Program:
    uuid: str
    title: str
    status: str
    data: dict[str, Any]


def load_programs(database: db.Database, source: IO[str] | str) -> LoadResult:
    """Upsert the program documents of ``source`` (an open text file, or the JSON text itself).

    ``uuid`` is stored in canonical form (lowercase, hyphenated), the form Credentials knows;
    ``title`` defaults to ``""`` and ``status`` to ``"active"`` when absent. Raises ``CatalogError``
    when the JSON is malformed or is neither a program, a list of programs, nor a list page.
    """
    documents, next_page = _documents(_parse(source if isinstance(source, str) else source.read()))
    programs: list[_Program] = []
    skipped: list[tuple[int, str]] = []
    first_index: dict[str, int] = {}
    for index, document in enumerate(documents):
        program, reason = _validate(document)
        if program is not None and program.uuid in first_index:
            reason = f"uuid {program.uuid} repeats document {first_index[program.uuid]}"
            program = None
        if program is None:
            skipped.append((index, reason))
            continue
        first_index[program.uuid] = index
        programs.append(program)
    inserted = updated = 0
    with database.transaction() as cur:
        # In uuid order, so two loads running at once lock rows in the same order (no deadlock).
        for program in sorted(programs, key=lambda p: p.uuid):
            row = _upsert(cur, program)
            if row is not None:
                inserted += bool(row["inserted"])
                updated += not row["inserted"]
    unchanged = len(programs) - inserted - updated
    return LoadResult(inserted, updated, unchanged, skipped, next_page)


def _upsert(cur: db.Cursor, program: _Program) -> db.Row | None:
    return db.fetch_one(
        cur,
        "catalog_program_upsert",
        {"uuid": program.uuid, "title": program.title, "status": program.status, "data": Jsonb(program.data)},
    )


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; Postgres jsonb does not.
    raise CatalogError(f"malformed JSON: {name} is not a JSON value")


def _finite_float(text: str) -> float:
    # 1e400 is valid JSON, but Python reads it as infinity, which jsonb cannot store.
    value = float(text)
    if math.isinf(value):
        raise CatalogError(f"malformed JSON: the number {text[:20]}... is out of range")
    return value


def _parse(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"malformed JSON: {exc.msg}", line=exc.lineno, column=exc.colno) from exc
    except CatalogError:
        raise
    except RecursionError:
        raise CatalogError("malformed JSON: nested too deeply") from None
    except ValueError as exc:
        # An integer past Python's limit on digits (4,300 by default).
        raise CatalogError(f"malformed JSON: {exc}") from None


def _documents(parsed: Any) -> tuple[list[Any], str | None]:
    if isinstance(parsed, list):
        return parsed, None
    if isinstance(parsed, dict) and "results" in parsed and "uuid" not in parsed:
        results, next_page = parsed["results"], parsed.get("next")
        if not isinstance(results, list):
            raise CatalogError(f"a list page's results must be a list, not {_kind(results)}")
        return results, next_page if isinstance(next_page, str) else None
    if isinstance(parsed, dict):
        return [parsed], None
    raise CatalogError(f"expected a program, a list of programs or a list page, not {_kind(parsed)}")


def _validate(document: Any) -> tuple[_Program | None, str]:
    if not isinstance(document, dict):
        return None, f"not a JSON object ({_kind(document)})"
    raw_uuid = document.get("uuid")
    if raw_uuid is None:
        return None, "no uuid"
    if not isinstance(raw_uuid, str):
        return None, f"uuid must be a string, not {_kind(raw_uuid)}"
    try:
        canonical = str(uuid.UUID(raw_uuid))
    except ValueError:
        return None, f"uuid {raw_uuid!r} is not a UUID"
    for field in ("title", "status"):
        if document.get(field) is not None and not isinstance(document[field], str):
            return None, f"{field} must be a string, not {_kind(document[field])}"
    problem = _courses_problem(document)
    if problem is None and any("\x00" in text for text in _strings(document)):
        problem = "contains a NUL character (\\u0000), which Postgres cannot store"
    if problem is None and any(_LONE_SURROGATE.search(text) for text in _strings(document)):
        problem = "contains a lone UTF-16 surrogate (\\ud800 to \\udfff), which Postgres cannot store"
    if problem is not None:
        return None, problem
    title = document.get("title") or ""
    status = document.get("status") or "active"
    return _Program(canonical, title, status, document), ""


def _courses_problem(document: dict[str, Any]) -> str | None:
    """Why ``courses`` cannot be read as SPEC §4.1 describes it, or None."""
    courses = document.get("courses")
    if courses is None:
        return None
    if not isinstance(courses, list):
        return f"courses must be a list, not {_kind(courses)}"
    for position, course in enumerate(courses):
        if not isinstance(course, dict):
            return f"courses[{position}] must be an object, not {_kind(course)}"
        runs = course.get("course_runs")
        if runs is not None and not isinstance(runs, list):
            return f"courses[{position}].course_runs must be a list, not {_kind(runs)}"
    return None


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")
