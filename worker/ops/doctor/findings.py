"""What a check returns (``Finding``), how findings are shown and scored, and the checks' shared helpers."""

from __future__ import annotations

import dataclasses
import datetime
import textwrap
import time
from collections.abc import Iterable, Sequence
from typing import Literal

from worker import db

Verdict = Literal["ok", "warn", "fail"]

STATEMENT_TIMEOUT_MS = 10_000


@dataclasses.dataclass(frozen=True)
class Finding:
    """The outcome of one check."""

    check: str
    verdict: Verdict
    #: One line: what was measured, with units.
    summary: str
    #: What to do; None when the verdict is ok.
    advice: str | None = None


def exit_code(findings: Iterable[Finding]) -> int:
    """0 when every finding is ok, 1 when any is warn or fail."""
    return 0 if all(f.verdict == "ok" for f in findings) else 1


def render(findings: Sequence[Finding], *, width: int = 110) -> str:
    """The findings as a table for a terminal: check, verdict, summary, then what to do."""
    check_w = max([len("check"), *(len(f.check) for f in findings)])
    verdict_w = len("verdict")
    indent = " " * (check_w + verdict_w + 4)
    text_w = max(40, width - len(indent))
    lines = [f"{'check':<{check_w}}  {'verdict':<{verdict_w}}  summary"]
    for finding in findings:
        summary = textwrap.wrap(finding.summary, text_w) or [""]
        lines.append(f"{finding.check:<{check_w}}  {finding.verdict:<{verdict_w}}  {summary[0]}")
        lines.extend(indent + more for more in summary[1:])
        if finding.advice:
            advice = textwrap.wrap("what to do: " + finding.advice, text_w)
            lines.extend(indent + line for line in advice)
    counts = {v: sum(1 for f in findings if f.verdict == v) for v in ("ok", "warn", "fail")}
    lines.append("")
    lines.append(f"{counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail")
    return "\n".join(lines)


# -- helpers for the checks ------------------------------------------------------------------------


def limit_statement_time(cur: db.Cursor) -> None:
    """Cap how long each statement of this transaction may run (STATEMENT_TIMEOUT_MS)."""
    db.fetch_one(cur, "doctor_limit_statement_time", {"timeout_ms": STATEMENT_TIMEOUT_MS})


def timestamp(epoch_s: float) -> datetime.datetime:
    """``epoch_s`` as an aware UTC datetime, for query parameters."""
    return datetime.datetime.fromtimestamp(epoch_s, datetime.UTC)


def ms_since(started: float) -> float:
    """Milliseconds since ``started``, a ``time.perf_counter()`` reading."""
    return (time.perf_counter() - started) * 1000


def duration(seconds: float) -> str:
    """``seconds`` in the largest fitting unit: s, min, h or d (negative counts as 0)."""
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} d"


def count(n: int, noun: str) -> str:
    """``n`` with ``noun``, plural unless ``n`` is 1: ``1 message``, ``3 consumers``."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def ago(epoch_s: float | None, now_s: float) -> str:
    """How long before ``now_s`` ``epoch_s`` was (``never`` for None)."""
    return "never" if epoch_s is None else f"{duration(now_s - epoch_s)} ago"


def byte_size(n: int) -> str:
    """``n`` bytes in B, kB, MB, GB or TB (powers of 1024)."""
    if n < 1024:
        return f"{n} B"
    size, unit = n / 1024, "kB"
    for bigger in ("MB", "GB", "TB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{size:.1f} {unit}"
