"""The fuzz tier's budget and tally: examples per door, inputs tried, crashes.

Short form (the default, in ``scripts/test``): ``SHORT_EXAMPLES`` per door. Long form
(``CREDSYNC_SLOW=1``): ``LONG_EXAMPLES`` per door; ``CREDSYNC_FUZZ_EXAMPLES=N`` chooses another
size. Each test body runs inside ``attempt(door)``, which counts the input and, when the body
raises, a crash of that door; the session's summary prints the counts (``tests/fuzz/conftest.py``).
"""

from __future__ import annotations

import collections
import contextlib
import os
import traceback
from collections.abc import Iterator

from hypothesis import HealthCheck, settings

SHORT_EXAMPLES = 200
LONG_EXAMPLES = 10_000
LONG = os.environ.get("CREDSYNC_SLOW") == "1"
#: For a run of another size (e.g. CREDSYNC_FUZZ_EXAMPLES=2000 pytest tests/fuzz).
CHOSEN = os.environ.get("CREDSYNC_FUZZ_EXAMPLES")

settings.register_profile(
    "credsync-fuzz",
    max_examples=int(CHOSEN) if CHOSEN else LONG_EXAMPLES if LONG else SHORT_EXAMPLES,
    deadline=None,
    # No example database: every run draws afresh (a failure prints the blob that replays it).
    database=None,
    print_blob=True,
    # The doors run against one database, emulator or pipeline per test, shared by its examples
    # on purpose: state left by earlier inputs is part of what later ones meet.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
#: The budget of one door: ``@EXAMPLES`` above ``@given``.
EXAMPLES = settings.get_profile("credsync-fuzz")

#: door -> inputs tried (hypothesis's replays while shrinking a failure count too).
TRIED: collections.Counter[str] = collections.Counter()
#: door -> the distinct crashes met (exception type and where it was raised) -> its first message.
CRASHES: dict[str, dict[str, str]] = collections.defaultdict(dict)
#: door -> how its inputs were answered (refused, done, failed, ...), to show what was exercised.
ANSWERS: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)


def answered(door: str, how: str) -> None:
    """Note how one input of ``door`` was answered."""
    ANSWERS[door][how] += 1


@contextlib.contextmanager
def attempt(door: str) -> Iterator[None]:
    """Count one input of ``door``, and the crash when the body raises (an assertion included)."""
    TRIED[door] += 1
    try:
        yield
    except BaseException as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{type(exc).__name__} at {os.path.relpath(frame.filename)}:{frame.lineno}"
        CRASHES[door].setdefault(where, (str(exc).strip().splitlines() or [""])[0])
        raise


def summary() -> str:
    """For the session's end: inputs per door and crashes, then how each door answered."""
    doors = ", ".join(f"{door} {TRIED[door]:,}" for door in sorted(TRIED))
    crashes = sum(len(found) for found in CRASHES.values())
    where = "" if not crashes else " (" + ", ".join(f"{d} {len(f)}" for d, f in sorted(CRASHES.items())) + ")"
    form = "chosen" if CHOSEN else "long" if LONG else "short"
    lines = [
        f"fuzz ({form} form, {EXAMPLES.max_examples:,} examples per test): inputs per door: {doors};"
        f" {crashes} crashes{where}"
    ]
    for door, found in sorted(CRASHES.items()):
        lines.extend(f"  {door} crashed: {where}: {message:.160}" for where, message in sorted(found.items()))
    for door in sorted(ANSWERS):
        answers = ", ".join(f"{how} {n:,}" for how, n in ANSWERS[door].most_common())
        lines.append(f"  {door}: {answers}")
    return "\n".join(lines)
