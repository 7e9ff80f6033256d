"""The credsync command refuses out-of-range arguments with a usage error naming them, before any database."""

from __future__ import annotations

import pytest

from worker import cli


@pytest.fixture(autouse=True)
def _no_database(monkeypatch: pytest.MonkeyPatch) -> None:
    # An address nothing listens on: a command that got past its arguments would fail with exit 3.
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")


@pytest.mark.parametrize(
    ("argv", "named", "why"),
    [
        (["prune", "--older-than-days", "-5"], "--older-than-days", "must be at least 1, got -5"),
        (["prune", "--older-than-days", "0"], "--older-than-days", "must be at least 1, got 0"),
        (["backfill", "--programs", "--batch", "0"], "--batch", "must be at least 1"),
        (["backfill", "--programs", "--since", "yesterday"], "--since", "not an ISO 8601 date-time"),
        (["failed", "--limit", "-1"], "--limit", "must be at least 1"),
        (["show", "0"], "id", "must be at least 1"),
        (["retry", "abc"], "ids", "not a whole number: 'abc'"),
        (["wait", "--timeout", "nan"], "--timeout", "must be a finite number above 0"),
        (["wait", "--timeout", "-1"], "--timeout", "must be a finite number above 0"),
        (["worker", "--threads", "0"], "--threads", "must be at least 1"),
        (["worker", "--processes", "many"], "--processes", "not a whole number"),
        (["worker", "--threads", "100000"], "--threads", "must be at most 1,000"),
        (["show", "99999999999999999999"], "id", "must be at most 9,223,372,036,854,775,807"),
        (["prune", "--older-than-days", "1000000000"], "--older-than-days", "must be at most 36,500"),
        (["failed", "--limit", "3000000000"], "--limit", "must be at most 2,147,483,647"),
        (["web", "--port", "65536"], "--port", "must be at most 65,535"),
    ],
)
def test_an_out_of_range_argument_is_a_usage_error_naming_it(
    argv: list[str], named: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {named}" in err
    assert why in err


def test_an_iso_date_without_a_zone_is_read_as_utc() -> None:
    args = cli.parser().parse_args(["backfill", "--programs", "--since", "2026-01-02T03:04:05"])
    assert args.since.isoformat() == "2026-01-02T03:04:05+00:00"
