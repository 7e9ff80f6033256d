"""The course runs of a catalog program, as the LMS's ``course_run_keys_for_program`` walks them.

A program's runs are those of its ``courses[].course_runs[]``, plus those of its primary (first
active) curriculum's courses, and, through that curriculum's ``programs``, of every child program,
recursively (SPEC-grades §5.1 ``--program_uuids``). A malformed part of the document counts as empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

#: Child programs nest in documents; a cycle or an absurd depth stops here instead of recursing on.
MAX_DEPTH = 20


def course_run_keys(program: Any) -> list[str]:
    """Every run key of ``program`` (a catalog document), each once, in document order."""
    return list(dict.fromkeys(_keys(program, 0)))


def _keys(program: Any, depth: int) -> Iterator[str]:
    if not isinstance(program, dict) or depth > MAX_DEPTH:
        return
    curriculum = _primary_active_curriculum(program)
    if curriculum is not None:
        yield from _runs_of(curriculum)
    yield from _runs_of(program)
    if curriculum is not None:
        for child in _list(curriculum.get("programs")):
            yield from _keys(child, depth + 1)


def _primary_active_curriculum(program: dict[str, Any]) -> dict[str, Any] | None:
    return next(
        (c for c in _list(program.get("curricula")) if isinstance(c, dict) and c.get("is_active")), None
    )


def _runs_of(container: dict[str, Any]) -> Iterator[str]:
    for course in _list(container.get("courses")):
        if isinstance(course, dict):
            for run in _list(course.get("course_runs")):
                if isinstance(run, dict) and isinstance(run.get("key"), str):
                    yield run["key"]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
