"""What the ``credsync`` commands share: exit codes, argument types, the outbox of one command, a table."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from worker import db, settings
from worker.outbox import repository

if TYPE_CHECKING:
    from worker import composition

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, EXIT_DATABASE = 0, 1, 2, 3

Command = Callable[[argparse.Namespace], int]
#: How a command module adds its commands: ``add(name, function, help)`` returns the command's parser.
Add = Callable[[str, Command, str], argparse.ArgumentParser]


def whole_number(most: int) -> Callable[[str], int]:
    """An argument type: a whole number from 1 to ``most`` (argparse names the option on refusal)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text[:40]!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
        if value > most:
            raise argparse.ArgumentTypeError(f"must be at most {most:,}, got {str(value)[:40]}")
        return value

    return parse


#: Counts and sizes the database holds as an integer (batches, limits, seconds, user ids).
positive_int = whole_number(2**31 - 1)
#: An outbox row id (a bigint).
row_id = whole_number(2**63 - 1)
#: A retention in days (as ``CREDSYNC_RETENTION_*_DAYS``).
days = whole_number(settings.defaults.MAX_RETENTION_DAYS)
#: A TCP port.
port = whole_number(65_535)


def positive_float(text: str) -> float:
    """An argument that must be a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def aware_datetime(text: str) -> datetime.datetime:
    """An ISO 8601 date-time; one without a zone is read as UTC."""
    try:
        value = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {text!r}") from None
    value = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    try:
        value.astimezone(datetime.UTC)
    except OverflowError:
        raise argparse.ArgumentTypeError(f"out of range in UTC (years 1 to 9999): {text!r}") from None
    return value


@contextlib.contextmanager
def outbox(config: settings.CoreSettings) -> Iterator[repository.Outbox]:
    """The outbox for one command; its connections are closed however the command ends."""
    database = db.Database(
        config.database_url, host_schema=config.host_schema, max_size=2, application_name="credsync-cli"
    )
    try:
        yield repository.Outbox(database, lease_s=config.lease_s)
    finally:
        database.close()


def app(config: settings.CoreSettings) -> composition.App:
    """The app, as the Procfile's processes build it (``worker.composition``)."""
    from worker import composition

    return composition.build(config)


def print_table(columns: list[str], rows: list[dict[str, Any]]) -> None:
    """``rows`` as a plain text table of ``columns``, long cells cut at 80 characters."""

    def cell(value: Any) -> str:
        text = json.dumps(value) if isinstance(value, dict | list) else "" if value is None else str(value)
        return text if len(text) <= 80 else text[:77] + "..."

    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))
    if not rows:
        print("(no rows)")
