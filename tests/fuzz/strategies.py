"""Arbitrary JSON for the doors: values of every type and size, unicode, and the text that carries them.

``values()`` are Python values (what a host's driver serializes); ``json_text()`` writes a value the
many ways JSON allows (escapes, exponents, whitespace) and sometimes what no serializer would write
(nesting thousands deep, numbers of thousands of digits). ``dirty`` text holds what Postgres refuses
before any of credsync's checks: NUL characters and lone UTF-16 surrogates.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

DECLARED_KEYS = ["username", "course_run_key", "course_key", "certificate_available_date"]
#: Lengths around every bound; ``sized_text`` also draws the issue's million, once in fifty.
EDGE_LENGTHS = [0, 1, 63, 64, 65, 149, 150, 151, 254, 255, 256, 400, 401, 2704, 8192, 8193]
MILLION = 1_000_000
RUN = "course-v1:edX+DemoX+2026"
PLAUSIBLE = [
    "ada",
    "bob",
    "nobody",
    "",
    " ",
    RUN,
    "course-v1:edX+Other+2026",
    "edX/DemoX/2026",
    "course-v1:edX+DemoX",
    "not a course key",
    "2026-09-01T00:00:00Z",
    "2026-06-01 14:00:00+02:00",
    "2026-13-45",
    "None",
    "null",
    "\\u0000",
    "'; DROP TABLE credsync.outbox; --",
    "\u202e\u0301\ufeff",
    "\U0001f393" * 150,
]

#: Any character but the ones no text column can hold.
CLEAN_CHARACTERS = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
clean_text = st.text(CLEAN_CHARACTERS, max_size=30)
dirty_text = st.text(max_size=10).map(lambda s: s + "\x00") | st.sampled_from(["\ud800", "a\udfffb", "\x00"])


@st.composite
def sized_text(draw: st.DrawFn, characters: st.SearchStrategy[str] = CLEAN_CHARACTERS) -> str:
    """A string of a length around a bound: one character (maybe 4 bytes in UTF-8) repeated."""
    length = MILLION if draw(st.integers(0, 49)) == 49 else draw(st.sampled_from(EDGE_LENGTHS))
    return draw(characters) * length


def scalars(*, dirty: bool = False) -> st.SearchStrategy[Any]:
    text = clean_text | sized_text() | st.sampled_from(PLAUSIBLE)
    if dirty:
        text = text | dirty_text
    return (
        st.none()
        | st.booleans()
        | st.integers()
        | st.integers(min_value=-(10**450), max_value=10**450)
        | st.floats(allow_nan=False, allow_infinity=False)
        | text
    )


def values(*, dirty: bool = False, max_leaves: int = 12) -> st.SearchStrategy[Any]:
    keys = st.sampled_from(DECLARED_KEYS) | clean_text | (dirty_text if dirty else clean_text)
    return st.recursive(
        scalars(dirty=dirty),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=max_leaves,
    )


# -- JSON text --------------------------------------------------------------------------------------


def _string(draw: st.DrawFn, value: str) -> str:
    """A JSON string literal of ``value``: escaped as ASCII, raw UTF-8, or with every character escaped."""
    form = draw(st.sampled_from(["ascii", "raw", "escaped"]))
    if form == "escaped" and len(value) <= 64:
        return '"' + "".join(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else _pair(c) for c in value) + '"'
    if form == "raw" and not any("\ud800" <= c <= "\udfff" for c in value):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value)


def _pair(character: str) -> str:
    code = ord(character) - 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _number(draw: st.DrawFn, value: int | float) -> str:
    if isinstance(value, int) and draw(st.booleans()) and value != 0:
        digits = str(abs(value))
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return ("-" if value < 0 else "") + f"{mantissa}e{draw(st.sampled_from(['', '+']))}{len(digits) - 1}"
    return json.dumps(value)


def _encode(draw: st.DrawFn, value: Any) -> str:
    space = draw(st.sampled_from(["", " ", "\n\t "]))
    if isinstance(value, dict):
        items = [f"{_string(draw, str(k))}{space}:{space}{_encode(draw, v)}" for k, v in value.items()]
        return "{" + space + ("," + space).join(items) + space + "}"
    if isinstance(value, list):
        return "[" + ("," + space).join(_encode(draw, v) for v in value) + "]"
    if isinstance(value, str):
        return _string(draw, value)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return _number(draw, value)


#: Numbers no serializer writes from a double, but JSON allows: exponents past any float.
EXTREME_NUMBERS = ["1e5000", "-1E+400", "1e-400", "0.5e+10", "1e131071", "1e1000000", "1e-20000", "-0"]


@st.composite
def json_text(draw: st.DrawFn, value: Any) -> str:
    """``value`` written as JSON text, sometimes wrapped deep or given an extreme number."""
    text = _encode(draw, value)
    if isinstance(value, dict) and value and draw(st.integers(0, 9)) == 9:
        # One more member: a number past what Python reads back, or nesting past any sane depth.
        extra = draw(
            st.sampled_from(EXTREME_NUMBERS)
            | st.builds(lambda n: "[" * n + "]" * n, st.sampled_from([7, 8, 9, 100, 3000, 20000]))
            | st.builds(lambda n: '{"a":' * n + "1" + "}" * n, st.integers(1, 12))
        )
        text = text[:-1] + ', "extra": ' + extra + "}"
    return text
