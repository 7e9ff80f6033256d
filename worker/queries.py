"""Loads the runtime SQL of ``sql/queries.sql`` by name (and locates the other SQL files)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import worker

_HEADER = re.compile(r"^-- name: ([a-z][a-z0-9_]*)\s*$", re.MULTILINE)


def sql_dir() -> Path:
    """The SQL directory: ``worker/sql`` in an installed wheel, ``sql/`` in a source checkout."""
    package = Path(worker.__file__).resolve().parent
    packaged = package / "sql"
    return packaged if packaged.is_dir() else package.parent / "sql"


@functools.cache
def _load() -> dict[str, str]:
    text = (sql_dir() / "queries.sql").read_text(encoding="utf-8")
    headers = list(_HEADER.finditer(text))
    found: dict[str, str] = {}
    for index, match in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
        body = text[match.end() : end].strip()
        if match.group(1) in found:
            raise ValueError(f"sql/queries.sql: query {match.group(1)!r} is defined twice")
        found[match.group(1)] = body.rstrip(";").strip() if body.endswith(";") else body
    return found


def get(name: str) -> str:
    """The text of query ``name``; ``KeyError`` names the query when it does not exist."""
    try:
        return _load()[name]
    except KeyError:
        raise KeyError(f"no query named {name!r} in sql/queries.sql") from None


def names() -> list[str]:
    """Every query name, in file order."""
    return list(_load())
