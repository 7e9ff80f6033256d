"""Course key parsing, as opaque-keys accepts them: ``course-v1:ORG+COURSE+RUN`` or ``ORG/COURSE/RUN``."""

from __future__ import annotations

import dataclasses
import re

# opaque-keys' allowed characters for key parts (letters, digits, _ - ~ . and, for old keys, :).
_PART = r"[\w\-~.:]+"
_NEW_STYLE = re.compile(rf"course-v1:({_PART})\+({_PART})\+({_PART})")
_OLD_STYLE = re.compile(rf"({_PART})/({_PART})/({_PART})")


class InvalidCourseKey(ValueError):
    """The text is not a course run key."""


@dataclasses.dataclass(frozen=True)
class CourseKey:
    org: str
    course: str
    run: str
    text: str

    def __str__(self) -> str:
        return self.text


def parse_course_key(text: str) -> CourseKey:
    """Parse a course run key; ``InvalidCourseKey`` when it is neither form."""
    for pattern in (_NEW_STYLE, _OLD_STYLE):
        match = pattern.fullmatch(text)  # not match(...$): "$" also matches before a final newline
        if match and "+" not in "".join(match.groups()):
            return CourseKey(match.group(1), match.group(2), match.group(3), text)
    raise InvalidCourseKey(f"not a course run key: {text!r}")
