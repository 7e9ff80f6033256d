"""The ``credsync`` command (also ``python -m worker``): processes, migrations, inspection, repair.

Exit codes: 0 success; 1 the command ran but found a problem (e.g. ``wait`` timed out,
``status --fail-on-failed`` saw failed rows); 2 invalid usage or configuration; 3 database error.
Each module of this package adds a family of commands: ``processes`` (migrate and the Procfile's
processes), ``inspection`` (read-only), ``repair`` (changes to rows), ``bulk`` (the whole platform),
``notify`` (re-send history, as upstream's notify_credentials), ``web`` (the operators' console).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from worker import errors, logs, settings
from worker.cli import bulk, common, inspection, notify, processes, repair, web

log = logging.getLogger("credsync")


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["emulator"]:
        # The emulator has options of its own (keys, switches): its parser reads them all.
        from worker.emulator import cli as emulator_cli

        return emulator_cli.main(given[1:])
    args = parser().parse_args(given)
    command: common.Command = args.command
    try:
        # Only the logging settings here: each command reads the rest, and only what it needs.
        logging_config = settings.load_logging()
        logs.configure(logging_config.log_format, logging_config.log_level)
        return command(args)
    except errors.ConfigurationError as exc:
        print(f"credsync: {exc}", file=sys.stderr)
        return common.EXIT_USAGE
    except errors.DatabaseError as exc:
        print(f"credsync: database error: {exc}", file=sys.stderr)
        return common.EXIT_DATABASE


def parser() -> argparse.ArgumentParser:
    """Every ``credsync`` command and its arguments."""
    top = argparse.ArgumentParser(prog="credsync", description=__doc__.split("\n\n")[0])
    sub = top.add_subparsers(required=True, metavar="COMMAND")

    def add(name: str, function: common.Command, help: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help, description=help)
        command.set_defaults(command=function)
        return command

    for family in (processes, inspection, repair, bulk, notify, web):
        family.register(add)
    return top
