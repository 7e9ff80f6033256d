"""Course run keys, parsed as opaque-keys accepts them."""

from __future__ import annotations

import pytest

from worker.sync import keys


@pytest.mark.parametrize(
    ("text", "org", "course", "run"),
    [
        ("course-v1:edX+DemoX+2026", "edX", "DemoX", "2026"),
        ("course-v1:Org.X+CS-101_a+2026~T1", "Org.X", "CS-101_a", "2026~T1"),
        ("edX/DemoX/2012_Fall", "edX", "DemoX", "2012_Fall"),
    ],
)
def test_both_key_forms_parse_and_give_the_org(text: str, org: str, course: str, run: str) -> None:
    key = keys.parse_course_key(text)
    assert (key.org, key.course, key.run, str(key)) == (org, course, run, text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "bad",
        "course-v1:edX+DemoX",
        "course-v1:edX+Demo X+2026",
        "edX/DemoX",
        "course-v1:a+b+c+d",
        "a/b/c/d",
        "course-v1:edX+DemoX+2026\n",
        "edX/DemoX/2026\n",
    ],
)
def test_anything_else_is_not_a_course_key(text: str) -> None:
    with pytest.raises(keys.InvalidCourseKey):
        keys.parse_course_key(text)
