"""The course runs of a catalog program (``worker.ops.program_runs``), as ``credsync notify --program-uuids``
expands them: the program's courses, its first active curriculum, and child programs recursively."""

from __future__ import annotations

from typing import Any

import pytest

from worker.ops import program_runs


def _courses(*keys: str) -> list[dict[str, Any]]:
    return [{"course_runs": [{"key": key}]} for key in keys]


def test_runs_of_the_program_its_first_active_curriculum_and_child_programs_in_document_order() -> None:
    program = {
        "courses": _courses("own", "shared"),
        "curricula": [
            {"is_active": False, "courses": _courses("inactive")},
            {
                "is_active": True,
                "courses": _courses("curriculum", "shared"),
                "programs": [
                    {
                        "courses": _courses("child"),
                        "curricula": [{"is_active": True, "programs": [{"courses": _courses("grandchild")}]}],
                    }
                ],
            },
            {"is_active": True, "courses": _courses("second active")},
        ],
    }
    assert program_runs.course_run_keys(program) == ["curriculum", "shared", "own", "child", "grandchild"]


@pytest.mark.parametrize(
    "program",
    [
        None,
        [],
        {},
        {"courses": "not a list"},
        {"courses": [None, {"course_runs": None}, {"course_runs": [{"key": 7}, {}, "x"]}]},
        {"curricula": [None, {"is_active": True, "programs": [None, "x"]}]},
    ],
)
def test_a_malformed_document_counts_as_having_no_runs(program: Any) -> None:
    assert program_runs.course_run_keys(program) == []


def test_a_program_nested_absurdly_deep_stops_instead_of_recursing_for_ever() -> None:
    program: dict[str, Any] = {"courses": _courses("leaf")}
    for depth in range(100):
        program = {
            "courses": _courses(f"level{depth}"),
            "curricula": [{"is_active": True, "programs": [program]}],
        }
    keys = program_runs.course_run_keys(program)
    assert len(keys) == program_runs.MAX_DEPTH + 1
    assert keys[0] == "level99"
